import type { ExecutionArgs, ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { PulseContext } from "./context.ts";

/**
 * Marks the first `events` payload after lost events with `extensions: { gap: true }`: the resolver flags the
 * context, this hook moves the flag onto the execution result it produced.
 */
export function useGapExtension(): Plugin<PulseContext> {
  // The hooks are created once and shared by every subscription (they read all they need from their arguments):
  // per-subscription closures were part of what an idle subscription holds (memory_idle_10k).
  const resultHooks: OnSubscribeResultHooks = { onNext };
  const subscribeHooks = { onSubscribeResult: () => resultHooks };
  return { onSubscribe: () => subscribeHooks };
}

type OnSubscribeResultHooks = { onNext: typeof onNext };

function onNext({ args, result, setResult }: { args: ExecutionArgs; result: ExecutionResult; setResult: (result: ExecutionResult) => void }): void {
  const context = args.contextValue as PulseContext;
  if (!context.gapPending) return;
  context.gapPending = false;
  setResult({ ...result, extensions: { ...result.extensions, gap: true } });
}
