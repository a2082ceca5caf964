import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/cleanup.ts";
import { gql, streamClient } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { freePort, startPulseProcess, tempDir } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { REDIS_URL } from "../support/services.ts";
import { Hub } from "../../src/domain/hub.ts";
import { RedisEventStream } from "../../src/stream/redis.ts";
import { Redis } from "ioredis";
import { startTcpProxy } from "../support/tcp-proxy.ts";
import { waitFor } from "../support/wait.ts";
import { captureInto } from "../domain/helpers.ts";

const EVENTS = `subscription ($after: String) { events(after: $after) { id cursor } }`;

async function fleet(count: number, redisUrl = REDIS_URL!) {
  const redisPrefix = `pulse-test:${randomUUID()}:`;
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = await startServer({ redisUrl, redisPrefix });
    await server.ready;
    servers.push(server);
  }
  return servers;
}

describe.skipIf(!REDIS_URL)("instances sharing one Redis stream", () => {
  it("delivers every event captured on A to subscribers on B (ws) and C (sse) in the same order", async () => {
    const [a, b, c] = await fleet(3);
    const onB = streamClient("ws", b!.url).subscribe(EVENTS);
    const onC = streamClient("sse", c!.url).subscribe(EVENTS);
    await waitForActive(b!.url, 1);
    await waitForActive(c!.url, 1);
    const first = await captureEvent(a!.url, pageview(1));
    // Read your own writes on the capturing instance.
    expect((await recentEvents(a!.url, 1)).map((e) => e.id)).toEqual([first.id]);
    await captureEvents(a!.url, [pageview(2), pageview(3), pageview(4, { distinctId: "other" })]);
    const fromB = (await onB.waitForResults(4)).map((r) => (r.data!.events as { id: string }).id);
    const fromC = (await onC.waitForResults(4)).map((r) => (r.data!.events as { id: string }).id);
    expect(fromB).toEqual(fromC);
    expect(fromB[0]).toBe(first.id);
    const live = `{ liveUsers { count } }`;
    for (const server of [a!, b!, c!]) {
      await waitFor(async () => ((await gql(server.url, live)).data as { liveUsers: { count: number } }).liveUsers.count === 4 || null);
    }
  });

  it("detects a duplicate id captured on another instance", async () => {
    const [a, b] = await fleet(2);
    const id = randomUUID();
    const first = await captureEvent(a!.url, pageview(1, { id }));
    const again = await captureEvents(b!.url, [pageview(1, { id })]);
    expect(again).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(again.ids).toEqual([first.id]);
  });

  it("resumes on B with a cursor issued by A: no gap, no duplicate", async () => {
    const [a, b] = await fleet(2);
    const events = [];
    for (let n = 1; n <= 3; n++) events.push(await captureEvent(a!.url, pageview(n)));
    const resumed = streamClient("sse", b!.url).subscribe(EVENTS, { after: events[0]!.cursor });
    await captureEvent(a!.url, pageview(4));
    const got = (await resumed.waitForResults(3)).map((r) => (r.data!.events as { cursor: string }).cursor);
    expect(got.slice(0, 2)).toEqual([events[1]!.cursor, events[2]!.cursor]);
    expect(new Set(got).size).toBe(got.length);
  });

  it("tells when events left the stream (MAXLEN) before this instance read them, and goes on after them", async () => {
    const prefix = `pulse-test:${randomUUID()}:`;
    const hub = () =>
      new Hub({ bufferSize: 5000, liveWindowSeconds: 60, dashboardWindowSeconds: 60, subscriberQueue: 100, personsCapacity: 100 });
    const writerHub = hub();
    const writer = new RedisEventStream(writerHub.stream, { url: REDIS_URL!, prefix, maxLength: 1000 });
    writerHub.replication.useLog(writer);
    await writer.start();
    onCleanup(() => writer.close());
    for (let batch = 0; batch < 3; batch++) {
      await captureInto(
        writerHub,
        Array.from({ length: 1000 }, (_, i) => ({ event: "$pageview", distinctId: `u${batch}-${i}` })),
      );
    }
    const redis = new Redis(REDIS_URL!);
    onCleanup(() => redis.disconnect());
    const [first] = await redis.xrange(`${prefix}events`, "-", "+", "COUNT", 1);
    const oldest = Number(first![0].split("-")[0]);
    expect(oldest).toBeGreaterThan(2);

    // An instance that read only the first event (it was cut off from Redis since).
    const lateHub = hub();
    lateHub.restore([writerHub.stream.bufferedEvents()[0]!]);
    const gaps: [number, number][] = [];
    const late = new RedisEventStream(lateHub.stream, {
      url: REDIS_URL!,
      prefix,
      maxLength: 1000,
      onGap: (from, to) => gaps.push([from, to]),
    });
    lateHub.replication.useLog(late);
    await late.start();
    onCleanup(() => late.close());
    await waitFor(() => lateHub.stream.lastPosition === 3000);
    expect(gaps).toEqual([[2, oldest - 1]]);
    expect(lateHub.stream.bufferedEvents().map((e) => e.seq)).toEqual([1, ...Array.from({ length: 3001 - oldest }, (_, i) => oldest + i)]);
  });

  it("answers UNAVAILABLE while its Redis is down, loses nothing acknowledged, and resumes subscribers after", async () => {
    const redis = await privateRedis();
    const [a, b] = await fleet(2, redis.url);
    const sub = streamClient("ws", b!.url).subscribe(EVENTS);
    await waitForActive(b!.url, 1);
    const before = await captureEvent(a!.url, pageview(1));
    await sub.waitForResults(1);
    await redis.stop();
    const refused = await gql(a!.url, `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`, {
      input: pageview(2),
    });
    expect(refused.errors?.[0]?.extensions?.code).toBe("UNAVAILABLE");
    const ready = await fetch(`${a!.url}/readyz`);
    expect(ready.status).toBe(503);
    const health = await fetch(`${a!.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "degraded", degraded: { redis: expect.any(String) } });
    // It comes back empty (nothing on disk): the counter is restarted past every position handed out before.
    await redis.start();
    const after = await waitFor(async () => {
      const result = await gql(a!.url, `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id cursor } }`, {
        input: pageview(3),
      });
      return result.data ? result : null;
    });
    const { id: afterId, cursor: afterCursor } = (after.data as { captureEvent: { id: string; cursor: string } }).captureEvent;
    expect(position(afterCursor)).toBeGreaterThan(position(before.cursor) + 1_000_000);
    // The subscriber on B stayed open and got the post-restart event, after the acknowledged one, nothing between.
    const ids = (await sub.waitForResults(2)).map((r) => (r.data!.events as { id: string }).id);
    expect(ids).toEqual([before.id, afterId]);
    expect(sub.end).toBeNull();
    expect((await recentEvents(b!.url, 10)).map((e) => e.id)).toEqual([afterId, before.id]);
  });
});

describe.skipIf(!REDIS_URL)("when the fleet's Redis loses its data", () => {
  const CAPTURE = `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id cursor } }`;

  /** Captures through `url`, retrying UNAVAILABLE (an instance reconnecting to Redis) until it is acknowledged. */
  async function captureWhenAvailable(url: string, n: number): Promise<{ id: string; cursor: string }> {
    const result = await waitFor(
      async () => {
        const response = await gql(url, CAPTURE, { input: pageview(n) });
        const code = response.errors?.[0]?.extensions?.code;
        if (code !== undefined && code !== "UNAVAILABLE") throw new Error(JSON.stringify(response.errors));
        return response.data ?? null;
      },
      { what: `the capture of event ${n} through ${url}` },
    );
    return (result as { captureEvent: { id: string; cursor: string } }).captureEvent;
  }

  /** Every (position, id) an instance holds: two instances must never hold different events at one position. */
  async function positions(url: string): Promise<Map<number, string>> {
    return new Map((await recentEvents(url, 1000, undefined, "id cursor")).map((e) => [position(e.cursor), e.id]));
  }

  it("never hands a position out twice, though a lagging instance captures first, and tells a client resuming from an old cursor of the gap", async () => {
    const redis = await privateRedis();
    const redisPrefix = `pulse-test:${randomUUID()}:`;
    const a = await startServer({ redisUrl: redis.url, redisPrefix });
    await a.ready;
    // B reaches Redis through a relay the test can cut: B falls behind while A goes on.
    const relay = await startTcpProxy(redis.port);
    onCleanup(() => relay.close());
    const b = await startServer({ redisUrl: relay.url.replace("http:", "redis:"), redisPrefix });
    await b.ready;
    const early: EventPayload[] = [];
    for (let n = 1; n <= 3; n++) early.push(await captureEvent(a.url, pageview(n)));
    await waitFor(async () => (await recentEvents(b.url, 1))[0]?.id === early[2]!.id);

    relay.block(true);
    relay.cut();
    await waitFor(async () => (await fetch(`${b.url}/readyz`)).status === 503, { what: "B to lose Redis" });
    const missedByB: EventPayload[] = [];
    for (let n = 4; n <= 6; n++) missedByB.push(await captureEvent(a.url, pageview(n)));
    await redis.flushAll();
    relay.block(false);

    // B comes back knowing only what it read before it was cut off, and captures before A does.
    const throughB = await captureWhenAvailable(b.url, 7);
    const throughA = await captureWhenAvailable(a.url, 8);
    // The later of the two, on both: each has read the stream that far.
    for (const server of [a, b]) {
      await waitFor(async () => new Set((await positions(server.url)).values()).has(throughA.id), { what: `event 8 on ${server.url}` });
    }
    const onA = await positions(a.url);
    const onB = await positions(b.url);
    for (const [seq, id] of onB) if (onA.has(seq)) expect(onA.get(seq), `the event at position ${seq} on A and on B`).toBe(id);
    expect([...onA.values()]).toContain(throughB.id);
    const newest = position(missedByB[2]!.cursor);
    expect(position(throughB.cursor)).toBeGreaterThan(newest);
    expect(position(throughA.cursor)).toBeGreaterThan(position(throughB.cursor));
    // What A captured while B was cut off left Redis before B read it: lost to B, and said so.
    expect([...onB.values()]).toEqual([throughA.id, throughB.id, ...early.map((e) => e.id).reverse()]);

    // A client that had read up to event 6 on A resumes on B: the events after the restart, told of a gap.
    const resumed = streamClient("sse", b.url).subscribe(RESUME, { after: missedByB[2]!.cursor });
    const [first, second] = await resumed.waitForResults(2);
    expect(first!.extensions?.gap).toBe(true);
    expect([first, second].map((r) => (r!.data!.events as { id: string }).id)).toEqual([throughB.id, throughA.id]);
    // So does one that had read B's newest event before it was cut off.
    const fromB = streamClient("ws", b.url).subscribe(RESUME, { after: early[2]!.cursor });
    const [resumedOnB] = await fromB.waitForResults(1);
    expect(resumedOnB!.extensions?.gap).toBe(true);
    expect((resumedOnB!.data!.events as { id: string }).id).toBe(throughB.id);
  });

  it("a new fleet's instance that restored the first one's empty snapshot (position 0) takes no missing counter for a lost one", async () => {
    // A new fleet's first instance writes an empty snapshot at start and creates the counter 2.5 s later; an instance
    // that joins meanwhile restores that snapshot and finds the counter missing.
    const prefix = `pulse-test:${randomUUID()}:`;
    const resets: unknown[] = [];
    const instance = (restored: { position: number; takenAt: number } | null) => {
      const hub = new Hub({
        bufferSize: 100,
        liveWindowSeconds: 60,
        dashboardWindowSeconds: 60,
        subscriberQueue: 100,
        personsCapacity: 100,
      });
      const stream = new RedisEventStream(hub.stream, {
        url: REDIS_URL!,
        prefix,
        maxLength: 1000,
        restored,
        onReset: (r) => resets.push(r),
      });
      hub.replication.useLog(stream);
      onCleanup(() => stream.close());
      return { hub, stream };
    };
    const first = instance(null);
    const joining = instance({ position: 0, takenAt: Date.now() });
    await Promise.all([first.stream.start(), joining.stream.start()]);
    await captureInto(joining.hub, [{ event: "$pageview", distinctId: "first" }]);
    expect(resets).toEqual([]);
    expect(joining.hub.stream.lastPosition).toBe(1);
  });

  it("an instance that knows no position waits for one that does before it restarts a missing counter", async () => {
    const redis = await privateRedis();
    const redisPrefix = `pulse-test:${randomUUID()}:`;
    const a = await startServer({ redisUrl: redis.url, redisPrefix });
    await a.ready;
    const before = await captureEvent(a.url, pageview(1));
    await redis.flushAll();
    // A fresh instance (nothing restored, never read the counter) starts right after the flush and captures first.
    const fresh = await startServer({ redisUrl: redis.url, redisPrefix });
    await fresh.ready;
    const first = await captureWhenAvailable(fresh.url, 2);
    expect(position(first.cursor)).toBeGreaterThan(position(before.cursor));
    await waitFor(async () => (await recentEvents(a.url, 1))[0]?.id === first.id, { what: "the new event on A" });
    expect((await recentEvents(a.url, 10)).map((e) => e.id)).toEqual([first.id, before.id]);
  });
});

describe.skipIf(!REDIS_URL)("when Redis loses its data while the fleet is down", () => {
  it("a restarted instance starts the counter past what its snapshot knew, not at it: a lost event's cursor never names a new one", async () => {
    const redis = await privateRedis();
    const port = await freePort();
    // Only the snapshot taken at start reaches the file: what follows is lost with the process.
    const env = {
      REDIS_URL: redis.url,
      PULSE_REDIS_PREFIX: `pulse-test:${randomUUID()}:`,
      DATABASE_URL: `file:${join(tempDir(), "pulse.db")}`,
      PULSE_SNAPSHOT_INTERVAL_MS: "3600000",
    };
    const first = await startPulseProcess(env, { port });
    const lost: EventPayload[] = [];
    for (let n = 1; n <= 3; n++) lost.push(await captureEvent(first.url, pageview(n)));
    first.child.kill("SIGKILL");
    await first.exited;
    await redis.flushAll();

    // Its snapshot is empty (position 0): it waits 3.5 s for a new fleet's first instance before it restarts the counter.
    const second = await startPulseProcess(env, { port });
    const fresh = await captureEvent(second.url, pageview(4));
    expect(position(fresh.cursor)).toBeGreaterThan(position(lost[2]!.cursor));
    // A client that had received the last lost event resumes: the new event, told of the gap.
    const resumed = streamClient("ws", second.url).subscribe(RESUME, { after: lost[2]!.cursor });
    const [next] = await resumed.waitForResults(1);
    expect((next!.data!.events as { id: string }).id).toBe(fresh.id);
    expect(next!.extensions?.gap).toBe(true);
  }, 60_000);
});

const RESUME = `subscription ($after: String) { events(after: $after) { id cursor } }`;

function position(cursor: string): number {
  return parseInt(cursor.slice(3), 36);
}

/** A redis-server of the test's own on a spare port, with nothing on disk, stopped (by pid) after the test. */
async function privateRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pulse-redis-"));
  const pidfile = join(dir, "redis.pid");
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    await run("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "yes",
      "--pidfile",
      pidfile,
      "--dir",
      dir,
    ]);
    await waitFor(() => {
      try {
        return Number(readFileSync(pidfile, "utf8")) || null;
      } catch {
        return null;
      }
    });
  };
  const stop = async () => {
    const pid = Number(readFileSync(pidfile, "utf8"));
    process.kill(pid, "SIGKILL");
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return null;
      } catch {
        return true;
      }
    });
  };
  await start();
  onCleanup(() => {
    try {
      process.kill(Number(readFileSync(pidfile, "utf8")), "SIGKILL");
    } catch {
      // stopped
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const flushAll = async () => {
    const client = new Redis(url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  };
  return { url, port, start, stop, flushAll };
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}
