import type { MutationResolvers } from "./generated/resolvers.ts";

export const Mutation: MutationResolvers = {
  captureEvent: async (_, args, { app, principal, address, userAgent }) => {
    const receipt = await app.ingest.capture(principal, [args.input], { batch: false, address, userAgent });
    return receipt.events[0]!;
  },
  captureEvents: async (_, args, { app, principal, address, userAgent }) => {
    const receipt = await app.ingest.capture(principal, args.inputs, { batch: true, address, userAgent });
    return { accepted: receipt.accepted, duplicates: receipt.duplicates, ids: receipt.events.map((e) => e.id) };
  },
};
