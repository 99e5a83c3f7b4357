// Light members (test/helpers/light-member.ts) for a benchmark: one light-member-host process per
// simulated host, each holding the light members placed on that host; their events (JSON lines)
// are collected in one list, in arrival order.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LightEvent } from '@jaudiosync/testkit/helpers/light-member.js';
import { REPO_ROOT } from '@jaudiosync/testkit/helpers/cluster.js';
import type { Netsim } from '../../test/netsim/netsim.js';
import { HostProcess } from './host-process.js';
import type { ProcSampler } from './proc-sampler.js';

const LIGHT_HOST_JS = path.join(REPO_ROOT, 'test/dist/helpers/light-member-host.js');
/** node start plus 64 clock workers on a loaded 2-core box */
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export interface LightSpec {
  id: string;
  host: string;
  port: number;
  clockOffsetUs: number;
  clockRatePpm: number;
}

export class LightFleet {
  readonly events: LightEvent[] = [];
  /** lines that were not events (a light host's crash output, a partial line) */
  rejected = 0;

  private constructor(readonly procs: HostProcess[]) {}

  static async start(net: Netsim, specs: readonly LightSpec[], dir: string, opts: { env?: Record<string, string>; sampleEveryS: number; sampler?: ProcSampler }): Promise<LightFleet> {
    const byHost = new Map<string, LightSpec[]>();
    for (const s of specs) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
    const procs: HostProcess[] = [];
    const fleet = new LightFleet(procs);
    try {
      for (const [host, members] of byHost) {
        const cfg = path.join(dir, `light-${host}.json`);
        writeFileSync(cfg, JSON.stringify({ dir, sampleEveryS: opts.sampleEveryS, members: members.map(({ id, port, clockOffsetUs, clockRatePpm }) => ({ id, port, clockOffsetUs, clockRatePpm })) }));
        const hp = await HostProcess.start(net, host, process.execPath, [LIGHT_HOST_JS, cfg], { label: `light-${host}`, env: opts.env ?? {}, ...(opts.sampler ? { sampler: opts.sampler } : {}) });
        procs.push(hp);
      }
      for (const hp of procs) {
        await hp.lines.waitFor((l) => (l.startsWith('{"e":"ready"') ? true : undefined), READY_TIMEOUT_MS).catch((err: unknown) => {
          throw new Error(`${hp.label} not ready: ${(err as Error).message}; ${hp.stderrTail.join(' | ')}`);
        });
        hp.onParsed(parseLightEvent, (e) => fleet.events.push(e));
      }
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  assertAlive(): void {
    for (const p of this.procs) p.assertAlive();
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map(async (p) => {
      if (p.exit !== null) return;
      const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
      p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }));
  }
}

const KINDS = new Set(['link', 'timeline', 'planned', 'sample', 'cached', 'fetch-failed']);

export function parseLightEvent(line: string): LightEvent | undefined {
  try {
    const o = JSON.parse(line) as { e?: unknown; id?: unknown };
    return typeof o.e === 'string' && KINDS.has(o.e) && typeof o.id === 'string' ? (o as LightEvent) : undefined;
  } catch {
    return undefined;
  }
}
