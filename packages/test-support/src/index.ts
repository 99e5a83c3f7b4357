export { gaussian, mulberry32, SeededRandom } from './seeded-random.js';
export { waitFor } from './wait-for.js';
export { wavBytes } from './wav.js';
export { meanSquare, withRoomNoise } from './room-noise.js';
