//! The JSON writer as it was before the fast one (serde_json escaping, `fmt` numbers and
//! chrono times, a `bool` per registered field): kept for tests only, so that the fast writer
//! is checked byte for byte against it.

use crate::{Event, Value, ValueRef, schema};

/// One value to write: a field's values (registered, extra or original) or the raw record.
enum Out<'a> {
    Field(&'a Event, &'static schema::FieldDef),
    Owned(&'a Value),
    Raw(std::borrow::Cow<'a, str>),
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly as JSON requires; writing into a Vec cannot fail
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_ref(out: &mut Vec<u8>, v: ValueRef<'_>) {
    use std::io::Write as _;
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Str(s) => write_str(out, s),
        ValueRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Float(x) => {
            if x.is_finite() {
                let _ = serde_json::to_writer(&mut *out, &x);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        ValueRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        ValueRef::Ip(ip) => {
            let _ = write!(out, "\"{ip}\"");
        }
        ValueRef::Time(t) => write_str(out, &crate::Timestamp(t).to_rfc3339()),
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::List(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, it);
            }
            out.push(b']');
        }
        other => other.visit(&mut |r| write_ref(out, r)),
    }
}

fn write_out(out: &mut Vec<u8>, v: &Out<'_>) {
    match v {
        Out::Field(ev, def) => {
            let mut n = 0usize;
            def.visit(ev, &mut |_| n += 1);
            let list = matches!(def.kind(), crate::FieldKind::StrList);
            if n == 1 && !list {
                def.visit(ev, &mut |r| write_ref(out, r));
            } else {
                out.push(b'[');
                let mut i = 0;
                def.visit(ev, &mut |r| {
                    if i > 0 {
                        out.push(b',');
                    }
                    i += 1;
                    write_ref(out, r);
                });
                out.push(b']');
            }
        }
        Out::Owned(v) => write_value(out, v),
        Out::Raw(s) => write_str(out, s),
    }
}

/// One entry of the document being written: its dotted path, where the current level starts
/// in it, where the current level's segment ends, and its value.
struct Entry<'a> {
    path: &'a str,
    off: usize,
    head_end: usize,
    out: Out<'a>,
}

impl Entry<'_> {
    fn head(&self) -> &str {
        &self.path[self.off..self.head_end]
    }
    fn is_leaf(&self) -> bool {
        self.head_end == self.path.len()
    }
}

fn write_key(out: &mut Vec<u8>, k: &str) {
    if k.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.push(b'"');
    } else {
        write_str(out, k);
    }
}

/// Writes `entries` as one JSON object, nesting by the path segment at each entry's `off`. A
/// segment that is both a value and a prefix keeps the value under the segment and the deeper
/// entries flat (`"user": "x", "user.name": "y"`). Works in place: no allocation per level.
fn write_object(out: &mut Vec<u8>, entries: &mut [Entry<'_>]) {
    out.push(b'{');
    let mut first = true;
    write_members(out, entries, &mut first);
    out.push(b'}');
}

/// The members of [`write_object`], after `first` members already written.
fn write_members(out: &mut Vec<u8>, entries: &mut [Entry<'_>], first: &mut bool) {
    for e in entries.iter_mut() {
        let rest = &e.path.as_bytes()[e.off..];
        e.head_end = e.off + memchr::memchr(b'.', rest).unwrap_or(rest.len());
    }
    entries.sort_unstable_by(|a, b| a.head().cmp(b.head()).then_with(|| a.path.cmp(b.path)));
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].head() == entries[i].head() {
            j += 1;
        }
        let group = &mut entries[i..j];
        if !*first {
            out.push(b',');
        }
        *first = false;
        if group.iter().any(Entry::is_leaf) {
            for (n, e) in group.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_key(out, &e.path[e.off..]);
                out.push(b':');
                write_out(out, &e.out);
            }
        } else {
            write_key(out, group[0].head());
            out.push(b':');
            for e in group.iter_mut() {
                e.off = e.head_end + 1;
            }
            write_object(out, group);
        }
        i = j;
    }
}

/// The registered fields (and the raw record as `event.original`) as a tree of JSON objects,
/// built once: writing an event walks it instead of sorting its fields.
enum PlanNode {
    /// A field of [`schema::fields`], or the raw record (`usize::MAX`).
    Leaf(&'static str, usize),
    Group(&'static str, Vec<PlanNode>),
}

const RAW_LEAF: usize = usize::MAX;

static PLAN: std::sync::LazyLock<Option<Vec<PlanNode>>> = std::sync::LazyLock::new(|| {
    fn insert(nodes: &mut Vec<PlanNode>, path: &'static str, idx: usize) -> bool {
        match path.split_once('.') {
            None => {
                if nodes.iter().any(
                    |n| matches!(n, PlanNode::Leaf(k, _) | PlanNode::Group(k, _) if *k == path),
                ) {
                    return false;
                }
                nodes.push(PlanNode::Leaf(path, idx));
                true
            }
            Some((head, rest)) => {
                for n in nodes.iter_mut() {
                    match n {
                        PlanNode::Group(k, children) if *k == head => {
                            return insert(children, rest, idx);
                        }
                        PlanNode::Leaf(k, _) if *k == head => return false,
                        _ => {}
                    }
                }
                let mut children = Vec::new();
                let ok = insert(&mut children, rest, idx);
                nodes.push(PlanNode::Group(head, children));
                ok
            }
        }
    }
    let mut root = Vec::new();
    for (i, def) in schema::fields().iter().enumerate() {
        if !insert(&mut root, def.name, i) {
            // a name that is both a value and a prefix: leave it to the general writer
            return None;
        }
    }
    insert(&mut root, "event.original", RAW_LEAF).then_some(root)
});

/// Writes the set members of `nodes`; returns whether any was written.
fn write_plan(out: &mut Vec<u8>, nodes: &[PlanNode], ev: &Event, set: &[bool], first: &mut bool) {
    for n in nodes {
        match n {
            PlanNode::Leaf(key, idx) => {
                let value = if *idx == RAW_LEAF {
                    if ev.raw.is_empty() {
                        continue;
                    }
                    Out::Raw(ev.raw_str())
                } else if set[*idx] {
                    Out::Field(ev, &schema::fields()[*idx])
                } else {
                    continue;
                };
                if !*first {
                    out.push(b',');
                }
                *first = false;
                write_key(out, key);
                out.push(b':');
                write_out(out, &value);
            }
            PlanNode::Group(key, children) => {
                let mark = out.len();
                if !*first {
                    out.push(b',');
                }
                write_key(out, key);
                out.extend_from_slice(b":{");
                let mut inner_first = true;
                write_plan(out, children, ev, set, &mut inner_first);
                if inner_first {
                    // nothing set below: take the key back
                    out.truncate(mark);
                } else {
                    out.push(b'}');
                    *first = false;
                }
            }
        }
    }
}

impl Event {
    /// The document of the writer before the fast one.
    pub(crate) fn write_json_reference(&self, out: &mut Vec<u8>) {
        let fields = schema::fields();
        let set: Vec<bool> = fields.iter().map(|d| d.is_set(self)).collect();
        if let Some(plan) = PLAN.as_ref() {
            // the extra fields may join the registered groups (`user.x`) or stand alone; the
            // plan is used when they all stand alone, which is the common case
            let stand_alone = self.extra.iter().all(|(k, _)| {
                let h = k.split_once('.').map(|(h, _)| h).unwrap_or(k);
                h != "original"
                    && !plan.iter().any(
                        |n| matches!(n, PlanNode::Leaf(p, _) | PlanNode::Group(p, _) if *p == h),
                    )
            });
            if stand_alone {
                out.push(b'{');
                let mut first = true;
                write_plan(out, plan, self, &set, &mut first);
                let mut extras: Vec<Entry<'_>> = self
                    .extra
                    .iter()
                    .map(|(k, v)| Entry {
                        path: k,
                        off: 0,
                        head_end: 0,
                        out: Out::Owned(v),
                    })
                    .collect();
                write_members(out, &mut extras, &mut first);
                self.write_original_reference(out, &mut first);
                out.push(b'}');
                return;
            }
        }
        let entry = |path, out| Entry {
            path,
            off: 0,
            head_end: 0,
            out,
        };
        let mut entries: Vec<Entry<'_>> = Vec::with_capacity(32);
        for (def, _) in fields.iter().zip(&set).filter(|(_, s)| **s) {
            entries.push(entry(def.name, Out::Field(self, def)));
        }
        for (k, v) in self.extra.iter() {
            entries.push(entry(k, Out::Owned(v)));
        }
        if !self.raw.is_empty() {
            entries.push(entry("event.original", Out::Raw(self.raw_str())));
        }
        out.push(b'{');
        let mut first = true;
        write_members(out, &mut entries, &mut first);
        self.write_original_reference(out, &mut first);
        out.push(b'}');
    }

    /// `"original": {...}`: the source's own names, which may contain dots, kept flat.
    fn write_original_reference(&self, out: &mut Vec<u8>, first: &mut bool) {
        if self.original.is_empty() {
            return;
        }
        if !*first {
            out.push(b',');
        }
        *first = false;
        out.extend_from_slice(b"\"original\":{");
        for (i, (k, v)) in self.original.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_key(out, k);
            out.push(b':');
            write_value(out, v);
        }
        out.push(b'}');
    }
}
