//! Fields from the named captures of a regular expression.
//!
//! Patterns are compiled once ([`RegexParser::new`]) by the `regex` crate, whose engines run
//! in time linear in the input whatever the pattern: safe for patterns written by users and
//! lines written by attackers. Compilation is capped ([`RegexOptions::size_limit`]) so a
//! pattern like `\w{1000}{1000}` is refused instead of eating memory. Matching runs on bytes,
//! so a line need not be UTF-8; each capture is borrowed when it is valid UTF-8 (else a lossy
//! copy). Unmatched optional groups produce no field.

use std::borrow::Cow;

use ::regex::bytes::{Regex, RegexBuilder};

use crate::fields::{FieldValue, Fields};

/// Regex parser settings.
#[derive(Debug, Clone)]
pub struct RegexOptions {
    /// Largest compiled program, in bytes. Default 1 MiB.
    pub size_limit: usize,
    /// Cache of the lazy DFA, in bytes. Default 2 MiB.
    pub dfa_size_limit: usize,
    /// Match anywhere in the line (`false`: the pattern is anchored at both ends).
    pub unanchored: bool,
    /// Case-insensitive matching.
    pub case_insensitive: bool,
    /// Refuse a pattern without named groups ([`RegexError::NoNamedGroups`]). Default true;
    /// false for callers that use a match alone as a classification (a normalizer's
    /// catch-all pattern `^`).
    pub require_names: bool,
}

impl Default for RegexOptions {
    fn default() -> Self {
        RegexOptions {
            size_limit: 1 << 20,
            dfa_size_limit: 2 << 20,
            unanchored: true,
            case_insensitive: false,
            require_names: true,
        }
    }
}

/// What went wrong building or running a regex parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegexError {
    /// The pattern does not compile (syntax, or over the size limit).
    #[error("bad pattern: {0}")]
    BadPattern(String),
    /// The pattern has no named capture group, so it could never produce a field.
    #[error("pattern has no named capture group")]
    NoNamedGroups,
    /// The line does not match.
    #[error("line does not match the pattern")]
    NoMatch,
}

/// A compiled pattern and the names of its groups.
#[derive(Debug, Clone)]
pub struct RegexParser {
    regex: Regex,
    /// (group index, name) for every named group.
    names: Vec<(usize, String)>,
    /// For a pattern anchored at the start of the input whose matches all begin with one of
    /// a few literals (`^Accepted `, `^(?:error: )?[Mm]aximum`): those literals. An input
    /// that starts with none of them cannot match, which `starts_with` tells without the
    /// regex engine's set-up and capture slots. A normalizer tries its patterns in order, so
    /// most tries fail: this makes a failed try cost a few byte comparisons.
    prefixes: Option<Vec<Vec<u8>>>,
}

/// The literals every match of `pattern` must start the input with, when it is anchored at
/// the start (`^` or `\A`, not multi-line) and they are a finite, non-empty set of
/// non-empty strings; `None` when no such set is known (then every input goes to the regex).
fn anchored_prefixes(pattern: &str, case_insensitive: bool) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::Look;
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    if lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

impl RegexParser {
    /// Compiles `pattern` with default options.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        Self::with_options(pattern, &RegexOptions::default())
    }

    /// Compiles `pattern`.
    pub fn with_options(pattern: &str, opts: &RegexOptions) -> Result<Self, RegexError> {
        let anchored;
        let pattern = if opts.unanchored {
            pattern
        } else {
            anchored = format!("^(?:{pattern})$");
            &anchored
        };
        let regex = RegexBuilder::new(pattern)
            .size_limit(opts.size_limit)
            .dfa_size_limit(opts.dfa_size_limit)
            .case_insensitive(opts.case_insensitive)
            .build()
            .map_err(|e| RegexError::BadPattern(e.to_string()))?;
        let names: Vec<_> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
            .collect();
        if names.is_empty() && opts.require_names {
            return Err(RegexError::NoNamedGroups);
        }
        let prefixes = anchored_prefixes(pattern, opts.case_insensitive);
        Ok(RegexParser {
            regex,
            names,
            prefixes,
        })
    }

    /// False when `input` cannot match because it starts with none of the pattern's
    /// required literals.
    fn may_match(&self, input: &[u8]) -> bool {
        self.prefixes
            .as_ref()
            .is_none_or(|p| p.iter().any(|l| input.starts_with(l)))
    }

    /// The named groups, in pattern order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|(_, n)| n.as_str())
    }

    /// Matches `input` and returns its named captures (borrowing names from the parser and
    /// values from the input).
    pub fn parse<'a>(&'a self, input: &'a [u8]) -> Result<Fields<'a>, RegexError> {
        if !self.may_match(input) {
            return Err(RegexError::NoMatch);
        }
        let caps = self.regex.captures(input).ok_or(RegexError::NoMatch)?;
        let mut fields = Fields::with_capacity(self.names.len());
        for (i, name) in &self.names {
            if let Some(m) = caps.get(*i) {
                let v = match std::str::from_utf8(m.as_bytes()) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(_) => Cow::Owned(String::from_utf8_lossy(m.as_bytes()).into_owned()),
                };
                fields.push(name.as_str(), FieldValue::Str(v));
            }
        }
        Ok(fields)
    }

    /// True if `input` matches, without extracting anything (cheaper: no capture search).
    pub fn is_match(&self, input: &[u8]) -> bool {
        self.may_match(input) && self.regex.is_match(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_named_captures() {
        let p = RegexParser::new(
            r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<ip>[\d.]+) port (?P<port>\d+)(?: (?P<proto>ssh\d))?",
        )
        .unwrap();
        let f = p
            .parse(b"Failed password for invalid user admin from 10.0.0.1 port 22")
            .unwrap();
        assert_eq!(f.get_str("user"), Some("admin"));
        assert_eq!(f.get_str("port"), Some("22"));
        assert!(!f.contains("proto"));
        assert_eq!(p.parse(b"nothing"), Err(RegexError::NoMatch));
        assert_eq!(
            p.names().collect::<Vec<_>>(),
            ["user", "ip", "port", "proto"]
        );
    }

    #[test]
    fn anchored_patterns_get_their_literal_prefixes() {
        let lits = |p: &str| {
            RegexParser::with_options(
                p,
                &RegexOptions {
                    require_names: false,
                    ..RegexOptions::default()
                },
            )
            .unwrap()
            .prefixes
        };
        assert_eq!(
            lits(r"^Accepted (?P<m>\S+) for"),
            Some(vec![b"Accepted ".to_vec()])
        );
        let alt = lits(r"^(?:error: )?[Mm]aximum (?P<u>\S+)").unwrap();
        assert!(alt.contains(&b"Maximum ".to_vec()) && alt.contains(&b"maximum ".to_vec()));
        assert!(alt.iter().any(|l| l.starts_with(b"error: ")));
        // Not anchored, anchored per line, or a possibly empty prefix: no prefilter.
        assert_eq!(lits(r"Accepted (?P<m>\S+)"), None);
        assert_eq!(lits(r"(?m)^Accepted (?P<m>\S+)"), None);
        assert_eq!(lits(r"^"), None);
        assert_eq!(lits(r"^(?P<x>a*)"), None);
        assert_eq!(
            lits(r"^(?P<x>a*)b"),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
        // Case-insensitive patterns keep matching every casing.
        let ci = RegexParser::with_options(
            r"^failed (?P<u>\w+)",
            &RegexOptions {
                case_insensitive: true,
                ..RegexOptions::default()
            },
        )
        .unwrap();
        assert_eq!(ci.parse(b"FAILED root").unwrap().get_str("u"), Some("root"));
        assert!(ci.parse(b"xfailed root").is_err());
    }

    proptest::proptest! {
        /// The prefilter never changes an answer: the same as the regex alone.
        #[test]
        fn prefilter_agrees_with_the_regex(
            pat in 0usize..6,
            input in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"Accepted "[..], b"accepted ", b"error: ", b"Maximum ", b"maximum ", b"x",
                    b" ", b"\xff", b"root", b"\n", b"Failed", b"for ", b"",
                ]),
                0..6,
            ),
        ) {
            let patterns = [
                r"^Accepted (?P<m>\S+)",
                r"^(?:error: )?[Mm]aximum (?P<u>\S*)",
                r"(?i)^failed(?P<r>.*)",
                r"\A(?:Accepted|Failed) (?P<w>\w*)",
                r"^(?-u:\xff)(?P<b>x?)",
                r"(?m)^(?P<l>root)",
            ];
            let p = RegexParser::new(patterns[pat]).unwrap();
            let line: Vec<u8> = input.concat();
            proptest::prop_assert_eq!(p.is_match(&line), p.regex.is_match(&line));
            proptest::prop_assert_eq!(p.parse(&line).is_ok(), p.regex.is_match(&line));
        }
    }

    #[test]
    fn regex_size_limit_refuses_huge_patterns() {
        let e = RegexParser::new(r"(?P<x>\w{1000}{1000})").unwrap_err();
        assert!(matches!(e, RegexError::BadPattern(_)));
        assert_eq!(
            RegexParser::new("abc").unwrap_err(),
            RegexError::NoNamedGroups
        );
        let opts = RegexOptions {
            require_names: false,
            ..RegexOptions::default()
        };
        let p = RegexParser::with_options("^abc", &opts).unwrap();
        assert!(p.parse(b"abcd").unwrap().is_empty());
        assert!(p.parse(b"xabc").is_err());
    }

    #[test]
    fn regex_anchored_and_invalid_utf8() {
        let opts = RegexOptions {
            unanchored: false,
            ..RegexOptions::default()
        };
        let p = RegexParser::with_options(r"(?P<a>\w+)", &opts).unwrap();
        assert!(p.parse(b"ab cd").is_err());
        let p = RegexParser::new(r"(?-u:user=(?P<u>\S+))").unwrap();
        let f = p.parse(b"user=b\xffo").unwrap();
        assert_eq!(f.get_str("u"), Some("b\u{FFFD}o"));
    }
}
