// Unit tests of the query helpers (pivots must build queries the server parses as meant) and
// the time helpers. Run by `npm test` (compiled by tsc, run by node's test runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { display, fieldRef, flatten, literal, pivot, splitPipeline, term } from '../src/lib/query';
import { relMs, resolve, spanFor } from '../src/lib/time';
import { toCsv } from '../src/lib/download';

test('plain tokens stay bare, everything else is quoted with escapes', () => {
  assert.equal(literal('sshd'), 'sshd');
  assert.equal(literal('10.0.0.1'), '10.0.0.1');
  assert.equal(literal('fe80::1'), 'fe80::1');
  assert.equal(literal('10.0.0.0/8'), '10.0.0.0/8');
  assert.equal(literal(4625), '4625');
  assert.equal(literal(true), 'true');
  assert.equal(literal('John Doe'), '"John Doe"');
  assert.equal(literal('a"b'), '"a\\"b"');
  assert.equal(literal('C:\\Windows\\cmd.exe'), '"C:\\\\Windows\\\\cmd.exe"');
  // wildcards and operators are never let through unquoted
  assert.equal(literal('adm*'), '"adm*"');
  assert.equal(literal('a|b'), '"a|b"');
  assert.equal(literal('(x)'), '"(x)"');
  assert.equal(literal('-x'), '"-x"');
  // keywords as values
  assert.equal(literal('OR'), '"OR"');
  assert.equal(literal('not'), '"not"');
  assert.equal(literal(''), '""');
});

test('odd field names are backquoted', () => {
  assert.equal(fieldRef('source.ip'), 'source.ip');
  assert.equal(fieldRef('@timestamp'), '@timestamp');
  assert.equal(fieldRef('original.Event Data'), '`original.Event Data`');
  assert.equal(term('user.name', 'root'), 'user.name:root');
});

test('the pipeline starts at the first | outside quotes, backquotes and ||', () => {
  assert.deepEqual(splitPipeline('a b | count by x'), ['a b', '| count by x']);
  assert.deepEqual(splitPipeline('msg:"a | b" | head 5'), ['msg:"a | b"', '| head 5']);
  assert.deepEqual(splitPipeline('a || b'), ['a || b', '']);
  assert.deepEqual(splitPipeline('a\\|b'), ['a\\|b', '']);
  assert.deepEqual(splitPipeline('| stats count()'), ['', '| stats count()']);
});

test('pivots add to the search part and keep the pipeline', () => {
  assert.equal(pivot.include('', 'host.name', 'web1'), 'host.name:web1');
  assert.equal(pivot.include('*', 'host.name', 'web1'), 'host.name:web1');
  assert.equal(pivot.include('sshd', 'host.name', 'web1'), 'sshd host.name:web1');
  assert.equal(pivot.include('a OR b', 'host.name', 'web1'), '(a OR b) host.name:web1');
  assert.equal(pivot.exclude('sshd | count by user.name', 'user.name', 'root'), 'sshd NOT user.name:root | count by user.name');
  assert.equal(pivot.only('user.name', 'John Doe'), 'user.name:"John Doe"');
  assert.equal(pivot.groupBy('sshd | head 5', 'source.ip'), 'sshd | count by source.ip | sort -count');
  assert.equal(pivot.groupBy('', 'source.ip'), '* | count by source.ip | sort -count');
  assert.equal(pivot.everywhere('Failed password'), '"Failed password"');
});

test('nested ECS JSON flattens to dotted names; original keeps its own names', () => {
  const f = flatten({ '@timestamp': 't', source: { ip: '1.2.3.4', port: 22 }, original: { 'EventData.User': 'x' }, tags: ['a', 'b'] });
  assert.deepEqual(f, { '@timestamp': 't', 'source.ip': '1.2.3.4', 'source.port': 22, 'original.EventData.User': 'x', tags: ['a', 'b'] });
  assert.equal(display(['a', 'b']), 'a, b');
  assert.equal(display(null), '');
});

test('relative times and spans', () => {
  assert.equal(relMs('15m'), 900_000);
  assert.equal(relMs('2h'), 7_200_000);
  assert.equal(relMs('x'), null);
  const [from, to] = resolve({ from: '1h' }, 10_000_000);
  assert.equal(to - from, 3_600_000);
  assert.equal(spanFor(3_600_000), '1m');
  assert.equal(spanFor(86_400_000), '30m');
});

test('CSV cells are quoted and formula-looking cells neutralized', () => {
  assert.equal(toCsv(['a', 'b'], [['x,y', '=1+1']]), 'a,b\r\n"x,y","\'=1+1"\r\n');
  assert.equal(toCsv(['a'], [['say "hi"']]), 'a\r\n"say ""hi"""\r\n');
});
