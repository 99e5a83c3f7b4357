// Polling until a condition holds, bounded in time: the one way tests wait for asynchronous state.

/**
 * Resolves with the ms waited once `predicate` is true; rejects after `timeoutMs` with
 * "timed out after N ms waiting for <what>" (`what` may be a function, called at the timeout, to
 * describe the state then).
 */
export async function waitFor(what: string | (() => string), predicate: () => boolean, timeoutMs = 5000, pollMs = 10): Promise<number> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return Date.now() - t0;
}
