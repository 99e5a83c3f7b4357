// Benchmark report output: host/run metadata and writing the JSON (plus sidecar files such as
// an SVG plot) atomically next to each other.
import { execFileSync } from 'node:child_process';
import { writeFileAtomicSync } from '@jaudiosync/protocol/atomic-file';
import os from 'node:os';
import path from 'node:path';

export interface HostInfo {
  hostname: string;
  kernel: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  loadavg: number[];
  memTotalMiB: number;
  node: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
}

export function hostInfo(repoDir = process.cwd()): HostInfo {
  let gitCommit: string | null = null;
  let gitDirty: boolean | null = null;
  try {
    gitCommit = execFileSync('git', ['-C', repoDir, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    gitDirty = execFileSync('git', ['-C', repoDir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    // not a git checkout: leave null
  }
  return {
    hostname: os.hostname(),
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    gitCommit,
    gitDirty,
  };
}

/** Writes text to file atomically, creating the directory (protocol/atomic-file.ts). */
export function writeFileAtomic(file: string, text: string): void {
  writeFileAtomicSync(file, text);
}

export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** FILE.json -> FILE.svg (or FILE + ext when it has no .json suffix). */
export function sidecarPath(jsonFile: string, ext: string): string {
  return jsonFile.endsWith('.json') ? `${jsonFile.slice(0, -5)}${ext}` : `${jsonFile}${ext}`;
}

/** Default output path: results/<name>-<UTC timestamp>.json under the repo. */
export function defaultOutPath(name: string, repoDir = process.cwd()): string {
  const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
  return path.join(repoDir, 'results', `${name}-${stamp}.json`);
}
