// Bundles each test/*.test.ts with rolldown (Vite's bundler, already a dependency) into
// node_modules/.test-build and runs them with node's test runner: `npm test`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { build } from 'rolldown';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '../node_modules/.test-build');
const files = readdirSync(here).filter((f) => f.endsWith('.test.ts'));
const built = [];
for (const f of files) {
  const file = join(out, f.replace(/\.ts$/, '.mjs'));
  await build({
    input: join(here, f),
    platform: 'node',
    external: [/^node:/],
    output: { file, format: 'esm' },
    logLevel: 'warn',
  });
  built.push(file);
}
const r = spawnSync(process.execPath, ['--test', ...built], { stdio: 'inherit' });
process.exit(r.status ?? 1);
