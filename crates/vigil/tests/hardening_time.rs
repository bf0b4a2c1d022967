//! Issue 11, point 2: no stored event is outside every search. A sender that dates its events
//! `9999-12-31` or `1900-01-01` must not be able to hide them. Real `vigil up` processes on
//! 127.0.0.1, bounded waits.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::panic)] // test code

mod support;

use serde_json::Value;
use support::{Vigil, tmp};

const FAR_FUTURE: &str = "<14>1 9999-12-31T23:59:59Z web01 app - - - hiddenmarker far future";
const END_OF_TIME: &str =
    "<14>1 2262-04-11T23:47:16.854775808Z web01 app - - - hiddenmarker end of time";
const LONG_AGO: &str = "<14>1 1900-01-01T00:00:00Z web01 app - - - hiddenmarker long ago";

fn events(v: &Vigil, q: &str, from: Option<&str>, to: Option<&str>) -> Vec<Value> {
    v.search_range(q, from, to)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn by_message<'a>(evs: &'a [Value], words: &str) -> &'a Value {
    evs.iter()
        .find(|e| e["message"].as_str().is_some_and(|m| m.ends_with(words)))
        .unwrap_or_else(|| panic!("no event '{words}' in {evs:#?}"))
}

#[test]
fn far_future_timestamps_stay_searchable() {
    let dir = tmp();
    let v = Vigil::start(&dir.path().join("data"), None);
    v.send_tcp(&[FAR_FUTURE, END_OF_TIME, LONG_AGO]);
    // a search without from/to
    assert_eq!(v.wait_count("hiddenmarker", 3), 3);
    let all = events(&v, "hiddenmarker", None, None);
    assert_eq!(all.len(), 3, "{all:#?}");
    // a search over the last minutes (what a console shows by default) finds them too: their
    // @timestamp is the receive time
    let recent = events(&v, "hiddenmarker", Some("15m"), Some("now"));
    assert_eq!(recent.len(), 3, "{recent:#?}");
    let recent_open = events(&v, "hiddenmarker", Some("15m"), None);
    assert_eq!(recent_open.len(), 3, "{recent_open:#?}");
    // the flag, and the source's own time kept
    assert_eq!(v.count("tags:implausible_timestamp"), 3);
    for (words, original) in [
        ("far future", "2262-04-11T23:47:16.854775807Z"),
        ("end of time", "2262-04-11T23:47:16.854775807Z"),
        ("long ago", "1900-01-01T00:00:00Z"),
    ] {
        let e = by_message(&all, words);
        assert_eq!(e["vigil"]["original_timestamp"], original, "{e:#}");
        assert_eq!(e["@timestamp"], e["event"]["ingested"], "{e:#}");
        assert!(
            e["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "implausible_timestamp")),
            "{e:#}"
        );
    }
    // the counter
    let metrics = v.metrics();
    let counted: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("vigil_component_errors_total")
                && l.contains("component_kind=\"normalizer\"")
                && l.contains("reason=\"implausible_timestamp\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(counted, 3.0, "{metrics}");
    v.stop();
}

/// With the policy opened up (`max_future_skew: 1000years`), an event keeps its source time
/// even at the last representable instant; the default range still includes it.
#[test]
fn events_at_the_end_of_time_are_found_without_a_range() {
    let dir = tmp();
    let cfg = dir.path().join("vigil.yaml");
    std::fs::write(
        &cfg,
        "version: 1\ncollectors:\n  - id: syslog\n    connector: { type: syslog, tcp: \"127.0.0.1:5514\" }\npipeline:\n  max_future_skew: 1000years\n",
    )
    .unwrap();
    let v = Vigil::start(&dir.path().join("data"), Some(&cfg));
    v.send_tcp(&[FAR_FUTURE, END_OF_TIME]);
    assert_eq!(v.wait_count("hiddenmarker", 2), 2);
    let all = events(&v, "hiddenmarker", None, None);
    assert_eq!(all.len(), 2, "{all:#?}");
    for e in &all {
        assert_eq!(e["@timestamp"], "2262-04-11T23:47:16.854775807Z", "{e:#}");
        assert!(e["tags"].is_null(), "{e:#}");
    }
    // an open-ended range from a recent instant includes the end of time
    assert_eq!(events(&v, "hiddenmarker", Some("15m"), None).len(), 2);
    v.stop();
}
