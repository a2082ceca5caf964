import { request, type IncomingHttpHeaders } from "node:http";
import { startHttpServer } from "./http-server.ts";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface RecordingProxy {
  readonly url: string;
  readonly requests: RecordedRequest[];
}

/**
 * A loopback HTTP proxy in front of `target` that records each request (what a real SDK really sent). With
 * `dropResponses: n` it forwards the first n requests, waits for the target's full answer, then cuts the client's
 * connection instead of answering: the request took effect but the client saw a network failure, which is exactly
 * when an SDK retries. Closed by `cleanup()`.
 */
export async function startRecordingProxy(target: string, options: { dropResponses?: number } = {}): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  let toDrop = options.dropResponses ?? 0;
  const { url } = await startHttpServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    const drop = toDrop > 0;
    if (drop) toDrop--;
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("end", () => {
        if (drop) {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(Buffer.concat(chunks));
      });
    });
    upstream.on("error", () => req.socket.destroy());
    req.pipe(upstream);
  });
  return { url, requests };
}
