import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/cleanup.ts";
import { gql, streamClient } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive } from "../support/events.ts";
import { freePort, tempDir } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { REDIS_URL, warnSkipped } from "../support/services.ts";
import { Hub } from "../../src/domain/hub.ts";
import { RedisEventStream } from "../../src/stream/redis.ts";
import { Redis } from "ioredis";
import { waitFor } from "../support/wait.ts";
import { captureInto } from "../domain/helpers.ts";

warnSkipped("test/stream/redis.test.ts", "REDIS_URL");

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
    const hub = () => new Hub({ bufferSize: 5000, liveWindowSeconds: 60, dashboardWindowSeconds: 60, subscriberQueue: 100, personsCapacity: 100});
    const writerHub = hub();
    const writer = new RedisEventStream(writerHub.stream, { url: REDIS_URL!, prefix, maxLength: 1000 });
    writerHub.replication.useLog(writer);
    await writer.start();
    onCleanup(() => writer.close());
    for (let batch = 0; batch < 3; batch++) {
      await captureInto(writerHub, Array.from({ length: 1000 }, (_, i) => ({ event: "$pageview", distinctId: `u${batch}-${i}` })));
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
    const late = new RedisEventStream(lateHub.stream, { url: REDIS_URL!, prefix, maxLength: 1000, onGap: (from, to) => gaps.push([from, to]) });
    lateHub.replication.useLog(late);
    await late.start();
    onCleanup(() => late.close());
    await waitFor(() => lateHub.stream.lastPosition === 3000);
    expect(gaps).toEqual([[2, oldest - 1]]);
    expect(lateHub.stream.bufferedEvents().map((e) => e.seq)).toEqual([1, ...Array.from({ length: 3001 - oldest }, (_, i) => oldest + i)]);
  });

  it("answers UNAVAILABLE while its Redis is down, loses nothing acknowledged, and resumes subscribers after", async () => {
    const port = await freePort();
    const dir = tempDir("pulse-redis-");
    const pidfile = join(dir, "redis.pid");
    const startRedis = async () => {
      await run("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", pidfile, "--dir", dir]);
      await waitFor(() => { try { return Number(readFileSync(pidfile, "utf8")) || null; } catch { return null; } });
    };
    const stopRedis = async () => {
      const pid = Number(readFileSync(pidfile, "utf8"));
      process.kill(pid, "SIGKILL");
      await waitFor(() => { try { process.kill(pid, 0); return null; } catch { return true; } });
    };
    await startRedis();
    onCleanup(async () => { try { process.kill(Number(readFileSync(pidfile, "utf8")), "SIGKILL"); } catch { /* stopped */ } });
    const [a, b] = await fleet(2, `redis://127.0.0.1:${port}`);
    const sub = streamClient("ws", b!.url).subscribe(EVENTS);
    await waitForActive(b!.url, 1);
    const before = await captureEvent(a!.url, pageview(1));
    await sub.waitForResults(1);
    await stopRedis();
    const refused = await gql(a!.url, `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`, { input: pageview(2) });
    expect(refused.errors?.[0]?.extensions?.code).toBe("UNAVAILABLE");
    const ready = await fetch(`${a!.url}/readyz`);
    expect(ready.status).toBe(503);
    const health = await fetch(`${a!.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "degraded", degraded: { redis: expect.any(String) } });
    await startRedis();
    // The Redis came back empty (nothing on disk): the counter restarts, which is why production Redis must persist.
    // Here only that subscribers resume and captures are accepted again is checked.
    const after = await waitFor(async () => {
      const result = await gql(a!.url, `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`, { input: pageview(3) });
      return result.data ? result : null;
    });
    const afterId = (after.data as { captureEvent: { id: string } }).captureEvent.id;
    // The subscriber on B stayed open and got the post-restart event, after the acknowledged one, nothing between.
    const ids = (await sub.waitForResults(2)).map((r) => (r.data!.events as { id: string }).id);
    expect(ids).toEqual([before.id, afterId]);
    expect(sub.end).toBeNull();
    expect((await recentEvents(b!.url, 10)).map((e) => e.id)).toEqual([afterId, before.id]);
  });
});

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}
