import { describe, expect, it } from "vitest";
import { gql, graphqlErrors, streamClient, STREAM_TRANSPORTS, type Recording, type Result } from "../support/clients.ts";
import { startPulseProcess } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { waitFor, within } from "../support/wait.ts";

const SUBSCRIBE = `subscription($filter: EventFilter) { events(filter: $filter) { id properties } }`;
const RECENT = `query($filter: EventFilter) { recentEvents(limit: 10, filter: $filter) { id } }`;
const CAPTURE = `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`;

/** The first error's code and setting, of an HTTP answer or of a subscription that ended with errors. */
function refusal(from: Result | Recording): [unknown, unknown] {
  const errors = "ended" in from ? graphqlErrors(from) : (from.errors ?? []);
  return [errors[0]?.extensions?.["code"], errors[0]?.extensions?.["setting"]];
}

describe("a subscriber's filter cannot stall captures", () => {
  it(
    "a catastrophic-backtracking REGEX subscriber: captures complete, it gets what matches, /healthz answers",
    { timeout: 90_000 },
    async () => {
      // Pulse as `npm start` runs it, in its own process: while a backtracking engine is stuck in a capture, this
      // process stays free to observe that /healthz does not answer. ^(a|a)*$ on 40 'a's and '!' is 2^40 steps
      // for a backtracking engine (27 'a's took 7.5 s); RE2 answers in microseconds.
      const pulse = await startPulseProcess();
      const client = streamClient("ws", pulse.url);
      const evil = client.subscribe(SUBSCRIBE, { filter: { properties: [{ property: "p", operator: "REGEX", value: "^(a|a)*$" }] } });
      const complement = client.subscribe(SUBSCRIBE, {
        filter: { properties: [{ property: "p", operator: "NOT_REGEX", value: "^(a|a)*$" }] },
      });
      // A subscription is registered once a capture reaches it: capture a marker until both have seen one.
      await waitFor(
        async () => {
          await gql(pulse.url, CAPTURE, { input: { event: "marker", distinctId: "w", properties: { p: "a" } } });
          await gql(pulse.url, CAPTURE, { input: { event: "marker", distinctId: "w", properties: { p: "b" } } });
          return evil.results.length > 0 && complement.results.length > 0;
        },
        { what: "both subscriptions to be live" },
      );

      const writer = (p: string) =>
        gql(
          pulse.url,
          CAPTURE,
          { input: { event: "evil", distinctId: "writer", properties: { p } } },
          { signal: AbortSignal.timeout(30_000) },
        );
      const capturing = Promise.all([writer(`${"a".repeat(40)}!`), writer("a".repeat(40))]);
      capturing.catch(() => {}); // awaited below; a stuck server is reported by /healthz first
      const health = await fetch(`${pulse.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
      expect(health.status).toBe(200);
      const captured = await capturing;
      for (const answer of captured) expect(answer.errors).toBeUndefined();

      // The writer's values are the only long ones: markers still in flight when `seen` was read may come first.
      const writerValue = (result: { data?: Record<string, unknown> | null }) =>
        (result.data!["events"] as { properties: { p: string } }).properties.p;
      const fromWriter = (results: readonly { data?: Record<string, unknown> | null }[]) =>
        results.map(writerValue).filter((p) => p.length >= 40);
      await waitFor(() => fromWriter(evil.results).length > 0 && fromWriter(complement.results).length > 0, {
        what: "the writer's events",
      });
      expect(fromWriter(evil.results)).toEqual(["a".repeat(40)]);
      expect(fromWriter(complement.results)).toEqual([`${"a".repeat(40)}!`]);
    },
  );
});

describe("filter limits hold on every path (filters sent as variables count too)", () => {
  const conditions = (n: number) => Array.from({ length: n }, (_, i) => ({ property: `k${i % 50}`, operator: "IS_SET" }));

  it("15,000 conditions are BAD_USER_INPUT naming PULSE_MAX_FILTER_CONDITIONS over HTTP, WebSocket and SSE", async () => {
    const server = await startServer();
    const filter = { properties: conditions(15_000) };
    expect(refusal(await gql(server.url, RECENT, { filter }))).toEqual(["BAD_USER_INPUT", "PULSE_MAX_FILTER_CONDITIONS"]);
    for (const transport of STREAM_TRANSPORTS) {
      const subscription = streamClient(transport, server.url).subscribe(SUBSCRIBE, { filter });
      await within(subscription.ended, `the ${transport} subscription to be refused`);
      expect([transport, ...refusal(subscription)]).toEqual([transport, "BAD_USER_INPUT", "PULSE_MAX_FILTER_CONDITIONS"]);
    }
    expect(server.hub.metrics().activeSubscriptions).toBe(0);
    // Within the limit, the same filter runs.
    expect((await gql(server.url, RECENT, { filter: { properties: conditions(50) } })).errors).toBeUndefined();
  });

  it("each limit is a setting", async () => {
    const server = await startServer({ trust: { maxFilterConditions: 2, maxFilterValueLength: 8 } });
    expect(refusal(await gql(server.url, RECENT, { filter: { events: ["a", "b"], environment: "prod" } }))).toEqual([
      "BAD_USER_INPUT",
      "PULSE_MAX_FILTER_CONDITIONS",
    ]);
    const long = await gql(server.url, RECENT, { filter: { properties: [{ property: "p", operator: "CONTAINS", value: "123456789" }] } });
    expect(refusal(long)).toEqual(["BAD_USER_INPUT", "PULSE_MAX_FILTER_VALUE_LENGTH"]);
    expect(long.errors![0]!.extensions?.["field"]).toBe("filter.properties[0].value");
    expect((await gql(server.url, RECENT, { filter: { events: ["a"], environment: "prod" } })).errors).toBeUndefined();
  });

  it("a pattern RE2 cannot compile is BAD_USER_INPUT saying RE2 syntax is required, on every transport", async () => {
    const server = await startServer();
    const filter = { properties: [{ property: "p", operator: "REGEX", value: "^(?!admin).*" }] };
    const answer = await gql(server.url, RECENT, { filter });
    expect(refusal(answer)[0]).toBe("BAD_USER_INPUT");
    expect(answer.errors![0]!.message).toContain("RE2 syntax is required");
    for (const transport of STREAM_TRANSPORTS) {
      const subscription = streamClient(transport, server.url).subscribe(SUBSCRIBE, { filter });
      await within(subscription.ended, `the ${transport} subscription to be refused`);
      expect([transport, graphqlErrors(subscription)[0]?.message]).toEqual([transport, expect.stringContaining("RE2 syntax is required")]);
    }
  });
});
