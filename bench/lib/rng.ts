// Seeded pseudo-random numbers for benchmark parameters: the one generator lives in @jaudiosync/test-support.
export { SeededRandom } from '@jaudiosync/test-support';
