// Runs the shell lines a document shows (README.md, docs/rest-api.md) verbatim with bash, so the
// docs cannot drift from the code. A line is either a variable assignment (kept for the lines after
// it), a comment, or a `curl` command; anything else fails the extraction, so a doc cannot show a
// line the tests skip. Each curl also reports its HTTP status and content type on stderr through a
// curlrc the test owns (CURL_HOME), which leaves the line and its stdout as a reader gets them.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type DocLineKind = 'set' | 'curl';

export interface DocLine {
  kind: DocLineKind;
  text: string;
  /** 1-based line in the document, for messages */
  lineNo: number;
}

/**
 * The lines of the ```sh blocks of a Markdown file: every block, or with `marker` only those between
 * `<!-- marker:start -->` and `<!-- marker:end -->`. Blank lines and comments are left out.
 */
export function docShellLines(file: string, marker?: string): DocLine[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: DocLine[] = [];
  let inMarked = marker === undefined;
  let inBlock = false;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (marker !== undefined && line.trim() === `<!-- ${marker}:start -->`) inMarked = true;
    else if (marker !== undefined && line.trim() === `<!-- ${marker}:end -->`) inMarked = false;
    else if (!inBlock && line === '```sh') inBlock = true;
    else if (inBlock && line === '```') inBlock = false;
    else if (inBlock && inMarked) {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      const kind: DocLineKind | undefined = /^[A-Za-z_][A-Za-z0-9_]*=/.test(text) ? 'set' : text.startsWith('curl ') ? 'curl' : undefined;
      if (kind === undefined) throw new Error(`${file}:${i + 1}: a shell line that is neither an assignment nor a curl call cannot be run by the test: ${text}`);
      out.push({ kind, text, lineNo: i + 1 });
    }
  });
  if (inBlock) throw new Error(`${file}: unclosed \`\`\`sh block`);
  return out;
}

export interface CurlRun {
  line: string;
  /** bash's exit code (curl's, or the pipeline's); null for a stream the shell stopped */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** of the line's last curl call (an assignment before it may call curl too): 0 when no reply came */
  httpCode: number;
  contentType: string;
}

/** Parses stdout as JSON, with the line in the message when it is not. */
export function jsonOf<T = unknown>(r: CurlRun): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`no JSON reply (HTTP ${r.httpCode}) to: ${r.line}\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 500)}`);
  }
}

const STATUS_TAG = 'jas-doc-http';

/**
 * Runs doc lines with bash in `cwd` (where `-o` files land and `@file` bodies are read). The
 * assignments run before each later line, as they would in a reader's shell. A `stream` line (an
 * event stream that never ends) is stopped once the first server-sent event is out (a blank line
 * ends it); a stopped curl writes no write-out, so its status and content type come from the
 * headers it dumps (a second curlrc).
 */
export class DocShell {
  private readonly sets: string[] = [];
  private readonly curlHome: string;
  private readonly streamCurlHome: string;
  private readonly streamHeaders: string;

  constructor(private readonly cwd: string, private readonly env: NodeJS.ProcessEnv) {
    this.curlHome = join(cwd, '.curl');
    this.streamCurlHome = join(cwd, '.curl-stream');
    this.streamHeaders = join(this.streamCurlHome, 'headers');
    mkdirSync(this.curlHome, { recursive: true });
    mkdirSync(this.streamCurlHome, { recursive: true });
    writeFileSync(join(this.curlHome, '.curlrc'), `write-out = "%{stderr}${STATUS_TAG} %{http_code} %{content_type}\\n"\n`);
    writeFileSync(join(this.streamCurlHome, '.curlrc'), `dump-header = "${this.streamHeaders}"\n`);
  }

  /** Keeps an assignment for the lines after it (it runs again before each, as in a script). */
  set(line: string): void {
    this.sets.push(line);
  }

  run(line: string, opts: { stream?: boolean; timeoutMs?: number } = {}): Promise<CurlRun> {
    const script = `set -euo pipefail\n${this.sets.join('\n')}\n${line}\n`;
    if (opts.stream === true) return this.runStream(line, script, opts.timeoutMs ?? 10_000);
    const env = { ...this.env, CURL_HOME: this.curlHome };
    return new Promise((resolve) => {
      execFile('bash', ['-c', script], { cwd: this.cwd, env, timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        const exitCode = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        const tags = [...stderr.matchAll(new RegExp(`^${STATUS_TAG} (\\d{3}) ?(.*)$`, 'gm'))];
        const last = tags[tags.length - 1];
        const shown = stderr.replace(new RegExp(`^${STATUS_TAG} .*\\n?`, 'gm'), '');
        resolve({ line, exitCode, stdout, stderr: shown, httpCode: Number(last?.[1] ?? 0), contentType: last?.[2] ?? '' });
      });
    });
  }
  private runStream(line: string, script: string, timeoutMs: number): Promise<CurlRun> {
    rmSync(this.streamHeaders, { force: true });
    // Its own process group, so that stopping it stops curl too.
    const child = spawn('bash', ['-c', script], { cwd: this.cwd, env: { ...this.env, CURL_HOME: this.streamCurlHome }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stopped = false;
    const stop = (): void => {
      if (stopped || child.pid === undefined) return;
      stopped = true;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(stop, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('\n\n')) stop();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    return new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        const headers = existsSync(this.streamHeaders) ? readFileSync(this.streamHeaders, 'utf8') : '';
        const statusLines = [...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)];
        const type = [...headers.matchAll(/^content-type: *(.*?)\r?$/gim)];
        resolve({
          line, exitCode: stopped ? null : code, stdout, stderr,
          httpCode: Number(statusLines[statusLines.length - 1]?.[1] ?? 0), contentType: type[type.length - 1]?.[1] ?? '',
        });
      });
    });
  }
}
