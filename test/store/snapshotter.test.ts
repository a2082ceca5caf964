import { execFileSync } from "node:child_process";
import { rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.ts";
import { Hub } from "../../src/domain/hub.ts";
import type { SnapshotDelta, SnapshotStore } from "../../src/store/snapshot-store.ts";
import { StoreReplacedError, StoreUnusableError } from "../../src/store/snapshot-store.ts";
import { Snapshotter } from "../../src/store/snapshotter.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { onCleanup } from "../support/cleanup.ts";
import { gqlData, subscribe, wsClient } from "../support/clients.ts";
import { captureEvents } from "../support/events.ts";
import { recordingLogger } from "../support/logs.ts";
import { holdWriteLock, LIVE_VIEW, snapshotMetrics, visit, waitForSnapshotAfter } from "../support/persistence.ts";
import { tempDir } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { captureInto } from "../domain/helpers.ts";

const ALL = { events: 1_000_000, persons: 1_000_000 };

function databaseIn(dir: string): { path: string; url: string } {
  const path = join(dir, "pulse.db");
  return { path, url: `file:${path}` };
}

async function openStore(url: string): Promise<SnapshotStore> {
  const store = await openSqliteStore(url, { log: recordingLogger() });
  onCleanup(() => store.close());
  return store;
}

/** Records every delta on its way to a real store. */
function recording(store: SnapshotStore): SnapshotStore & { deltas: SnapshotDelta[] } {
  const deltas: SnapshotDelta[] = [];
  return {
    deltas,
    description: store.description,
    load: (limits) => store.load(limits),
    claimWriter: () => store.claimWriter(),
    write: async (delta) => {
      deltas.push(delta);
      await store.write(delta);
    },
    close: () => store.close(),
  };
}

function hub(bufferSize: number, clock = new ManualClock()): Hub {
  return new Hub({ bufferSize, liveWindowSeconds: 60, dashboardWindowSeconds: 60, subscriberQueue: 100, personsCapacity: 1000, clock });
}

const seqs = (events: readonly { seq: number }[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("the snapshotter", () => {
  it("finds the file deleted though nothing is new: the snapshot fails, lastSnapshotAt stays, the next writes everything to a new file", async () => {
    const { path, url } = databaseIn(tempDir());
    const store = await openStore(url);
    const clock = new ManualClock();
    const h = hub(100, clock);
    const snapshotter = new Snapshotter({ hub: h, store, intervalMs: 3_600_000, evictedThroughSeq: 0, log: recordingLogger() });
    onCleanup(() => snapshotter.close());
    await captureInto(
      h,
      range(1, 5).map((n) => visit(n)),
    );
    await snapshotter.snapshotNow();
    const stored = snapshotter.lastSnapshotAt;
    rmSync(path);

    clock.advance(1000);
    await expect(snapshotter.snapshotNow()).rejects.toBeInstanceOf(StoreReplacedError);
    expect([snapshotter.lastSnapshotAt, snapshotter.failures]).toEqual([stored, 1]);
    clock.advance(1000);
    await snapshotter.snapshotNow();
    expect(snapshotter.lastSnapshotAt).toBe(clock.now());
    const reloaded = await store.load(ALL);
    expect(seqs(reloaded.events)).toEqual(range(1, 5));
    expect(reloaded.persons).toHaveLength(5);
  });

  it("writes only what changed: new events in, the evicted position forward, nothing when idle", async () => {
    const { url } = databaseIn(tempDir());
    const store = recording(await openStore(url));
    const clock = new ManualClock();
    const h = hub(8, clock);
    const snapshotter = new Snapshotter({ hub: h, store, intervalMs: 3_600_000, evictedThroughSeq: 0, log: recordingLogger() });
    onCleanup(() => snapshotter.close());

    await captureInto(
      h,
      range(1, 5).map((n) => visit(n)),
    );
    await snapshotter.snapshotNow();
    expect(seqs(store.deltas[0]!.appended)).toEqual(range(1, 5));
    expect(store.deltas[0]!.persons.map((p) => p.distinctId).sort()).toEqual(["user-1", "user-2", "user-3", "user-4", "user-5"]);

    await captureInto(
      h,
      range(6, 11).map((n) => visit(n)),
    );
    await snapshotter.snapshotNow();
    expect(seqs(store.deltas[1]!.appended)).toEqual(range(6, 11));
    expect(store.deltas[1]!.evictedThroughSeq).toBe(3);

    // 12 and 13 are evicted before the next snapshot: they are never written.
    await captureInto(
      h,
      range(12, 21).map((n) => visit(n)),
    );
    await snapshotter.snapshotNow();
    expect(seqs(store.deltas[2]!.appended)).toEqual(range(14, 21));
    expect(store.deltas[2]!.evictedThroughSeq).toBe(13);

    clock.advance(5000);
    await snapshotter.snapshotNow();
    expect(store.deltas).toHaveLength(3);
    expect(snapshotter.lastSnapshotAt).toBe(clock.now());

    expect((await store.load(ALL)).events).toEqual(h.stream.bufferedEvents());
  });

  it("keeps a failed delta (minus what was evicted meanwhile) and writes it once the database works again", async () => {
    const { path, url } = databaseIn(tempDir());
    const store = await openStore(url);
    const h = hub(50);
    const log = recordingLogger();
    const snapshotter = new Snapshotter({ hub: h, store, intervalMs: 3_600_000, evictedThroughSeq: 0, log });
    onCleanup(() => snapshotter.close());
    await captureInto(
      h,
      range(1, 30).map((n) => visit(n)),
    );
    await snapshotter.snapshotNow();

    const lock = await holdWriteLock(path);
    await captureInto(
      h,
      range(31, 60).map((n) => visit(n)),
    );
    await expect(snapshotter.snapshotNow()).rejects.toThrow();
    await captureInto(
      h,
      range(61, 70).map((n) => visit(n)),
    );
    await expect(snapshotter.snapshotNow()).rejects.toThrow();
    expect(snapshotter.failures).toBe(2);
    expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(2);
    expect(log.lines[0]).toMatchObject({
      message: expect.stringMatching(/^snapshot failed \(1 in a row\); serving from memory, retrying: database is locked/),
      fields: { failuresInRow: 1, failures: 1, keptEvents: 30 },
    });
    expect(h.stream.size).toBe(50);

    lock.release();
    await snapshotter.snapshotNow();
    expect(log.lines.at(-1)!.message).toMatch(/succeeded again after 2 failure\(s\)/);
    const stored = await store.load(ALL);
    expect(stored.events).toEqual(h.stream.bufferedEvents());
    expect(stored.evictedThroughSeq).toBe(20);
  });
});

describe("a server with a database", () => {
  it("comes back after close() with the same events, cursors, live users, dashboard and persons", async () => {
    const { url } = databaseIn(tempDir());
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const settings = { databaseUrl: url, clock, bufferSize: 100, snapshotIntervalMs: 3_600_000 };
    const first = await startServer({ logger: recordingLogger(), ...settings });
    const ids: string[] = [];
    for (let batch = 0; batch < 3; batch++) {
      const inputs = range(batch * 20, batch * 20 + 19).map((n) => visit(n, n % 4 === 0 ? "staging" : "production"));
      ids.push(...(await captureEvents(first.url, inputs)).ids);
      clock.advance(1000);
    }
    const before = await gqlData(first.url, LIVE_VIEW);
    expect(before).toMatchObject({ liveUsers: { count: 7 }, staging: { count: 7 } });
    await first.close();

    const second = await startServer(settings);
    expect(await gqlData(second.url, LIVE_VIEW)).toEqual(before);

    // Duplicate detection holds across the restart; positions continue after the newest restored one.
    const again = await captureEvents(second.url, [visit(99), { id: ids[0]!, event: "x", distinctId: "d" }]);
    expect(again).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(again.ids[1]).toBe(ids[0]);
    const newest = await gqlData<{ recentEvents: { cursor: string }[] }>(second.url, "{ recentEvents(limit: 1) { cursor } }");
    expect(parseInt(newest.recentEvents[0]!.cursor.slice(3), 36)).toBe(61);
  });

  it("keeps persons whose events have left the buffer: first seen and $set_once survive a restart", async () => {
    const { url } = databaseIn(tempDir());
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const settings = { databaseUrl: url, clock, bufferSize: 10, snapshotIntervalMs: 3_600_000 };
    const first = await startServer(settings);
    await captureEvents(first.url, [
      { event: "signup", distinctId: "ada", properties: { $set_once: { source: "ad" }, $set: { plan: "free" } } },
    ]);
    const firstSeen = new Date(clock.now()).toISOString();
    clock.advance(5000);
    // Ten other events push Ada's out of the buffer.
    await captureEvents(
      first.url,
      range(1, 10).map((n) => ({ event: "tick", distinctId: `other-${n}` })),
    );
    await first.close();

    const second = await startServer(settings);
    clock.advance(5000);
    const query = `mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { person { properties firstSeen lastSeen } } }`;
    const input = { event: "login", distinctId: "ada", properties: { $set: { plan: "pro" } } };
    const { captureEvent } = await gqlData<{ captureEvent: { person: unknown } }>(second.url, query, { input });
    expect(captureEvent.person).toEqual({
      properties: { source: "ad", plan: "pro" },
      firstSeen,
      lastSeen: new Date(clock.now()).toISOString(),
    });
  });

  it("restores the newest events into a smaller buffer, and a resume from before them reports the gap", async () => {
    const { url } = databaseIn(tempDir());
    const first = await startServer({ databaseUrl: url, bufferSize: 30 });
    await captureEvents(
      first.url,
      range(1, 30).map((n) => visit(n)),
    );
    const all = await gqlData<{ recentEvents: { id: string; cursor: string }[] }>(first.url, "{ recentEvents(limit: 30) { id cursor } }");
    await first.close();

    const second = await startServer({ databaseUrl: url, bufferSize: 10 });
    const kept = await gqlData<{ recentEvents: { id: string; cursor: string }[] }>(second.url, "{ recentEvents(limit: 30) { id cursor } }");
    expect(kept.recentEvents).toEqual(all.recentEvents.slice(0, 10));
    const oldCursor = all.recentEvents.at(-5)!.cursor;
    const resumed = await subscribe<{ events: { id: string } }>(
      wsClient(second.url),
      "subscription ($after: String) { events(after: $after) { id } }",
      { after: oldCursor },
    ).waitForResults(10, 20_000);
    expect(resumed.map((r) => r.data!.events.id)).toEqual(kept.recentEvents.map((e) => e.id).reverse());
    expect(resumed[0]!.extensions).toMatchObject({ gap: true });

    // The rows left out go with the next snapshot that writes something.
    const newest = (await captureEvents(second.url, [visit(31)])).ids;
    await second.close();
    const stored = (await (await openStore(url)).load(ALL)).events.map((e) => e.id);
    expect(stored).toEqual([
      ...kept.recentEvents
        .slice(0, 9)
        .map((e) => e.id)
        .reverse(),
      ...newest,
    ]);
  });

  it("keeps capturing and delivering while the database is locked, counts the failures, and catches up after", async () => {
    const { path, url } = databaseIn(tempDir());
    const logger = recordingLogger();
    const server = await startServer({ databaseUrl: url, snapshotIntervalMs: 50, logger });
    const delivered = subscribe<{ events: { id: string } }>(wsClient(server.url), "subscription { events { id } }");
    await waitFor(
      async () =>
        (await gqlData<{ realtimeMetrics: { activeConnections: number } }>(server.url, "{ realtimeMetrics { activeConnections } }"))
          .realtimeMetrics.activeConnections === 1,
      { what: "the subscription", timeoutMs: 15_000 },
    );
    const ids = (
      await captureEvents(
        server.url,
        range(1, 20).map((n) => visit(n)),
      )
    ).ids;
    await waitForSnapshotAfter(server.url, Date.now());

    const lock = await holdWriteLock(path);
    const failuresBefore = (await snapshotMetrics(server.url)).snapshotFailures;
    for (let batch = 0; batch < 4; batch++)
      ids.push(
        ...(
          await captureEvents(
            server.url,
            range(1, 10).map((n) => visit(n)),
          )
        ).ids,
      );
    expect((await delivered.waitForResults(60, 20_000)).map((r) => r.data!.events.id)).toEqual(ids);
    await waitFor(async () => (await snapshotMetrics(server.url)).snapshotFailures >= failuresBefore + 2, {
      what: "failed snapshots to be counted",
      timeoutMs: 15_000,
    });
    expect(logger.lines.some((l) => l.level === "warn" && /failed .* serving from memory/.test(l.message))).toBe(true);
    const recent = await gqlData<{ recentEvents: { id: string }[] }>(server.url, "{ recentEvents(limit: 100) { id } }");
    expect(recent.recentEvents.map((e) => e.id).reverse()).toEqual(ids);

    lock.release();
    const afterRelease = Date.now();
    await waitFor(
      async () => {
        const { lastSnapshotAt } = await snapshotMetrics(server.url);
        return lastSnapshotAt !== null && Date.parse(lastSnapshotAt) > afterRelease;
      },
      { what: "a snapshot after the lock was released", timeoutMs: 15_000 },
    );
    const stored = await (await openStore(url)).load(ALL);
    expect(stored.events.map((e) => e.id)).toEqual(ids);

    // The same story in Prometheus terms.
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(scrape)?.[1]);
    expect(sample("pulse_snapshot_failures_total")).toBe((await snapshotMetrics(server.url)).snapshotFailures);
    expect(sample("pulse_snapshot_failures_total")).toBeGreaterThanOrEqual(2);
    expect(sample("pulse_snapshot_duration_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(sample("pulse_snapshot_age_seconds")).toBeLessThan(60);
  });

  it("keeps serving on a full disk, and writes everything once space is freed", async (ctx) => {
    const mount = tempDir();
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], { stdio: "ignore" });
    } catch {
      ctx.skip("mounting a small tmpfs (a disk that can fill up) needs root with CAP_SYS_ADMIN");
    }
    onCleanup(() => execFileSync("umount", ["-l", mount]));
    const url = `file:${join(mount, "pulse.db")}`;
    const logger = recordingLogger();
    const server = await startServer({ databaseUrl: url, snapshotIntervalMs: 50, logger });
    const ids = (
      await captureEvents(
        server.url,
        range(1, 10).map((n) => visit(n)),
      )
    ).ids;
    await waitFor(async () => (await snapshotMetrics(server.url)).lastSnapshotAt !== null, { what: "a first snapshot", timeoutMs: 15_000 });

    // Fill the disk, then capture more than fits.
    const { bavail, bsize } = statfsSync(mount);
    writeFileSync(join(mount, "filler"), Buffer.alloc(bavail * bsize));
    const big = (n: number) => ({ ...visit(n), properties: { n, blob: "x".repeat(4000) } });
    for (let batch = 0; batch < 3; batch++) ids.push(...(await captureEvents(server.url, range(1, 100).map(big))).ids);
    await waitFor(async () => (await snapshotMetrics(server.url)).snapshotFailures >= 2, {
      what: "failed snapshots on the full disk",
      timeoutMs: 15_000,
    });
    expect(logger.lines.some((l) => l.level === "warn" && /database or disk is full/.test(l.message))).toBe(true);
    const recent = await gqlData<{ recentEvents: { id: string }[] }>(server.url, "{ recentEvents(limit: 1000) { id } }");
    expect(recent.recentEvents.map((e) => e.id).reverse()).toEqual(ids);

    rmSync(join(mount, "filler"));
    const freed = Date.now();
    await waitFor(
      async () => {
        const { lastSnapshotAt } = await snapshotMetrics(server.url);
        return lastSnapshotAt !== null && Date.parse(lastSnapshotAt) > freed;
      },
      { what: "a snapshot after space was freed", timeoutMs: 15_000 },
    );
    await server.close();
    expect((await (await openStore(url)).load(ALL)).events.map((e) => e.id)).toEqual(ids);
  });

  it("rejects close() and logs an error when the final snapshot fails", async () => {
    const { path, url } = databaseIn(tempDir());
    const logger = recordingLogger();
    const server = await startServer({ databaseUrl: url, snapshotIntervalMs: 3_600_000, logger });
    await captureEvents(
      server.url,
      range(1, 5).map((n) => visit(n)),
    );
    await holdWriteLock(path);

    await expect(server.close()).rejects.toThrow();
    const errors = logger.lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^FINAL SNAPSHOT FAILED: 5 event\(s\) captured since the last good snapshot/);
    // Everything else is closed all the same.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it("closes cleanly with nothing new to write, even when the database is locked", async () => {
    const { path, url } = databaseIn(tempDir());
    const first = await startServer({ databaseUrl: url });
    await captureEvents(first.url, [visit(1)]);
    await first.close();
    const logger = recordingLogger();
    const second = await startServer({ databaseUrl: url, logger, snapshotIntervalMs: 3_600_000 });
    await holdWriteLock(path);
    await expect(second.close()).resolves.toBeUndefined();
    // Nothing is lost; only the record of the clean stop could not be written, and that is said.
    expect(logger.lines.filter((l) => l.level !== "info").map((l) => [l.level, l.message])).toEqual([
      ["warn", expect.stringMatching(/^snapshot failed/)],
      ["warn", expect.stringMatching(/^snapshot failed/)],
      ["warn", expect.stringMatching(/^snapshot failed/)],
      ["warn", expect.stringMatching(/^could not record the clean stop in the store \(nothing else was left to write\)/)],
    ]);
  });

  it("refuses to become ready on a database from a newer Pulse, and says why in /readyz", async () => {
    const { path, url } = databaseIn(tempDir());
    await (await openStore(url)).close();
    const db = new Database(path);
    db.prepare(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count) VALUES ('x', 'y', '29990101000000_future', '2999-01-01', 1)",
    ).run();
    db.close();
    const server = await startServer({ databaseUrl: url, logger: recordingLogger() }, { awaitReady: false });
    await expect(server.ready).rejects.toBeInstanceOf(StoreUnusableError);
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { checks: { startup: string } }).checks.startup).toMatch(/^failed: .*newer version of Pulse/);
  });

  it("without a database URL is memory-only: no snapshot, no failure", async () => {
    const server = await startServer();
    await captureEvents(server.url, [visit(1)]);
    expect(server.config.databaseUrl).toBeNull();
    expect(await snapshotMetrics(server.url)).toEqual({ snapshotFailures: 0, lastSnapshotAt: null, bufferedEvents: 1 });
  });
});
