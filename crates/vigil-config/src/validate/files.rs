//! The `file` and `evtx` connectors' settings: paths, globs and patterns checked here, so
//! `vigil validate` names a bad one by its config path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{V, parse_size};
use crate::raw::{RawEvtx, RawFile, RawJournal, RawMultilineMatch, RawStartAt};

/// Where a file connector starts in a file it has no saved position for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The first byte.
    #[default]
    Beginning,
    /// The current end.
    End,
}

impl From<RawStartAt> for StartAt {
    fn from(r: RawStartAt) -> StartAt {
        match r {
            RawStartAt::Beginning => StartAt::Beginning,
            RawStartAt::End => StartAt::End,
        }
    }
}

/// Validated settings of a file connector, and its runtime settings
/// (`vigil_ingest::file::FileSettings` is this type).
#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    /// Absolute files and glob patterns (checked to compile).
    pub paths: Vec<PathBuf>,
    /// Glob patterns of files not to read.
    pub exclude: Vec<String>,
    /// Start of files seen for the first time at the first start.
    pub start_at: StartAt,
    /// Longest line or multiline record; longer ones are cut and marked.
    pub max_line_size: usize,
    /// How often globs are scanned.
    pub scan_interval: Duration,
    /// How often open files are checked for new data.
    pub poll_interval: Duration,
    /// Multiline joining.
    pub multiline: Option<MultilineConfig>,
    /// The systemd journal.
    pub journal: Option<JournalConfig>,
    /// Where the read positions are kept; filled in by the topology from the data directory
    /// and the collector id (`<data_dir>/connectors/<id>`), empty after validation.
    pub state_dir: PathBuf,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            paths: Vec::new(),
            exclude: Vec::new(),
            start_at: StartAt::Beginning,
            max_line_size: 1 << 20,
            scan_interval: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            multiline: None,
            journal: None,
            state_dir: PathBuf::new(),
        }
    }
}

/// Validated multiline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MultilineConfig {
    /// The pattern (checked to compile with the `regex` crate).
    pub pattern: String,
    /// Non-matching lines are the continuation lines.
    pub negate: bool,
    /// Continuation lines join the record before them (`true`, `match: after`) or after them.
    pub after: bool,
    /// Most lines in one record.
    pub max_lines: usize,
    /// A record idle this long is sent.
    pub timeout: Duration,
}

/// Validated journal settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalConfig {
    /// Units to read (`--unit`); all when empty.
    pub units: Vec<String>,
    /// `--directory`.
    pub directory: Option<PathBuf>,
    /// `--file`s.
    pub files: Vec<PathBuf>,
    /// The program.
    pub journalctl: PathBuf,
    /// Without a cursor: the whole journal or only new entries.
    pub start_at: StartAt,
}

/// Validated settings of an EVTX connector (`vigil_ingest::evtx::EvtxSettings` is this type).
#[derive(Debug, Clone, PartialEq)]
pub struct EvtxConfig {
    /// Absolute `.evtx` files and folders.
    pub paths: Vec<PathBuf>,
    /// How often folders are scanned for new files.
    pub scan_interval: Duration,
    /// Where progress is kept; filled in by the topology (`<data_dir>/connectors/<id>`).
    pub state_dir: PathBuf,
}

/// The directory part of a glob before its first wildcard.
fn glob_base(p: &Path) -> PathBuf {
    let mut base = PathBuf::new();
    for c in p.components() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) {
            return base;
        }
        base.push(c);
    }
    base.parent().map(Path::to_path_buf).unwrap_or(base)
}

fn check_glob(v: &mut V<'_>, path: &str, pattern: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(_) => true,
        Err(e) => {
            v.p.add(path, format!("invalid glob {pattern:?}: {}", e.msg));
            false
        }
    }
}

/// `collectors[i].connector` of `type: file`.
pub(super) fn check_file(v: &mut V<'_>, cp: &str, f: &RawFile) -> FileConfig {
    let d = FileConfig::default();
    if f.paths.is_empty() && f.journal.is_none() {
        v.p.add(
            format!("{cp}.paths"),
            "list at least one file or glob (or set `journal`)",
        );
    }
    let mut paths = Vec::new();
    for (j, p) in f.paths.iter().enumerate() {
        let pp = format!("{cp}.paths[{j}]");
        if p.trim().is_empty() {
            v.p.add(pp, "must not be empty");
            continue;
        }
        let abs = v.base.join(p);
        let text = abs.to_string_lossy().into_owned();
        if !check_glob(v, &pp, &text) {
            continue;
        }
        let base = glob_base(&abs);
        if abs.is_dir() {
            v.p.add(
                pp,
                format!("{text} is a directory; name files or a glob such as {text}/*.log"),
            );
            continue;
        }
        if !base.is_dir() {
            v.p.add(pp, format!("directory {} does not exist", base.display()));
            continue;
        }
        paths.push(abs);
    }
    for (j, e) in f.exclude.iter().enumerate() {
        check_glob(v, &format!("{cp}.exclude[{j}]"), e);
    }
    let max_line_size = match &f.max_line_size {
        None => d.max_line_size,
        Some(s) => match parse_size(s) {
            Ok(n) if (64..=(64 << 20)).contains(&n) => n as usize,
            Ok(n) => {
                v.p.add(
                    format!("{cp}.max_line_size"),
                    format!("{n} bytes is out of range (64..=64MiB)"),
                );
                d.max_line_size
            }
            Err(e) => {
                v.p.add(format!("{cp}.max_line_size"), e);
                d.max_line_size
            }
        },
    };
    let multiline = f.multiline.as_ref().map(|m| {
        let mp = format!("{cp}.multiline");
        if let Err(e) = regex::Regex::new(&m.pattern) {
            v.p.add(format!("{mp}.pattern"), format!("invalid pattern: {e}"));
        }
        let max_lines = v.count(&format!("{mp}.max_lines"), m.max_lines, 500, 2, 100_000);
        MultilineConfig {
            pattern: m.pattern.clone(),
            negate: m.negate.unwrap_or(false),
            after: m.match_.unwrap_or(RawMultilineMatch::After) == RawMultilineMatch::After,
            max_lines,
            timeout: v
                .opt_duration(&format!("{mp}.timeout"), &m.timeout)
                .unwrap_or(Duration::from_secs(5)),
        }
    });
    let journal = f
        .journal
        .as_ref()
        .map(|j| check_journal(v, &format!("{cp}.journal"), j));
    FileConfig {
        paths,
        exclude: f.exclude.clone(),
        start_at: f.start_at.map(StartAt::from).unwrap_or_default(),
        max_line_size,
        scan_interval: v
            .opt_duration(&format!("{cp}.scan_interval"), &f.scan_interval)
            .unwrap_or(d.scan_interval),
        poll_interval: v
            .opt_duration(&format!("{cp}.poll_interval"), &f.poll_interval)
            .unwrap_or(d.poll_interval),
        multiline,
        journal,
        state_dir: PathBuf::new(),
    }
}

fn check_journal(v: &mut V<'_>, jp: &str, j: &RawJournal) -> JournalConfig {
    let directory = j.directory.as_ref().map(|d| {
        let p = v.base.join(d);
        if !p.is_dir() {
            v.p.add(
                format!("{jp}.directory"),
                format!("directory {} does not exist", p.display()),
            );
        }
        p
    });
    let files: Vec<PathBuf> = j
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| v.file(&format!("{jp}.files[{i}]"), f))
        .collect();
    if directory.is_some() && !files.is_empty() {
        v.p.add(jp, "set `directory` or `files`, not both");
    }
    for (i, u) in j.units.iter().enumerate() {
        if u.trim().is_empty() || u.starts_with('-') {
            v.p.add(
                format!("{jp}.units[{i}]"),
                format!("{u:?} is not a unit name"),
            );
        }
    }
    let journalctl = PathBuf::from(j.journalctl.as_deref().unwrap_or("journalctl"));
    let found = if journalctl.components().count() > 1 {
        journalctl.is_file()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(&journalctl).is_file()))
            .unwrap_or(false)
    };
    if !found {
        v.p.add(
            format!("{jp}.journalctl"),
            format!(
                "{} not found (install systemd, or name the program)",
                journalctl.display()
            ),
        );
    }
    JournalConfig {
        units: j.units.clone(),
        directory,
        files,
        journalctl,
        start_at: j.start_at.map(StartAt::from).unwrap_or(StartAt::End),
    }
}

/// `collectors[i].connector` of `type: evtx`.
pub(super) fn check_evtx(v: &mut V<'_>, cp: &str, e: &RawEvtx) -> EvtxConfig {
    if e.paths.is_empty() {
        v.p.add(
            format!("{cp}.paths"),
            "list at least one .evtx file or folder",
        );
    }
    let mut paths = Vec::new();
    for (j, p) in e.paths.iter().enumerate() {
        let pp = format!("{cp}.paths[{j}]");
        let abs = v.base.join(p);
        if p.trim().is_empty() {
            v.p.add(pp, "must not be empty");
        } else if !abs.exists() {
            v.p.add(pp, format!("{} does not exist", abs.display()));
        } else {
            paths.push(abs);
        }
    }
    EvtxConfig {
        paths,
        scan_interval: v
            .opt_duration(&format!("{cp}.scan_interval"), &e.scan_interval)
            .unwrap_or(Duration::from_secs(30)),
        state_dir: PathBuf::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::path::Path;

    use crate::{ConnectorConfig, NormalizerConfig, load_str};

    fn load(text: &str, base: &Path) -> Result<crate::Config, Vec<String>> {
        load_str(text, "test.yaml", base)
            .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn file_connector_reads_as_written_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let c = load(
            r#"
version: 1
collectors:
  - id: app
    connector:
      type: file
      paths: [logs/*.log, /var/log/../log/syslog]
      exclude: ["*.tmp"]
      start_at: end
      max_line_size: 64KiB
      multiline: { pattern: '^\s', match: after, max_lines: 20, timeout: 2s }
"#,
            dir.path(),
        )
        .unwrap();
        let ConnectorConfig::File(f) = &c.collectors[0].connector else {
            panic!("a file connector");
        };
        assert_eq!(f.paths[0], dir.path().join("logs/*.log"));
        assert_eq!(f.start_at, super::StartAt::End);
        assert_eq!(f.max_line_size, 64 << 10);
        assert_eq!(f.exclude, vec!["*.tmp".to_string()]);
        let m = f.multiline.as_ref().unwrap();
        assert!(m.after && !m.negate);
        assert_eq!((m.max_lines, m.timeout.as_secs()), (20, 2));
        assert_eq!(f.scan_interval.as_secs(), 5);
        assert!(f.journal.is_none());
    }

    #[test]
    fn bad_paths_globs_and_patterns_are_listed_with_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let errs = load(
            r#"
version: 1
collectors:
  - id: a
    connector:
      type: file
      paths: ["/no/such/dir/*.log", "logs/[.log", ""]
      exclude: ["[z"]
      max_line_size: 1
      multiline: { pattern: '(unclosed', max_lines: 1 }
  - id: b
    connector: { type: file }
  - id: c
    connector: { type: evtx, paths: [missing.evtx] }
  - id: d
    connector: { type: file, journal: { directory: /no/such/journal, journalctl: /no/journalctl, units: ["-x"] } }
"#,
            dir.path(),
        )
        .unwrap_err();
        let expected = [
            "collectors[0].connector.paths[0]: directory /no/such/dir does not exist",
            "collectors[0].connector.paths[1]: invalid glob",
            "collectors[0].connector.paths[2]: must not be empty",
            "collectors[0].connector.exclude[0]: invalid glob",
            "collectors[0].connector.max_line_size: 1 bytes is out of range",
            "collectors[0].connector.multiline.pattern: invalid pattern",
            "collectors[0].connector.multiline.max_lines: 1 is out of range",
            "collectors[1].connector.paths: list at least one file or glob",
            "collectors[2].connector.paths[0]:",
            "collectors[3].connector.journal.directory: directory /no/such/journal does not exist",
            "collectors[3].connector.journal.journalctl: /no/journalctl not found",
            "collectors[3].connector.journal.units[0]:",
        ];
        for e in expected {
            assert!(
                errs.iter().any(|x| x.starts_with(e)),
                "missing '{e}' in {errs:#?}"
            );
        }
    }

    #[test]
    fn evtx_connector_defaults_to_the_auto_normalizer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("evtx")).unwrap();
        let c = load(
            "version: 1\ncollectors:\n  - id: win\n    connector: { type: evtx, paths: [evtx] }\n",
            dir.path(),
        )
        .unwrap();
        let ConnectorConfig::Evtx(e) = &c.collectors[0].connector else {
            panic!("an evtx connector");
        };
        assert_eq!(e.paths, vec![dir.path().join("evtx")]);
        assert_eq!(e.scan_interval.as_secs(), 30);
        assert!(matches!(
            c.collectors[0].normalizer,
            NormalizerConfig::Auto { .. }
        ));
    }
}
