// WAV bytes for test fixtures: the one encoder lives in @jaudiosync/test-support.
export { wavBytes } from '@jaudiosync/test-support';
