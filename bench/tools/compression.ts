import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { brotliCompress, brotliCompressSync, constants, gzip, gzipSync } from "node:zlib";
import { createPulseServer } from "../../src/index.ts";
import { captureEventsBody, pageview } from "../lib/workload.ts";

/**
 * `node --import tsx bench/tools/compression.ts [events]`: what gzip and brotli cost and save on a realistic large
 * GraphQL answer, a `recentEvents(limit: 1000)` of the bench's `$pageview`s with every scalar field of `Event`. Prints
 * one row per setting: compressed size, ratio, median time to compress (one thread, synchronous, so the figure is
 * CPU time, the same as the thread pool spends), and MB of input per CPU second. Pulse's settings are in
 * src/transport/compression.ts; this is how they were chosen.
 */
const count = Number(process.argv[2] ?? 1000);
const server = await createPulseServer({ port: 0, host: "127.0.0.1" });
try {
  const post = (body: string) =>
    fetch(`${server.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.text());
  for (let i = 0; i < count; i += 100) {
    await post(captureEventsBody(Array.from({ length: Math.min(100, count - i) }, (_, j) => pageview(i + j))));
  }
  const recentEvents = async (limit: number) =>
    Buffer.from(
      await post(
        JSON.stringify({
          query: `{ recentEvents(limit: ${limit}) { id event distinctId timestamp properties sessionId environment cursor } }`,
        }),
      ),
    );
  const input = await recentEvents(count);
  // Fetched before the timings: the slowest setting blocks this process longer than the server keeps a connection idle.
  const smallLimits = [1, 2, 5, 10, 40];
  const smallAnswers = await Promise.all(smallLimits.map(recentEvents));
  console.log(`recentEvents(limit: ${count}): ${input.length} bytes of JSON`);

  const settings: [string, (b: Buffer) => Buffer][] = [
    ...[1, 4, 6, 9].map((level): [string, (b: Buffer) => Buffer] => [`gzip -${level}`, (b) => gzipSync(b, { level })]),
    ...[1, 4, 5, 6, 11].map((quality): [string, (b: Buffer) => Buffer] => [
      `brotli q${quality}`,
      (b) =>
        brotliCompressSync(b, {
          params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: b.length },
        }),
    ]),
  ];
  console.log("| setting | bytes | ratio | median ms | MB/s |");
  console.log("|---|---|---|---|---|");
  for (const [name, compress] of settings) {
    compress(input); // warm-up
    const times: number[] = [];
    let size = 0;
    for (let run = 0; run < 15; run++) {
      const start = performance.now();
      size = compress(input).length;
      times.push(performance.now() - start);
    }
    const median = times.sort((a, b) => a - b)[times.length >> 1]!;
    console.log(
      `| ${name} | ${size} | ${(size / input.length).toFixed(3)} | ${median.toFixed(2)} | ${(input.length / 1e3 / median).toFixed(0)} |`,
    );
  }

  // Small answers: what an asynchronous compression costs (thread-pool round trip included) against what it saves.
  const gzipAsync = promisify(gzip);
  const brotliAsync = promisify(brotliCompress);
  console.log("\n| answer | bytes | gzip -6 bytes | brotli q4 bytes | gzip -6 async ms | brotli q4 async ms |");
  console.log("|---|---|---|---|---|---|");
  for (const [i, limit] of smallLimits.entries()) {
    const small = smallAnswers[i]!;
    const brotliOptions = { params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: small.length } };
    const timed = async (compress: () => Promise<Buffer>) => {
      await compress();
      const times: number[] = [];
      let size = 0;
      for (let run = 0; run < 51; run++) {
        const start = performance.now();
        size = (await compress()).length;
        times.push(performance.now() - start);
      }
      return { size, ms: times.sort((a, b) => a - b)[times.length >> 1]! };
    };
    const g = await timed(() => gzipAsync(small, { level: 6 }));
    const b = await timed(() => brotliAsync(small, brotliOptions));
    console.log(`| recentEvents(limit: ${limit}) | ${small.length} | ${g.size} | ${b.size} | ${g.ms.toFixed(3)} | ${b.ms.toFixed(3)} |`);
  }
} finally {
  await server.close();
}
