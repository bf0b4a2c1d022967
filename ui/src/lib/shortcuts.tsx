// Keyboard shortcuts: `/` focuses the page's search box, `?` lists the shortcuts, `g` then a
// letter goes to a page, Esc closes drawers and dialogs.
import { useEffect } from 'react';

export const SHORTCUTS: [string, string][] = [
  ['/', 'Focus the search or query box'],
  ['?', 'Show this list'],
  ['g d', 'Go to the dashboard'],
  ['g e', 'Go to events'],
  ['g a', 'Go to alerts'],
  ['g i', 'Go to incidents'],
  ['g s', 'Go to sources'],
  ['g r', 'Go to rules'],
  ['t', 'Switch light / dark theme'],
  ['Ctrl+Enter', 'Run the query (in the query box: Enter)'],
  ['Esc', 'Close the drawer or dialog'],
];

function typing(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) || !!el.closest?.('.cm-editor');
}

export function useGlobalShortcuts(h: {
  focusSearch: () => void;
  help: () => void;
  go: (path: string) => void;
  toggleTheme: () => void;
}): void {
  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (typing(e.target)) return;
      if (pendingG && Date.now() - pendingG < 1200) {
        pendingG = 0;
        const to = ({ d: '/', e: '/events', a: '/alerts', i: '/incidents', s: '/sources', r: '/rules' } as Record<string, string>)[e.key];
        if (to) {
          e.preventDefault();
          h.go(to);
        }
        return;
      }
      if (e.key === '/') {
        e.preventDefault();
        h.focusSearch();
      } else if (e.key === '?') {
        e.preventDefault();
        h.help();
      } else if (e.key === 'g') {
        pendingG = Date.now();
      } else if (e.key === 't') {
        h.toggleTheme();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [h]);
}

/** Focuses the element a page marked as its search box. */
export function focusSearch(): void {
  const el = document.querySelector<HTMLElement>('[data-search] .cm-content, [data-search] input, input[data-search]');
  el?.focus();
}
