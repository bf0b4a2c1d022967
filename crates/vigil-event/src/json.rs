//! JSON output of an event: nested ECS objects holding only the fields that are set.
//!
//! [`Event::to_json`] builds a `serde_json::Value` (for the API and tests);
//! [`Event::write_json`] writes the same document straight into a byte buffer, and is the hot
//! path of the file destination. Its cost is per *set* field, not per registered field: the
//! `schema!` table generates a typed writer per field (`JsonSlot`) and one straight-line test
//! of which fields are set (`FieldSet::of`); a `Plan`, built once, gives each field its
//! position in the document, its key as ready bytes and the objects it sits in. Strings are
//! scanned eight bytes at a time for the bytes JSON escapes, and escaped exactly as serde_json
//! escapes them; numbers, IPv4 addresses and times have their own formatters. The bytes are
//! those of the plain writer this replaced, which the tests keep as a reference.

use std::net::IpAddr;

use serde_json::{Map, Value as Json};
use smol_str::SmolStr;

use crate::schema::{self, FieldSet};
use crate::{Event, Timestamp, Value, ValueRef};

#[cfg(test)]
#[path = "json_reference.rs"]
mod reference;

fn insert_path(root: &mut Map<String, Json>, path: &str, v: Json) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_owned(), v);
        }
        Some((head, rest)) => {
            if !matches!(root.get(head), None | Some(Json::Object(_))) {
                // a scalar already sits where an object is needed: keep this one flat
                root.insert(path.to_owned(), v);
                return;
            }
            let entry = root
                .entry(head.to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(m) = entry {
                insert_path(m, rest, v);
            }
        }
    }
}

/// A field's JSON value, written straight from its typed slot (see the `schema!` macro).
/// Called only for a set slot: an unset one writes nothing.
pub(crate) trait JsonSlot {
    /// Appends the value.
    fn write_json(&self, out: &mut Vec<u8>);
}

impl JsonSlot for Option<SmolStr> {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(s) = self {
            write_str(out, s);
        }
    }
}

impl JsonSlot for SmolStr {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

/// A string list is an array even with one item.
impl JsonSlot for Vec<SmolStr> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, s);
        }
        out.push(b']');
    }
}

macro_rules! json_int_slot {
    ($($t:ty),*) => {$(
        impl JsonSlot for Option<$t> {
            fn write_json(&self, out: &mut Vec<u8>) {
                if let Some(i) = self {
                    write_int(out, i64::from(*i));
                }
            }
        }
    )*};
}
json_int_slot!(i64, u32, u16, u8);

impl JsonSlot for Option<f64> {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(x) = self {
            write_float(out, *x);
        }
    }
}

impl JsonSlot for Option<bool> {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(b) = self {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
        }
    }
}

impl JsonSlot for Option<IpAddr> {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(ip) = self {
            write_ip(out, *ip);
        }
    }
}

impl JsonSlot for Option<Timestamp> {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(t) = self {
            write_time(out, t.0);
        }
    }
}

impl JsonSlot for Timestamp {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_time(out, self.0);
    }
}

/// What follows a backslash for each byte JSON requires escaped (`u`: `\u00XX`), 0 for the
/// bytes written as they are. The same escapes as serde_json: the two-letter forms for
/// `\b \t \n \f \r " \`, `\u00XX` (lowercase hex) for the other control characters, DEL and
/// everything above ASCII as they are.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` needs escaping: below 0x20, `"` or `\` (exact as a whole; the
/// caller finds which byte with [`ESCAPE`]).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    let zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
    let control = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
    (control | zero(w ^ (LOW * u64::from(b'"'))) | zero(w ^ (LOW * u64::from(b'\\')))) != 0
}

/// The index of the first byte of `b` at or after `from` that needs escaping, else `b.len()`.
/// Eight bytes at a time: most text has nothing to escape.
#[inline]
fn next_escape(b: &[u8], from: usize) -> usize {
    let Some(rest) = b.get(from..) else {
        return b.len();
    };
    let mut at = from;
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if word_needs_escape(w) {
            break;
        }
        at += 8;
    }
    match b[at..].iter().position(|&c| ESCAPE[usize::from(c)] != 0) {
        Some(i) => at + i,
        None => b.len(),
    }
}

/// Appends `s` as a JSON string (byte for byte what serde_json writes).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_escaped(out, s.as_bytes());
}

/// Strings up to this long are written through a fixed-size buffer (no `memcpy` call).
const SHORT: usize = 30;

/// [`write_str`] on the bytes of a `str` (or of ASCII text).
#[inline]
fn write_escaped(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= SHORT {
        // most values are short (names, codes, levels): copy and check in one pass, then
        // append the quoted text with one fixed-size copy
        let mut buf = [b'"'; SHORT + 2];
        let mut escape = 0u8;
        for (d, &c) in buf[1..].iter_mut().zip(b) {
            *d = c;
            escape |= ESCAPE[usize::from(c)];
        }
        if escape == 0 {
            buf[b.len() + 1] = b'"';
            out.extend_from_slice(&buf);
            out.truncate(out.len() - (SHORT - b.len()));
            return;
        }
    }
    write_escaped_long(out, b);
}

fn write_escaped_long(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = next_escape(b, start);
        let Some(&c) = b.get(i) else { break };
        out.extend_from_slice(&b[start..i]);
        match ESCAPE[usize::from(c)] {
            b'u' => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
            e => out.extend_from_slice(&[b'\\', e]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Appends text that may not be UTF-8 as a JSON string, invalid sequences replaced by U+FFFD
/// (what `String::from_utf8_lossy` makes of them).
fn write_bytes_lossy(out: &mut Vec<u8>, b: &[u8]) {
    if b.is_ascii() {
        // ASCII is UTF-8, and checking it is cheaper than decoding
        return write_escaped(out, b);
    }
    match std::str::from_utf8(b) {
        Ok(s) => write_str(out, s),
        Err(_) => write_str(out, &String::from_utf8_lossy(b)),
    }
}

/// Two decimal digits for each value below 100.
static DIGITS2: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Appends `n` in decimal (what `Display` writes).
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    while n >= 100 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGITS2[(n % 100) as usize]);
        n /= 100;
    }
    if n >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGITS2[n as usize]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[at..]);
}

/// Appends `i` in decimal (what `Display` writes).
fn write_int(out: &mut Vec<u8>, i: i64) {
    if i < 0 {
        out.push(b'-');
    }
    write_u64(out, i.unsigned_abs());
}

/// Appends a float as serde_json writes it; NaN and infinities, which JSON cannot hold, as
/// `null`.
fn write_float(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        // writing into a Vec cannot fail
        let _ = serde_json::to_writer(&mut *out, &x);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends an address as a JSON string (what `Display` writes).
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    use std::io::Write as _;
    match ip {
        IpAddr::V4(v4) => {
            out.push(b'"');
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_u64(out, u64::from(o));
            }
            out.push(b'"');
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "\"{ip}\"");
        }
    }
}

/// Appends an instant as a JSON string, as [`Timestamp::to_rfc3339`] writes it.
fn write_time(out: &mut Vec<u8>, nanos: i64) {
    out.push(b'"');
    Timestamp(nanos).write_rfc3339(out);
    out.push(b'"');
}

fn write_ref(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Str(s) => write_str(out, s),
        ValueRef::Int(i) => write_int(out, i),
        ValueRef::Float(x) => write_float(out, x),
        ValueRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        ValueRef::Ip(ip) => write_ip(out, ip),
        ValueRef::Time(t) => write_time(out, t),
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

/// One value to write: a registered field, a value of the open maps, or the raw record.
enum Out<'a> {
    Field(&'a Event, &'static schema::FieldDef),
    Owned(&'a Value),
    Raw(&'a [u8]),
}

fn write_out(out: &mut Vec<u8>, v: &Out<'_>) {
    match v {
        Out::Field(ev, def) => def.write_json(ev, out),
        Out::Owned(v) => write_value(out, v),
        Out::Raw(b) => write_bytes_lossy(out, b),
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
    write_str(out, k);
}

/// Orders dotted names segment by segment (`a.b` before `a-b`, `a` before `a.b`): the order
/// in which the general writer nests and writes entries.
fn segment_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |c: &u8| if *c == b'.' { 0u16 } else { u16::from(*c) + 1 };
    a.as_bytes()
        .iter()
        .map(key)
        .cmp(b.as_bytes().iter().map(key))
}

/// Writes `entries`, sorted by [`segment_cmp`], as the members of one JSON object, nesting by
/// the path segment at each entry's `off`. A segment that is both a value and a prefix keeps
/// the value under the segment and the deeper entries flat, in name order (`"user": "x",
/// "user.name": "y"`). Works in place: no allocation per level.
fn write_sorted(out: &mut Vec<u8>, entries: &mut [Entry<'_>], first: &mut bool) {
    for e in entries.iter_mut() {
        let rest = &e.path.as_bytes()[e.off..];
        e.head_end = e.off + memchr::memchr(b'.', rest).unwrap_or(rest.len());
    }
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
            group.sort_by(|a, b| a.path.cmp(b.path));
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
            out.extend_from_slice(b":{");
            for e in group.iter_mut() {
                e.off = e.head_end + 1;
            }
            let mut inner = true;
            write_sorted(out, group, &mut inner);
            out.push(b'}');
        }
        i = j;
    }
}

/// The registered fields (and the raw record, [`RAW`]) in [`segment_cmp`] order of their
/// names: each one's rank, and the field of each rank.
struct Ranks {
    rank: Vec<usize>,
    field: Vec<usize>,
}

static RANKS: std::sync::LazyLock<Ranks> = std::sync::LazyLock::new(|| {
    let mut field: Vec<usize> = (0..=RAW).collect();
    field.sort_by(|&a, &b| segment_cmp(field_name(a), field_name(b)));
    let mut rank = vec![0; RAW + 1];
    for (r, &f) in field.iter().enumerate() {
        rank[f] = r;
    }
    Ranks { rank, field }
});

/// The name of a registered field, or `event.original` for [`RAW`].
fn field_name(idx: usize) -> &'static str {
    schema::fields()
        .get(idx)
        .map_or("event.original", |d| d.name)
}

/// The member of a [`FieldSet`] that stands for the raw record.
const RAW: usize = schema::FIELD_COUNT;

/// Keys up to this long are copied with one fixed-size copy (no `memcpy` call).
const KEY_INLINE: usize = 32;

/// A key as the bytes that go out (`"name":` or `"name":{`).
#[derive(Debug)]
struct Key {
    inline: [u8; KEY_INLINE],
    len: usize,
    /// A key longer than [`KEY_INLINE`].
    long: Option<Box<[u8]>>,
}

impl Key {
    fn new(key: &str, open: bool) -> Key {
        let mut b = Vec::with_capacity(key.len() + 4);
        write_key(&mut b, key);
        b.push(b':');
        if open {
            b.push(b'{');
        }
        let mut inline = [0u8; KEY_INLINE];
        match inline.get_mut(..b.len()) {
            Some(head) => {
                head.copy_from_slice(&b);
                Key {
                    inline,
                    len: b.len(),
                    long: None,
                }
            }
            None => Key {
                inline,
                len: b.len(),
                long: Some(b.into_boxed_slice()),
            },
        }
    }

    #[inline]
    fn write(&self, out: &mut Vec<u8>) {
        match &self.long {
            None => {
                // a constant-size copy compiles to two vector moves; the padding is cut off
                out.extend_from_slice(&self.inline);
                out.truncate(out.len() - (KEY_INLINE - self.len));
            }
            Some(b) => out.extend_from_slice(b),
        }
    }
}

/// One value of the [`Plan`], in document order.
#[derive(Debug)]
struct PlanLeaf {
    /// `"key":`
    key: Key,
    /// The field's index in [`schema::fields`], or [`RAW`].
    idx: usize,
    /// The objects it sits in, outermost first (indexes of [`Plan::objects`]).
    within: Vec<usize>,
    /// The innermost of them ([`ROOT`] at the top level): values of one object follow each
    /// other, and two values with the same innermost object sit in the same objects.
    group: usize,
}

/// [`PlanLeaf::group`] of a top-level value.
const ROOT: usize = usize::MAX;

/// The registered fields (and the raw record as `event.original`) nested by their dotted
/// names, built once. Writing an event orders its set fields by document position and walks
/// only those, opening and closing objects on the way: no test per registered field.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Every value, in document order.
    leaves: Vec<PlanLeaf>,
    /// The document position of each field (by index in [`schema::fields`], then [`RAW`]).
    position: Vec<usize>,
    /// `"key":{` of every object.
    objects: Vec<Key>,
    /// The top-level names (an extra field under one of them joins a registered object).
    roots: Vec<&'static str>,
}

enum Node {
    Leaf(&'static str, usize),
    Group(&'static str, Vec<Node>),
}

/// Inserts `path` into `nodes`; false when a name is both a value and a prefix.
fn insert(nodes: &mut Vec<Node>, path: &'static str, idx: usize) -> bool {
    match path.split_once('.') {
        None => {
            if nodes
                .iter()
                .any(|n| matches!(n, Node::Leaf(k, _) | Node::Group(k, _) if *k == path))
            {
                return false;
            }
            nodes.push(Node::Leaf(path, idx));
            true
        }
        Some((head, rest)) => {
            for n in nodes.iter_mut() {
                match n {
                    Node::Group(k, children) if *k == head => {
                        return insert(children, rest, idx);
                    }
                    Node::Leaf(k, _) if *k == head => return false,
                    _ => {}
                }
            }
            let mut children = Vec::new();
            let ok = insert(&mut children, rest, idx);
            nodes.push(Node::Group(head, children));
            ok
        }
    }
}

impl Plan {
    /// Appends the leaves of `nodes` in document order.
    fn flatten(&mut self, nodes: &[Node], within: &mut Vec<usize>) {
        for n in nodes {
            match n {
                Node::Leaf(key, idx) => self.leaves.push(PlanLeaf {
                    key: Key::new(key, false),
                    idx: *idx,
                    within: within.clone(),
                    group: within.last().copied().unwrap_or(ROOT),
                }),
                Node::Group(key, children) => {
                    within.push(self.objects.len());
                    self.objects.push(Key::new(key, true));
                    self.flatten(children, within);
                    within.pop();
                }
            }
        }
    }

    /// Writes the members of `ev` in `set` (the caller has written `{`); returns whether it
    /// wrote any.
    fn write(&self, ev: &Event, set: &FieldSet, out: &mut Vec<u8>) -> bool {
        let mut ordered = FieldSet::default();
        set.for_each(|i| {
            if let Some(&p) = self.position.get(i) {
                ordered.insert(p);
            }
        });
        let fields = schema::fields();
        // the objects open now, outermost first
        let mut open: &[usize] = &[];
        let mut group = ROOT;
        let mut first = true;
        ordered.for_each(|p| {
            let Some(leaf) = self.leaves.get(p) else {
                return;
            };
            if leaf.group != group {
                let within = leaf.within.as_slice();
                // close the objects this value is not in, open the ones it is in
                let shared = open.iter().zip(within).take_while(|(a, b)| a == b).count();
                for _ in shared..open.len() {
                    out.push(b'}');
                    first = false;
                }
                for &o in &within[shared..] {
                    if !first {
                        out.push(b',');
                    }
                    self.objects[o].write(out);
                    first = true;
                }
                open = within;
                group = leaf.group;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            leaf.key.write(out);
            match fields.get(leaf.idx) {
                Some(def) => def.write_json(ev, out),
                None => write_bytes_lossy(out, &ev.raw),
            }
        });
        for _ in 0..open.len() {
            out.push(b'}');
        }
        !first
    }
}

/// `None` when a registered name is both a value and a prefix of another (the general writer
/// handles that).
pub(crate) static PLAN: std::sync::LazyLock<Option<Plan>> = std::sync::LazyLock::new(|| {
    let mut root = Vec::new();
    for (i, def) in schema::fields().iter().enumerate() {
        if !insert(&mut root, def.name, i) {
            return None;
        }
    }
    if !insert(&mut root, "event.original", RAW) {
        return None;
    }
    let mut plan = Plan {
        leaves: Vec::new(),
        position: vec![usize::MAX; RAW + 1],
        objects: Vec::new(),
        roots: root
            .iter()
            .map(|n| match n {
                Node::Leaf(k, _) | Node::Group(k, _) => *k,
            })
            .collect(),
    };
    plan.flatten(&root, &mut Vec::new());
    for (p, leaf) in plan.leaves.iter().enumerate() {
        plan.position[leaf.idx] = p;
    }
    Some(plan)
});

impl Event {
    /// Appends the event's JSON (the same document as [`Event::to_json`]) to `out` without
    /// building a `serde_json::Value`: the fast path for file and network outputs. Registered
    /// fields come in registry order (`@timestamp`, `message`, `tags`, `event`, ...), then
    /// the extra fields by name, then `original`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut set = FieldSet::of(self);
        if !self.raw.is_empty() {
            set.insert(RAW);
        }
        if let Some(plan) = PLAN.as_ref() {
            // the extra fields may join the registered groups (`user.x`) or stand alone; the
            // plan is used when they all stand alone, which is the common case
            let stand_alone = self.extra.iter().all(|(k, _)| {
                let h = k.split_once('.').map(|(h, _)| h).unwrap_or(k);
                h != "original" && !plan.roots.contains(&h)
            });
            if stand_alone {
                out.push(b'{');
                let mut first = !plan.write(self, &set, out);
                if !self.extra.is_empty() {
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
                    extras.sort_by(|a, b| segment_cmp(a.path, b.path));
                    write_sorted(out, &mut extras, &mut first);
                }
                self.write_original(out, &mut first);
                out.push(b'}');
                return;
            }
        }
        // The general writer: every entry in name order, nested level by level. The
        // registered fields come in their precomputed order, the extra fields are put in place.
        let ranks = &*RANKS;
        let mut ordered = FieldSet::default();
        set.for_each(|i| {
            if let Some(&r) = ranks.rank.get(i) {
                ordered.insert(r);
            }
        });
        let fields = schema::fields();
        let mut entries: Vec<Entry<'_>> = Vec::with_capacity(32 + self.extra.len());
        ordered.for_each(|r| {
            let Some(&idx) = ranks.field.get(r) else {
                return;
            };
            entries.push(Entry {
                path: field_name(idx),
                off: 0,
                head_end: 0,
                out: match fields.get(idx) {
                    Some(def) => Out::Field(self, def),
                    None => Out::Raw(&self.raw),
                },
            });
        });
        for (k, v) in self.extra.iter() {
            // after the registered fields of the same name, before the raw record
            let at = entries.partition_point(|e| match segment_cmp(e.path, k) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => !matches!(e.out, Out::Raw(_)),
                std::cmp::Ordering::Greater => false,
            });
            entries.insert(
                at,
                Entry {
                    path: k,
                    off: 0,
                    head_end: 0,
                    out: Out::Owned(v),
                },
            );
        }
        out.push(b'{');
        let mut first = true;
        write_sorted(out, &mut entries, &mut first);
        self.write_original(out, &mut first);
        out.push(b'}');
    }

    /// `"original": {...}`: the source's own names, which may contain dots, kept flat.
    fn write_original(&self, out: &mut Vec<u8>, first: &mut bool) {
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

    /// The event as nested ECS JSON: every set field, `vigil.*` metadata, the source's
    /// original fields under `original`, and the raw record as `event.original`.
    pub fn to_json(&self) -> Json {
        let mut root = Map::new();
        for def in schema::fields() {
            let mut vals = Vec::new();
            def.visit(self, &mut |v| vals.push(crate::value::ref_to_json(v)));
            let list = matches!(def.kind(), crate::FieldKind::StrList);
            match (vals.len(), list) {
                (0, _) => {}
                (1, false) => insert_path(&mut root, def.name, vals.pop().unwrap_or(Json::Null)),
                _ => insert_path(&mut root, def.name, Json::Array(vals)),
            }
        }
        for (k, v) in self.extra.iter() {
            insert_path(&mut root, k, v.to_json());
        }
        if !self.original.is_empty() {
            let orig: Map<String, Json> = self
                .original
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_json()))
                .collect();
            root.insert("original".into(), Json::Object(orig));
        }
        if !self.raw.is_empty() {
            insert_path(
                &mut root,
                "event.original",
                Json::String(self.raw_str().into_owned()),
            );
        }
        Json::Object(root)
    }

    /// A flat view: canonical dotted name → value, for CSV and table output.
    pub fn flat_fields(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for def in schema::fields() {
            let mut vals: Vec<String> = Vec::new();
            def.visit(self, &mut |v| vals.push(v.to_string()));
            if !vals.is_empty() {
                out.push((def.name.to_owned(), vals.join(",")));
            }
        }
        for (k, v) in self.extra.iter() {
            out.push((k.to_owned(), v.to_string()));
        }
        out
    }
}
