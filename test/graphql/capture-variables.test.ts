import { makeExecutableSchema } from "@graphql-tools/schema";
import fc from "fast-check";
import { createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { useCaptureVariables } from "../../src/graphql/capture-variables.ts";
import { resolvers, typeDefs } from "../../src/graphql/schema.ts";

/**
 * The capture variables' shortcut (src/graphql/capture-variables.ts) against graphql-js's coercion: two Yoga
 * instances on Pulse's schema, one with the plugin, whose capture mutations echo the inputs their resolver received
 * (as JSON, in the `ids` field). Every variable value, valid or not, must give the same answer from both; and the
 * shortcut must actually be taken for valid inputs (told by key order: coercion rebuilds an input in the schema's
 * field order, the shortcut hands on the client's object).
 */
const schema = makeExecutableSchema({
  typeDefs,
  resolvers: {
    ...resolvers,
    Mutation: {
      captureEvents: (_: unknown, args: { inputs: unknown[] }) => ({
        accepted: args.inputs.length,
        duplicates: 0,
        ids: args.inputs.map((input) => JSON.stringify(input)),
      }),
      captureEvent: (_: unknown, args: { input: unknown }) => ({
        id: JSON.stringify(args.input),
        event: "e",
        distinctId: "d",
        timestamp: 0,
        receivedAt: 0,
        properties: {},
        sessionId: null,
        environment: "production",
        seq: 1,
      }),
    },
  },
});
const withShortcut = createYoga({ schema, plugins: [useCaptureVariables(schema)], logging: false });
const coercing = createYoga({ schema, logging: false });

const BATCH = "mutation ($inputs: [CaptureEventInput!]!) { captureEvents(inputs: $inputs) { accepted ids } }";
const SINGLE = "mutation ($input: CaptureEventInput!) { captureEvent(input: $input) { id } }";

async function answer(yoga: typeof coercing, query: string, variables: unknown): Promise<unknown> {
  const response = await yoga.fetch("http://pulse.test/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

/** An answer with the echoed inputs parsed, so key order does not count. */
function unordered(value: unknown): unknown {
  const body = (value as { body: { data?: { captureEvents?: { ids?: string[] }; captureEvent?: { id: string } } } }).body;
  const events = body.data?.captureEvents;
  if (events?.ids)
    return {
      ...(value as object),
      body: { ...body, data: { captureEvents: { ...events, ids: events.ids.map((id) => JSON.parse(id) as unknown) } } },
    };
  if (body.data?.captureEvent)
    return { ...(value as object), body: { ...body, data: { captureEvent: JSON.parse(body.data.captureEvent.id) as unknown } } };
  return value;
}

const FIELDS = ["id", "event", "distinctId", "timestamp", "properties", "sessionId", "environment"];
const anyValue = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const text = fc.string({ maxLength: 6 });
const validInput = fc.record(
  {
    id: fc.uuid(),
    event: text,
    distinctId: text,
    timestamp: fc.oneof(fc.constant("2026-01-01T00:00:00Z"), fc.constant(null)),
    properties: fc.oneof(fc.dictionary(text, fc.integer(), { maxKeys: 2 }), fc.constant(null)),
    sessionId: fc.oneof(text, fc.constant(null)),
    environment: fc.oneof(text, fc.constant(null)),
  },
  { requiredKeys: ["event", "distinctId"] },
);
/** A valid input with one field (or an unknown one) set to any value, or removed. */
const spoiled = fc
  .tuple(validInput, fc.constantFrom(...FIELDS, "unknownField"), fc.option(anyValue, { nil: undefined }))
  .map(([valid, field, value]) => {
    const copy: Record<string, unknown> = { ...valid };
    if (value === undefined) delete copy[field];
    else copy[field] = value;
    return copy;
  });
const input = fc.oneof(validInput, spoiled, spoiled, anyValue);
const inputs = fc.oneof(fc.array(fc.oneof(input, input, input, anyValue), { maxLength: 4 }), input, anyValue);

describe("capture variables without coercion", () => {
  it("answers every batch exactly as graphql-js's coercion does", async () => {
    await fc.assert(
      fc.asyncProperty(inputs, async (value) => {
        expect(unordered(await answer(withShortcut, BATCH, { inputs: value }))).toEqual(
          unordered(await answer(coercing, BATCH, { inputs: value })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("answers every single capture exactly as graphql-js's coercion does", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(input, anyValue), async (value) => {
        expect(unordered(await answer(withShortcut, SINGLE, { input: value }))).toEqual(
          unordered(await answer(coercing, SINGLE, { input: value })),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("hands valid inputs on as the client sent them, and coerces the rest", async () => {
    const reversed = { environment: "staging", properties: { a: 1 }, distinctId: "u1", event: "signup" };
    const echoed = (value: unknown) => (value as { body: { data: { captureEvents: { ids: string[] } } } }).body.data.captureEvents.ids;
    expect(echoed(await answer(withShortcut, BATCH, { inputs: [reversed] }))).toEqual([JSON.stringify(reversed)]);
    expect(echoed(await answer(coercing, BATCH, { inputs: [reversed] }))).toEqual([
      JSON.stringify({ event: "signup", distinctId: "u1", properties: { a: 1 }, environment: "staging" }),
    ]);
    // A number as id: coercion makes it a string, so the shortcut is not taken and the answer is coercion's.
    const numbered = { environment: "staging", distinctId: "u1", event: "signup", id: 7 };
    expect(echoed(await answer(withShortcut, BATCH, { inputs: [numbered] }))).toEqual([
      JSON.stringify({ id: "7", event: "signup", distinctId: "u1", environment: "staging" }),
    ]);
  });

  it("takes the operation the request names, in a document of several, and none for an unknown name", async () => {
    const query = `${BATCH.replace("mutation (", "mutation Batch (")} ${SINGLE.replace("mutation (", "mutation Single (")}`;
    const ask = async (yoga: typeof coercing, operationName: string): Promise<unknown> => {
      const response = await yoga.fetch("http://pulse.test/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({
          query,
          operationName,
          variables: { inputs: [{ event: "e", distinctId: "d" }], input: { distinctId: "d", event: "e" } },
        }),
      });
      return response.json();
    };
    for (const operationName of ["Batch", "Single", "Neither"]) {
      // Key order aside (see `unordered`): the shortcut hands on the client's object, coercion builds its own.
      expect(unordered({ body: await ask(withShortcut, operationName) }), operationName).toEqual(
        unordered({ body: await ask(coercing, operationName) }),
      );
    }
    const single = (await ask(withShortcut, "Single")) as { data: { captureEvent: { id: string } } };
    // Handed on as sent (the client's key order), so the shortcut was taken for the named operation.
    expect(single.data.captureEvent.id).toBe(JSON.stringify({ distinctId: "d", event: "e" }));
  });

  it("keeps GraphQL's own errors for refused variables", async () => {
    const refused = (await answer(withShortcut, BATCH, { inputs: [{ event: "e", distinctId: "d", extra: 1 }] })) as {
      body: { errors: { message: string }[] };
    };
    expect(refused.body.errors[0]!.message).toContain('Field "extra" is not defined by type "CaptureEventInput"');
  });
});
