import { display, flatten } from './query';
import type { EventDoc, Json } from '../api/types';

export function download(name: string, type: string, body: string | Blob): void {
  const url = URL.createObjectURL(body instanceof Blob ? body : new Blob([body], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) || /^[=+\-@\t]/.test(s) ? '"' + (/^[=+\-@\t]/.test(s) ? "'" : '') + s.replace(/"/g, '""') + '"' : s;
}

export function toCsv(columns: string[], rows: Json[][]): string {
  return [columns.map(csvCell).join(','), ...rows.map((r) => r.map((v) => csvCell(display(v))).join(','))].join('\r\n') + '\r\n';
}

export function eventsToCsv(events: EventDoc[], columns: string[]): string {
  const flat = events.map((e) => flatten(e));
  return toCsv(columns, flat.map((f) => columns.map((c) => f[c] ?? null)));
}
