//! Key-value pairs: `user=bob src="10.0.0.1" msg='a b'`, with configurable separators.
//!
//! A record is a run of pairs separated by [`KvOptions::pair_separator`] (a space by default:
//! then any run of spaces and tabs separates), each `key<kv_separator>value`. A value that
//! starts with a quote character runs to the matching unescaped quote; `\"`, `\\`, `\n`, `\r`,
//! `\t` inside it are unescaped (any other escaped character stands for itself). An unquoted
//! value runs to the next pair separator, or, with [`KvOptions::greedy_values`], to the
//! separator before the next `key=` (so `msg=disk full user=bob` gives `msg` = `disk full`).
//! A token without a key-value separator is a key without a value ([`BareKeys`]).

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::fields::{DuplicateKeys, FieldValue, Fields, Position, with_text, with_text_lenient};

/// What to do with a token that has no key-value separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareKeys {
    /// Keep it as a key whose value is [`FieldValue::Null`].
    #[default]
    Null,
    /// Keep it as a key whose value is `true` (flags such as `SYN` in firewall lines).
    True,
    /// Drop it.
    Skip,
    /// Treat it as an error (strict records).
    Error,
}

/// KV parser settings.
#[derive(Debug, Clone)]
pub struct KvOptions {
    /// Between pairs. Default `" "` (any run of blanks); `","`, `";"`, `"&"`, `", "` work too.
    pub pair_separator: String,
    /// Between a key and its value. Default `"="`; `":"`, `"=>"` work too.
    pub kv_separator: String,
    /// Characters that open and close a quoted value. Default `"` and `'`.
    pub quotes: Vec<char>,
    /// What to do with a repeated key. Default [`DuplicateKeys::Last`].
    pub duplicate_keys: DuplicateKeys,
    /// What to do with a token that has no value.
    pub bare_keys: BareKeys,
    /// Unquoted values run to the separator before the next `key=`, not the next separator.
    pub greedy_values: bool,
    /// Trim blanks around keys and unquoted values (when the pair separator is not blank).
    pub trim: bool,
    /// At most this many pairs are read; the rest is an error.
    pub max_pairs: usize,
}

impl Default for KvOptions {
    fn default() -> Self {
        KvOptions {
            pair_separator: " ".into(),
            kv_separator: "=".into(),
            quotes: vec!['"', '\''],
            duplicate_keys: DuplicateKeys::Last,
            bare_keys: BareKeys::Null,
            greedy_values: false,
            trim: true,
            max_pairs: 1024,
        }
    }
}

/// What was wrong with a KV record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// A quoted value without its closing quote (lenient: the rest of the input is the value).
    #[error("unterminated quoted value at {at}")]
    UnterminatedQuote {
        /// Where the quote opens.
        at: Position,
    },
    /// `=value` with nothing before the separator.
    #[error("empty key at {at}")]
    EmptyKey {
        /// Where the pair starts.
        at: Position,
    },
    /// A token without a value, under [`BareKeys::Error`].
    #[error("key without value at {at}")]
    BareKey {
        /// Where the token starts.
        at: Position,
    },
    /// More than [`KvOptions::max_pairs`] pairs.
    #[error("more than {max} pairs at {at}")]
    TooManyPairs {
        /// The limit.
        max: usize,
        /// Where reading stopped.
        at: Position,
    },
    /// The options cannot work (empty separator).
    #[error("bad options: {0}")]
    BadOptions(&'static str),
}

/// Parses one record strictly.
pub fn parse<'a>(input: &'a [u8], opts: &KvOptions) -> Result<Fields<'a>, KvError> {
    with_text(input, |s| match parse_str_lenient(s, opts) {
        (f, None) => Ok(f),
        (_, Some(e)) => Err(e),
    })
}

/// Parses one record, keeping every pair it could read and reporting the first problem.
pub fn parse_lenient<'a>(input: &'a [u8], opts: &KvOptions) -> (Fields<'a>, Option<KvError>) {
    with_text_lenient(input, |s| parse_str_lenient(s, opts))
}

struct Seps<'o> {
    pair: &'o [u8],
    pair_blank: bool,
    kv: &'o [u8],
}

impl Seps<'_> {
    /// Length of the pair separator at `i` (a whole blank run when blank), 0 if none.
    fn pair_at(&self, b: &[u8], i: usize) -> usize {
        if self.pair_blank {
            b[i..]
                .iter()
                .take_while(|c| matches!(c, b' ' | b'\t'))
                .count()
        } else if b[i..].starts_with(self.pair) {
            self.pair.len()
        } else {
            0
        }
    }

    /// The first pair separator at or after `i`: (start, length).
    fn next_pair(&self, b: &[u8], mut i: usize) -> Option<(usize, usize)> {
        loop {
            let j = if self.pair_blank {
                i + memchr2(b' ', b'\t', b.get(i..)?)?
            } else {
                i + memchr(self.pair[0], b.get(i..)?)?
            };
            let n = self.pair_at(b, j);
            if n > 0 {
                return Some((j, n));
            }
            i = j + 1;
        }
    }

    /// The first key-value or pair separator at or after `i`: (position, is_kv).
    fn next_any(&self, b: &[u8], mut i: usize) -> Option<(usize, bool)> {
        loop {
            let rest = b.get(i..)?;
            let j = if self.pair_blank {
                i + rest
                    .iter()
                    .position(|&c| c == self.kv[0] || c == b' ' || c == b'\t')?
            } else {
                i + memchr2(self.kv[0], self.pair[0], rest)?
            };
            if b[j..].starts_with(self.kv) {
                return Some((j, true));
            }
            if self.pair_at(b, j) > 0 {
                return Some((j, false));
            }
            i = j + 1;
        }
    }
}

/// [`parse_lenient`] on text.
pub fn parse_str_lenient<'a>(input: &'a str, opts: &KvOptions) -> (Fields<'a>, Option<KvError>) {
    let mut fields = Fields::with_capacity(16);
    if opts.pair_separator.is_empty() || opts.kv_separator.is_empty() {
        return (fields, Some(KvError::BadOptions("empty separator")));
    }
    let seps = Seps {
        pair: opts.pair_separator.as_bytes(),
        pair_blank: opts.pair_separator.trim().is_empty(),
        kv: opts.kv_separator.as_bytes(),
    };
    let trim = opts.trim && !seps.pair_blank;
    let b = input.as_bytes();
    let mut err: Option<KvError> = None;
    let mut set_err = |e: KvError| {
        if err.is_none() {
            err = Some(e);
        }
    };
    let mut pairs = 0usize;
    let mut pos = 0;
    while pos < b.len() {
        // Skip separators (and blanks around pairs).
        let n = seps.pair_at(b, pos);
        if n > 0 {
            pos += n;
            continue;
        }
        if trim && matches!(b[pos], b' ' | b'\t' | b'\r' | b'\n') {
            pos += 1;
            continue;
        }
        if pairs >= opts.max_pairs {
            set_err(KvError::TooManyPairs {
                max: opts.max_pairs,
                at: Position::at(b, pos),
            });
            break;
        }
        let start = pos;
        match seps.next_any(b, pos) {
            Some((k, true)) => {
                let key = &input[start..k];
                let key = if trim { key.trim() } else { key };
                pos = k + seps.kv.len();
                if trim {
                    while pos < b.len() && matches!(b[pos], b' ' | b'\t') {
                        pos += 1;
                    }
                }
                let value;
                let quote = input[pos..]
                    .chars()
                    .next()
                    .filter(|c| opts.quotes.contains(c));
                if let Some(q) = quote {
                    let (v, next, closed) = quoted(input, pos, q);
                    if !closed {
                        set_err(KvError::UnterminatedQuote {
                            at: Position::at(b, pos),
                        });
                    }
                    value = v;
                    pos = next;
                } else {
                    let end = value_end(&seps, b, pos, opts.greedy_values);
                    let v = &input[pos..end];
                    value = Cow::Borrowed(if trim {
                        v.trim()
                    } else {
                        v.trim_end_matches(['\r', '\n'])
                    });
                    pos = end;
                }
                if key.is_empty() {
                    set_err(KvError::EmptyKey {
                        at: Position::at(b, start),
                    });
                    continue;
                }
                pairs += 1;
                fields.insert(key, FieldValue::Str(value), opts.duplicate_keys);
            }
            other => {
                let end = other.map_or(b.len(), |(j, _)| j);
                let key = &input[start..end];
                let key = key.trim_matches([' ', '\t', '\r', '\n']);
                pos = end;
                if key.is_empty() {
                    continue;
                }
                match opts.bare_keys {
                    BareKeys::Null => fields.insert(key, FieldValue::Null, opts.duplicate_keys),
                    BareKeys::True => fields.insert(key, true, opts.duplicate_keys),
                    BareKeys::Skip => continue,
                    BareKeys::Error => {
                        set_err(KvError::BareKey {
                            at: Position::at(b, start),
                        });
                        continue;
                    }
                }
                pairs += 1;
            }
        }
    }
    (fields, err)
}

/// The end of an unquoted value starting at `pos`.
fn value_end(seps: &Seps<'_>, b: &[u8], pos: usize, greedy: bool) -> usize {
    let mut from = pos;
    loop {
        let Some((j, n)) = seps.next_pair(b, from) else {
            return b.len();
        };
        if !greedy {
            return j;
        }
        // Greedy: stop only if a `key=` follows this separator.
        let next = j + n;
        match seps.next_any(b, next) {
            Some((k, true)) if k > next => return j,
            None if next >= b.len() => return j,
            _ => from = next,
        }
    }
}

/// A quoted value starting at the quote at `pos`: (value, position after it, closed?).
fn quoted(input: &str, pos: usize, q: char) -> (Cow<'_, str>, usize, bool) {
    let body_start = pos + q.len_utf8();
    let body = &input[body_start..];
    let mut owned: Option<String> = None;
    let mut run = 0;
    let mut iter = body.char_indices();
    while let Some((i, c)) = iter.next() {
        if c == q {
            let v = match owned {
                None => Cow::Borrowed(&body[..i]),
                Some(mut s) => {
                    s.push_str(&body[run..i]);
                    Cow::Owned(s)
                }
            };
            return (v, body_start + i + q.len_utf8(), true);
        }
        if c == '\\' {
            let s = owned.get_or_insert_with(String::new);
            s.push_str(&body[run..i]);
            match iter.next() {
                Some((j, e)) => {
                    s.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        other => other,
                    });
                    run = j + e.len_utf8();
                }
                None => {
                    s.push('\\');
                    run = body.len();
                }
            }
        }
    }
    let v = match owned {
        None => Cow::Borrowed(body),
        Some(mut s) => {
            s.push_str(&body[run.min(body.len())..]);
            Cow::Owned(s)
        }
    };
    (v, input.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(s: &'a str, opts: &KvOptions) -> Fields<'a> {
        match parse_str_lenient(s, opts) {
            (f, None) => f,
            (_, Some(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn kv_quoted_values_with_escapes() {
        let f = p(
            r#"user=bob msg="say \"hi\"\n" path='C:\\x' empty="" a=1"#,
            &KvOptions::default(),
        );
        assert_eq!(f.get_str("user"), Some("bob"));
        assert_eq!(f.get_str("msg"), Some("say \"hi\"\n"));
        assert_eq!(f.get_str("path"), Some("C:\\x"));
        assert_eq!(f.get_str("empty"), Some(""));
        assert_eq!(f.get_str("a"), Some("1"));
    }

    #[test]
    fn kv_custom_separators() {
        let opts = KvOptions {
            pair_separator: ", ".into(),
            kv_separator: ":".into(),
            ..KvOptions::default()
        };
        let f = p("a:1, b: two words , c:x=y", &opts);
        assert_eq!(f.get_str("a"), Some("1"));
        assert_eq!(f.get_str("b"), Some("two words"));
        assert_eq!(f.get_str("c"), Some("x=y"));
        let opts = KvOptions {
            pair_separator: "&".into(),
            kv_separator: "=>".into(),
            ..KvOptions::default()
        };
        let f = p("a=>1&b=>=2&c", &opts);
        assert_eq!(f.get_str("b"), Some("=2"));
        assert_eq!(f.get("c"), Some(&FieldValue::Null));
    }

    #[test]
    fn kv_duplicate_key_policies() {
        let line = "a=1 a=2 b=3 a=4";
        for (policy, want) in [
            (DuplicateKeys::First, FieldValue::from("1")),
            (DuplicateKeys::Last, FieldValue::from("4")),
            (
                DuplicateKeys::List,
                FieldValue::List(vec!["1".into(), "2".into(), "4".into()]),
            ),
        ] {
            let opts = KvOptions {
                duplicate_keys: policy,
                ..KvOptions::default()
            };
            assert_eq!(p(line, &opts).get("a"), Some(&want));
        }
        let keep = KvOptions {
            duplicate_keys: DuplicateKeys::Keep,
            ..KvOptions::default()
        };
        assert_eq!(p(line, &keep).len(), 4);
    }

    #[test]
    fn kv_keys_without_value() {
        let line = "IN=eth0 OUT= SYN URGP=0";
        let f = p(line, &KvOptions::default());
        assert_eq!(f.get_str("OUT"), Some(""));
        assert_eq!(f.get("SYN"), Some(&FieldValue::Null));
        let opts = KvOptions {
            bare_keys: BareKeys::True,
            ..KvOptions::default()
        };
        assert_eq!(p(line, &opts).get("SYN"), Some(&FieldValue::Bool(true)));
        let opts = KvOptions {
            bare_keys: BareKeys::Error,
            ..KvOptions::default()
        };
        assert!(parse_str_lenient(line, &opts).1.is_some());
    }

    #[test]
    fn kv_greedy_values_with_spaces() {
        let opts = KvOptions {
            greedy_values: true,
            ..KvOptions::default()
        };
        let f = p("msg=disk is full on /var user=bob x=", &opts);
        assert_eq!(f.get_str("msg"), Some("disk is full on /var"));
        assert_eq!(f.get_str("user"), Some("bob"));
        assert_eq!(f.get_str("x"), Some(""));
    }

    #[test]
    fn kv_unterminated_quote() {
        let (f, e) = parse_str_lenient("a=\"open b=1", &KvOptions::default());
        assert_eq!(f.get_str("a"), Some("open b=1"));
        assert!(matches!(e, Some(KvError::UnterminatedQuote { .. })));
    }

    #[test]
    fn kv_empty_key_and_limits() {
        let (f, e) = parse_str_lenient("=1 b=2", &KvOptions::default());
        assert_eq!(f.get_str("b"), Some("2"));
        assert!(matches!(e, Some(KvError::EmptyKey { .. })));
        let opts = KvOptions {
            max_pairs: 2,
            ..KvOptions::default()
        };
        let (f, e) = parse_str_lenient("a=1 b=2 c=3", &opts);
        assert_eq!(f.len(), 2);
        assert!(matches!(e, Some(KvError::TooManyPairs { max: 2, .. })));
    }
}
