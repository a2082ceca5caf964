import { gunzipSync } from "node:zlib";
import { PostHog } from "posthog-node";
import { pageview } from "./workload.ts";

/** One `/batch/` request as posthog-node sends it: the gzip body, its headers, and the same body decompressed. */
export interface PostHogBatch {
  readonly gzip: Buffer;
  readonly json: string;
  readonly headers: Record<string, string>;
}

/**
 * `count` `/batch/` requests of `size` page views each (the workload's `pageview`s), made by posthog-node itself: its
 * `fetch` is replaced by one that keeps each request instead of sending it, so the bodies are exactly the SDK's
 * (`api_key`, `batch` of messages with their `uuid`, `timestamp`, `$lib` properties, `sent_at`; gzip, with
 * `Content-Encoding: gzip`). Every event has its own `uuid`: a load that sends these in turn repeats an event only
 * after `count × size` others, so with more than PULSE_BUFFER_SIZE of them (10,000) Pulse stores each request anew
 * rather than finding its events buffered already (duplicates, which it skips).
 */
export async function postHogBatches(count: number, size = 100): Promise<PostHogBatch[]> {
  const batches: PostHogBatch[] = [];
  const client = new PostHog("phc_pulse_bench", {
    host: "http://posthog.bench.invalid",
    flushAt: size,
    maxBatchSize: size,
    flushInterval: 0,
    fetch: (url, options) => {
      if (new URL(url).pathname === "/batch/") {
        const gzip = Buffer.from(options.body as Uint8Array);
        const headers = Object.fromEntries(Object.entries(options.headers).map(([k, v]) => [k.toLowerCase(), v]));
        batches.push({ gzip, json: gunzipSync(gzip).toString(), headers });
      }
      return Promise.resolve({ status: 200, text: () => Promise.resolve('{"status":1}'), json: () => Promise.resolve({ status: 1 }) });
    },
  });
  try {
    for (let b = 0; b < count; b++) {
      for (let i = 0; i < size; i++) {
        const { event, distinctId, properties } = pageview(b * size + i);
        client.capture({ event, distinctId, properties });
      }
      await client.flush();
    }
  } finally {
    await client.shutdown();
  }
  if (batches.length !== count || batches.some((b) => b.headers["content-encoding"] !== "gzip")) {
    throw new Error(`posthog-node made ${batches.length} gzip /batch/ requests of the ${count} expected`);
  }
  return batches;
}
