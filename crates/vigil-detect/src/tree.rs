//! The compiled form of a rule: a boolean tree over field checks, its evaluation, and the
//! derivation of the literals the prefilter needs.

use std::collections::HashMap;

use crate::value::{EvalCtx, Matcher, StrPat, Vals};

/// One field tested against a list of matchers.
#[derive(Debug, Clone)]
pub(crate) struct FieldCheck {
    pub field: Box<str>,
    pub matchers: Vec<Matcher>,
    /// `|all`: every matcher must match (some value); otherwise any.
    pub all: bool,
}

/// A keyword (full text) check: matchers over every string value of the event.
#[derive(Debug, Clone)]
pub(crate) struct KeywordCheck {
    pub matchers: Vec<Matcher>,
    pub all: bool,
}

/// A compiled condition tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    AtLeast(usize, Vec<Node>),
    Field(FieldCheck),
    Keyword(KeywordCheck),
    Const(bool),
}

/// Records the field values that made a rule match (for explainable alerts).
pub(crate) type Recorder = Vec<(String, String)>;

impl FieldCheck {
    fn eval(&self, ctx: &EvalCtx<'_>, rec: Option<&mut Recorder>) -> bool {
        let vals = ctx.values(&self.field);
        let (result, matched) = eval_matchers(&self.matchers, self.all, &vals, ctx);
        if result && let Some(rec) = rec {
            rec.push((
                self.field.to_string(),
                matched.unwrap_or_else(|| "<absent>".into()),
            ));
        }
        result
    }
}

/// Evaluate matchers over a field's values: OR (any matcher, any value) or `all` (every
/// matcher matches some value). Absent fields use each matcher's `on_absent`.
fn eval_matchers(
    ms: &[Matcher],
    all: bool,
    vals: &Vals<'_>,
    ctx: &EvalCtx<'_>,
) -> (bool, Option<String>) {
    if vals.is_empty() {
        let r = if all {
            !ms.is_empty() && ms.iter().all(Matcher::on_absent)
        } else {
            ms.iter().any(Matcher::on_absent)
        };
        return (r, None);
    }
    if all {
        let mut first = None;
        for m in ms {
            match (0..vals.len())
                .map(|i| vals.get(i))
                .find(|v| m.is_match(v, ctx))
            {
                Some(v) => {
                    if first.is_none() {
                        first = Some(v.display());
                    }
                }
                None => return (false, None),
            }
        }
        (!ms.is_empty(), first)
    } else {
        for v in (0..vals.len()).map(|i| vals.get(i)) {
            if ms.iter().any(|m| m.is_match(&v, ctx)) {
                return (true, Some(v.display()));
            }
        }
        (false, None)
    }
}

impl KeywordCheck {
    fn eval(&self, ctx: &EvalCtx<'_>, rec: Option<&mut Recorder>) -> bool {
        let vals = ctx.all_values();
        let (result, matched) = eval_matchers(&self.matchers, self.all, &vals, ctx);
        let result = result && !vals.is_empty();
        if result && let Some(rec) = rec {
            rec.push(("<keyword>".into(), matched.unwrap_or_default()));
        }
        result
    }
}

impl Node {
    /// Evaluate against an event. With a recorder, the positive leaf checks are recorded.
    pub fn eval(&self, ctx: &EvalCtx<'_>, mut rec: Option<&mut Recorder>) -> bool {
        match self {
            Node::And(xs) => xs.iter().all(|x| x.eval(ctx, rec.as_deref_mut())),
            Node::Or(xs) => xs.iter().any(|x| x.eval(ctx, rec.as_deref_mut())),
            Node::Not(x) => !x.eval(ctx, None),
            Node::AtLeast(k, xs) => {
                let mut c = 0;
                for x in xs {
                    if x.eval(ctx, rec.as_deref_mut()) {
                        c += 1;
                        if c >= *k {
                            return true;
                        }
                    }
                }
                false
            }
            Node::Field(f) => f.eval(ctx, rec),
            Node::Keyword(k) => k.eval(ctx, rec),
            Node::Const(b) => *b,
        }
    }

    /// Rename fields (logsource field mapping).
    pub fn rename(&mut self, map: &HashMap<String, String>) {
        match self {
            Node::And(xs) | Node::Or(xs) | Node::AtLeast(_, xs) => {
                xs.iter_mut().for_each(|x| x.rename(map))
            }
            Node::Not(x) => x.rename(map),
            Node::Field(f) => {
                if let Some(n) = map.get(&*f.field) {
                    f.field = n.as_str().into();
                }
                for m in &mut f.matchers {
                    if let Matcher::FieldRef { field, .. } = m
                        && let Some(n) = map.get(&**field)
                    {
                        *field = n.as_str().into();
                    }
                }
            }
            Node::Keyword(_) | Node::Const(_) => {}
        }
    }

    /// Necessary literal conditions in conjunctive form: for every event this node matches,
    /// each returned set has at least one literal present in (the lowercased text of) its
    /// field. At most `max` sets, most selective first; empty when nothing is known.
    pub fn gates(&self, max: usize) -> Vec<Vec<Needle>> {
        let mut out: Vec<Vec<Needle>> = match self {
            Node::And(xs) => xs.iter().flat_map(|x| x.gates(max)).collect(),
            Node::Field(FieldCheck {
                matchers,
                all: true,
                field,
            }) => matchers
                .iter()
                .filter_map(|m| {
                    matcher_needle(m)
                        .map(|ns| ns.into_iter().map(|n| (Some(field.clone()), n)).collect())
                })
                .collect(),
            Node::Keyword(KeywordCheck {
                matchers,
                all: true,
            }) => matchers
                .iter()
                .filter_map(|m| {
                    matcher_needle(m).map(|ns| ns.into_iter().map(|n| (None, n)).collect())
                })
                .collect(),
            other => other.needles().into_iter().collect(),
        };
        out.sort_by_key(|s| std::cmp::Reverse(score(s)));
        out.dedup();
        out.truncate(max);
        out
    }

    /// A set of literals of which at least one appears in its field for every event this
    /// node matches, or `None` when no such set is known.
    pub fn needles(&self) -> Option<Vec<Needle>> {
        match self {
            Node::And(xs) => xs.iter().filter_map(Node::needles).max_by_key(|s| score(s)),
            Node::Or(xs) | Node::AtLeast(_, xs) => {
                if let Node::AtLeast(0, _) = self {
                    return None;
                }
                let mut out = Vec::new();
                for x in xs {
                    out.extend(x.needles()?);
                }
                Some(out)
            }
            Node::Not(_) | Node::Const(_) => None,
            Node::Field(FieldCheck {
                matchers,
                all,
                field,
            }) => field_needles(matchers, *all, Some(&**field)),
            Node::Keyword(KeywordCheck { matchers, all }) => field_needles(matchers, *all, None),
        }
    }
}

/// A prefilter literal and the field it must appear in (`None`: any string value).
pub(crate) type Needle = (Option<Box<str>>, Box<str>);

fn field_needles(matchers: &[Matcher], all: bool, field: Option<&str>) -> Option<Vec<Needle>> {
    if all {
        matchers
            .iter()
            .filter_map(|m| {
                matcher_needle(m).map(|ns| {
                    ns.into_iter()
                        .map(|n| (field.map(Into::into), n))
                        .collect::<Vec<_>>()
                })
            })
            .max_by_key(|s| score(s))
    } else {
        let mut out = Vec::new();
        for m in matchers {
            out.extend(
                matcher_needle(m)?
                    .into_iter()
                    .map(|n| (field.map(Into::into), n)),
            );
        }
        if out.is_empty() { None } else { Some(out) }
    }
}

impl Node {
    /// Speed up evaluation (after the prefilter literals have been derived): OR lists of
    /// string values are grouped into one automaton or set.
    pub fn optimize(&mut self) {
        match self {
            Node::And(xs) | Node::Or(xs) | Node::AtLeast(_, xs) => {
                xs.iter_mut().for_each(Node::optimize)
            }
            Node::Not(x) => x.optimize(),
            Node::Field(FieldCheck {
                matchers,
                all: false,
                ..
            })
            | Node::Keyword(KeywordCheck {
                matchers,
                all: false,
            }) => {
                *matchers = crate::value::group_or(std::mem::take(matchers));
            }
            _ => {}
        }
    }
}

/// Preference among candidate needle sets: the shortest needle counts most, then fewer
/// alternatives.
fn score(s: &[Needle]) -> (usize, i64) {
    let min = s.iter().map(|(_, n)| n.len().min(16)).min().unwrap_or(0);
    (min, -(s.len() as i64))
}

/// The literals one of which must be present in the (lowercased) value when `m` matches.
fn matcher_needle(m: &Matcher) -> Option<Vec<Box<str>>> {
    match m {
        Matcher::Str {
            needle: Some(n),
            pat,
            ..
        } if !matches!(pat, StrPat::Any) && !n.is_empty() => Some(vec![shorten(n)]),
        Matcher::Re(_, Some(lits)) => {
            let mut out: Vec<Box<str>> = Vec::with_capacity(lits.len());
            for l in lits {
                let s = shorten(l);
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Longest prefilter literal kept, in bytes. Any substring of a required literal is itself
/// required, so long literals are cut to their tail (the distinctive end of paths and
/// command lines): the automata stay small enough for the CPU caches.
const MAX_NEEDLE: usize = 16;

fn shorten(n: &str) -> Box<str> {
    if n.len() <= MAX_NEEDLE {
        return n.into();
    }
    let mut start = n.len() - MAX_NEEDLE;
    while !n.is_char_boundary(start) {
        start += 1;
    }
    n[start..].into()
}
