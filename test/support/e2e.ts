import { createClient } from "graphql-ws";
import { afterEach } from "vitest";
import WebSocket from "ws";
import { createPulseServer, type PulseServer, type PulseServerOptions } from "../../src/index.ts";

/**
 * Everything a test opened, closed after it in reverse order (afterEach), even when the test failed half-way.
 * Register each server, socket, client and timer here as soon as it exists.
 */
export function useCleanup(): (close: () => unknown) => void {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    const pending = closers.splice(0).reverse();
    for (const close of pending) await close();
  });
  return (close) => {
    closers.push(close);
  };
}

/** A real Pulse server on a free loopback port, closed after the test. */
export async function startPulse(defer: (close: () => unknown) => void, options: PulseServerOptions = {}): Promise<PulseServer> {
  const server = await createPulseServer({ port: 0, host: "127.0.0.1", ...options });
  defer(() => server.close());
  return server;
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** One GraphQL request over HTTP with fetch. */
export async function graphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

/** Captures one event over HTTP and returns its id and cursor; fails the test on a GraphQL error. */
export async function capture(url: string, input: Record<string, unknown>): Promise<{ id: string; cursor: string }> {
  const result = await graphql<{ captureEvent: { id: string; cursor: string } }>(
    url,
    "mutation($input: CaptureEventInput!) { captureEvent(input: $input) { id cursor } }",
    { input },
  );
  if (!result.data?.captureEvent) throw new Error(`captureEvent failed: ${JSON.stringify(result.errors)}`);
  return result.data.captureEvent;
}

/** Subscriptions open on the server now (`realtimeMetrics.activeConnections`). */
export async function activeConnections(url: string): Promise<number> {
  const result = await graphql<{ realtimeMetrics: { activeConnections: number } }>(url, "{ realtimeMetrics { activeConnections } }");
  return result.data!.realtimeMetrics.activeConnections;
}

export interface LiveSubscription<T> {
  /** Each `next` payload's data, in arrival order. */
  readonly received: T[];
  /** GraphQL errors and transport failures, in arrival order. */
  readonly errors: unknown[];
  readonly completed: () => boolean;
}

/** A graphql-ws subscription (the `ws` package as the socket), closed after the test. */
export function subscribeWs<T = Record<string, unknown>>(
  defer: (close: () => unknown) => void,
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): LiveSubscription<T> {
  const client = createClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  defer(() => client.dispose());
  const received: T[] = [];
  const errors: unknown[] = [];
  let done = false;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) received.push(result.data as T);
      },
      error: (error) => errors.push(error),
      complete: () => {
        done = true;
      },
    },
  );
  defer(unsubscribe);
  return { received, errors, completed: () => done };
}
