// Small JSON files a member keeps beside its data (the clock memory, the decoded-track index):
// read back only as an object within a size bound. They are written with protocol/atomic-file.ts.

/** `text` parsed, if it is at most `maxChars` long and a JSON object; null otherwise. */
export function parseJsonObject(text: string, maxChars: number): Record<string, unknown> | null {
  if (text.length > maxChars) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : null;
}
