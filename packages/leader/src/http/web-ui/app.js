// The control page: renders the leader's status events (playlist, position, volume, members with
// sync-health plots) and turns taps into the REST calls of docs/rest-api.md. Asks for the key on 401.
import { ApiError, authHeaders, request, storeKey, storedKey } from './api.js';
import { EventStream } from './events.js';
import { Series, drawSparkline } from './sparkline.js';

/** Position display refresh while playing. */
const TICK_MS = 250;
/** After a command, re-read status this long after it takes effect (no event may come then). */
const SETTLE_MS = 150;
/** Skip buttons. */
const SKIP_MS = 10000;
const METRICS = ['offset', 'uncertainty', 'rtt', 'correction', 'sync'];

const $ = (sel, root = document) => root.querySelector(sel);
const el = {
  conn: $('#conn'), auth: $('#auth'), authWhy: $('#auth-why'), authKey: $('#auth-key'),
  title: $('#now-title'), state: $('#now-state'), pos: $('#now-pos'), dur: $('#now-dur'), index: $('#now-index'),
  seek: $('#seek'), when: $('#when'), tMsg: $('#transport-msg'), tErr: $('#transport-err'),
  volume: $('#volume'), volumeOut: $('#volume-out'), volumeErr: $('#volume-err'),
  members: $('#members'), membersCount: $('#members-count'), tpl: $('#member-tpl'),
  playlist: $('#playlist'), plCount: $('#pl-count'), plProblems: $('#pl-problems'),
  plDetails: $('#pl-load'), plPath: $('#pl-path'), plFile: $('#pl-file'), plMsg: $('#pl-msg'), plErr: $('#pl-err'),
  leaderInfo: $('#leader-info'),
  art: $('#now-art'), artist: $('#now-artist'), next: $('#now-next'), left: $('#now-left'),
  clockLeader: $('#clock-leader'), clockPhone: $('#clock-phone'), clockDiff: $('#clock-diff'), clockBtn: $('#b-clock'),
  clockMsg: $('#clock-msg'), clockErr: $('#clock-err'),
  shuffle: $('#b-shuffle'), reshuffle: $('#b-reshuffle'), stopAfter: $('#b-stop-after'), repeat: $('#repeat'), upnext: $('#upnext'),
};
/** The leader's and the phone's clocks further apart than this: offer to set the leader's. */
const CLOCK_OFFER_MS = 2000;
/** Tracks shown under "Up next". */
const UPNEXT_COUNT = 5;

let status = null;
let receivedAtMs = 0;
let seeking = false;
let volumeBusy = false;
let refreshTimer = 0;
const cards = new Map(); // member id -> {root, parts, series, busy}
let cardSeq = 0;

// ---- formatting --------------------------------------------------------------------------------
function fmtTime(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
function fmtUs(us) {
  if (!Number.isFinite(us)) return '–';
  if (Math.abs(us) >= 1e6) return `${(us / 1e6).toFixed(3)} s`;
  return Math.abs(us) >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(Math.abs(us) < 10 ? 1 : 0)} µs`;
}
const fmtPpm = (p) => (Number.isFinite(p) ? `${p.toFixed(1)} ppm` : '–');
const clockTime = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false }) + `.${String(new Date(iso).getMilliseconds()).padStart(3, '0')}`;

// ---- errors and key ----------------------------------------------------------------------------
function showError(target, err) {
  if (err instanceof ApiError && err.status === 401) {
    askKey(err.message);
    target.textContent = 'Key needed: enter it above.';
    return;
  }
  target.textContent = err instanceof ApiError ? err.text : String(err);
}

function askKey(why) {
  el.authWhy.textContent = why || 'The leader asks for a key.';
  el.auth.hidden = false;
  el.authKey.focus();
}

el.auth.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = el.authKey.value.trim();
  if (!key) return;
  storeKey(key);
  el.authKey.value = '';
  el.auth.hidden = true;
  stream.restart();
  loadProblems();
});
$('#b-key').addEventListener('click', () => askKey(storedKey() ? 'Enter a new key.' : 'Enter the key.'));
$('#b-forget').addEventListener('click', () => {
  storeKey('');
  stream.restart();
});

// ---- connection --------------------------------------------------------------------------------
const CONN_TEXT = { connecting: 'connecting…', live: 'live', unauthorized: 'key needed', stopped: 'offline' };
function setConn(state, detail) {
  el.conn.dataset.state = state;
  el.conn.textContent = state === 'retrying' ? `offline, retry in ${detail} s` : CONN_TEXT[state] || state;
  if (state === 'unauthorized') askKey(detail);
  if (state === 'live') el.auth.hidden = true;
}

const stream = new EventStream({
  headers: authHeaders,
  onState: setConn,
  onEvent: (type, data) => { if (type === 'status') applyStatus(data); },
});

// ---- status rendering --------------------------------------------------------------------------
function leaderNowUs() {
  return status ? status.leader.nowUs + (performance.now() - receivedAtMs) * 1000 : 0;
}

function currentTrack() {
  if (!status || !status.position) return null;
  return status.playlist[status.position.index] || null;
}

/** Position now in the current track, ms (advanced locally between events while playing). */
function positionMsNow() {
  if (!status || !status.position) return 0;
  const t = currentTrack();
  let ms = status.position.positionMs;
  if (status.playing) ms += (leaderNowUs() - status.position.atUs) / 1000;
  return t ? Math.min(ms, t.durationMs) : ms;
}

function applyStatus(s) {
  if (!s || typeof s !== 'object' || !s.leader || !Array.isArray(s.playlist) || !Array.isArray(s.members)) return;
  status = s;
  receivedAtMs = performance.now();
  renderNow();
  renderClock();
  renderOrder();
  renderVolume();
  renderPlaylist();
  renderMembers();
  const l = s.leader;
  el.leaderInfo.textContent = `leader ${l.id} · v${l.version} · protocol ${l.protocol} · ${l.outputRate} Hz · repeat ${s.repeat || (s.loop ? 'all' : 'off')}${l.playlistPath ? ` · ${l.playlistPath}` : ''}`;
}

/** The cover shown (its hash) and its object URL; the image is fetched with the key like any API call. */
let artShown = '';
let artUrl = '';
async function showArtwork(sha) {
  if (sha === artShown) return;
  artShown = sha;
  if (artUrl) URL.revokeObjectURL(artUrl);
  artUrl = '';
  el.art.hidden = true;
  el.art.removeAttribute('src');
  if (!sha) return;
  try {
    const res = await fetch(`/api/artwork/${sha}`, { headers: authHeaders() });
    if (!res.ok || artShown !== sha) return;
    artUrl = URL.createObjectURL(await res.blob());
    el.art.src = artUrl;
    el.art.dataset.sha = sha;
    el.art.hidden = false;
  } catch { /* no cover: the page works without it */ }
}

function trackName(t) {
  return t.title || (t.path ? t.path.split('/').pop() : t.id.slice(0, 12));
}

function renderNow() {
  const t = currentTrack();
  el.artist.textContent = t ? [t.artist, t.album].filter(Boolean).join(' · ') : '';
  showArtwork(t && t.artwork ? t.artwork : '');
  const next = upcoming()[0];
  el.next.textContent = status.stopAfter ? 'Next: stops after this track'
    : status.repeat === 'one' && t ? `Next: ${trackName(t)} again` : next ? `Next: ${trackName(next)}` : '';
  el.title.textContent = t ? t.title || t.path || t.id.slice(0, 12) : status.playlist.length === 0 ? 'No playlist loaded' : '—';
  el.state.textContent = status.playing ? 'playing' : 'stopped';
  el.state.dataset.playing = String(status.playing);
  el.index.textContent = t ? `track ${t.index + 1} of ${status.playlist.length}` : '–';
  el.dur.textContent = fmtTime(t ? t.durationMs : 0);
  el.seek.max = String(Math.max(0, Math.floor(t ? t.durationMs : 0)));
  el.seek.disabled = !t;
  tick();
}

/** The tracks that play after the current one, in play order (wrapping when repeat all). */
function upcoming() {
  const list = status.playlist;
  if (list.length === 0) return [];
  if (status.repeat === 'one') return [];
  const cur = status.position ? status.position.index : -1;
  const out = [];
  for (let k = 1; out.length < UPNEXT_COUNT && k < list.length; k++) {
    const i = cur + k;
    if (i >= list.length && status.repeat !== 'all') break;
    const t = list[i % list.length];
    if (t) out.push(t);
  }
  return out;
}

function renderOrder() {
  el.shuffle.setAttribute('aria-pressed', String(status.shuffle === true));
  el.stopAfter.setAttribute('aria-pressed', String(status.stopAfter === true));
  if (document.activeElement !== el.repeat) el.repeat.value = status.repeat || (status.loop ? 'all' : 'off');
  const next = upcoming();
  const t = currentTrack();
  el.upnext.replaceChildren(...(status.repeat === 'one' && t ? [t] : next).map((n) => {
    const li = document.createElement('li');
    li.textContent = `${n.title || (n.path ? n.path.split('/').pop() : n.id.slice(0, 12))} · ${fmtTime(n.durationMs)}`;
    return li;
  }));
  if (status.stopAfter) {
    const li = document.createElement('li');
    li.textContent = 'stops after this track';
    li.className = 'meta';
    el.upnext.replaceChildren(li);
  }
}

function tick() {
  if (!status) return;
  const ms = positionMsNow();
  // Time left in the playlist, counted down locally between events like the position.
  const left = typeof status.remainingMs === 'number' && status.playing
    ? status.remainingMs - (leaderNowUs() - status.position.atUs) / 1000 : null;
  el.left.textContent = left === null ? (status.playing && (status.repeat === 'one' || status.repeat === 'all') ? `repeat ${status.repeat}: no end` : '') : `${fmtTime(left)} left in the playlist`;
  el.pos.textContent = fmtTime(ms);
  if (!seeking) el.seek.value = String(Math.floor(ms));
  el.seek.setAttribute('aria-valuetext', `${fmtTime(ms)} of ${el.dur.textContent}`);
}
setInterval(tick, TICK_MS);

/** The leader's wall clock now (ms), advanced locally since the last status. */
function leaderWallMs() {
  return status && typeof status.leader.wallMs === 'number' ? status.leader.wallMs + (performance.now() - receivedAtMs) : NaN;
}

const hms = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
function dayDiff(a, b) {
  return new Date(a).toDateString() === new Date(b).toDateString() ? '' : ` ${new Date(a).toLocaleDateString()}`;
}

function renderClock() {
  const leader = leaderWallMs();
  const phone = Date.now();
  if (!Number.isFinite(leader)) return;
  el.clockLeader.textContent = hms(leader) + dayDiff(leader, phone);
  el.clockPhone.textContent = hms(phone);
  const diff = leader - phone;
  const off = Math.abs(diff) > CLOCK_OFFER_MS;
  el.clockDiff.textContent = off ? `(leader ${diff > 0 ? 'ahead' : 'behind'} by ${fmtTime(Math.abs(diff))})` : status.leader.clockSource === 'phone' ? '(set from a phone)' : '';
  el.clockDiff.dataset.off = String(off);
  el.clockBtn.hidden = !(off && status.leader.clockSettable);
  if (off && !status.leader.clockSettable) el.clockMsg.textContent = 'The leader takes the time from a phone only with a shared key (docs/security.md).';
}
setInterval(renderClock, 1000);

async function setLeaderClock(confirmed) {
  el.clockErr.textContent = '';
  try {
    const r = await request('PUT', '/api/clock', { wallMs: Date.now(), ...(confirmed ? { confirm: true } : {}) });
    el.clockMsg.textContent = `leader clock ${r.method === 'system' ? 'set' : 'corrected (kept by the leader)'}: moved ${r.stepMs >= 0 ? '+' : '−'}${fmtTime(Math.abs(r.stepMs))}`;
    request('GET', '/api/status').then(applyStatus, () => undefined);
  } catch (err) {
    // Commands given as a time of day are scheduled: they keep their moment; ask before moving the clock under them.
    if (!confirmed && err instanceof ApiError && err.code === 'JAS_ERR_CONFLICT' && window.confirm(`${err.message}\n\nSet the clock anyway?`)) return setLeaderClock(true);
    showError(el.clockErr, err);
  }
}
el.clockBtn.addEventListener('click', () => setLeaderClock(false));

function renderVolume() {
  if (volumeBusy || document.activeElement === el.volume) return;
  const pct = Math.round(status.volume * 100);
  el.volume.value = String(pct);
  el.volumeOut.textContent = `${pct} %`;
}

function renderPlaylist() {
  const cur = status.position ? status.position.index : -1;
  const items = el.playlist.children;
  while (items.length > status.playlist.length) el.playlist.lastChild.remove();
  status.playlist.forEach((t, i) => {
    let li = items[i];
    if (!li) {
      li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'track';
      b.addEventListener('click', () => command('play', { index: Number(li.dataset.index) }));
      li.append(b);
      el.playlist.append(li);
    }
    li.dataset.index = String(i);
    const b = li.firstChild;
    const title = t.title || (t.path ? t.path.split('/').pop() : t.id.slice(0, 12));
    const name = document.createElement('span');
    name.className = 't';
    name.textContent = title;
    const d = document.createElement('span');
    d.className = 'meta';
    d.textContent = fmtTime(t.durationMs);
    b.replaceChildren(name, d);
    b.setAttribute('aria-label', `Play track ${i + 1}: ${title}`);
    if (i === cur) li.setAttribute('aria-current', 'true');
    else li.removeAttribute('aria-current');
  });
  el.plCount.textContent = `${status.playlist.length} tracks`;
  if (status.playlist.length === 0) el.plDetails.open = true;
}

function memberCard(m) {
  let c = cards.get(m.id);
  if (c) return c;
  const root = el.tpl.content.firstElementChild.cloneNode(true);
  const n = ++cardSeq;
  const parts = {};
  for (const cls of ['m-id', 'm-health', 'm-host', 'm-problems', 'm-audio', 'm-vol', 'm-vol-out', 'm-delay', 'm-mode', 'm-err']) parts[cls] = $(`.${cls}`, root);
  for (const [input, label] of [['m-vol', 'm-vol-l'], ['m-delay', 'm-delay-l'], ['m-mode', 'm-mode-l']]) {
    parts[input].id = `m${n}-${input}`;
    $(`.${label}`, root).htmlFor = parts[input].id;
  }
  root.dataset.member = m.id;
  c = { root, parts, busy: new Set(), series: Object.fromEntries(METRICS.map((k) => [k, new Series()])) };
  const patch = (field, value, input) => memberPatch(c, m.id, field, value, input);
  parts['m-vol'].addEventListener('input', () => { parts['m-vol-out'].textContent = `${parts['m-vol'].value} %`; });
  parts['m-vol'].addEventListener('change', () => patch('volume', Number(parts['m-vol'].value) / 100, 'm-vol'));
  parts['m-delay'].addEventListener('change', () => {
    const v = parts['m-delay'].valueAsNumber;
    if (!Number.isFinite(v) || v < -1000 || v > 5000) {
      parts['m-err'].textContent = 'Output delay must be a number from -1000 to 5000 ms.';
      return;
    }
    patch('outputDelayMs', v, 'm-delay');
  });
  parts['m-mode'].addEventListener('change', () => patch('channelMode', parts['m-mode'].value, 'm-mode'));
  cards.set(m.id, c);
  el.members.append(root);
  return c;
}

async function memberPatch(c, id, field, value, input) {
  c.parts['m-err'].textContent = '';
  c.busy.add(input);
  try {
    await request('PUT', `/api/members/${encodeURIComponent(id)}`, { [field]: value });
  } catch (err) {
    showError(c.parts['m-err'], err);
  } finally {
    c.busy.delete(input);
  }
}

function renderMembers() {
  const seen = new Set();
  const nowUs = status.leader.nowUs;
  for (const m of status.members) {
    seen.add(m.id);
    const c = memberCard(m);
    const p = c.parts;
    p['m-id'].textContent = m.id;
    p['m-health'].textContent = m.health;
    p['m-health'].dataset.health = m.health;
    p['m-host'].textContent = `${m.hostname || '?'} · ${m.address}${m.ready !== undefined ? ` · ${m.ready}/${status.playlist.length} tracks ready` : ''}`;
    p['m-problems'].replaceChildren(...(m.problems || []).map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }));
    const values = {
      offset: m.clock ? m.clock.offsetUs : NaN,
      uncertainty: m.clock ? m.clock.uncertaintyUs : NaN,
      rtt: m.clock ? m.clock.rttUs : NaN,
      correction: m.audio ? m.audio.correctionPpm : NaN,
      // the member's own view of its playback error; absent while it does not play
      sync: m.audio && typeof m.audio.syncErrorUs === 'number' ? m.audio.syncErrorUs : NaN,
    };
    for (const k of METRICS) {
      if (m.connected) c.series[k].add(nowUs, values[k]);
      const fig = $(`figure[data-metric="${k}"]`, c.root);
      const last = c.series[k].last;
      const drawn = drawSparkline($('svg', fig), c.series[k], nowUs);
      // The offset itself is the member's boot time, meaningless here: its spread is what matters.
      $('b', fig).textContent = last === undefined ? '–'
        : k === 'offset' ? `p-p ${fmtUs(drawn.hi - drawn.lo)}` : k === 'correction' ? fmtPpm(last) : fmtUs(last);
    }
    p['m-audio'].textContent = m.audio
      ? `${m.audio.sink}${m.audio.device ? ` (${m.audio.device})` : ''} · drift ${fmtPpm(m.audio.driftPpm)} · latency ${fmtUs(m.audio.dacLatencyUs)} · underruns ${m.audio.underruns}${m.audio.dacResyncs ? ` · device glitches ${m.audio.dacResyncs}` : ''}${m.audio.output?.restarts ? ` · output reopened ${m.audio.output.restarts}×` : ''}`
      : m.connected ? 'no state report yet' : 'offline';
    const idle = (name) => !c.busy.has(name) && document.activeElement !== p[name];
    if (idle('m-vol')) {
      p['m-vol'].value = String(Math.round(m.volume * 100));
      p['m-vol-out'].textContent = `${Math.round(m.volume * 100)} %`;
    }
    if (idle('m-delay')) p['m-delay'].value = String(m.outputDelayMs);
    if (idle('m-mode')) p['m-mode'].value = m.channelMode;
  }
  for (const [id, c] of cards) {
    if (!seen.has(id)) {
      c.root.remove();
      cards.delete(id);
    }
  }
  el.membersCount.textContent = `${status.members.filter((m) => m.connected).length}/${status.members.length} connected`;
}

// ---- commands ----------------------------------------------------------------------------------
function when() {
  const at = el.when.value.trim();
  return at ? { at } : {};
}

async function command(name, body = {}) {
  el.tErr.textContent = '';
  try {
    const r = await request('POST', `/api/${name}`, { ...body, ...when() });
    el.tMsg.textContent = `${name}: rev ${r.rev}, takes effect at ${clockTime(r.at)}`;
    refreshAt(r.atUs);
  } catch (err) {
    el.tMsg.textContent = '';
    showError(el.tErr, err);
  }
}

/** Reads status once the revision at `atUs` is in effect (the leader sends no event at that instant). */
function refreshAt(atUs) {
  clearTimeout(refreshTimer);
  const waitMs = Math.min(60000, Math.max(0, (atUs - leaderNowUs()) / 1000) + SETTLE_MS);
  refreshTimer = setTimeout(() => request('GET', '/api/status').then(applyStatus, () => undefined), waitMs);
}

for (const name of ['play', 'stop', 'resume', 'next', 'previous']) {
  $(`#b-${name}`).addEventListener('click', () => command(name));
}
function seekTo(ms) {
  const t = currentTrack();
  if (!t) return;
  command('seek', { index: t.index, positionMs: Math.max(0, Math.min(Math.round(ms), Math.floor(t.durationMs))) });
}
$('#b-back10').addEventListener('click', () => seekTo(positionMsNow() - SKIP_MS));
$('#b-fwd10').addEventListener('click', () => seekTo(positionMsNow() + SKIP_MS));
el.seek.addEventListener('input', () => {
  seeking = true;
  el.pos.textContent = fmtTime(Number(el.seek.value));
});
el.seek.addEventListener('change', async () => {
  await seekTo(Number(el.seek.value));
  seeking = false;
});

async function orderCommand(method, path, body) {
  el.tErr.textContent = '';
  try {
    const r = await request(method, path, body);
    el.tMsg.textContent = `repeat ${r.repeat} · shuffle ${r.shuffle ? 'on' : 'off'}${r.stopAfter ? ` · stops at ${clockTime(r.at)}` : ''}`;
    refreshAt(r.atUs);
  } catch (err) {
    el.tMsg.textContent = '';
    showError(el.tErr, err);
  }
}
el.shuffle.addEventListener('click', () => orderCommand('PUT', '/api/shuffle', { shuffle: !(status && status.shuffle) }));
el.reshuffle.addEventListener('click', () => orderCommand('POST', '/api/shuffle', {}));
el.stopAfter.addEventListener('click', () => orderCommand('PUT', '/api/stop-after', { stopAfter: !(status && status.stopAfter) }));
el.repeat.addEventListener('change', () => orderCommand('PUT', '/api/repeat', { repeat: el.repeat.value }));

el.volume.addEventListener('input', () => { el.volumeOut.textContent = `${el.volume.value} %`; });
el.volume.addEventListener('change', async () => {
  el.volumeErr.textContent = '';
  volumeBusy = true;
  try {
    await request('PUT', '/api/volume', { volume: Number(el.volume.value) / 100 });
  } catch (err) {
    showError(el.volumeErr, err);
  } finally {
    volumeBusy = false;
  }
});

// ---- playlist loading --------------------------------------------------------------------------
function showProblems(problems) {
  el.plProblems.replaceChildren(...(problems || []).slice(0, 50).map((p) => {
    const li = document.createElement('li');
    li.textContent = `line ${p.line}: ${p.entry} — ${p.reason}`;
    return li;
  }));
}

function loadProblems() {
  request('GET', '/api/playlist').then((r) => showProblems(r && r.problems), () => undefined);
}

async function loadPlaylist(body, type) {
  el.plErr.textContent = '';
  el.plMsg.textContent = 'loading…';
  try {
    const r = await request('PUT', '/api/playlist', body, type);
    el.plMsg.textContent = `loaded ${r.tracks} tracks${r.problems.length ? `, ${r.problems.length} skipped` : ''}`;
    showProblems(r.problems);
  } catch (err) {
    el.plMsg.textContent = '';
    showError(el.plErr, err);
  }
}
$('#b-load').addEventListener('click', () => {
  const path = el.plPath.value.trim();
  if (!path) { el.plErr.textContent = 'Enter a path on the leader.'; return; }
  loadPlaylist({ path });
});
$('#b-reload').addEventListener('click', () => loadPlaylist({}));
el.plFile.addEventListener('change', async () => {
  const f = el.plFile.files && el.plFile.files[0];
  if (!f) return;
  await loadPlaylist(await f.text(), 'audio/x-mpegurl');
  el.plFile.value = '';
});

// ---- start -------------------------------------------------------------------------------------
stream.start();
loadProblems();
window.addEventListener('online', () => stream.restart());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && el.conn.dataset.state === 'retrying') stream.restart();
});
