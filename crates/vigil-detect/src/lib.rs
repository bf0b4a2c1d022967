//! Detection engine: Sigma rules compiled into one shared matcher, correlation, hunting.
//!
//! # What this crate owns
//! Everything between "a folder of Sigma YAML" and "this event matched these rules": the rule
//! model ([`SigmaRule`]), the detection and condition compiler, every Sigma v2 field modifier,
//! logsource routing and field mapping ([`Pipeline`]), the compiled shared matcher
//! ([`RuleSet`]), Sigma meta-filters, the correlation engine ([`Correlator`]) and the load
//! report ([`LoadProblem`]). It does not know the event model: events are read through the
//! [`SigmaEvent`] trait (implemented here for `serde_json::Value`, with
//! [`flatten_evtx_json`] for evtx_dump-style records).
//!
//! # Design: compile once, prefilter, evaluate little
//! 1. **Load** ([`load_dir`], [`Loader`]): every YAML document is read into a model, and every
//!    problem is collected (unknown modifiers, bad regexes, huge lists, unknown identifiers,
//!    ...). A rule that cannot run is reported with its path, id, title and reason; the others
//!    load.
//! 2. **Compile**: each value goes through the modifier pipeline (`value.rs`) into a matcher:
//!    exact / prefix / suffix / substring (memchr) / glob / regex (the linear-time `regex`
//!    crate with a size limit) / CIDR / numeric comparison / null / exists / field reference.
//!    Matching is case-insensitive unless `cased`; numbers in events match the text of rule
//!    values. The condition is parsed (`condition.rs`, recursive descent) and the search
//!    identifiers are inlined into one boolean tree (`tree.rs`).
//! 3. **Route**: the [`Pipeline`] turns a rule's logsource into one or more *variants*, each
//!    with event conditions (e.g. `Channel` + `EventID`) and field renames. Variants are put in
//!    buckets keyed by the two most used condition fields, so an event is only tested against
//!    the rules of its own channel and event id (plus rules with no such constraint).
//! 4. **Prefilter**: from each tree the compiler derives *necessary* literal conditions in
//!    conjunctive form (`tree.rs`, `Node::gates`): up to two sets of lowercase literals, each
//!    tied to the field it must appear in, such that every event the rule matches contains at
//!    least one literal of each set (`And` contributes its children's sets, `Or` unions, `Not`
//!    gives nothing; `|all` lists give one set per value; regexes give their required prefix
//!    literals via `regex-syntax`; literals are cut to their last 16 bytes). Each bucket has
//!    Aho-Corasick automata over the literals of its rules: one per field with many literals,
//!    fields with few literals packed into one shared DFA, plus one over all string values for
//!    keyword rules. Per event each automaton runs once over the NUL-separated lowercased
//!    values of its fields, and each hit is attributed to its field by position; a rule is
//!    evaluated only when all its literal sets were hit, or when it has no usable literal.
//!    Cost therefore grows with the rules that *could* match, not with the rule count.
//! 5. **Evaluate**: field values are read through [`SigmaEvent`] once per event into a reused
//!    buffer (text and lowercased text), so the hot path does not allocate; OR lists of
//!    substrings become one automaton, of exact values one hash set.
//! 6. **Explain**: when a rule matches, its tree is evaluated once more recording the field
//!    values of the positive checks, returned in [`Detection::matched`].
//!
//! # Adding a modifier
//! Add its name to `KNOWN` in `value.rs`, then either handle it as a type-changing modifier at
//! the top of `compile_values` (producing a `Matcher` variant and its evaluation in
//! `Matcher::is_match`), or as a value transformation in the per-value loop (mapping one
//! `SStr` to one or more). If it produces literals, the prefilter picks them up by itself;
//! otherwise return `None` from `matcher_needle` (`tree.rs`) for it. Add a unit test with the
//! specification's example.
//!
//! # Measuring
//! `cargo run --release -p vigil-detect --example throughput` prints events per second per core
//! (thread CPU time) for 100, 1,000 and all SigmaHQ Windows rules over the regression events;
//! `cargo bench -p vigil-detect --bench sigma` is the criterion version;
//! [`RuleSet::matches_with_cost`] reports the work done for one event and
//! [`RuleSet::ungated_rules`] lists the rules the prefilter cannot skip.
//!
//! # Hunting and rule tests (feature `hunt`)
//! [`hunt`] reads EVTX (the `evtx` crate), JSON and text files and runs a [`RuleSet`] over
//! them on several threads, for `vigil hunt`; [`ruletest`] finds and runs SigmaHQ regression
//! cases and tests attached to rules, and adds document-level lint checks, for
//! `vigil rules test` and `vigil rules lint`. Both are behind the `hunt` feature so the
//! engine alone compiles without the EVTX parser.
//!
//! # Vigil's events (feature `event`)
//! [`SigmaView`] reads a `vigil_event::Event` as the engine sees events: the source's own field
//! names first (Windows `EventData`, CEF keys), then Vigil's names and aliases. It is the only
//! place this crate meets the event model, behind a feature so the engine alone knows none.
//!
//! # Regexes
//! Rule regexes use the `regex` crate (linear time, no look-around or backreferences). The
//! SigmaHQ corpus has no rule that needs look-around; a rule that does is reported as not
//! loadable with that reason, rather than run with a backtracking engine.

#![warn(missing_docs)]

mod condition;
mod correlation;
mod engine;
mod event;
#[cfg(feature = "event")]
mod event_view;
#[cfg(feature = "hunt")]
pub mod hunt;
mod load;
mod pipeline;
mod rule;
#[cfg(feature = "hunt")]
pub mod ruletest;
mod tree;
mod value;

pub use correlation::{
    CmpCond, CorrelationAlert, CorrelationRule, CorrelationType, Correlator,
    DEFAULT_ALLOWED_LATENESS_MS, parse_timespan,
};
pub use engine::{
    DEFAULT_SCAN_CACHE_SLOTS, Detection, EvalCost, MatchedField, RuleInfo, RuleSet, RuleSetStats,
};
pub use event::{FieldValue, SigmaEvent, flatten_evtx_json};
#[cfg(feature = "event")]
pub use event_view::SigmaView;
pub use load::{LoadOptions, LoadProblem, Loader, Severity, load_dir, load_str};
pub use pipeline::{Error, LogsourceMapping, Pipeline};
pub use rule::{LogSource, SigmaRule};

#[cfg(test)]
mod tests {
    #[test]
    fn shared_types_are_thread_safe() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::RuleSet>();
        send_sync::<crate::Detection>();
        send_sync::<crate::Correlator>();
        send_sync::<crate::Pipeline>();
    }
}
