// Test-only TrackDecoder worker: behaves like the real one, but dies on demand ('crash:exit' exits
// the thread, 'crash:throw' throws an uncaught exception) so crash recovery can be tested.
import { parentPort } from 'node:worker_threads';
import { handleJob, type JobReply } from '../src/decode-job.js';

const port = parentPort;
if (port !== null) {
  const post = (reply: JobReply): void => port.postMessage(reply);
  port.on('message', (m: { input?: unknown }) => {
    if (m.input === 'crash:exit') process.exit(7);
    if (m.input === 'crash:throw') {
      setImmediate(() => {
        throw new Error('boom');
      });
      return;
    }
    void handleJob(m, post);
  });
}
