//! Stateful correlation on event time: KUMA's correlator, with sequences and absences, active
//! lists and context tables, snapshots, explain and rule tests.
//!
//! # What this crate owns, and why it is its own crate
//! `vigil-detect` is the Sigma engine and knows no event model (it reads events through its
//! `SigmaEvent` trait). Correlation rules select events with the query language
//! (`vigil-query`), read and write typed event fields and produce correlation *events*
//! (`vigil-event`), so the correlator sits one level above: it depends on all three and reuses
//! the Sigma engine for selectors written as Sigma detection blocks. The binary wires it in as
//! a destination; this crate does no I/O besides reading rule files.
//!
//! # The pipeline
//! 1. **Load** ([`Loader`], [`load_dir`]): rule files (one rule per file, or `rules:`,
//!    `active_lists:`, `context_tables:`) are decoded with every problem reported with its file
//!    and path (`selectors[1].query: ...`); a rule with a problem is left out, the others load.
//!    The format is documented in `docs/correlation.md`; [`json_schema`] is its JSON schema.
//! 2. **Select**: per event, the query selectors are prefiltered by one field each (the most
//!    selective equality the query requires: `event.action`, `event.code`, ...) through one hash
//!    lookup per routed field, then evaluated; Sigma blocks go through one shared Sigma rule set.
//!    Membership tests on lists/tables run last. A rule matched by an event keeps a *fact*: its
//!    time, id, which selectors matched, the group key and the few fields it needs.
//! 3. **Order**: each rule has an allowed lateness and a watermark (newest event time seen minus
//!    the lateness, or later when the caller declares it with [`Engine::advance_watermark`]).
//!    Facts wait in a per-rule reorder buffer and are evaluated in event-time order once the
//!    watermark reaches them, so results do not depend on arrival order within the lateness. A
//!    fact older than the watermark is *late*: counted per rule, and dropped or evaluated in a
//!    separate late window per the rule's `late_policy`.
//! 4. **Evaluate**: per rule and group (tenant + `group_by` values) a bucket: standard rules keep
//!    per selector the most recent `threshold` events (or distinct values) within the window,
//!    so memory per bucket is bounded by the thresholds; sequences keep partial matches (capped);
//!    absences keep a deadline that fires only when the watermark has passed it. Timers
//!    (window ends, absence deadlines) run interleaved with facts in event-time order.
//! 5. **Act**: a firing passes the per-group rate limit, updates active lists and context
//!    tables, and emits a correlation event (type `correlation`, base event ids and the selector
//!    each satisfied, group-by values, rule id and version, ATT&CK tactics and techniques,
//!    severity) that is returned as an [`Output`] for the core (alert) and looped back into the
//!    engine so rules can chain, up to [`EngineOptions::max_depth`].
//! 6. **Persist**: [`Engine::snapshot`] / [`Engine::restore`] carry every buffer, bucket, timer
//!    and list entry, keyed by rule id, version and a fingerprint of the rule's logic, so a
//!    restart loses nothing and [`Engine::reload`] keeps the state of unchanged rules.
//!
//! # Explain and tests
//! [`Engine::rule_report`] gives a rule's open buckets, estimated memory, evaluations, matches,
//! late events and firings; [`Engine::explain_group`] says why a group has not fired. Rules
//! carry their own tests ([`run_tests`]); [`retroscan`] replays events through two rule sets
//! and diffs the alerts.

#![warn(missing_docs)]

mod compile;
mod engine;
pub mod raw;
mod retro;
mod ruletest;
pub mod shipped;
pub mod store;

pub use compile::{
    KINDS, ListAction, LoadProblem, Loader, MAX_SELECTORS, MAX_THRESHOLD, Membership, Rule, Rules,
    Selector, is_rule_file, json_schema, load_dir, load_str, parse_duration,
};
pub use engine::{
    Engine, EngineOptions, GroupExplain, Output, RestoreReport, RuleReport, RuleStats,
    SNAPSHOT_VERSION, SnapshotError,
};
pub use retro::{RetroReport, RetroRule, Retroscan, retroscan};
pub use ruletest::{
    TestAlerts, TestFailure, TestReport, run_tests, run_tests_with_alerts, test_event,
};
pub use store::{Entry, StoreDef, StoreError, StoreKind, StoreStats, Stores};

#[cfg(test)]
mod tests {
    #[test]
    fn engine_is_send() {
        fn send<T: Send>() {}
        send::<crate::Engine>();
    }
}
