import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExecutionArgs } from "graphql";
import { GraphQLJSON, GraphQLJSONObject } from "graphql-scalars";
import { useServer } from "graphql-ws/use/ws";
import { createPubSub, createSchema, createYoga, filter, pipe } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { EnvelopedGraphQL } from "../../src/graphql/start-operation.ts";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * The server a user would write from the graphql-yoga and graphql-ws tutorials: `createPubSub`, a subscription
 * filtered with `pipe(filter(...))`, graphql-ws through Yoga's envelop. Each event is filtered and its selection
 * executed once per subscriber. Same SDL names as Pulse, so the same bodies and subscription work against it.
 */
interface NaiveEvent {
  id: string;
  event: string;
  distinctId: string;
  timestamp: string;
  properties: Record<string, unknown>;
  sessionId: string | null;
  environment: string;
  cursor: string;
}
interface PropertyFilter {
  property: string;
  operator: string;
  value?: unknown;
}
interface EventFilter {
  events?: string[] | null;
  environment?: string | null;
  properties?: PropertyFilter[] | null;
}

const pubSub = createPubSub<{ events: [NaiveEvent] }>();
let seq = 0;

function matches(f: EventFilter | null | undefined, e: NaiveEvent): boolean {
  if (!f) return true;
  if (f.events?.length && !f.events.includes(e.event)) return false;
  if (f.environment != null && f.environment !== e.environment) return false;
  return (f.properties ?? []).every((p) => {
    const has = p.property in e.properties;
    const same = JSON.stringify(e.properties[p.property]) === JSON.stringify(p.value);
    if (p.operator === "EQUALS") return has && same;
    if (p.operator === "NOT_EQUALS") return has && !same;
    return true;
  });
}

const yoga = createYoga({
  logging: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      scalar JSON
      scalar JSONObject
      type Event {
        id: ID!
        event: String!
        distinctId: String!
        timestamp: String!
        properties: JSONObject!
        sessionId: String
        environment: String!
        cursor: String!
      }
      input CaptureEventInput {
        id: ID
        event: String!
        distinctId: String!
        timestamp: String
        properties: JSONObject
        sessionId: String
        environment: String
      }
      type CaptureResult {
        accepted: Int!
        duplicates: Int!
        ids: [ID!]!
      }
      input PropertyFilter {
        property: String!
        operator: String!
        value: JSON
      }
      input EventFilter {
        events: [String!]
        environment: String
        properties: [PropertyFilter!]
      }
      type Query {
        ok: Boolean
      }
      type Mutation {
        captureEvents(inputs: [CaptureEventInput!]!): CaptureResult!
      }
      type Subscription {
        events(filter: EventFilter): Event!
      }
    `,
    resolvers: {
      JSON: GraphQLJSON,
      JSONObject: GraphQLJSONObject,
      Mutation: {
        captureEvents: (_: unknown, { inputs }: { inputs: Omit<NaiveEvent, "cursor">[] }) => {
          const ids = inputs.map((input) => {
            const event: NaiveEvent = {
              ...input,
              id: input.id ?? randomUUID(),
              timestamp: input.timestamp ?? new Date().toISOString(),
              properties: input.properties ?? {},
              sessionId: input.sessionId ?? null,
              environment: input.environment ?? "production",
              cursor: String(++seq),
            };
            pubSub.publish("events", event);
            return event.id;
          });
          return { accepted: ids.length, duplicates: 0, ids };
        },
      },
      Subscription: {
        events: {
          subscribe: (_: unknown, args: { filter?: EventFilter }) =>
            pipe(
              pubSub.subscribe("events"),
              filter((event: NaiveEvent) => matches(args.filter, event)),
            ),
          resolve: (event: NaiveEvent) => event,
        },
      },
    },
  }),
});

type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };
const server = createServer(yoga);
const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
useServer(
  {
    execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
    subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
    onSubscribe: async (ctx, _id, params) => {
      const enveloped = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params,
      });
      const typed: EnvelopedGraphQL = enveloped;
      const { schema, execute, subscribe, parse, validate } = typed;
      const args: ExecutionArgs = {
        schema,
        operationName: params.operationName,
        document: parse(params.query),
        variableValues: params.variables,
        contextValue: await enveloped.contextFactory(),
        rootValue: { execute, subscribe } satisfies EnvelopedRoot,
      };
      const errors = validate(args.schema, args.document);
      if (errors.length) return errors;
      return args;
    },
  },
  wss,
);

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRequests({ port: (server.address() as AddressInfo).port }, serverHandlers, () => {
  for (const socket of wss.clients) socket.terminate();
  server.closeAllConnections();
});
