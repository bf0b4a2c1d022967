//! The `auto` normalizer's prefilter: which packs' `detect` conditions can possibly accept a
//! line, decided by one Aho-Corasick pass over it.
//!
//! Every pack's `detect` condition is turned, once, into the literals any text it accepts must
//! contain ([`Need`]): `contains`/`contains_all` each, one of `contains_any`, the `starts_with`
//! and `equals` text, and for a `regex` what `regex-syntax` says every match holds: the prefixes
//! and suffixes of its literal extraction when they are finite, and the literals of its syntax
//! tree that every match passes through (concatenations need all of their parts' literals,
//! alternations one branch's, repetitions of at least one their body's). A condition that
//! reads no text (a query over the event, a test of another field) or whose tests require no
//! literal needs nothing: its pack is always asked.
//!
//! Per line, one overlapping Aho-Corasick scan over all the packs' literals marks those
//! present; a pack whose need is not met is skipped, because its condition cannot hold. A need
//! is only ever a *necessary* condition, so the packs still asked run their own `detect` in
//! library order as before: the prefilter changes what is skipped, never what is chosen.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};
use std::collections::HashMap;

use crate::tree::{Condition, Predicate};

/// Literals shorter than this are not worth a pattern (`[`, `,` occur in almost every line):
/// a need on one is dropped (made [`Need::Nothing`]), which only makes the filter weaker.
const MIN_LITERAL: usize = 2;

/// At most this many distinct literals; a need on one more is dropped. Keeps the per-line set
/// of found literals on the stack.
const MAX_LITERALS: usize = 64 * WORDS;
const WORDS: usize = 8;

/// A regex's prefix or suffix list longer than this is not used.
const MAX_ALTERNATIVES: usize = 16;

/// The literals a text must contain for a condition to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    /// No requirement: always possible.
    Nothing,
    /// Literal number `n` must occur.
    Lit(usize),
    /// Every part must be met.
    All(Vec<Need>),
    /// At least one part must be met.
    Any(Vec<Need>),
}

impl Need {
    fn all(parts: Vec<Need>) -> Need {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Need::Nothing => {}
                Need::All(inner) => out.extend(inner),
                p => {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        match out.len() {
            0 => Need::Nothing,
            1 => out.pop().unwrap_or(Need::Nothing),
            _ => Need::All(out),
        }
    }

    fn any(parts: Vec<Need>) -> Need {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Need::Nothing => return Need::Nothing,
                Need::Any(inner) => out.extend(inner),
                p => {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        match out.len() {
            // an alternation of nothing matches nothing; "needs nothing" stays true to it
            0 => Need::Nothing,
            1 => out.pop().unwrap_or(Need::Nothing),
            _ => Need::Any(out),
        }
    }

    fn met(&self, found: &Found) -> bool {
        match self {
            Need::Nothing => true,
            Need::Lit(n) => found.has(*n),
            Need::All(parts) => parts.iter().all(|p| p.met(found)),
            Need::Any(parts) => parts.iter().any(|p| p.met(found)),
        }
    }
}

/// The set of literals found in one text.
#[derive(Debug, Default)]
pub(crate) struct Found([u64; WORDS]);

impl Found {
    fn set(&mut self, n: usize) {
        if let Some(w) = self.0.get_mut(n / 64) {
            *w |= 1 << (n % 64);
        }
    }

    fn has(&self, n: usize) -> bool {
        self.0.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
    }
}

/// The distinct literals of all needs, numbered.
#[derive(Debug, Default)]
struct Literals {
    ids: HashMap<Vec<u8>, usize>,
    list: Vec<Vec<u8>>,
}

impl Literals {
    fn need(&mut self, lit: &[u8]) -> Need {
        if lit.len() < MIN_LITERAL {
            return Need::Nothing;
        }
        if let Some(&n) = self.ids.get(lit) {
            return Need::Lit(n);
        }
        if self.list.len() >= MAX_LITERALS {
            return Need::Nothing;
        }
        let n = self.list.len();
        self.ids.insert(lit.to_vec(), n);
        self.list.push(lit.to_vec());
        Need::Lit(n)
    }

    /// What a condition evaluated on a text needs of that text.
    fn condition(&mut self, c: &Condition) -> Need {
        match c {
            // decided on the event, not on the text
            Condition::Query(_) | Condition::Values(_) => Need::Nothing,
            Condition::Pred(p) => self.predicate(p),
        }
    }

    fn predicate(&mut self, p: &Predicate) -> Need {
        let mut parts = Vec::new();
        // a test of another field reads that field, not the text
        if p.field.is_none() {
            if let Some(s) = &p.starts_with {
                parts.push(self.need(s.as_bytes()));
            }
            for s in &p.contains {
                parts.push(self.need(s.as_bytes()));
            }
            if !p.contains_any.is_empty() {
                let any = p
                    .contains_any
                    .iter()
                    .map(|s| self.need(s.as_bytes()))
                    .collect();
                parts.push(Need::any(any));
            }
            if let Some(s) = &p.equals {
                parts.push(self.need(s.as_bytes()));
            }
            if let Some(r) = &p.regex {
                parts.push(self.regex(r.as_str()));
            }
        }
        // `any` sub-conditions see the same text; `not` ones only ever reject
        if !p.any.is_empty() {
            let any = p.any.iter().map(|c| self.condition(c)).collect();
            parts.push(Need::any(any));
        }
        Need::all(parts)
    }

    /// What every match of `pattern` contains (parsed as the `regex` crate parses it).
    fn regex(&mut self, pattern: &str) -> Need {
        let Ok(hir) = regex_syntax::parse(pattern) else {
            return Need::Nothing;
        };
        let mut parts = vec![self.hir(&hir)];
        for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
            let seq = Extractor::new().kind(kind).extract(&hir);
            // a long list (case-insensitive text) filters little and crowds the automaton
            if let Some(lits) = seq.literals().filter(|l| l.len() <= MAX_ALTERNATIVES) {
                let any = lits.iter().map(|l| self.need(l.as_bytes())).collect();
                parts.push(Need::any(any));
            }
        }
        Need::all(parts)
    }

    fn hir(&mut self, h: &Hir) -> Need {
        match h.kind() {
            HirKind::Literal(l) => self.need(&l.0),
            HirKind::Empty | HirKind::Class(_) | HirKind::Look(_) => Need::Nothing,
            HirKind::Repetition(r) if r.min >= 1 => self.hir(&r.sub),
            HirKind::Repetition(_) => Need::Nothing,
            HirKind::Capture(c) => self.hir(&c.sub),
            HirKind::Concat(subs) => {
                // adjacent literals as one (the parser usually merged them already)
                let mut parts = Vec::new();
                let mut run: Vec<u8> = Vec::new();
                for s in subs {
                    if let HirKind::Literal(l) = s.kind() {
                        run.extend_from_slice(&l.0);
                        continue;
                    }
                    if !run.is_empty() {
                        parts.push(self.need(&std::mem::take(&mut run)));
                    }
                    parts.push(self.hir(s));
                }
                if !run.is_empty() {
                    parts.push(self.need(&run));
                }
                Need::all(parts)
            }
            HirKind::Alternation(subs) => {
                let any = subs.iter().map(|s| self.hir(s)).collect();
                Need::any(any)
            }
        }
    }
}

/// The compiled prefilter: the candidates' needs and one automaton over their literals.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    needs: Vec<Need>,
    /// `None` when no candidate needs a literal.
    ac: Option<AhoCorasick>,
}

impl Prefilter {
    /// The prefilter of candidates with these `detect` conditions (in candidate order).
    pub(crate) fn new<'a>(conditions: impl IntoIterator<Item = Option<&'a Condition>>) -> Self {
        let mut lits = Literals::default();
        let needs: Vec<Need> = conditions
            .into_iter()
            .map(|c| c.map_or(Need::Nothing, |c| lits.condition(c)))
            .collect();
        let ac = if lits.list.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&lits.list)
                .ok()
        };
        // without an automaton nothing can be found: every need must be dropped
        let needs = if ac.is_some() {
            needs
        } else {
            vec![Need::Nothing; needs.len()]
        };
        Prefilter { needs, ac }
    }

    /// The literals found in `text`.
    pub(crate) fn scan(&self, text: &str) -> Found {
        let mut found = Found::default();
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(text) {
                found.set(m.pattern().as_usize());
            }
        }
        found
    }

    /// Whether candidate `i`'s condition can hold on a text whose literals are `found`.
    pub(crate) fn possible(&self, i: usize, found: &Found) -> bool {
        self.needs.get(i).is_none_or(|n| n.met(found))
    }

    /// What candidate `i` needs.
    #[cfg(test)]
    fn need(&self, i: usize) -> &Need {
        &self.needs[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits_of(pattern: &str) -> (Need, Vec<String>) {
        let mut l = Literals::default();
        let n = l.regex(pattern);
        let names = l
            .list
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        (n, names)
    }

    fn holds(pattern: &str, text: &str) -> bool {
        let mut l = Literals::default();
        let need = l.regex(pattern);
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&l.list)
            .ok();
        let mut found = Found::default();
        if let Some(ac) = &ac {
            for m in ac.find_overlapping_iter(text) {
                found.set(m.pattern().as_usize());
            }
        }
        need.met(&found)
    }

    #[test]
    fn regex_needs_hold_for_every_match() {
        let (need, names) = lits_of(r"\bsshd(?:\[\d+\])?: ");
        assert_ne!(need, Need::Nothing);
        assert!(names.iter().any(|n| n == "sshd"), "{names:?}");
        for (pattern, yes, no) in [
            (
                r"\bsshd(?:\[\d+\])?: ",
                "<38>Nov 22 07:00:00 h sshd[1]: x",
                "<38>Nov 22 07:00:00 h cron[1]: x",
            ),
            (
                r"kernel: .*\bSRC=\S+ DST=",
                "kernel: [1] SRC=1 DST=2",
                "kernel: SRC=1",
            ),
            (
                r"^(?:node=\S+ )?type=[A-Z_0-9]+ msg=audit\(\d+(?:\.\d+)?:\d+\):",
                "type=USER msg=audit(1.2:3): x",
                "type=USER msg=x",
            ),
            (r"(?i)failed password", "FAILED PASSWORD", ""),
            (r"a|b", "b", ""),
            (r"x*", "", ""),
        ] {
            assert!(regex::Regex::new(pattern).is_ok_and(|r| r.is_match(yes)));
            assert!(holds(pattern, yes), "{pattern} on {yes}");
            if !regex::Regex::new(pattern).is_ok_and(|r| r.is_match(no)) && !no.is_empty() {
                assert!(!holds(pattern, no), "{pattern} filters {no}");
            }
        }
        // no literal required at all
        assert_eq!(lits_of(r"\d+").0, Need::Nothing);
        assert_eq!(lits_of(r"(?:abc)?\w").0, Need::Nothing);
        assert_eq!(lits_of(r"abc|\d").0, Need::Nothing);
    }

    #[test]
    fn predicate_needs() {
        let p = Predicate {
            contains: vec!["devid=".into(), "logid=".into()],
            contains_any: vec!["\"a\"".into(), "\"b\"".into()],
            ..Predicate::default()
        };
        let cond = Condition::Pred(Box::new(p));
        let pf = Prefilter::new([Some(&cond), None]);
        assert_eq!(pf.need(1), &Need::Nothing);
        for (text, want) in [
            ("devid=1 logid=2 \"a\"", true),
            ("devid=1 logid=2 \"b\"", true),
            ("devid=1 logid=2", false),
            ("devid=1 \"a\"", false),
        ] {
            assert_eq!(pf.possible(0, &pf.scan(text)), want, "{text}");
        }
        // a test of another field needs nothing of the text
        let p = Predicate {
            field: Some("process.name".into()),
            starts_with: Some("postfix".into()),
            ..Predicate::default()
        };
        let cond = Condition::Pred(Box::new(p));
        let pf = Prefilter::new([Some(&cond)]);
        assert_eq!(pf.need(0), &Need::Nothing);
        assert!(pf.possible(0, &pf.scan("")));
    }
}
