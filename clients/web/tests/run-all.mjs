// Runs every browser test (tests/*.test.mjs) one after the other against the server named
// by SALON_URL, each as its own process, and prints one summary line. Exit code 1 if any
// failed. Usage: SALON_URL=... SALON_OUTBOX=... SALON_ARTIFACTS=... node tests/run-all.mjs [name...]
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => !only.length || only.includes(f.replace('.test.mjs', ''))).sort();
let passed = 0;
const failed = [];
for (const file of files) {
  const r = spawnSync(process.execPath, [path.join(dir, file)], {stdio: ['ignore', 'pipe', 'pipe'], env: process.env, encoding: 'utf8', timeout: 300000});
  const out = (r.stdout || '').split('\n').filter((l) => !/^\d+ passed, \d+ failed$/.test(l)).join('\n').trim();
  if (out) console.log(out);
  if (r.stderr && r.stderr.trim()) console.error(r.stderr.trim());
  if (r.status === 0) passed += 1; else failed.push(file);
}
if (failed.length) console.error(`failed: ${failed.join(', ')}`);
console.log(`${passed} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
