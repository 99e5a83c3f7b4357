// TypeBox schemas of the acoustic calibration's REST body and reply (POST /api/calibration), kept
// apart from rest.ts because the recorder (the `jaudiosync ctl calibrate` CLI) reads the reply to
// regenerate the probe and to know when each member played it (docs/calibration.md).
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { NodeId } from './messages.js';

/** More rounds average more probes per member; beyond 5 a run only gets longer. */
export const MAX_CALIBRATION_ROUNDS = 5;
/** Members calibrated in one run (each adds rounds x ~2 s). */
export const MAX_CALIBRATION_MEMBERS = 64;
/**
 * Probes (members x rounds) in one run: 48 x 2.05 s is a ~100 s, ~19 MB probe track that every
 * member fetches and decodes; more members are calibrated in several runs (`members`).
 */
export const MAX_CALIBRATION_PROBES = 48;

/** POST /api/calibration */
export const CalibrationBody = Type.Object({
  /** Run even while music plays (the music stops for the run and resumes its timeline after). */
  force: Type.Optional(Type.Boolean()),
  /** Probes per member (default 3). */
  rounds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_CALIBRATION_ROUNDS })),
  /** Members to calibrate (default: every connected member). The others are muted for the run. */
  members: Type.Optional(Type.Array(NodeId, { minItems: 1, maxItems: MAX_CALIBRATION_MEMBERS, uniqueItems: true })),
}, { additionalProperties: false });
export type CalibrationBody = Static<typeof CalibrationBody>;

export const CalibrationProbe = Type.Object({
  rate: Type.Integer(),
  startHz: Type.Number(),
  endHz: Type.Number(),
  durationMs: Type.Number(),
  amplitude: Type.Number(),
  fadeMs: Type.Number(),
});

/** The schedule of a run: what the recorder needs to find and attribute every probe. */
export const CalibrationReply = Type.Object({
  runId: Type.String(),
  probe: CalibrationProbe,
  /** Leader time at which each probe's first frame is due at the member's output (timeline time). */
  probes: Type.Array(Type.Object({ memberId: Type.String(), atUs: Type.Number() })),
  /** Settings each member had when the run started (the proposal adds to `outputDelayMs`). */
  members: Type.Array(Type.Object({ memberId: Type.String(), outputDelayMs: Type.Number(), volume: Type.Number() })),
  startUs: Type.Number(),
  /** After this leader time the last probe has left every member; allow for acoustic delay after. */
  endUs: Type.Number(),
  /** Arrivals are searched from this much before to this much after each probe's time (ms). */
  searchBeforeMs: Type.Number(),
  searchAfterMs: Type.Number(),
});
export type CalibrationReply = Static<typeof CalibrationReply>;

/** What is wrong with a schedule from the network (the recorder's boundary), or null. */
export function calibrationReplyProblem(data: unknown): string | null {
  if (!Value.Check(CalibrationReply, data)) {
    const first = [...Value.Errors(CalibrationReply, data)][0];
    return first ? `${first.path || '/'}: ${first.message}` : 'unknown shape';
  }
  const numbers = [data.startUs, data.endUs, data.searchBeforeMs, data.searchAfterMs, ...data.probes.map((p) => p.atUs), ...data.members.map((m) => m.outputDelayMs)];
  if (!numbers.every(Number.isFinite)) return 'a time is not a finite number';
  if (data.probes.length > MAX_CALIBRATION_PROBES) return `more than ${MAX_CALIBRATION_PROBES} probes`;
  return null;
}
