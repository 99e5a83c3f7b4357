// REST route of the acoustic calibration: POST /api/calibration starts a run and answers with its
// schedule (the recorder needs it to find each probe). Applying a proposal is the ordinary
// PUT /api/members/:id with outputDelayMs, so it is persisted like any hand-set delay.
import type { FastifyRequest } from 'fastify';
import { CalibrationBody, CalibrationReply } from '@jaudiosync/protocol/calibration-rest';
import type { CalibrationRunner } from '../calibration/calibration-runner.js';
import type { RouteDef } from './rest-routes.js';

export function calibrationRoutes(runner: CalibrationRunner): RouteDef[] {
  return [{
    method: 'POST',
    url: '/api/calibration',
    summary: 'Acoustic calibration: each member in turn plays probes at scheduled leader times (refused while music plays unless force); the reply is the schedule for the recorder',
    body: CalibrationBody,
    reply: CalibrationReply,
    handler: (request: FastifyRequest) => runner.start((request.body ?? {}) as CalibrationBody),
  }];
}
