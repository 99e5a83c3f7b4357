// Preload (`node --import`) for the leader process of the capture test: registers the web UI on
// the leader's fastify app until leader.ts does so itself (then it does nothing). Other processes
// (members) that inherit NODE_OPTIONS are left alone.
import path from 'node:path';

if (path.basename(process.argv[1] ?? '') === 'jaudiosync-leader.js') {
  const { Leader } = await import('@jaudiosync/leader/dist/src/leader.js');
  const { registerUiRoutes } = await import('@jaudiosync/leader/dist/src/http/ui-routes.js');
  const start = Leader.prototype.start;
  Leader.prototype.start = function patchedStart(this: InstanceType<typeof Leader>) {
    if (!this.app.hasRoute({ method: 'GET', url: '/' })) registerUiRoutes(this.app);
    return start.call(this);
  };
}
