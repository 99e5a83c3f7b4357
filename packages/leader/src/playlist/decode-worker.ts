// Worker thread: decodes one audio file (audio-decode) and reports its exact frame count, sample
// rate and channels. Runs off the main thread so decoding never delays pings or REST replies.
import { parentPort } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';

interface Request { id: number; path: string }

parentPort?.on('message', (req: Request) => {
  void analyze(req).then((reply) => parentPort?.postMessage(reply));
});

async function analyze(req: Request): Promise<object> {
  try {
    const { default: decode } = (await import('audio-decode')) as unknown as { default: (buf: Uint8Array) => Promise<{ channelData: Float32Array[]; sampleRate: number }> };
    const bytes = await readFile(req.path);
    const audio = await decode(bytes);
    const frames = audio.channelData[0]?.length ?? 0;
    return { id: req.id, ok: true, sourceRate: audio.sampleRate, sourceFrames: frames, channels: audio.channelData.length };
  } catch (err) {
    return { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
