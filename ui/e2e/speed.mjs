// Console speed figures for docs/benchmarks.md (issue 15), in a real browser (Debian's Chromium
// through playwright-core) against a real `vigil up` on loopback:
//
//  * queue: the alert queue with N alerts (default 10,000, written straight into the SQLite
//    metadata store of a fresh data directory, as the alert pipeline would have stored them):
//    time to the first rows, alerts read and rows in the DOM at first paint, then after
//    scrolling to the end of what is loaded K times (each scroll reads one more page of 200).
//  * search: the Events page over an existing data directory (`--data-dir D`, e.g. a store
//    built by bench/e2e.py --keep): time from navigation to the first page of results and to
//    the histogram, for a query over the store's whole time range.
//
//   VIGIL_BIN=target/release/vigil node ui/e2e/speed.mjs queue [--alerts 10000] [--scrolls 10]
//   VIGIL_BIN=target/release/vigil node ui/e2e/speed.mjs search --data-dir D --from 2026-11-20 [--q '*'] [--runs 3]
//
// Prints `RESULT ...` lines; the figures are not pass/fail checks (the machines are shared).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.VIGIL_BIN ?? [join(repo, 'target/release/vigil'), join(repo, 'target/debug/vigil')].find((p) => existsSync(p));
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const mode = process.argv[2];
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
if (!bin || !['queue', 'search'].includes(mode)) {
  console.error('usage: node e2e/speed.mjs queue|search [options] (VIGIL_BIN=path/to/vigil)');
  process.exit(2);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function until(what, fn, timeoutMs = 120000, everyMs = 20) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'vigil-speed-'));
const data = arg('data-dir', join(tmp, 'data'));
const httpPort = await freePort();
const base = `http://127.0.0.1:${httpPort}`;
const vigil = spawn(bin, ['up', '--data-dir', data, '--http-addr', `127.0.0.1:${httpPort}`, '--syslog-addr', `127.0.0.1:${await freePort()}`], {
  stdio: ['ignore', 'ignore', openSync(join(tmp, 'vigil.log'), 'w')],
});
let browser;
async function stop(code) {
  await browser?.close().catch(() => {});
  vigil.kill('SIGTERM');
  await new Promise((r) => {
    vigil.once('exit', r);
    setTimeout(r, 30000);
  });
  if (!arg('data-dir')) rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}

try {
  await until('vigil', async () => (await fetch(`${base}/health`)).ok, 120000, 200);
  const token = readFileSync(join(data, 'api-token'), 'utf8').trim();
  browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await ctx.addInitScript((t) => sessionStorage.setItem('vigil.token', t), token);
  const page = await ctx.newPage();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`RESULT load average at start: ${load}`);

  if (mode === 'queue') {
    const n = Number(arg('alerts', '10000'));
    const scrolls = Number(arg('scrolls', '10'));
    // N alerts of 20 rules, as the pipeline stores them, in one transaction
    const now = Date.now();
    const rows = [];
    for (let i = 0; i < n; i++) {
      const id = `bench${String(i).padStart(8, '0')}`;
      const t = now - i * 7000;
      const rule = i % 20;
      rows.push(
        `('${id}','main','bench-rule-${rule}','Benchmark rule ${rule}',1,${i % 4},${20 + (i % 80)},'new','[]','[]','g${i}',0,${t - 60000},${t},${1 + (i % 50)},0,0,${t},${t})`,
      );
      rows.push(`ENTITY('${id}','host','host-${i % 500}'),('${id}','ip','10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}')`);
    }
    const alerts = rows.filter((r) => !r.startsWith('ENTITY'));
    const ents = rows.filter((r) => r.startsWith('ENTITY')).map((r) => r.slice('ENTITY'.length));
    const sql = [
      'PRAGMA busy_timeout = 30000;',
      'BEGIN;',
      ...chunk(alerts, 500).map(
        (c) =>
          'INSERT INTO alerts (id, tenant_id, rule_id, rule_name, rule_version, severity, risk_score, status, tactics, techniques, group_key, filling, first_seen, last_seen, count, event_ids_kept, event_ids_dropped, created_at, updated_at) VALUES ' +
          c.join(',') +
          ';',
      ),
      ...chunk(ents, 500).map((c) => 'INSERT INTO alert_entities (alert_id, kind, value) VALUES ' + c.join(',') + ';'),
      'COMMIT;',
    ].join('\n');
    const sqlFile = join(tmp, 'alerts.sql');
    writeFileSync(sqlFile, sql);
    execFileSync('sqlite3', [join(data, 'meta.db'), `.read ${sqlFile}`]);
    const total = await (await fetch(`${base}/api/v1/alerts?limit=1&status=new`, { headers: { Authorization: `Bearer ${token}` } })).json();
    console.log(`RESULT alerts stored: ${n} (the API lists them: ${total.items.length === 1 ? 'yes' : 'no'})`);

    const requests = [];
    page.on('request', (r) => r.url().includes('/api/v1/alerts?') && requests.push(r.url()));
    const t0 = Date.now();
    await page.goto(`${base}/alerts?view=flat`);
    const q = page.getByTestId('alert-queue');
    await until('first rows', async () => (await q.locator('tbody tr a').count()) > 0);
    const first = Date.now() - t0;
    const dom = async () => q.locator('tbody tr[data-index]').count();
    const loaded = async () => Number(await q.getAttribute('data-rows'));
    console.log(`RESULT queue first rows: ${first} ms; ${await loaded()} alerts read in ${requests.length} request(s); ${await dom()} rows in the DOM`);
    const times = [];
    for (let i = 0; i < scrolls; i++) {
      const before = await loaded();
      const s = Date.now();
      await q.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await until('the next page', async () => (await loaded()) > before, 30000);
      await until('rows drawn', async () => (await dom()) > 0, 30000);
      times.push(Date.now() - s);
    }
    times.sort((a, b) => a - b);
    console.log(
      `RESULT queue after ${scrolls} scrolls to the end: ${await loaded()} of ${n} alerts read in ${requests.length} request(s); ` +
        `${await dom()} rows in the DOM; next page after a scroll: median ${times[times.length >> 1]} ms, max ${times[times.length - 1]} ms`,
    );
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
    console.log(`RESULT queue JS heap after scrolling: ${(heap / 1048576).toFixed(1)} MiB`);
  } else {
    const q = arg('q', '*');
    const from = arg('from', '30d');
    const to = arg('to', '');
    const runs = Number(arg('runs', '3'));
    const c = await (
      await fetch(`${base}/api/v1/search`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ q: `${q} | count`, from, to: to || undefined }),
      })
    ).json();
    console.log(`RESULT store: ${JSON.stringify(c.rows?.[0]?.[0] ?? c)} events match \`${q}\` from ${from}${to ? ` to ${to}` : ''} (count took ${c.took_ms} ms)`);
    for (let i = 0; i < runs; i++) {
      const p = await ctx.newPage();
      const t0 = Date.now();
      const params = new URLSearchParams({ q, from, ...(to ? { to } : {}) });
      await p.goto(`${base}/events?${params}`);
      await until('first page', async () => (await p.getByTestId('results').locator('[role="row"]').count()) > 1);
      const firstPage = Date.now() - t0;
      await until('histogram', async () => (await p.locator('canvas').count()) > 0);
      const hist = Date.now() - t0;
      const api = await p.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((x) => x.name.includes('/api/v1/search'))
          .map((x) => Math.round(x.duration)),
      );
      console.log(`RESULT search run ${i + 1}: first page ${firstPage} ms, histogram ${hist} ms (search requests: ${api.join(', ')} ms)`);
      await p.close();
    }
  }
  await stop(0);
} catch (e) {
  console.error(e);
  await stop(1);
}

function chunk(xs, n) {
  const out = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
