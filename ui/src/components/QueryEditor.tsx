// The query bar: CodeMirror 6 with the query language's colours, completion of fields, values
// and stages, and the server's syntax error marked at its column. Enter runs the query.
import { useEffect, useRef } from 'react';
import { EditorState, StateEffect, StateField, type Extension, RangeSetBuilder } from '@codemirror/state';
import {
  Decoration,
  type DecorationSet,
  EditorView,
  keymap,
  placeholder as placeholderExt,
  ViewPlugin,
  type ViewUpdate,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import {
  autocompletion,
  closeBrackets,
  completionKeymap,
  type CompletionContext,
  type CompletionResult,
} from '@codemirror/autocomplete';
import { STAGES } from '../lib/query';

export interface Suggestions {
  fields: string[];
  values: (field: string) => string[];
}

const KEYWORDS = /^(AND|OR|NOT|TO|IN|BY|AS)$/i;
const STAGE_NAMES = new Set(STAGES.map(([s]) => s).concat(['limit']));

/** Token classes for the highlighter: [from, to, class]. */
function tokens(text: string): [number, number, string][] {
  const out: [number, number, string][] = [];
  const re = /("(?:[^"\\]|\\.)*"?)|(`[^`]*`?)|(\|\|?)|(\/(?:[^/\\]|\\.)+\/)|([A-Za-z0-9_.@-]+)(?=\s*(?:==|!=|>=|<=|[:=<>]))|([A-Za-z_][A-Za-z0-9_]*)/g;
  let m: RegExpExecArray | null;
  let afterPipe = false;
  while ((m = re.exec(text))) {
    const [s] = m;
    const from = m.index;
    const to = from + s.length;
    if (m[1]) out.push([from, to, 'q-string']);
    else if (m[2]) out.push([from, to, 'q-field']);
    else if (m[3]) {
      if (s === '|') {
        out.push([from, to, 'q-pipe']);
        afterPipe = true;
        continue;
      }
      out.push([from, to, 'q-keyword']);
    } else if (m[4]) out.push([from, to, 'q-string']);
    else if (m[5]) out.push([from, to, 'q-field']);
    else if (m[6]) {
      if (afterPipe && STAGE_NAMES.has(s.toLowerCase())) out.push([from, to, 'q-stage']);
      else if (KEYWORDS.test(s)) out.push([from, to, 'q-keyword']);
    }
    afterPipe = false;
  }
  return out;
}

const highlighter = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = this.build(view);
    }
    update(u: ViewUpdate) {
      if (u.docChanged) this.decorations = this.build(u.view);
    }
    build(view: EditorView): DecorationSet {
      const b = new RangeSetBuilder<Decoration>();
      for (const [from, to, cls] of tokens(view.state.doc.toString())) {
        if (to > from) b.add(from, to, Decoration.mark({ class: cls }));
      }
      return b.finish();
    }
  },
  { decorations: (v) => v.decorations },
);

const setError = StateEffect.define<number | null>();
const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setError)) {
        if (e.value === null) deco = Decoration.none;
        else {
          const len = tr.state.doc.length;
          const from = Math.max(0, Math.min(e.value, len));
          let to = from;
          const text = tr.state.doc.toString();
          while (to < len && !/\s/.test(text[to])) to++;
          if (to === from) {
            deco = from > 0 ? Decoration.set([Decoration.mark({ class: 'q-error' }).range(from - 1, from)]) : Decoration.none;
          } else deco = Decoration.set([Decoration.mark({ class: 'q-error' }).range(from, to)]);
        }
      }
    }
    if (tr.docChanged) deco = Decoration.none;
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

function completer(sugg: { current: Suggestions }) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const before = ctx.state.doc.sliceString(0, ctx.pos);
    // a stage name right after a pipe
    const stage = /\|\s*([a-z]*)$/i.exec(before);
    if (stage) {
      return {
        from: ctx.pos - stage[1].length,
        options: STAGES.map(([label, detail]) => ({ label, detail, type: 'keyword', apply: label + ' ' })),
      };
    }
    // a value after field:
    const val = /([A-Za-z0-9_.@-]+)(?:==|!=|[:=])("?[^\s"]*)$/.exec(before);
    if (val) {
      const values = sugg.current.values(val[1]);
      if (values.length === 0) return null;
      return {
        from: ctx.pos - val[2].length,
        options: values.map((v) => ({
          label: /^[A-Za-z0-9][A-Za-z0-9_.@:/+-]*$/.test(v) ? v : JSON.stringify(v),
          type: 'constant',
        })),
      };
    }
    // a field name
    const word = ctx.matchBefore(/[A-Za-z0-9_.@-]+/);
    if (!word && !ctx.explicit) return null;
    const from = word ? word.from : ctx.pos;
    const inStage = before.includes('|');
    return {
      from,
      options: sugg.current.fields.map((f) => ({
        label: f,
        type: 'property',
        apply: inStage ? f : f + ':',
      })),
      validFor: /^[A-Za-z0-9_.@-]*$/,
    };
  };
}

export function QueryEditor({
  value,
  onChange,
  onRun,
  suggestions,
  errorColumn,
  label = 'Query',
  placeholder = 'Search: field:value, "phrase", NOT, OR … then | count by field',
}: {
  value: string;
  onChange: (v: string) => void;
  onRun: (v: string) => void;
  suggestions: Suggestions;
  /** 1-based column of the last syntax error, or null. */
  errorColumn: number | null;
  label?: string;
  placeholder?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const sugg = useRef(suggestions);
  sugg.current = suggestions;
  const cbs = useRef({ onChange, onRun });
  cbs.current = { onChange, onRun };

  useEffect(() => {
    if (!host.current) return;
    const run = (v: EditorView) => {
      cbs.current.onRun(v.state.doc.toString());
      return true;
    };
    const extensions: Extension[] = [
      history(),
      closeBrackets(),
      autocompletion({ override: [completer(sugg)], activateOnTyping: true, icons: false }),
      keymap.of([
        { key: 'Enter', run },
        { key: 'Mod-Enter', run },
        ...completionKeymap,
        ...historyKeymap,
        ...defaultKeymap,
      ]),
      EditorView.lineWrapping,
      placeholderExt(placeholder),
      highlighter,
      errorField,
      EditorView.contentAttributes.of({ 'aria-label': label, 'aria-multiline': 'false', spellcheck: 'false' }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) cbs.current.onChange(u.state.doc.toString());
      }),
    ];
    const v = new EditorView({
      state: EditorState.create({ doc: value, extensions }),
      parent: host.current,
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // the editor is created once; `value` changes are pushed below
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: setError.of(errorColumn === null ? null : errorColumn - 1) });
  }, [errorColumn]);

  return <div className="editor" data-search ref={host} />;
}
