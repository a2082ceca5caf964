import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createSchema, createYoga } from "graphql-yoga";
import { typeDefs } from "../../src/graphql/schema.ts";
import { DateTime, JSON, JSONObject } from "../../src/graphql/scalars.ts";
import { serveRequests, serverHandlers } from "../lib/serve.ts";

/**
 * The floor for one GraphQL request on Node: Yoga with Pulse's own schema, whose `captureEvent` does nothing and
 * returns a constant event. What Pulse adds on top (validation, de-duplication, the hub) is the difference.
 */
const stored = {
  id: "0192f8a4-7b1c-7000-8000-000000000000",
  event: "$pageview",
  distinctId: "user-1",
  timestamp: 0,
  properties: {},
  sessionId: null,
  environment: "production",
  cursor: "c1_1",
};

const yoga = createYoga({
  logging: false,
  schema: createSchema({
    typeDefs,
    resolvers: { DateTime, JSON, JSONObject, Mutation: { captureEvent: () => stored } },
  }),
});

const server = createServer(yoga);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
serveRequests({ port: (server.address() as AddressInfo).port }, serverHandlers, () => server.closeAllConnections());
