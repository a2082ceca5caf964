import { readFileSync } from "node:fs";
import { makeExecutableSchema } from "@graphql-tools/schema";
import type { GraphQLSchema } from "graphql";
import type { Resolvers } from "./generated/resolvers.ts";
import { Mutation } from "./mutation.ts";
import { Query } from "./query.ts";
import { DateTime, JSON, JSONObject } from "./scalars.ts";
import { Subscription } from "./subscription.ts";
import { Event, LiveDashboard, LiveUsers, LiveUserType } from "./types.ts";

/** schema.graphql at the repository root is the contract; resolvers follow it. */
export const typeDefs = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");

/** Typed by the generated `Resolvers` (npm run codegen): a resolver that disagrees with schema.graphql fails tsc. */
export const resolvers: Resolvers = {
  DateTime,
  JSON,
  JSONObject,
  Query,
  Mutation,
  Subscription,
  Event,
  LiveUser: LiveUserType,
  LiveUsers,
  LiveDashboard,
};

export function createSchema(): GraphQLSchema {
  return makeExecutableSchema({ typeDefs, resolvers });
}
