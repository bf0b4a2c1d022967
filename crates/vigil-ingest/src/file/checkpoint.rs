//! The connector's read positions, kept durably in `<state_dir>/checkpoints.json`.
//!
//! The file is replaced whole: written to a temporary file, fsynced, renamed over the old one,
//! and the directory fsynced, so after a crash it holds either the old or the new positions,
//! never a torn mix. It is written only after the lines up to the positions it holds were
//! accepted by the pipeline.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most positions of files that are no longer open kept (the newest); older ones are
/// forgotten. A forgotten file that comes back is read from its beginning.
const MAX_RETIRED: usize = 4096;

/// The saved position of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileMark {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// CRC-32 of the file's first `fp_len` bytes (of the decompressed content for `.gz` and
    /// `.zst`): the same inode with other first bytes is another file.
    pub fp: u32,
    /// How many bytes `fp` covers (up to [`super::tail::FP_MAX`]).
    pub fp_len: u32,
    /// Bytes read and sent (decompressed bytes for compressed files).
    pub offset: u64,
    /// The path it was last seen under (for people reading the file).
    pub path: String,
    /// A compressed file read to its end.
    #[serde(default)]
    pub done: bool,
    /// Seconds since the epoch when the mark was last updated.
    #[serde(default)]
    pub updated: u64,
}

/// The saved progress of one EVTX file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EvtxMark {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// CRC-32 of the file's first 4 KiB (the file header and the start of the first chunk).
    pub fp: u32,
    /// The path it was imported from.
    pub path: String,
    /// Records (read or failed) handed on, in file order.
    pub records: u64,
    /// The whole file was read.
    pub done: bool,
}

/// Everything saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Format version (1).
    #[serde(default)]
    pub version: u32,
    /// Files, open or not.
    #[serde(default)]
    pub files: Vec<FileMark>,
    /// The systemd journal's cursor after the last entry sent.
    #[serde(default)]
    pub journal_cursor: Option<String>,
    /// EVTX files.
    #[serde(default)]
    pub evtx: Vec<EvtxMark>,
}

/// The checkpoint file of one connector.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    dir: PathBuf,
    /// What is saved (or about to be).
    pub state: State,
    /// Whether a checkpoint file existed when the connector started.
    pub existed: bool,
}

impl Checkpoints {
    /// Reads `<dir>/checkpoints.json` (nothing yet when it does not exist). An unreadable file
    /// is an error naming it: starting over would read every file again.
    pub fn open(dir: &Path) -> Result<Checkpoints, String> {
        let path = dir.join("checkpoints.json");
        let (state, existed) = match vigil_config::read_file_capped(&path, 256 << 20) {
            Ok(bytes) => (
                serde_json::from_slice::<State>(&bytes).map_err(|e| {
                    format!(
                        "checkpoint file {} is unreadable ({e}); move it away to start over \
                         (files are then read again according to start_at)",
                        path.display()
                    )
                })?,
                true,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), false),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(Checkpoints {
            dir: dir.to_path_buf(),
            state,
            existed,
        })
    }

    /// Writes the state durably (temporary file, fsync, rename, fsync of the directory).
    pub fn save(&mut self) -> Result<(), String> {
        let ctx = |what: &str, e: std::io::Error| format!("{what} {}: {e}", self.dir.display());
        vigil_fs::create_dir_all(&self.dir).map_err(|e| ctx("creating", e))?;
        if self.state.files.len() > MAX_RETIRED {
            self.state
                .files
                .sort_by_key(|m| std::cmp::Reverse(m.updated));
            self.state.files.truncate(MAX_RETIRED);
        }
        self.state.version = 1;
        let bytes = serde_json::to_vec(&self.state).map_err(|e| e.to_string())?;
        let tmp = self.dir.join("checkpoints.json.tmp");
        let mut f = vigil_fs::create(&tmp).map_err(|e| ctx("writing checkpoints in", e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| ctx("writing checkpoints in", e))?;
        drop(f);
        std::fs::rename(&tmp, self.dir.join("checkpoints.json"))
            .map_err(|e| ctx("replacing checkpoints in", e))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ctx("syncing", e))?;
        Ok(())
    }

    /// The mark of the file `dev`/`ino`, if any.
    pub fn file(&self, dev: u64, ino: u64) -> Option<&FileMark> {
        self.state
            .files
            .iter()
            .find(|m| m.dev == dev && m.ino == ino)
    }

    /// Sets the mark of `m.dev`/`m.ino`.
    pub fn set_file(&mut self, mut m: FileMark) {
        m.updated = now_secs();
        match self
            .state
            .files
            .iter_mut()
            .find(|x| x.dev == m.dev && x.ino == m.ino)
        {
            Some(x) => *x = m,
            None => self.state.files.push(m),
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
