// Light and dark themes: CSS variables on <html data-theme>, the choice kept in localStorage
// (the system preference until the user picks one).
import { useEffect, useState } from 'react';

export type Theme = 'light' | 'dark';
const KEY = 'vigil.theme';

export function initialTheme(): Theme {
  try {
    const t = localStorage.getItem(KEY);
    if (t === 'light' || t === 'dark') return t;
  } catch {
    /* storage disabled */
  }
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

const listeners = new Set<(t: Theme) => void>();
let current: Theme = initialTheme();
document.documentElement.dataset.theme = current;
// whoever changes the attribute (this module, another tab's storage event, a test), charts follow
new MutationObserver(() => {
  const t = document.documentElement.dataset.theme;
  if ((t === 'light' || t === 'dark') && t !== current) {
    current = t;
    listeners.forEach((l) => l(t));
  }
}).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
window.addEventListener('storage', (e) => {
  if (e.key === KEY && (e.newValue === 'light' || e.newValue === 'dark')) setTheme(e.newValue);
});

export function setTheme(t: Theme): void {
  current = t;
  document.documentElement.dataset.theme = t;
  try {
    localStorage.setItem(KEY, t);
  } catch {
    /* storage disabled */
  }
  listeners.forEach((l) => l(t));
}

export function useTheme(): [Theme, (t: Theme) => void] {
  const [t, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => {
      listeners.delete(set);
    };
  }, []);
  return [t, setTheme];
}

/** A CSS variable's value, for charts that cannot read CSS. */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
