import { describe, expect, it } from "vitest";
import { streamClient, type Result } from "../support/clients.ts";
import { captureEvent, captureEvents, pageview, recentEvents, waitForActive, type EventPayload } from "../support/events.ts";
import { RawGraphqlSocket, type WireMessage } from "../support/raw-ws.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const QUEUE = 50;
const EVENTS = 800;
const BATCH = 50;
/** 32 KB of properties per event... */
const PADDING = "x".repeat(32 * 1024);
/** ...selected 10 times over by the slow reader, so each frame to it is ~320 KB while captures stay small. */
const HEAVY = `subscription ($after: String) {
  events(after: $after) {
    id cursor
    ${Array.from({ length: 10 }, (_, i) => `p${i}: properties`).join(" ")}
  }
}`;
const LIGHT = "subscription ($after: String) { events(after: $after) { id cursor } }";

/**
 * 800 events × ~320 KB is ~250 MB for a reader that reads nothing: far more than the loopback socket buffers can
 * hold even fully grown (tcp_rmem max 32 MB + tcp_wmem max 4 MB on these machines), plus its queue of 50, so its
 * subscription must overflow; the captures themselves stay at ~25 MB.
 */
describe("a subscriber that stops reading", () => {
  it("is ended with LAGGED and its cursor, keeps its socket, slows nobody, and resumes with no gap and no duplicate", async () => {
    // Batches of 32 KiB events: above the default 1 MiB body limit (PULSE_MAX_BODY_BYTES), on purpose.
    const server = await startServer({ subscriberQueue: QUEUE, trust: { maxBodyBytes: 64 * 1024 * 1024 } });

    const slow = await RawGraphqlSocket.open(server.url);
    slow.subscribe("slow", HEAVY);
    const ws = streamClient("ws", server.url).subscribe(LIGHT);
    const sse = streamClient("sse", server.url).subscribe(LIGHT);
    await waitForActive(server.url, 3);

    // One event read normally, so the LAGGED cursor has something to point at.
    const first = await captureEvent(server.url, pageview(0, { properties: { n: 0, padding: PADDING } }));
    await slow.waitForMessage((m) => m.id === "slow" && m.type === "next", "the first event on the slow socket");
    slow.pause();

    for (let n = 1; n < EVENTS; n += BATCH) {
      await captureEvents(
        server.url,
        Array.from({ length: BATCH }, (_, i) => pageview(n + i, { properties: { n: n + i, padding: PADDING } })),
      );
    }
    const all = (await recentEvents(server.url, 100_000, undefined, "id cursor")).reverse();
    expect(all).toHaveLength(EVENTS + 1);
    expect(all[0]!.id).toBe(first.id);

    // The others, each on its own connection, got every event in order while the slow one was stuck.
    await ws.waitForResults(all.length, 30_000);
    await sse.waitForResults(all.length, 30_000);
    for (const recording of [ws, sse]) {
      expect(recording.values<EventPayload>("events").map((e) => e.cursor)).toEqual(all.map((e) => e.cursor));
      expect(recording.end).toBeNull();
    }

    slow.resume();
    await slow.waitForMessage((m) => m.id === "slow" && m.type === "complete", "complete after LAGGED", 30_000);
    const frames = slow.messagesFor("slow");
    const results = frames.slice(0, -1).map((m) => m.payload as Result);
    const delivered = results.slice(0, -1).map((r) => r.data!["events"] as EventPayload);
    const lagged = results.at(-1)!;

    // Events, then one last result with LAGGED and the last delivered cursor, then complete.
    expect(frames.slice(0, -1).every((m: WireMessage) => m.type === "next")).toBe(true);
    expect(frames.at(-1)!.type).toBe("complete");
    expect(results.slice(0, -1).every((r) => r.errors === undefined && r.data?.["events"])).toBe(true);
    expect(lagged.data ?? null).toBeNull();
    expect(lagged.errors).toHaveLength(1);
    expect(lagged.errors![0]!.extensions).toMatchObject({ code: "LAGGED" });
    expect(delivered.length).toBeGreaterThanOrEqual(1);
    expect(delivered.length).toBeLessThan(all.length);
    expect(lagged.errors![0]!.extensions!["cursor"]).toBe(delivered.at(-1)!.cursor);
    // What it got before falling behind is the start of the stream, in order.
    expect(delivered.map((e) => e.cursor)).toEqual(all.slice(0, delivered.length).map((e) => e.cursor));
    expect((results[0]!.data!["events"] as Record<string, unknown>)["p9"]).toMatchObject({ padding: PADDING });

    // The socket stayed open: the same connection resumes after the cursor and gets exactly the rest.
    expect(slow.closed).toBeNull();
    expect(slow.isOpen).toBe(true);
    slow.subscribe("resume", LIGHT, { after: lagged.errors![0]!.extensions!["cursor"] });
    await waitFor(() => slow.messagesFor("resume").length >= all.length - delivered.length, {
      what: () => `${all.length - delivered.length} resumed events (got ${slow.messagesFor("resume").length})`,
      timeoutMs: 30_000,
    });
    const resumed = slow.messagesFor("resume").map((m) => (m.payload as Result).data!["events"] as EventPayload);
    expect([...delivered, ...resumed].map((e) => e.cursor)).toEqual(all.map((e) => e.cursor));

    // One more live event reaches the resumed subscription too.
    const live = await captureEvent(server.url, pageview(EVENTS));
    await waitFor(() => slow.messagesFor("resume").some((m) => ((m.payload as Result).data?.["events"] as EventPayload).id === live.id), {
      what: "a live event after resuming",
    });
  }, 90_000);
});
