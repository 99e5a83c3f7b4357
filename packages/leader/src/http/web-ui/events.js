// The leader's event stream (GET /api/events, server-sent events) read with fetch, because
// EventSource cannot send an Authorization header. Parses `event:`/`data:` blocks, reconnects with
// backoff, and treats a silent stream (no keepalive) as dead.

/** First reconnect delay; doubles per failure up to the maximum. */
const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 10000;
/** The leader sends a keepalive comment every 15 s; twice that of silence means a dead link. */
const SILENCE_LIMIT_MS = 35000;
/** An event larger than this is not a status: drop the stream rather than grow without bound. */
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

/**
 * `new EventStream({headers, onEvent(type, data), onState(state, detail)})`; states: connecting,
 * live, retrying (detail: seconds), unauthorized (detail: message), stopped.
 */
export class EventStream {
  constructor({ url = '/api/events', headers, onEvent, onState }) {
    this.url = url;
    this.headers = headers;
    this.onEvent = onEvent;
    this.onState = onState;
    this.retryMs = RETRY_INITIAL_MS;
    this.abort = null;
    this.timer = null;
    this.running = false;
  }

  start() {
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    this.onState('stopped');
  }

  /** Reconnect at once (key changed, network came back, page visible again). */
  restart() {
    this.retryMs = RETRY_INITIAL_MS;
    clearTimeout(this.timer);
    if (this.abort) this.abort.abort();
    this.running = true;
    this.connect();
  }

  async connect() {
    const abort = new AbortController();
    this.abort = abort;
    this.onState('connecting');
    let watchdog = 0;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), SILENCE_LIMIT_MS);
    };
    try {
      feed();
      const res = await fetch(this.url, { headers: { accept: 'text/event-stream', ...this.headers() }, cache: 'no-store', signal: abort.signal });
      if (res.status === 401) {
        const body = await res.json().catch(() => null);
        clearTimeout(watchdog);
        if (this.abort === abort) this.onState('unauthorized', body && body.message ? body.message : 'the leader needs a key');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      this.retryMs = RETRY_INITIAL_MS;
      this.onState('live');
      await this.read(res.body, feed);
      throw new Error('stream ended');
    } catch {
      clearTimeout(watchdog);
      if (this.abort !== abort || !this.running) return; // replaced or stopped on purpose
      const waitMs = this.retryMs;
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      this.onState('retrying', Math.round(waitMs / 1000));
      this.timer = setTimeout(() => this.connect(), waitMs);
    }
  }

  async read(body, feed) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = 'message';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed();
      buffer += value;
      if (buffer.length > MAX_EVENT_CHARS) throw new Error('event too large');
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) this.dispatch(type, data.join('\n'));
          type = 'message';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // keepalive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
      }
    }
  }

  dispatch(type, text) {
    let data;
    try { data = JSON.parse(text); } catch { return; }
    this.onEvent(type, data);
  }
}
