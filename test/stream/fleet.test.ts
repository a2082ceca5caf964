import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { onCleanup } from "../support/cleanup.ts";
import { gqlData, streamClient } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive } from "../support/events.ts";
import { scrape } from "../support/metrics.ts";
import { startPulseProcess, type PulseProcess } from "../support/process.ts";
import { fleetSettings, POSTGRES_URL, queryPostgres, REDIS_URL } from "../support/services.ts";
import { waitFor } from "../support/wait.ts";

const EVENTS = `subscription { events { id } }`;

type Instance = PulseProcess;

/** A real Pulse process (compiled, test/support/process.ts) on a free port, ready (GET /readyz 200) before it is returned. */
const startInstance = (env: Record<string, string>): Promise<Instance> => startPulseProcess({ LOG_LEVEL: "warn", ...env });

async function kill9(instance: Instance): Promise<void> {
  instance.child.kill("SIGKILL");
  await instance.exited;
}

/** The instances whose `pulse_snapshot_writer` gauge is 1, once exactly one of them reports it. */
async function theWriter(instances: readonly Instance[]): Promise<Instance> {
  const writers = await waitFor(
    async () => {
      const flags = await Promise.all(instances.map(async (i) => (await scrape(i.url)).value("pulse_snapshot_writer")));
      const writing = instances.filter((_, n) => flags[n] === 1);
      return writing.length === 1 ? writing : null;
    },
    { timeoutMs: 15_000, what: "exactly one instance to write the snapshots" },
  );
  return writers[0]!;
}

/** Ids of the events in the fleet's PostgreSQL snapshot. */
async function snapshotIds(databaseUrl: string): Promise<string[]> {
  return (await queryPostgres<{ id: string }>(databaseUrl, "SELECT id FROM events ORDER BY seq")).map((row) => row.id);
}

describe.skipIf(!REDIS_URL || !POSTGRES_URL)("a fleet of real Pulse processes on one Redis and one PostgreSQL", () => {
  it("serves the same stream on every instance; one writes the snapshot; a writer killed with -9 is replaced and catches up when restarted", async () => {
    const shared = fleetSettings();
    // The first migrates the schema; the others start together.
    const a = await startInstance(shared);
    const [b, c] = await Promise.all([startInstance(shared), startInstance(shared)]);
    const onB = streamClient("ws", b.url).subscribe(EVENTS);
    const onC = streamClient("sse", c.url).subscribe(EVENTS);
    await waitForActive(b.url, 1);
    await waitForActive(c.url, 1);
    const first = await captureEvents(
      a.url,
      [1, 2, 3, 4, 5].map((n) => pageview(n)),
    );
    const ids = (r: { data?: Record<string, unknown> | null }) => (r.data!.events as { id: string }).id;
    expect((await onB.waitForResults(5)).map(ids)).toEqual(first.ids);
    expect((await onC.waitForResults(5)).map(ids)).toEqual(first.ids);
    const views = `{ liveUsers { count } liveDashboard { liveUsers eventsPerMinute { event count } topPages { path count } } }`;
    const onA = await gqlData(a.url, views);
    for (const server of [b, c]) expect(await gqlData(server.url, views)).toEqual(onA);

    const fleet = [a, b, c];
    const writer = await theWriter(fleet);
    await waitFor(async () => ((await snapshotIds(shared.DATABASE_URL!)).length === 5 ? true : null), {
      what: "the snapshot of the 5 events",
    });
    expect(await snapshotIds(shared.DATABASE_URL!)).toEqual(first.ids);

    await kill9(writer);
    const [survivor, other] = fleet.filter((i) => i !== writer) as [Instance, Instance];
    const during = await captureEvent(survivor.url, pageview(6));
    await waitFor(async () => ((await recentEvents(other.url, 1))[0]?.id === during.id ? true : null), {
      what: "the event on the other survivor",
    });
    // Another instance takes the writer's role and stores what came since.
    await theWriter([survivor, other]);
    await waitFor(async () => ((await snapshotIds(shared.DATABASE_URL!)).at(-1) === during.id ? true : null), {
      what: "the new writer's snapshot",
    });

    const restarted = await startInstance(shared);
    const expected = (await recentEvents(survivor.url, 100)).map((e) => e.id);
    expect(expected).toHaveLength(6);
    await waitFor(async () => ((await recentEvents(restarted.url, 100)).length === 6 ? true : null), {
      what: "the restarted instance to catch up",
    });
    expect((await recentEvents(restarted.url, 100)).map((e) => e.id)).toEqual(expected);
    for (const server of [survivor, other, restarted])
      expect(await gqlData(server.url, `{ liveUsers { count } }`)).toEqual({ liveUsers: { count: 6 } });
    expect(await theWriter([survivor, other, restarted])).not.toBe(restarted);
  }, 120_000);

  it("starts a joining instance with the current buffer from PostgreSQL, beyond what the Redis stream still holds", async () => {
    const shared: Record<string, string> = { ...fleetSettings(), PULSE_REDIS_STREAM_LENGTH: "1000" };
    const a = await startInstance(shared);
    const captured: string[] = [];
    for (let batch = 0; batch < 15; batch++) {
      captured.push(
        ...(
          await captureEvents(
            a.url,
            Array.from({ length: 100 }, (_, i) => pageview(batch * 100 + i)),
          )
        ).ids,
      );
    }
    const redis = new Redis(REDIS_URL!);
    onCleanup(() => redis.disconnect());
    // Redis trims whole blocks of ~100 entries: fewer than the 1,500 captured are left in the stream.
    expect(await redis.xlen(`${shared.PULSE_REDIS_PREFIX}events`)).toBeLessThan(1200);
    await waitFor(async () => ((await snapshotIds(shared.DATABASE_URL!)).length === 1500 ? true : null), {
      what: "the snapshot of 1,500 events",
    });

    const joining = await startInstance(shared);
    // At once: nothing to wait for, the buffer came from the snapshot.
    expect((await recentEvents(joining.url, 2000, undefined, "id")).map((e) => e.id).reverse()).toEqual(captured);
  }, 90_000);
});
