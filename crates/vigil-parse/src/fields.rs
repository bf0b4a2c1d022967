//! The output every field parser shares: [`Fields`], an ordered list of `(name, value)` pairs,
//! and [`FieldValue`], a small typed value. The normalizer maps any format through this one
//! shape, so a CEF extension, a JSON path and a regex capture are all just named fields.
//!
//! Names and values borrow from the input where they can (`Cow::Borrowed`); only values that
//! had to be unescaped, and names built from several parts (a dotted JSON path), are owned.
//! [`Fields::into_owned`] detaches a result from its input when it must outlive it.

use std::borrow::Cow;
use std::fmt;

/// One field value. Text stays text unless the format itself says otherwise (JSON numbers and
/// booleans, typed Windows `System` fields): converting is the normalizer's job.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Text, unescaped.
    Str(Cow<'a, str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// An explicit null, or a key without a value.
    Null,
    /// An ordered list (JSON arrays, several matches of one selector, [`DuplicateKeys::List`]).
    List(Vec<FieldValue<'a>>),
}

impl<'a> FieldValue<'a> {
    /// The text, if this is [`FieldValue::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is [`FieldValue::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// True for [`FieldValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }

    /// The value without borrows.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Str(s) => FieldValue::Str(Cow::Owned(s.into_owned())),
            FieldValue::Int(i) => FieldValue::Int(i),
            FieldValue::Float(f) => FieldValue::Float(f),
            FieldValue::Bool(b) => FieldValue::Bool(b),
            FieldValue::Null => FieldValue::Null,
            FieldValue::List(l) => {
                FieldValue::List(l.into_iter().map(FieldValue::into_owned).collect())
            }
        }
    }
}

impl fmt::Display for FieldValue<'_> {
    /// Text as is, numbers and booleans as JSON writes them, `null`, lists as `[a, b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(s),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::Float(x) => write!(f, "{x}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::Null => f.write_str("null"),
            FieldValue::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl<'a> From<&'a str> for FieldValue<'a> {
    fn from(s: &'a str) -> Self {
        FieldValue::Str(Cow::Borrowed(s))
    }
}

impl From<String> for FieldValue<'_> {
    fn from(s: String) -> Self {
        FieldValue::Str(Cow::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for FieldValue<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        FieldValue::Str(s)
    }
}

impl From<i64> for FieldValue<'_> {
    fn from(i: i64) -> Self {
        FieldValue::Int(i)
    }
}

impl From<f64> for FieldValue<'_> {
    fn from(x: f64) -> Self {
        FieldValue::Float(x)
    }
}

impl From<bool> for FieldValue<'_> {
    fn from(b: bool) -> Self {
        FieldValue::Bool(b)
    }
}

/// What to do when a key appears again in one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateKeys {
    /// Keep every occurrence as its own entry, in order (lossless; [`Fields::get`] sees the
    /// first).
    #[default]
    Keep,
    /// Keep the first value, drop later ones.
    First,
    /// Keep the last value, at the position of the first.
    Last,
    /// Collect all values into one [`FieldValue::List`], at the position of the first.
    List,
}

/// Named fields in input order. Names may repeat unless a [`DuplicateKeys`] policy was applied
/// through [`Fields::insert`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, FieldValue<'a>)>,
}

impl<'a> Fields<'a> {
    /// No fields.
    pub fn new() -> Self {
        Fields {
            entries: Vec::new(),
        }
    }

    /// No fields, room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Fields {
            entries: Vec::with_capacity(n),
        }
    }

    /// The number of entries (repeated names count each time).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry, whatever is already there.
    pub fn push(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<FieldValue<'a>>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Adds an entry following a duplicate-key policy. Looking up an earlier entry is a linear
    /// scan: parsers cap the number of entries, so this stays cheap.
    pub fn insert(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        value: impl Into<FieldValue<'a>>,
        policy: DuplicateKeys,
    ) {
        let name = name.into();
        let value = value.into();
        if policy == DuplicateKeys::Keep {
            self.entries.push((name, value));
            return;
        }
        let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == name) else {
            self.entries.push((name, value));
            return;
        };
        match policy {
            DuplicateKeys::Keep | DuplicateKeys::First => {}
            DuplicateKeys::Last => slot.1 = value,
            DuplicateKeys::List => match &mut slot.1 {
                FieldValue::List(l) => l.push(value),
                old => {
                    let first = std::mem::replace(old, FieldValue::Null);
                    *old = FieldValue::List(vec![first, value]);
                }
            },
        }
    }

    /// The value of the first entry named `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue<'a>> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The text of the first entry named `name`, if it is text.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(FieldValue::as_str)
    }

    /// The values of every entry named `name`, in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s FieldValue<'a>> + 's {
        self.entries
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// True if some entry is named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The entries as a slice.
    pub fn as_slice(&self) -> &[(Cow<'a, str>, FieldValue<'a>)] {
        &self.entries
    }

    /// The entries, consumed.
    pub fn into_vec(self) -> Vec<(Cow<'a, str>, FieldValue<'a>)> {
        self.entries
    }

    /// Every name and value copied out of the input.
    pub fn into_owned(self) -> Fields<'static> {
        Fields {
            entries: self
                .entries
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
        }
    }
}

impl<'a> IntoIterator for Fields<'a> {
    type Item = (Cow<'a, str>, FieldValue<'a>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, FieldValue<'a>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: Into<FieldValue<'a>>> FromIterator<(K, V)> for Fields<'a> {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Fields {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// Where in the input a problem is: byte offset, and 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset from the start of the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `input` (clamped to its length). Computed only on the
    /// error path, so the scan costs nothing on good input.
    pub fn at(input: &[u8], offset: usize) -> Position {
        let offset = offset.min(input.len());
        let before = &input[..offset];
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let column = before[line_start..]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count()
            + 1;
        Position {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (offset {})",
            self.line, self.column, self.offset
        )
    }
}

/// Runs a text parser on bytes: valid UTF-8 is parsed in place (results borrow from `input`);
/// anything else is parsed from a lossy copy (U+FFFD for bad sequences) and the result owned.
/// Positions in errors then refer to the lossy copy, which equals the input up to the first
/// bad sequence.
pub(crate) fn with_text<'a, E>(
    input: &'a [u8],
    parse: impl for<'s> Fn(&'s str) -> Result<Fields<'s>, E>,
) -> Result<Fields<'a>, E> {
    match std::str::from_utf8(input) {
        Ok(s) => parse(s),
        Err(_) => {
            let s = String::from_utf8_lossy(input);
            parse(&s).map(Fields::into_owned)
        }
    }
}

/// Like [`with_text`] for lenient parsers that return what they could read plus an error.
pub(crate) fn with_text_lenient<'a, E>(
    input: &'a [u8],
    parse: impl for<'s> Fn(&'s str) -> (Fields<'s>, Option<E>),
) -> (Fields<'a>, Option<E>) {
    match std::str::from_utf8(input) {
        Ok(s) => parse(s),
        Err(_) => {
            let s = String::from_utf8_lossy(input);
            let (f, e) = parse(&s);
            (f.into_owned(), e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_policies() {
        let mut f = Fields::new();
        for p in [
            DuplicateKeys::Keep,
            DuplicateKeys::First,
            DuplicateKeys::Last,
            DuplicateKeys::List,
        ] {
            f = Fields::new();
            f.insert("a", "1", p);
            f.insert("b", "x", p);
            f.insert("a", "2", p);
            f.insert("a", "3", p);
            match p {
                DuplicateKeys::Keep => assert_eq!(f.len(), 4),
                DuplicateKeys::First => assert_eq!(f.get_str("a"), Some("1")),
                DuplicateKeys::Last => assert_eq!(f.get_str("a"), Some("3")),
                DuplicateKeys::List => assert_eq!(
                    f.get("a"),
                    Some(&FieldValue::List(vec!["1".into(), "2".into(), "3".into()]))
                ),
            }
        }
        assert_eq!(f.iter().next().map(|(k, _)| k), Some("a"));
    }

    #[test]
    fn position_counts_lines_and_chars() {
        let p = Position::at("ab\ncé x".as_bytes(), 6);
        assert_eq!((p.line, p.column, p.offset), (2, 3, 6));
        assert_eq!(Position::at(b"abc", 99).offset, 3);
    }
}
