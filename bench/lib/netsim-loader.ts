// Loads the netsim harness (test/netsim, compiled to test/dist/netsim) at run time. A static
// import cannot be used: bench/dist and test/dist sit one directory deeper than their sources,
// so a relative specifier that type-checks in bench/ would not resolve from bench/dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type NetsimModule = typeof import('../../test/netsim/netsim.js');
export type ChildLinesModule = typeof import('../../test/netsim/child-lines.js');

function findCompiled(file: string): string {
  // bench/dist/lib/x.js -> ../../../test/dist/netsim ; bench/lib/x.ts (tsx) -> ../../test/dist/netsim
  const candidates = [`../../../test/dist/netsim/${file}`, `../../test/dist/netsim/${file}`].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`test/dist/netsim/${file} not found: run npx tsc -b first`);
  return pathToFileURL(found).href;
}

export async function loadNetsim(): Promise<NetsimModule> {
  return (await import(findCompiled('netsim.js'))) as NetsimModule;
}

export async function loadChildLines(): Promise<ChildLinesModule> {
  return (await import(findCompiled('child-lines.js'))) as ChildLinesModule;
}
