// The API's TypeScript types, generated: openapi-typescript turns ui/openapi.json (the
// document the server serves at /api/v1/openapi.json, written by vigil-api's test
// `openapi_file::the_committed_document_is_current`, VIGIL_BLESS=1 to rewrite) into
// src/api/schema.d.ts.
//
//   npm run gen:api            regenerate src/api/schema.d.ts
//   node scripts/gen-api.mjs --check   fail when the committed file is not what the document
//                                      generates (run by `npm test`)
//
// openapi-typescript needs the TypeScript 5 compiler API and the console builds with
// TypeScript 7, so the generator lives in apigen/ with its own lock file, installed here on
// first use (`npm ci`, npm packages only).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const ui = join(dirname(fileURLToPath(import.meta.url)), '..');
const gen = join(ui, 'apigen');
const doc = join(ui, 'openapi.json');
const target = join(ui, 'src/api/schema.d.ts');
const check = process.argv.includes('--check');

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`gen-api: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const cli = join(gen, 'node_modules/openapi-typescript/bin/cli.js');
if (!existsSync(cli)) run('npm', ['ci', '--no-audit', '--no-fund'], gen);

const out = check ? join(mkdtempSync(join(tmpdir(), 'vigil-apigen-')), 'schema.d.ts') : target;
run(process.execPath, [cli, doc, '--output', out, '--alphabetize'], ui);
if (check) {
  const want = readFileSync(out, 'utf8');
  const have = existsSync(target) ? readFileSync(target, 'utf8') : '';
  rmSync(dirname(out), { recursive: true, force: true });
  if (want !== have) {
    console.error(
      'gen-api: src/api/schema.d.ts is not what openapi.json generates: run `npm run gen:api` and commit it',
    );
    process.exit(1);
  }
  console.log('gen-api: src/api/schema.d.ts is current');
}
