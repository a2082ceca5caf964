import type { Plugin } from "graphql-yoga";
import type { PulseContext } from "./context.ts";

/**
 * Marks the first `events` payload after lost events with `extensions: { gap: true }`: the resolver flags the
 * context, this hook moves the flag onto the execution result it produced.
 */
export function useGapExtension(): Plugin<PulseContext> {
  return {
    onSubscribe: () => ({
      onSubscribeResult: () => ({
        onNext: ({ args, result, setResult }) => {
          const context = args.contextValue as PulseContext;
          if (!context.gapPending) return;
          context.gapPending = false;
          setResult({ ...result, extensions: { ...result.extensions, gap: true } });
        },
      }),
    }),
  };
}
