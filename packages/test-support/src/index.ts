export { gaussian, mulberry32, SeededRandom } from './seeded-random.js';
export { waitFor } from './wait-for.js';
export { wavBytes } from './wav.js';
export { TINY_PNG, withId3, type Id3Fields } from './id3.js';
export { meanSquare, withRoomNoise } from './room-noise.js';
