// One GET of a track file from the leader over node:http (or https), its body streamed. Not
// fetch(): its first use loads and compiles undici, and its web streams add per-chunk garbage. A
// 53 MB download through fetch raised a process's RSS by 38 MB at its peak and left 22 MB; this
// way 11 and 9 MB (docs/benchmarks.md, "A member that fits a Pi 3A+").
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';

export interface TrackResponse {
  status: number;
  /** Content-Length, or 0 when absent or not a number. */
  contentLength: number;
  body: IncomingMessage;
}

/** Resolves once the response headers are in; the whole exchange (body included) ends after timeoutMs. */
export function requestTrack(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<TrackResponse> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'http:' ? httpGet : url.protocol === 'https:' ? httpsGet : null;
    if (get === null) {
      reject(new Error(`track URL ${url.href}: only http and https are supported`));
      return;
    }
    const req = get(url, { headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const length = Number(res.headers['content-length'] ?? 0);
      resolve({ status: res.statusCode ?? 0, contentLength: Number.isSafeInteger(length) && length > 0 ? length : 0, body: res });
    });
    // Before the headers: rejects; after them the body stream reports it (a no-op here).
    req.on('error', reject);
  });
}
