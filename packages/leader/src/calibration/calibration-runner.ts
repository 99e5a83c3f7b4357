// Runs one acoustic calibration on the leader: writes the probe track, lends it a timeline revision
// (members play it exactly like music, at leader times), mutes every member except the one whose
// turn it is, and afterwards sends each member its own settings and the real timeline again. The
// recorder (docs/calibration.md) does the listening; the leader only plays and tells the schedule.
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { MAX_CALIBRATION_PROBES, type CalibrationBody, type CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import { JasError } from '@jaudiosync/protocol/errors';
import { writeFileAtomic } from '@jaudiosync/protocol/atomic-file';
import type { MessageInput } from '@jaudiosync/protocol/messages';
import type { Timeline } from '@jaudiosync/protocol/timeline';
import { toTimelineMessage } from '@jaudiosync/protocol/timeline-message';
import type { ServedTrack } from '../http/track-routes.js';
import type { MemberView } from '../members/member-registry.js';
import type { MemberSettings, TimelineController } from '../timeline/timeline-controller.js';
import { planCalibration, probeTrackPcm, SEARCH_AFTER_MS, SEARCH_BEFORE_MS, wavBytes, type CalibrationPlan } from './calibration-plan.js';
import { DEFAULT_PROBE, type ProbeSpec } from './probe-signal.js';

/** Three probes per member: one that a glitch moved is outvoted by the other two. */
export const DEFAULT_ROUNDS = 3;
/** Members fetch and decode the probe track (~0.2 MB per probe) within this, or the run is refused. */
const DECODE_TIMEOUT_MS = 30_000;
const DECODE_POLL_MS = 100;
/** The probe timeline starts at least this far ahead (the first unmute is sent before it). */
const MIN_START_LEAD_US = 1_500_000;
/** A member's unmute is sent this long before it applies (settings travel like any other). */
const SEND_AHEAD_US = 800_000;
/** The mute after a turn is sent this long after that turn's unmute applied (one ramp at a time). */
const MUTE_SEND_AFTER_US = 100_000;
/** The real timeline returns this long after the probe track's end. */
const RESTORE_AFTER_US = 300_000;
const PROBE_FILE = 'calibration-probe.wav';

export interface CalibrationRunnerDeps {
  controller: Pick<TimelineController, 'timeline' | 'positionNow' | 'memberSettings' | 'reserveRev' | 'republish' | 'leadTimeUs'>;
  members: {
    list(): MemberView[];
    broadcast(msg: MessageInput): number;
    trackDecodedEverywhere(trackId: string): boolean;
  };
  sendSettings(memberId: string, s: MemberSettings, atUs: number): void;
  nowUs(): number;
  outputRate: number;
  /** Where the probe track is written (the leader's state dir). */
  dir: string;
  log: Logger;
  decodeTimeoutMs?: number;
}

export class CalibrationRunner {
  private served: (ServedTrack & { id: string }) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private active = false;

  constructor(private readonly deps: CalibrationRunnerDeps) {}

  get running(): boolean {
    return this.active;
  }

  /** The probe track for GET /tracks/<sha256> while it is in use. */
  servedTrack(id: string): ServedTrack | undefined {
    return this.served?.id === id ? this.served : undefined;
  }

  /** Starts a run; resolves with its schedule once every member holds the probe track decoded. */
  async start(body: CalibrationBody): Promise<CalibrationReply> {
    const { controller, members, log } = this.deps;
    if (this.active) throw new JasError('JAS_ERR_CONFLICT', { detail: 'a calibration is already running' });
    if (controller.positionNow().playing && body.force !== true) {
      throw new JasError('JAS_ERR_CONFLICT', { detail: 'music is playing: stop it first, or pass force (the music resumes after the run)' });
    }
    const connected = members.list().filter((m) => m.connected && m.status !== 'duplicate').map((m) => m.id);
    for (const id of body.members ?? []) {
      if (!connected.includes(id)) throw new JasError('JAS_ERR_NOT_FOUND', { what: `connected member ${id}` });
    }
    const ids = body.members ?? connected;
    if (ids.length === 0) throw new JasError('JAS_ERR_CONFLICT', { detail: 'no member is connected' });
    const rounds = body.rounds ?? DEFAULT_ROUNDS;
    if (ids.length * rounds > MAX_CALIBRATION_PROBES) {
      throw new JasError('JAS_ERR_VALIDATION', {
        field: '/members', detail: `${ids.length} members x ${rounds} rounds is more than ${MAX_CALIBRATION_PROBES} probes: calibrate fewer members per run (members)`,
      }, { field: '/members' });
    }
    const probe: ProbeSpec = { ...DEFAULT_PROBE, rate: this.deps.outputRate };
    const plan = planCalibration(ids, rounds, probe);
    const before = new Map(ids.map((id) => [id, controller.memberSettings(id)]));

    this.active = true;
    try {
      const trackId = await this.writeProbeTrack(plan);
      const gain = controller.timeline.volume?.gain ?? 1;
      const nowUs = Math.round(this.deps.nowUs());
      members.broadcast(toTimelineMessage(this.probeTimeline(controller.reserveRev(), trackId, plan, { atUs: nowUs, playing: false }, gain)));
      for (const id of connected) this.deps.sendSettings(id, { ...controller.memberSettings(id), volume: 0 }, nowUs);
      await this.waitDecoded(trackId);
      const startUs = Math.round(this.deps.nowUs() + Math.max(controller.leadTimeUs(), MIN_START_LEAD_US));
      members.broadcast(toTimelineMessage(this.probeTimeline(controller.reserveRev(), trackId, plan, { atUs: startUs, playing: true }, gain)));
      for (const w of plan.windows) {
        const s = before.get(w.memberId)!;
        const unmuteAtUs = startUs + w.unmuteUs;
        // Never louder than the music would be: the member's own volume under the group volume.
        this.at(unmuteAtUs - SEND_AHEAD_US, () => this.deps.sendSettings(w.memberId, s, unmuteAtUs));
        this.at(unmuteAtUs + MUTE_SEND_AFTER_US, () => this.deps.sendSettings(w.memberId, { ...s, volume: 0 }, startUs + w.muteUs));
      }
      const endUs = startUs + (plan.trackFrames * 1e6) / probe.rate;
      this.at(endUs + RESTORE_AFTER_US, () => this.finish('done'));
      log.info({ members: ids, probes: plan.probes.length, startUs, endUs }, 'calibration: probes scheduled');
      return {
        runId: randomBytes(6).toString('hex'),
        probe,
        probes: plan.probes.map((p) => ({ memberId: p.memberId, atUs: startUs + (p.frame * 1e6) / probe.rate })),
        members: ids.map((id) => ({ memberId: id, outputDelayMs: before.get(id)!.outputDelayMs, volume: before.get(id)!.volume })),
        startUs,
        endUs,
        searchBeforeMs: SEARCH_BEFORE_MS,
        searchAfterMs: SEARCH_AFTER_MS,
      };
    } catch (err) {
      this.finish(`failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Stops a run at once (leader shutdown): members get their settings and the real timeline back. */
  close(): void {
    if (this.active) this.finish('cancelled');
  }

  private finish(how: string): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    const nowUs = this.deps.nowUs();
    for (const m of this.deps.members.list()) {
      if (m.connected) this.deps.sendSettings(m.id, this.deps.controller.memberSettings(m.id), nowUs);
    }
    this.deps.controller.republish();
    this.active = false;
    this.deps.log.info(`calibration ${how}: settings and timeline restored`);
  }

  private at(leaderUs: number, fn: () => void): void {
    const t = setTimeout(fn, Math.max(0, (leaderUs - this.deps.nowUs()) / 1000));
    this.timers.push(t);
  }

  private probeTimeline(rev: number, trackId: string, plan: CalibrationPlan, r: { atUs: number; playing: boolean }, gain: number): Timeline {
    const tl = this.deps.controller.timeline;
    return {
      rev, outputRate: tl.outputRate, loop: false,
      tracks: [{ id: trackId, frames: plan.trackFrames }],
      revisions: [{ atUs: r.atUs, playing: r.playing, index: 0, frame: 0 }],
      volume: { gain, atUs: r.atUs },
    };
  }

  private async writeProbeTrack(plan: CalibrationPlan): Promise<string> {
    const bytes = wavBytes(probeTrackPcm(plan), plan.probe.rate);
    const id = createHash('sha256').update(bytes).digest('hex');
    const file = path.join(this.deps.dir, PROBE_FILE);
    await writeFileAtomic(file, bytes);
    const st = await stat(file);
    this.served = { id, path: file, sizeBytes: st.size, mtimeMs: st.mtimeMs };
    return id;
  }

  private async waitDecoded(trackId: string): Promise<void> {
    const deadline = Date.now() + (this.deps.decodeTimeoutMs ?? DECODE_TIMEOUT_MS);
    while (!this.deps.members.trackDecodedEverywhere(trackId)) {
      if (Date.now() > deadline) throw new JasError('JAS_ERR_TIMEOUT', { detail: 'members did not decode the probe track in time' });
      await new Promise((r) => setTimeout(r, DECODE_POLL_MS));
    }
  }
}
