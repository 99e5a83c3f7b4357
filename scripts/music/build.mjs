// Regenerates Music/: synthesizes every track (synth.mjs), encodes it with the Debian command-line
// encoders, and writes Playlist.m3u8 and LICENSE.md. Deterministic: fixed seeds, fixed Ogg serials.
// Usage: node scripts/music/build.mjs <musicDir>   (normally via scripts/make-music)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render, wavBytes } from './synth.mjs';
import { ALBUM, ARTIST, TRACKS } from './tracks.mjs';

const YEAR = '2025';
const OGG_SERIAL_BASE = 4242; // fixed stream serials: oggenc/opusenc pick random ones otherwise

function encode(track, n, wav, out) {
  const q = { stdio: ['ignore', 'ignore', 'inherit'] };
  switch (track.codec) {
    case 'wav':
      copyFileSync(wav, out);
      return;
    case 'mp3':
      execFileSync('lame', ['--quiet', '-b', '128', '-q', '2', '--noreplaygain', '--id3v2-only',
        '--tt', track.title, '--ta', ARTIST, '--tl', ALBUM, '--ty', YEAR, '--tn', String(n), wav, out], q);
      return;
    case 'flac':
      execFileSync('flac', ['--silent', '--force', '-8', `--tag=TITLE=${track.title}`, `--tag=ARTIST=${ARTIST}`,
        `--tag=ALBUM=${ALBUM}`, `--tag=TRACKNUMBER=${n}`, `--tag=DATE=${YEAR}`, '-o', out, wav], q);
      return;
    case 'vorbis':
      execFileSync('oggenc', ['--quiet', '-q', '3', '--serial', String(OGG_SERIAL_BASE + n), '-t', track.title,
        '-a', ARTIST, '-l', ALBUM, '-N', String(n), '-d', YEAR, '-o', out, wav], q);
      return;
    case 'opus':
      execFileSync('opusenc', ['--quiet', '--bitrate', '64', '--serial', String(OGG_SERIAL_BASE + n),
        '--title', track.title, '--artist', ARTIST, '--album', ALBUM, '--tracknumber', String(n),
        '--date', YEAR, wav, out], q);
      return;
    default:
      throw new Error(`unknown codec ${track.codec}`);
  }
}

const LICENSE = `# License of the example playlist

All audio files in this directory (${TRACKS.map((t) => `\`${t.slug}.${t.ext}\``).join(', ')})
and \`Playlist.m3u8\` are original works of the JAudioSync project, synthesized from scratch by
\`scripts/make-music\` (generator source: \`scripts/music/synth.mjs\`, track list:
\`scripts/music/tracks.mjs\`; Karplus-Strong plucks, synthesized drums, bass and pads; no samples or
recordings of anyone else are used).

They are dedicated to the public domain under **CC0 1.0 Universal**
(https://creativecommons.org/publicdomain/zero/1.0/): you may copy, modify, distribute and perform
them, even for commercial purposes, without asking permission.

Regenerate them with \`scripts/make-music\` (deterministic: same generator, same encoders -> same files).
`;

const musicDir = process.argv[2];
if (!musicDir) {
  console.error('usage: node build.mjs <musicDir>');
  process.exit(2);
}
const work = mkdtempSync(join(tmpdir(), 'jas-music-'));
try {
  for (const f of readdirSync(musicDir)) {
    if (/\.(wav|mp3|flac|ogg|opus|m3u8)$/.test(f)) unlinkSync(join(musicDir, f));
  }
  const m3u = ['#EXTM3U', `#PLAYLIST:${ALBUM}`];
  for (const [i, track] of TRACKS.entries()) {
    const n = i + 1;
    const wav = join(work, `${track.slug}.wav`);
    // RIFF INFO tags only where the WAV is the product: the encoders warn about the chunk and tag on their own.
    const tags = track.codec === 'wav' ? { INAM: track.title, IART: ARTIST, IPRD: ALBUM, ICRD: YEAR } : {};
    writeFileSync(wav, wavBytes(render(track), tags));
    const file = `${track.slug}.${track.ext}`;
    encode(track, n, wav, join(musicDir, file));
    m3u.push(`#EXTINF:${track.seconds},${ARTIST} - ${track.title}`, file);
    console.log(`make-music: ${file} (${track.codec}, ${track.rate} Hz, ${track.seconds} s, ${statSync(join(musicDir, file)).size} bytes)`);
  }
  writeFileSync(join(musicDir, 'Playlist.m3u8'), m3u.join('\n') + '\n');
  writeFileSync(join(musicDir, 'LICENSE.md'), LICENSE);
} finally {
  rmSync(work, { recursive: true, force: true });
}
