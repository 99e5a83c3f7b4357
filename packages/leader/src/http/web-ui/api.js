// REST calls of the control page: the same requests curl makes (JSON bodies, Bearer token when a
// key is stored), errors turned into ApiError with the leader's {error, message, field}.

const KEY_STORAGE = 'jaudiosync.restToken';
/** A leader that does not answer in this time is treated as unreachable. */
const REQUEST_TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  /** One line for the page: "JAS_ERR_BAD_TIME: cannot read ... (/at)". */
  get text() {
    return `${this.code}: ${this.message}${this.field ? ` (${this.field})` : ''}`;
  }
}

export function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ''; } catch { return ''; }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch { /* private mode: the key lives for this page only */ }
  memoryKey = key;
}

let memoryKey = storedKey();

export function authHeaders() {
  return memoryKey ? { authorization: `Bearer ${memoryKey}` } : {};
}

/**
 * `request('POST', '/api/play', {at: '+5s'})`. `body` is sent as JSON unless `type` is given
 * (then as text). Resolves with the parsed reply; rejects with ApiError (status 0: no answer).
 */
export async function request(method, path, body, type) {
  const headers = { ...authHeaders() };
  const init = { method, headers, cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    headers['content-type'] = type || 'application/json';
    init.body = type ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `leader unreachable (${err && err.name === 'TimeoutError' ? 'timeout' : 'network error'})`);
  }
  const text = await res.text().catch(() => '');
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: handled below */ }
  if (!res.ok) {
    const code = json && typeof json.error === 'string' ? json.error : `HTTP_${res.status}`;
    const message = json && typeof json.message === 'string' ? json.message : text.slice(0, 200) || res.statusText;
    throw new ApiError(res.status, code, message, json && typeof json.field === 'string' ? json.field : undefined);
  }
  return json;
}
