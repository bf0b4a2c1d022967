// Writes a gzip twin (`file.gz`) next to every text asset of dist/, so the vigil binary can
// embed and serve compressed files without compressing at run time. Node's zlib only.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const root = new URL('../dist/', import.meta.url).pathname;
const text = /\.(html|js|mjs|css|svg|json|txt|map)$/;
let raw = 0;
let packed = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (text.test(name)) {
      const body = readFileSync(p);
      const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION });
      raw += body.length;
      if (gz.length < body.length) {
        writeFileSync(p + '.gz', gz);
        packed += gz.length;
      } else packed += body.length;
    }
  }
}
walk(root);
console.log(`compressed dist/: ${(raw / 1024).toFixed(1)} KiB -> ${(packed / 1024).toFixed(1)} KiB gzip`);
