//! The EVTX connector on the shared corpora: record counts of the evtx crate's own samples
//! (including damaged files), nothing read twice after a restart, and events that are the
//! same as the Windows event XML normalizer makes, checked field by field against the
//! evtx_dump JSON of the Sigma regression samples.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_config::EvtxConfig;
use vigil_event::{Normalizer, RawRecord};
use vigil_ingest::evtx::{EvtxConnector, EvtxSettings};
use vigil_pipeline::{
    ComponentMetrics, ComponentSnapshot, Connector, ConnectorContext, RawBatch, Shutdown,
    SourceInfo,
};

fn source() -> Arc<SourceInfo> {
    Arc::new(SourceInfo {
        id: "win".into(),
        tenant: "main".into(),
        collector: "c".into(),
    })
}

/// Runs the connector until `files` files are done (bounded), then stops it; the records and
/// the counters.
async fn import(settings: EvtxSettings, files: i64) -> (Vec<RawRecord>, ComponentSnapshot) {
    let connector = EvtxConnector::new(settings).unwrap();
    let (tx, rx) = flume::bounded::<RawBatch>(16);
    let shutdown = Shutdown::new();
    let metrics = ComponentMetrics::detached("connector", "win");
    let ctx = ConnectorContext {
        out: tx,
        shutdown: shutdown.signal(),
        metrics: metrics.clone(),
        source: source(),
        shutdown_all: shutdown.clone(),
    };
    let task = tokio::spawn(Box::new(connector).run(ctx));
    let mut records = Vec::new();
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        while let Ok(b) = rx.try_recv() {
            records.extend(b.records);
        }
        let done = metrics.snapshot().gauges.get("files_done").copied();
        if done >= Some(files) || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    while !task.is_finished() {
        while let Ok(b) = rx.try_recv() {
            records.extend(b.records);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.await.unwrap().unwrap();
    while let Ok(b) = rx.try_recv() {
        records.extend(b.records);
    }
    (records, metrics.snapshot())
}

fn settings(paths: Vec<PathBuf>, state: &Path) -> EvtxSettings {
    EvtxConfig {
        paths,
        scan_interval: Duration::from_millis(50),
        state_dir: state.to_path_buf(),
    }
}

/// `full_parse_counts` of `evtx-rs-parser-samples/EXPECTED.yml` (the evtx crate's own test
/// expectations): good records and error records per sample.
const EXPECTED: &[(&str, u64, u64)] = &[
    (
        "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
        1910,
        4,
    ),
    ("2-vss_7-System.evtx", 1160, 0),
    ("Application_no_crc32.evtx", 17, 0),
    (
        "E_ShadowCopy6_windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx",
        459,
        0,
    ),
    (
        "E_Windows_system32_winevt_logs_Microsoft-Windows-Shell-Core%4Operational.evtx",
        1146,
        0,
    ),
    ("Microsoft-Windows-HelloForBusiness%4Operational.evtx", 6, 0),
    (
        "Microsoft-Windows-LanguagePackSetup%4Operational.evtx",
        17,
        0,
    ),
    ("post-Security.evtx", 126, 0),
    ("sample-with-irregular-bool-values.evtx", 3028, 0),
    ("sample_with_a_bad_chunk_magic.evtx", 270, 2),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_import_matches_the_parser_samples_counts_and_is_not_repeated() {
    let Some(corpus) = vigil_testkit::corpus("evtx-rs-parser-samples") else {
        return;
    };
    // a folder of the samples with published counts (links: the corpus is not copied)
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("logs");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    for (i, (name, _, _)) in EXPECTED.iter().enumerate() {
        let to = if i % 2 == 0 {
            folder.join(name)
        } else {
            folder.join("nested").join(name)
        };
        std::os::unix::fs::symlink(corpus.join("samples").join(name), to).unwrap();
    }
    std::fs::write(folder.join("notes.txt"), "not an event log\n").unwrap();
    let state = dir.path().join("state");
    let (records, snap) = import(settings(vec![folder.clone()], &state), 10).await;
    // every record the reader finds (upstream's counts, checked above), each sent once
    let (good, bad) = EXPECTED.iter().fold((0, 0), |(g, b), (name, _, _)| {
        let (ok, err) = read_counts(&corpus.join("samples").join(name));
        (g + ok, b + err)
    });
    assert!(good >= EXPECTED.iter().map(|e| e.1).sum::<u64>());
    assert_eq!(
        records.len() as u64,
        good,
        "records of {}",
        folder.display()
    );
    assert_eq!(snap.events_in, good);
    assert_eq!(
        snap.errors.get("evtx_record"),
        Some(&bad),
        "damaged chunks and records"
    );
    assert!(records.iter().all(|r| r.data.starts_with(b"<Event ")));
    // no line breaks between elements of the header: the packs' `detect` patterns read the
    // System section on the record's first line (values keep their own line breaks)
    for r in &records {
        let text = String::from_utf8_lossy(&r.data);
        let first = text.lines().next().unwrap_or_default();
        assert!(first.contains("</System>"), "one event a line: {text}");
    }
    // restarted: every file is done, nothing is sent again
    let (again, snap) = import(settings(vec![folder], &state), 10).await;
    assert_eq!(again.len(), 0);
    assert_eq!(snap.gauges.get("files_done"), Some(&10));
}

/// evtx_dump JSON files hold pretty-printed objects one after another.
fn json_stream(path: &Path) -> Vec<serde_json::Value> {
    let bytes = vigil_testkit::read_capped(path, 64 << 20);
    serde_json::Deserializer::from_slice(&bytes)
        .into_iter::<serde_json::Value>()
        .map(Result::unwrap)
        .collect()
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value for comparison: GUIDs are rendered `{lowercase}` in the evtx crate's XML and
/// `UPPERCASE` without braces in its JSON (Windows itself writes `{UPPERCASE}`); Sigma and the
/// query language compare them case-insensitively.
/// Trailing spaces too: the JSON files of the corpus have them trimmed (`cmd.exe" ` in the
/// XML is `cmd.exe"` there).
fn same_value(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end(), b.trim_end());
    a == b
        || a.trim_matches(['{', '}'])
            .eq_ignore_ascii_case(b.trim_matches(['{', '}']))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_those_of_the_windows_xml_normalizer() {
    let Some(sigma) = vigil_testkit::corpus("sigma") else {
        return;
    };
    let data = sigma.join("regression_data");
    let files = vigil_ingest::evtx::evtx_files(std::slice::from_ref(&data));
    assert!(files.len() > 100, "{} EVTX files", files.len());
    let dir = tempfile::tempdir().unwrap();
    let (records, snap) = import(settings(vec![data], dir.path()), files.len() as i64).await;
    assert_eq!(snap.errors.get("evtx_file"), None);
    // the reference: evtx_dump's JSON of the same records, flattened as for Sigma
    let mut expected: HashMap<(String, String), Vec<serde_json::Value>> = HashMap::new();
    let mut n_expected = 0;
    for f in &files {
        for v in json_stream(&f.with_extension("json")) {
            let flat = vigil_detect::flatten_evtx_json(&v);
            let key = (text(&flat["Computer"]), text(&flat["EventRecordID"]));
            expected.entry(key).or_default().push(flat);
            n_expected += 1;
        }
    }
    assert_eq!(records.len(), n_expected, "one record per event");
    // the normalizer a collector of `type: evtx` gets by default
    let lib = vigil_normalize::Library::builtin().unwrap();
    let norm = vigil_normalize::AutoNormalizer::new(&lib, chrono_tz::UTC).unwrap();
    let src = source();
    let mut compared_fields = 0;
    for rec in records {
        let mut out = Vec::new();
        norm.normalize(&src, rec, &mut out);
        assert_eq!(out.len(), 1);
        let ev = &out[0];
        assert_eq!(
            ev.meta.parse_error,
            None,
            "{}",
            String::from_utf8_lossy(&ev.raw)
        );
        // the XML normalizer keeps data names as written (`Threat Name`); the Sigma view of
        // the JSON removes the spaces (`ThreatName`)
        let orig: HashMap<String, String> = ev
            .original
            .iter()
            .map(|(k, v)| (k.replace(' ', ""), v.to_string()))
            .collect();
        let get = |k: &str| orig.get(k).cloned();
        let key = (
            get("Computer").unwrap_or_default(),
            get("EventRecordID").unwrap_or_default(),
        );
        let candidates = expected
            .get(&key)
            .unwrap_or_else(|| panic!("no JSON event {key:?}"));
        // every field of the JSON rendering that is not a System attribute is in the event
        // with the same value
        let same = candidates.iter().any(|flat| {
            flat.as_object().unwrap().iter().all(|(k, v)| {
                matches!(
                    k.as_str(),
                    "TimeCreated"
                        | "ProcessID"
                        | "ThreadID"
                        | "UserID"
                        | "Provider_Guid"
                        | "Provider_Name"
                        | "Provider_EventSourceName"
                        | "Qualifiers"
                        | "Version"
                        | "Correlation"
                        | "ActivityID"
                        | "RelatedActivityID"
                        | "Keywords"
                        | "Security"
                        | "Data"
                ) || v.is_null()
                    || v.is_object()
                    || v.is_array()
                    || get(k).is_some_and(|e| same_value(&e, &text(v)))
            })
        });
        if !same {
            let flat = &candidates[0];
            let diff: Vec<_> = flat
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| v.is_string() && !get(k).is_some_and(|e| same_value(&e, &text(v))))
                .map(|(k, v)| format!("{k}: json {v} event {:?}", get(k)))
                .take(5)
                .collect();
            panic!("event {key:?} differs: {diff:#?}");
        }
        compared_fields += ev.original.iter().count();
    }
    assert!(compared_fields > n_expected * 5);
}

#[test]
fn the_reader_counts_the_samples_records_as_upstream() {
    let Some(corpus) = vigil_testkit::corpus("evtx-rs-parser-samples") else {
        return;
    };
    for (name, good, bad) in EXPECTED {
        let (ok, err) = read_counts(&corpus.join("samples").join(name));
        if name.contains("bad_chunk_magic") {
            // without checksum validation the damaged chunk's neighbours give more records
            // than upstream's count; every record upstream reads is among them
            assert!(ok >= *good && err >= 1, "{name}: {ok} good, {err} bad");
        } else {
            assert_eq!((ok, err), (*good, *bad), "{name}: good and bad records");
        }
    }
}

/// Good and bad records of one file through the reader the connector uses.
fn read_counts(path: &Path) -> (u64, u64) {
    let (mut ok, mut err) = (0, 0);
    vigil_detect::hunt::read_evtx_xml(path, 1, false, &mut |r| {
        match r {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        true
    })
    .unwrap();
    (ok, err)
}
