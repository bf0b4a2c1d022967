// The rule editor: CodeMirror 6 with YAML highlighting, line numbers, and the server's
// validation problems shown as diagnostics at their line and column (gutter marks, underline,
// hover text). The parent owns the text and the problems (it validates as the user types).
import { useEffect, useRef } from 'react';
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { HighlightStyle, syntaxHighlighting, indentOnInput } from '@codemirror/language';
import { tags } from '@lezer/highlight';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import type { RuleProblem } from '../api/rules';

// Colours come from the theme's variables (readable in light and dark).
const highlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], class: 'q-field' },
  { tag: [tags.string, tags.special(tags.string)], class: 'q-string' },
  { tag: [tags.number, tags.bool, tags.null], class: 'q-stage' },
  { tag: [tags.comment, tags.lineComment], class: 'y-comment' },
  { tag: [tags.keyword, tags.meta, tags.operator, tags.punctuation, tags.separator], class: 'y-punct' },
]);

export function YamlEditor({
  value,
  onChange,
  problems,
  label,
  readOnly = false,
}: {
  value: string;
  onChange: (v: string) => void;
  problems: RuleProblem[];
  label: string;
  readOnly?: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const change = useRef(onChange);
  change.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLine(),
          history(),
          indentOnInput(),
          yaml(),
          syntaxHighlighting(highlight),
          lintGutter(),
          keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap]),
          EditorState.readOnly.of(readOnly),
          // read-only stays focusable (keyboard users scroll it; axe scrollable-region-focusable)
          EditorView.contentAttributes.of({ 'aria-label': label, spellcheck: 'false', 'data-testid': 'rule-editor' }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) change.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    // a read-only editor's content is not focusable: its scroller is, so keyboard users can scroll it
    if (readOnly) v.scrollDOM.tabIndex = 0;
    return () => {
      v.destroy();
      view.current = null;
    };
    // the editor is created once per mount; text changes from outside are applied below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly, label]);

  // a new text from the parent (another rule opened)
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const doc = v.state.doc;
    const diags: Diagnostic[] = problems.map((p) => {
      let from = 0;
      let to = doc.length;
      if (p.line && p.line >= 1 && p.line <= doc.lines) {
        const line = doc.line(p.line);
        from = Math.min(line.to, line.from + Math.max(0, (p.column ?? 1) - 1));
        to = line.to > from ? line.to : Math.min(doc.length, from + 1);
      } else {
        to = Math.min(doc.length, doc.line(1).to);
      }
      return { from, to, severity: p.severity === 'error' ? 'error' : 'warning', message: p.message };
    });
    v.dispatch(setDiagnostics(v.state, diags));
  }, [problems, value]);

  return <div className="rule-editor" ref={host} />;
}
