// Types for audio-type (ships none): format sniffing from a file's first bytes.
declare module 'audio-type' {
  /** audio-decode format name ('wav', 'mp3', 'flac', 'oga', 'opus', ...) or undefined if unknown. */
  export default function audioType(buf: Uint8Array | ArrayBuffer): string | undefined;
  /** Byte offset just past a leading ID3v2 tag, or 0 if there is none. */
  export function skipId3(buf: Uint8Array): number;
}
