import { badInput } from "../domain/errors.ts";
import type { MutationResolvers } from "./generated/resolvers.ts";

export const Mutation: MutationResolvers = {
  captureEvent: async (_, args, { hub }) => {
    const outcome = await hub.capture([args.input], { batch: false });
    return outcome.events[0]!;
  },
  captureEvents: async (_, args, { hub, config }) => {
    if (args.inputs.length > config.maxBatch) {
      throw badInput(`inputs has ${args.inputs.length} events, the limit is ${config.maxBatch} (PULSE_MAX_BATCH)`, {
        field: "inputs",
        limit: config.maxBatch,
      });
    }
    const outcome = await hub.capture(args.inputs);
    return { accepted: outcome.accepted, duplicates: outcome.duplicates, ids: outcome.events.map((e) => e.id) };
  },
};
