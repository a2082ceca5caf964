import { createRequire } from "node:module";
import type * as GraphQL from "graphql";
import type { DocumentNode, ExecutionArgs, ExecutionResult, FieldNode, GraphQLError, VariableNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { StoredEvent } from "../domain/event.ts";
import { isEventSubscriber, type Delivery, type DeliverySink, type EventSubscriber } from "../domain/subscriber.ts";
import type { PulseContext } from "./context.ts";

/**
 * graphql-js from the copy the schema was built with. `@graphql-tools/schema` (in node_modules) loads graphql's
 * CommonJS build; a plain `import` from src/ may get its ESM build under vitest, and graphql-js refuses a schema
 * from another copy. `require` resolves to the schema's copy everywhere.
 */
const graphql = createRequire(import.meta.url)("graphql") as typeof GraphQL;

/** What `onSubscribe` uses of envelop's payload, with graphql-js's types (envelop types them `any`). */
interface SubscribeHookPayload {
  readonly args: ExecutionArgs;
  readonly subscribeFn: (args: ExecutionArgs) => unknown;
  readonly setSubscribeFn: (subscribe: (args: ExecutionArgs) => Promise<unknown>) => void;
}

/** Results kept per share group: enough for members a few events apart to still find theirs. */
const RESULTS_PER_GROUP = 32;

/**
 * Context fields that are transport plumbing or server-wide singletons, never who the caller is: they are left out
 * of the share key, so two connections with the same caller can share. Everything else on the context is part of
 * the key: plain data by value (an auth plugin's `{ key, role }` separates callers with different keys), any other
 * object by identity (no sharing beyond it). Resolvers must learn about the caller from context fields, not from
 * these: a resolver reading `request.headers` directly would defeat the key.
 */
const NOT_CALLER = new Set([
  "app",
  // Derived from `principal`, which is part of the key by value.
  "reads",
  // Only what captures are charged to and enriched with: no result of a subscription depends on them.
  "address",
  "userAgent",
  "operation",
  "config",
  "req",
  "res",
  "request",
  "socket",
  "extra",
  "params",
  "subscriptions",
  "acknowledged",
  "connectionInitReceived",
  "waitUntil",
]);

interface ShareGroup {
  /** Its key in the groups map: held once here rather than as a string per member. */
  readonly key: string;
  readonly groups: Map<string, ShareGroup>;
  members: number;
  /** The newest events' results, oldest first (a Map keeps insertion order). */
  readonly results: Map<StoredEvent, ExecutionResult | Promise<ExecutionResult>>;
}

/** Told of every `events` payload, every end by lag and every end, on every transport (telemetry). */
export interface DeliveryObserver {
  delivered(context: PulseContext): void;
  lagged(context: PulseContext, dropped: number): void;
  /** The subscription has ended, however (once). */
  ended(context: PulseContext): void;
}

export interface SharedExecutionOptions {
  /**
   * The error mask, as Yoga applies it (with its logging): a result a transport takes by push never passes Yoga's
   * own masking, so the results are masked here, on every path alike.
   */
  readonly maskError: (error: unknown, message: string) => Error;
  readonly observer?: DeliveryObserver;
}

/** Where a transport that reads an `events` subscription by push takes its results (see `PushableResults`). */
export interface ResultSink {
  /** One result to send, in order; false when the transport is backed up: it calls `resume()` once it is not. */
  next(result: ExecutionResult): boolean;
  /** The subscription has ended (its last result, the end by lag included, was given to `next`). */
  complete(): void;
}

/**
 * An `events` subscription's results, readable by push instead of through the iterator envelop wraps around them,
 * or by pulling them directly (it is their iterator too). `startOperation` hands them to the streaming transports:
 * each result handed over synchronously as its event arrives, with no promise per delivery on the way (the iterator
 * envelop returns puts three iterator layers and their promises around every delivery). A transport that pushes
 * lets go of the iterator envelop returned (its wrappers are ~2 KB per idle subscription) and ends the
 * subscription with `return()`; envelop's end hooks then never run, so what must happen at the end of an `events`
 * subscription is told to the observer (`ended`) on every path.
 */
export interface PushableResults extends AsyncIterableIterator<ExecutionResult> {
  /** From now on every result goes to `sink` as its event arrives; the iterator is not to be read any more. */
  push(sink: ResultSink): void;
  /** The sink can take results again. */
  resume(): void;
  /** Ends the subscription (the client completed it, or its connection closed). */
  return(): Promise<IteratorResult<ExecutionResult>>;
}

/**
 * Executes an `events` subscription's selection once per event for every group of identical subscriptions and
 * hands the same result object to each member (the transports serialize it once, see transport/frames.ts). Identical
 * means same document, operation name, caller (see NOT_CALLER; a WebSocket's `connectionParams` are part of the
 * caller) and the variables the selection uses. The `events` field's own arguments (filter, after, replay) decide
 * which events a subscriber gets, not what executing the selection on one event gives, so subscribers that differ
 * only in them share: 10,000 distinct filters on one selection execute it once per event.
 *
 * Only the per-event execution is shared. Everything at subscribe time runs per subscription as before: parsing,
 * validation, every envelop plugin's `onSubscribe` (auth, limits), the context, the `events` resolver (filter,
 * `after`, `replay`, the subscriber's own bounded queue), and the `onSubscribeResult` and `onEnd` hooks.
 * What each delivery needs beyond the shared result is done here, for each member, on every transport: the
 * `extensions: { gap: true }` of the first payload after lost events, the masking of errors (the end by LAGGED),
 * and the observer's counts. Deliveries that are not the same for every member run alone: the first one after a
 * gap and the end by LAGGED. A group of one executes without caching. Other subscriptions (`liveDashboard`) and
 * operations that fail to start take Yoga's own path unchanged.
 *
 * Shared results are read-only: a plugin that changes a result must `setResult` a copy (as Yoga's do).
 */
export function useSharedExecution(options: SharedExecutionOptions): Plugin<PulseContext> {
  const groups = new Map<string, ShareGroup>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 1;

  const documentId = (document: DocumentNode): number => {
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
    return id;
  };

  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }: SubscribeHookPayload) {
      if (!eventsField(args.document, args.operationName)) return;
      setSubscribeFn(async (subscribeArgs) => {
        const source = await graphql.createSourceEventStream(subscribeArgs);
        // A subscription that does not start (bad variables, a BAD_USER_INPUT filter...) registered nothing:
        // Yoga's own path runs it again and reports the error exactly as it always has.
        if (!isAsyncIterable(source)) return subscribeFn(subscribeArgs);
        // Pushing needs the stream's own subscriber (src/graphql/subscription.ts returns it); anything else is a bug.
        if (!isEventSubscriber(source)) {
          await source[Symbol.asyncIterator]().return?.();
          throw new Error("the events resolver must return the hub's EventSubscriber");
        }
        // Keyed on the arguments as they reach execution: after every plugin has extended the context. A caller
        // that cannot be keyed gets a group of its own.
        const caller = callerKey(subscribeArgs.contextValue as Record<string, unknown>);
        const key = JSON.stringify([
          documentId(subscribeArgs.document),
          subscribeArgs.operationName ?? null,
          executionVariables(subscribeArgs.document, subscribeArgs.operationName, subscribeArgs.variableValues),
          caller,
        ]);
        const group = join(caller === null ? new Map<string, ShareGroup>() : groups, key);
        const results = new SharedResults(source, subscribeArgs, group, options);
        // The transport takes the results by push from the operation's slot (start-operation.ts); plain HTTP has
        // none and reads the iterator.
        const slot = (subscribeArgs.contextValue as PulseContext).operation;
        if (slot) slot.pushable = results;
        return results;
      });
    },
  };
}

/** The results of one member: its own deliveries, executed once per group where they are the same for all. */
class SharedResults implements AsyncIterableIterator<ExecutionResult>, PushableResults, DeliverySink {
  private left = false;
  private sink: ResultSink | null = null;
  /** Push mode: a result still being executed (a resolver that returned a promise); the next ones wait for it. */
  private pending: Promise<void> | null = null;

  constructor(
    private readonly source: EventSubscriber,
    private readonly args: ExecutionArgs,
    private readonly group: ShareGroup,
    private readonly options: SharedExecutionOptions,
  ) {}

  /**
   * A promise chain rather than an `async` method: an idle subscription waits here, and a suspended async function
   * keeps a generator with its registers alive per subscription (memory_idle_10k); it is also one hop less per
   * delivery. (An arrow per call, not a bound field: a field would hold one closure per idle member, always.)
   */
  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.source.next().then((delivery) => this.pulled(delivery));
  }

  private pulled(delivery: IteratorResult<Delivery>): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> {
    if (delivery.done) {
      this.leave();
      return { done: true, value: undefined };
    }
    const result = this.resultOf(delivery.value);
    return isPromise(result) ? result.then(wrapDone) : { done: false, value: result };
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    await this.source.return();
    return { done: true, value: undefined };
  }

  async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.leave();
    await this.source.return();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(sink: ResultSink): void {
    this.sink = sink;
    this.source.push(this);
  }

  resume(): void {
    if (!this.pending) this.source.resume();
  }

  /**
   * Push mode: the subscriber's delivery, executed and handed to the sink. This runs inside the capture that applied
   * the event: a failure here (a bug) must not fail that capture nor keep the event from the other subscribers, so
   * it is logged through the error mask and ends this subscription alone (its client gets `complete`).
   */
  deliver(delivery: Delivery): boolean {
    try {
      const result = this.resultOf(delivery);
      if (!isPromise(result)) return this.sink!.next(result);
      // Only a resolver that returns a promise gets here; a failure on this path is handled like the synchronous
      // one below, never left as an unhandled rejection (which would end the process).
      this.pending = result.then(
        (value) => {
          this.pending = null;
          if (this.sink!.next(value)) this.resume();
        },
        (error: unknown) => this.failed(error),
      );
      return false;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /** A delivery failed (a bug): logged through the error mask, and this subscription alone ends. */
  private failed(error: unknown): void {
    this.pending = null;
    this.options.maskError(error, "Unexpected error.");
    void this.return();
  }

  /** Push mode: the subscriber has ended. */
  end(): void {
    this.leave();
    if (this.pending) void this.pending.then(() => this.sink!.complete());
    else this.sink!.complete();
  }

  private resultOf(delivery: Delivery): ExecutionResult | Promise<ExecutionResult> {
    const context = this.args.contextValue as PulseContext;
    if (delivery.kind === "lagged") this.options.observer?.lagged(context, delivery.dropped);
    else this.options.observer?.delivered(context);
    const result = this.execute(delivery);
    if (isPromise(result)) return result.then((value) => this.finish(value, delivery));
    return this.finish(result, delivery);
  }

  /** What each member's result needs beyond the shared one: the gap mark, masked errors (a copy, never in place). */
  private finish(result: ExecutionResult, delivery: Delivery): ExecutionResult {
    const gap = delivery.kind === "event" && delivery.gap;
    if (!gap && result.errors === undefined) return result;
    const { maskError } = this.options;
    return {
      ...result,
      ...(result.errors ? { errors: result.errors.map((error) => maskError(error, "Unexpected error.") as GraphQLError) } : {}),
      ...(gap ? { extensions: { ...result.extensions, gap: true } } : {}),
    };
  }

  private execute(delivery: Delivery): ExecutionResult | Promise<ExecutionResult> {
    const alone = delivery.kind !== "event" || delivery.gap || this.group.members < 2;
    if (alone) return graphql.execute({ ...this.args, rootValue: delivery });
    const results = this.group.results;
    let result = results.get(delivery.event);
    if (result === undefined) {
      result = graphql.execute({ ...this.args, rootValue: delivery });
      results.set(delivery.event, result);
      if (results.size > RESULTS_PER_GROUP) results.delete(results.keys().next().value!);
    }
    return result;
  }

  private leave(): void {
    if (this.left) return;
    this.left = true;
    leave(this.group);
    this.options.observer?.ended(this.args.contextValue as PulseContext);
  }
}

function wrapDone(value: ExecutionResult): IteratorResult<ExecutionResult> {
  return { done: false, value };
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function join(groups: Map<string, ShareGroup>, key: string): ShareGroup {
  let group = groups.get(key);
  if (!group) groups.set(key, (group = { key, groups, members: 0, results: new Map() }));
  group.members++;
  return group;
}

function leave(group: ShareGroup): void {
  group.members--;
  if (group.members === 0 && group.groups.get(group.key) === group) group.groups.delete(group.key);
}

/**
 * Whether the operation is an `events` subscription, whose results (once started) come from the shared execution
 * on every transport, and whose end it tells the observer.
 */
export function isSharedSubscription(document: DocumentNode, operationName: string | null | undefined): boolean {
  return eventsField(document, operationName) !== undefined;
}

/** The `events` field, when the operation is a subscription whose only root selection is that field. */
function eventsField(document: DocumentNode, operationName: string | null | undefined): FieldNode | undefined {
  const operations = document.definitions.filter((d) => d.kind === graphql.Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (operation?.operation !== graphql.OperationTypeNode.SUBSCRIPTION) return undefined;
  const selections = operation.selectionSet.selections;
  const field = selections.length === 1 ? selections[0] : undefined;
  return field?.kind === graphql.Kind.FIELD && field.name.value === "events" ? field : undefined;
}

/** Per document: the variables the execution of one event can depend on; null for all of them. */
const variablesUsed = new WeakMap<DocumentNode, Map<string, readonly string[] | null>>();

/**
 * The variables (name and value) that executing the selection on one event can depend on: those in the `events`
 * field's directives and sub-selection, not those only in its arguments. With fragments, all of them (a fragment
 * may use any), to stay simple and safe.
 */
function executionVariables(document: DocumentNode, operationName: string | null | undefined, values: unknown): unknown[][] {
  let byOperation = variablesUsed.get(document);
  if (!byOperation) variablesUsed.set(document, (byOperation = new Map<string, readonly string[] | null>()));
  let names = byOperation.get(operationName ?? "");
  if (names === undefined) {
    const field = eventsField(document, operationName)!;
    if (document.definitions.some((d) => d.kind === graphql.Kind.FRAGMENT_DEFINITION)) {
      names = null;
    } else {
      const found = new Set<string>();
      const collect = { Variable: (node: VariableNode) => void found.add(node.name.value) };
      for (const directive of field.directives ?? []) graphql.visit(directive, collect);
      if (field.selectionSet) graphql.visit(field.selectionSet, collect);
      names = [...found].sort();
    }
    byOperation.set(operationName ?? "", names);
  }
  const variables = (values ?? {}) as Record<string, unknown>;
  // A variable left out and one given as null can execute differently (a default applies to the first only).
  return (names ?? Object.keys(variables).sort()).map((name) => (Object.hasOwn(variables, name) ? [name, variables[name]] : [name]));
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/**
 * The caller's part of the share key: the context without NOT_CALLER fields, plain data by value, other objects by
 * identity. Null when the context holds something that cannot be keyed (then the subscription does not share).
 */
function callerKey(context: Record<string, unknown>): string | null {
  const parts: unknown[][] = [];
  for (const name of Object.keys(context).sort()) {
    if (NOT_CALLER.has(name)) continue;
    const value = context[name];
    if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") return null;
    parts.push(isPlainData(value, 0) ? [name, "value", value] : [name, "object", identity(value as object)]);
  }
  return JSON.stringify(parts);
}

function identity(value: object): number {
  let id = objectIds.get(value);
  if (id === undefined) objectIds.set(value, (id = nextObjectId++));
  return id;
}

/** JSON-like data (primitives, arrays, objects whose prototype is Object's or null), a few levels deep. */
function isPlainData(value: unknown, depth: number): boolean {
  if (value === null || value === undefined) return true;
  const type = typeof value;
  if (type === "string" || type === "boolean" || (type === "number" && Number.isFinite(value))) return true;
  if (type !== "object" || depth > 4) return false;
  if (Array.isArray(value)) return value.every((item) => isPlainData(item, depth + 1));
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  return Object.values(value).every((item) => isPlainData(item, depth + 1));
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}
