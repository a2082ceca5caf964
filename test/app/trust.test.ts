/**
 * What a key can and cannot reach through the application layer (src/app): captures that reveal nothing their
 * caller did not send, scoped read keys that can resume and read the timeline, one ingest path with the configured
 * limits for GraphQL and PostHog, and no rate charge for a capture that stores nothing. Real server, real clients.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { codeOf, gqlResponse, post, subscribe, wsClient } from "../support/clients.ts";
import { anEvent } from "../support/events.ts";
import { KEYED, KEYS } from "../support/keys.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const CAPTURE_WITH_PERSON = `mutation($input: CaptureEventInput!) {
  captureEvent(input: $input) { id cursor event environment properties person { properties } }
}`;

describe("a capture reveals nothing its caller did not send", () => {
  it("refuses a capture key the person behind the event it captured (FORBIDDEN on the field), keeping the capture", async () => {
    const server = await startServer({ trust: KEYED });
    await gqlResponse(
      server.url,
      CAPTURE_WITH_PERSON,
      { input: anEvent({ distinctId: "victim", properties: { $set: { email: "v@example.com" } } }) },
      { key: KEYS.read },
    );
    const answer = await gqlResponse(server.url, CAPTURE_WITH_PERSON, { input: anEvent({ distinctId: "victim" }) }, { key: KEYS.capture });
    const data = answer.body.data?.["captureEvent"] as Record<string, unknown> | null;
    expect(data?.["id"]).toEqual(expect.any(String));
    expect(data?.["person"]).toBeNull();
    expect(codeOf(answer.body)).toBe("FORBIDDEN");
    expect(JSON.stringify(answer.body)).not.toContain("v@example.com");
    expect(server.hub.stream.size).toBe(2);
  });

  it("answers a re-sent id with the stored id and cursor and the caller's own data, never the stored event", async () => {
    const server = await startServer({ trust: KEYED });
    const id = randomUUID();
    const original = await gqlResponse(
      server.url,
      CAPTURE_WITH_PERSON.replace(" person { properties }", ""),
      { input: anEvent({ id, environment: "production", properties: { secret: "production-only" } }) },
      { key: KEYS.read },
    );
    const stored = original.body.data?.["captureEvent"] as Record<string, unknown>;
    const again = await gqlResponse(
      server.url,
      CAPTURE_WITH_PERSON.replace(" person { properties }", ""),
      { input: anEvent({ id, event: "probe", properties: {} }) },
      { key: KEYS.stagingCapture },
    );
    expect(again.body.errors).toBeUndefined();
    const answered = again.body.data?.["captureEvent"] as Record<string, unknown>;
    expect([answered["id"], answered["cursor"]]).toEqual([stored["id"], stored["cursor"]]);
    expect(answered).toMatchObject({ event: "probe", environment: "staging", properties: {} });
    expect(JSON.stringify(again.body)).not.toContain("production-only");
  });
});

describe("environment-scoped read keys", () => {
  it("resume with events(after:) over WebSocket, within their environment", async () => {
    const server = await startServer({ trust: KEYED });
    const first = await gqlResponse(
      server.url,
      `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { cursor } }`,
      { input: anEvent({ event: "one" }) },
      { key: KEYS.stagingCapture },
    );
    const cursor = (first.body.data?.["captureEvent"] as { cursor: string }).cursor;
    await gqlResponse(
      server.url,
      `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`,
      { input: anEvent({ event: "elsewhere", environment: "production" }) },
      { key: KEYS.read },
    );
    await gqlResponse(
      server.url,
      `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`,
      { input: anEvent({ event: "two" }) },
      { key: KEYS.stagingCapture },
    );
    const client = wsClient(server.url, { key: KEYS.stagingRead });
    const resumed = subscribe(client, `subscription($after: String) { events(after: $after) { event environment } }`, { after: cursor });
    let failed: unknown;
    void resumed.failure.then((error) => (failed = error));
    await waitFor(() => resumed.results.length >= 1 || failed !== undefined);
    expect(failed).toBeUndefined();
    expect(resumed.results.map((r) => r.errors ?? (r.data as { events: { event: string } }).events.event)).toEqual(["two"]);
  });

  it("read their environment's dashboard timeline, and get FORBIDDEN for another environment's", async () => {
    const server = await startServer({ trust: KEYED });
    await gqlResponse(
      server.url,
      `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`,
      { input: anEvent() },
      { key: KEYS.stagingCapture },
    );
    const own = await gqlResponse(server.url, `{ liveDashboard { timeline(minutes: 5) { events } } }`, {}, { key: KEYS.stagingRead });
    expect(own.body.errors).toBeUndefined();
    const points = (own.body.data?.["liveDashboard"] as { timeline: { events: number }[] }).timeline;
    expect(points.reduce((sum, p) => sum + p.events, 0)).toBe(1);
    const other = await gqlResponse(
      server.url,
      `{ liveDashboard(environment: "production") { timeline(minutes: 5) { events } } }`,
      {},
      { key: KEYS.stagingRead },
    );
    expect(codeOf(other.body)).toBe("FORBIDDEN");
    const pushed = subscribe(
      wsClient(server.url, { key: KEYS.stagingRead }),
      `subscription { liveDashboard { timeline(minutes: 5) { events } } }`,
    );
    await waitFor(() => pushed.results.length >= 1);
    expect(pushed.results[0]!.errors).toBeUndefined();
  });
});

describe("one ingest path", () => {
  it("holds PostHog's endpoints to the configured limits, as GraphQL", async () => {
    const server = await startServer({ trust: { maxPropertyCount: 5 } });
    const properties = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`p${i}`, i]));
    const graphql = await gqlResponse(server.url, `mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id } }`, {
      input: anEvent({ properties }),
    });
    expect(codeOf(graphql.body)).toBe("BAD_USER_INPUT");
    const posthog = await post(
      server.url,
      JSON.stringify({ api_key: "k", event: "e", distinct_id: "u", properties }),
      { "content-type": "application/json" },
      "/capture/",
    );
    expect(posthog.status).toBe(400);
    expect((posthog.body as unknown as { error: { code: string; message: string } }).error).toMatchObject({
      code: "BAD_USER_INPUT",
      message: expect.stringMatching(/PULSE_MAX_PROPERTY_COUNT/),
    });
    expect(server.hub.stream.size).toBe(0);
  });

  it("charges the capture rate only for captures that would be stored", async () => {
    const server = await startServer({ trust: { captureRatePerSecond: 3, captureBurst: 0 } });
    const invalid = { inputs: [anEvent({ event: "" }), anEvent(), anEvent()] };
    for (let i = 0; i < 5; i++) {
      const answer = await gqlResponse(
        server.url,
        `mutation($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted } }`,
        invalid,
      );
      expect(codeOf(answer.body)).toBe("BAD_USER_INPUT");
    }
    const valid = await gqlResponse(
      server.url,
      `mutation($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted } }`,
      { inputs: [anEvent(), anEvent(), anEvent()] },
    );
    expect(valid.body.errors).toBeUndefined();
    expect(valid.body.data?.["captureEvents"]).toEqual({ accepted: 3 });
  });
});
