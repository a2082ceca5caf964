import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrationTimestamp } from "../../src/store/migrations.ts";
import { scrape } from "../support/metrics.ts";
import { openSqliteStore } from "../../src/store/sqlite.ts";
import { gqlData, subscribe, wsClient } from "../support/clients.ts";
import { captureEvents } from "../support/events.ts";
import { recordingLogger } from "../support/logs.ts";
import { holdWriteLock, LIVE_VIEW, snapshotMetrics, visit, waitForSnapshotAfter, writeDamagedDatabase } from "../support/persistence.ts";
import { spawnPulse, startPulseProcess, tempDir } from "../support/process.ts";
import { waitFor, within } from "../support/wait.ts";

/** Wide windows: everything captured in the test stays live and counted across the restart on a slow machine. */
const WINDOWS = { PULSE_LIVE_WINDOW_SECONDS: "3600", PULSE_DASHBOARD_WINDOW_SECONDS: "3600" };

/** The JSON log lines of a process's output. */
function logLines(output: string): { level: string; msg: string }[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: string; msg: string });
}

type Recent = { recentEvents: { id: string; cursor: string }[] };
type Active = { realtimeMetrics: { activeConnections: number } };

// Each test starts one or two real processes (about 1.5 s each on an idle 2-core machine, more under a parallel suite).
describe("the server process with a SQLite file", { timeout: 90_000 }, () => {
  it("comes back after SIGTERM exactly as it was: events, order, cursors, live users, dashboard; resumes from an old cursor", async () => {
    const dir = tempDir();
    // No interval snapshot during the test: the final snapshot alone must hold everything.
    const env = { DATABASE_URL: `file:${join(dir, "pulse.db")}`, PULSE_SNAPSHOT_INTERVAL_MS: "3600000", ...WINDOWS };
    const first = await startPulseProcess(env);
    const ids: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const inputs = Array.from({ length: 100 }, (_, i) => visit(batch * 100 + i, i % 3 === 0 ? "staging" : "production"));
      ids.push(...(await captureEvents(first.url, inputs)).ids);
    }
    const before = await gqlData<Recent>(first.url, LIVE_VIEW);
    expect(before.recentEvents.map((e) => e.id)).toEqual([...ids].reverse());

    first.child.kill("SIGTERM");
    expect(await within(first.exited, "the first process to exit", 20_000), first.output()).toEqual({ code: 0, signal: null });

    const second = await startPulseProcess(env);
    expect(second.output()).toMatch(/"restored 500 event\(s\) and 7 person\(s\) in \d+ ms"/);
    expect(await gqlData(second.url, LIVE_VIEW)).toEqual(before);

    // A client that had read up to the 400th event resumes over graphql-ws: the 100 after it, then live ones.
    const cursor = before.recentEvents[100]!.cursor;
    const resumed = subscribe<{ events: { id: string; cursor: string } }>(
      wsClient(second.url),
      "subscription ($after: String) { events(after: $after) { id cursor } }",
      { after: cursor },
    );
    // The backlog is taken when the subscription starts; live events follow it.
    await waitFor(
      async () => (await gqlData<Active>(second.url, "{ realtimeMetrics { activeConnections } }")).realtimeMetrics.activeConnections === 1,
      { what: "the subscription", timeoutMs: 15_000 },
    );
    const live = (await captureEvents(second.url, [visit(1000), visit(1001), visit(1002)])).ids;
    const events = (await resumed.waitForResults(103, 20_000)).map((r) => r.data!.events);
    expect(events.slice(0, 100)).toEqual(
      before.recentEvents
        .slice(0, 100)
        .map(({ id, cursor }) => ({ id, cursor }))
        .reverse(),
    );
    expect(events.slice(100).map((e) => e.id)).toEqual(live);
    const positions = events.map((e) => parseInt(e.cursor.slice(3), 36));
    expect(positions).toEqual(Array.from({ length: 103 }, (_, i) => 401 + i));
  });

  it("after kill -9 has everything captured before the last completed snapshot", async () => {
    const dir = tempDir();
    const env = { DATABASE_URL: `file:${join(dir, "pulse.db")}`, PULSE_SNAPSHOT_INTERVAL_MS: "200", ...WINDOWS };
    const first = await startPulseProcess(env);
    const saved: string[] = [];
    for (let batch = 0; batch < 3; batch++)
      saved.push(
        ...(
          await captureEvents(
            first.url,
            Array.from({ length: 50 }, (_, i) => visit(batch * 50 + i)),
          )
        ).ids,
      );
    await waitForSnapshotAfter(first.url, Date.now());
    // Captured after the last snapshot we know of: may or may not be in the next one when the process dies.
    const unsure = (
      await captureEvents(
        first.url,
        Array.from({ length: 50 }, (_, i) => visit(150 + i)),
      )
    ).ids;

    first.child.kill("SIGKILL");
    expect(await within(first.exited, "the killed process", 20_000)).toEqual({ code: null, signal: "SIGKILL" });

    const second = await startPulseProcess(env);
    const restored = (await gqlData<Recent>(second.url, "{ recentEvents(limit: 1000) { id cursor } }")).recentEvents
      .map((e) => e.id)
      .reverse();
    // Everything saved, in order, followed by a prefix of the rest (a snapshot is all or nothing), never a hole.
    const captured = [...saved, ...unsure];
    expect(restored.length).toBeGreaterThanOrEqual(saved.length);
    expect(restored).toEqual(captured.slice(0, restored.length));
  });

  it("after kill -9, new events never take the positions of lost ones: a resume from a lost event's cursor gets every new event, told of a gap", async () => {
    const dir = tempDir();
    const env = { DATABASE_URL: `file:${join(dir, "pulse.db")}`, PULSE_SNAPSHOT_INTERVAL_MS: "1500", ...WINDOWS };
    const first = await startPulseProcess(env);
    await captureEvents(first.url, [visit(1), visit(2), visit(3)]);
    await waitForSnapshotAfter(first.url, Date.now());
    // Captured and delivered, then lost with the process (the next snapshot is ~1.5 s away).
    await captureEvents(first.url, [visit(4), visit(5)]);
    const [newest] = (await gqlData<Recent>(first.url, "{ recentEvents(limit: 1) { id cursor } }")).recentEvents;
    first.child.kill("SIGKILL");
    await within(first.exited, "the killed process", 20_000);

    const second = await startPulseProcess(env);
    expect(second.output()).toMatch(/the previous run did not stop cleanly/);
    const resumed = subscribe<{ events: { id: string; cursor: string } }>(
      wsClient(second.url),
      "subscription ($after: String) { events(after: $after) { id cursor } }",
      { after: newest!.cursor },
    );
    await waitFor(
      async () => (await gqlData<Active>(second.url, "{ realtimeMetrics { activeConnections } }")).realtimeMetrics.activeConnections === 1,
      { what: "the subscription", timeoutMs: 15_000 },
    );
    const fresh = (await captureEvents(second.url, [visit(6), visit(7), visit(8)])).ids;
    const results = await resumed.waitForResults(3, 20_000);
    expect(results.map((r) => r.data!.events.id)).toEqual(fresh);
    expect(results[0]!.extensions?.["gap"]).toBe(true);
    const position = (cursor: string) => parseInt(cursor.slice(3), 36);
    expect(position(results[0]!.data!.events.cursor)).toBeGreaterThan(position(newest!.cursor) + 1000);
  });

  it("creates ./data/pulse.db in the working directory when DATABASE_URL is not set", async () => {
    const dir = tempDir();
    const server = await startPulseProcess({ DATABASE_URL: "" }, { cwd: dir });
    await captureEvents(server.url, [visit(1)]);
    server.child.kill("SIGTERM");
    expect((await within(server.exited, "the process to exit", 20_000)).code).toBe(0);
    const path = join(dir, "data", "pulse.db");
    expect(existsSync(path)).toBe(true);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.prepare("SELECT COUNT(*) FROM events").pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it("finds its file deleted while it runs: reports it, never claims a snapshot that missed the file, writes everything to a new one", async () => {
    const path = join(tempDir(), "pulse.db");
    const env = { DATABASE_URL: `file:${path}`, PULSE_SNAPSHOT_INTERVAL_MS: "300", ...WINDOWS };
    const server = await startPulseProcess(env);
    const before = (await captureEvents(server.url, [visit(1), visit(2), visit(3)])).ids;
    await waitForSnapshotAfter(server.url, Date.now());
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
    const deletedAt = Date.now();
    const after = (await captureEvents(server.url, [visit(4)])).ids;

    // Once Pulse says a snapshot reflects a moment after the deletion, the file at the path holds it all.
    await waitForSnapshotAfter(server.url, deletedAt);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare("SELECT id FROM events ORDER BY seq").pluck().all()).toEqual([...before, ...after]);
    } finally {
      db.close();
    }
    expect((await snapshotMetrics(server.url)).snapshotFailures).toBeGreaterThanOrEqual(1);
    expect((await scrape(server.url)).value("pulse_snapshot_failures_total")).toBeGreaterThanOrEqual(1);
    const errors = logLines(server.output()).filter((line) => line.level === "error");
    expect(errors.map((line) => line.msg)).toEqual([expect.stringMatching(/^the database file was deleted while Pulse was running/)]);

    server.child.kill("SIGTERM");
    expect(await within(server.exited, "the process to exit")).toEqual({ code: 0, signal: null });
    const restarted = await startPulseProcess(env);
    const restored = (await gqlData<Recent>(restarted.url, "{ recentEvents(limit: 10) { id cursor } }")).recentEvents.map((e) => e.id);
    expect(restored).toEqual([...before, ...after].reverse());
  });

  it("refuses a database from a newer Pulse with a clear message and exit code 3", async () => {
    const dir = tempDir();
    const path = join(dir, "pulse.db");
    await (await openSqliteStore(`file:${path}`, { log: recordingLogger() })).close();
    const db = new Database(path);
    db.prepare(
      "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ('x', 'y', ?, '29990101000000_future', ?, 1)",
    ).run(migrationTimestamp(), migrationTimestamp());
    db.close();

    const server = spawnPulse({ DATABASE_URL: `file:${path}` });
    expect(await within(server.exited, "the refused start", 20_000)).toEqual({ code: 3, signal: null });
    const lines = server
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    const fatal = lines.filter((line) => line.level === "fatal");
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/^Pulse cannot start: The database SQLite .*pulse\.db was migrated by a newer version of Pulse/);
    expect(fatal[0]!.msg).toContain('it has migration "29990101000000_future", which this version does not know');
    // Said plainly: no stack trace anywhere.
    expect(server.output()).not.toContain('"stack"');
  });

  it("refuses a damaged database file with one line naming it and exit code 3, not a stack trace", async () => {
    const path = join(tempDir(), "pulse.db");
    await writeDamagedDatabase(path);

    const server = spawnPulse({ DATABASE_URL: `file:${path}` });
    expect(await within(server.exited, "the refused start", 20_000), server.output()).toEqual({ code: 3, signal: null });
    const fatal = logLines(server.output()).filter((line) => line.level === "fatal");
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/^Pulse cannot start: The database SQLite .*pulse\.db is damaged \(.+\)\. Restore it from a backup/);
    expect(server.output()).not.toContain('"stack"');
  });

  it("exits non-zero and says so loudly when the final snapshot cannot be written", async () => {
    const dir = tempDir();
    const path = join(dir, "pulse.db");
    const server = await startPulseProcess({ DATABASE_URL: `file:${path}`, PULSE_SNAPSHOT_INTERVAL_MS: "3600000" });
    await captureEvents(server.url, [visit(1), visit(2)]);
    await holdWriteLock(path);

    server.child.kill("SIGTERM");
    expect(await within(server.exited, "the process to exit", 20_000)).toEqual({ code: 1, signal: null });
    expect(server.output()).toMatch(
      /"FINAL SNAPSHOT FAILED: 2 event\(s\) captured since the last good snapshot.* are lost: database is locked"/,
    );
  });
});
