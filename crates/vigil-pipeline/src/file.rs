//! The file destination: one event per line (KUMA's file destination), used to forward normalized events to another system's log shipper or to run `vigil up` as a
//! collector that keeps nothing itself.
//!
//! Delivery is at least once: a batch whose write fails is retried by the pipeline (intake
//! waits meanwhile), so a line may appear twice after a write error, never zero times.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{ComponentError, ComponentMetrics, Destination};
use vigil_config::FileFormat;
use vigil_event::Event;

/// The batch buffer is kept between writes up to this size (a rare huge batch is not).
const MAX_KEPT_BATCH: usize = 16 << 20;

/// How often the destination checks whether its file was moved away (log rotation).
const REOPEN_CHECK: Duration = Duration::from_secs(1);

/// Appends events to a file, one per line.
#[derive(Debug)]
pub struct FileDestination {
    path: PathBuf,
    format: FileFormat,
    metrics: ComponentMetrics,
    out: Option<(BufWriter<File>, u64, u64)>,
    checked: Instant,
    /// The lines of one batch, written with one `write` call.
    batch: Vec<u8>,
}

impl FileDestination {
    /// A destination writing to `path` (opened on the first write, its directory created).
    pub fn new(path: &Path, format: FileFormat, metrics: ComponentMetrics) -> FileDestination {
        FileDestination {
            path: path.to_path_buf(),
            format,
            metrics,
            out: None,
            checked: Instant::now(),
            batch: Vec::new(),
        }
    }

    fn err(&self, what: &str, e: std::io::Error) -> ComponentError {
        ComponentError::new(
            &self.metrics,
            format!("{what} {}: {e}", self.path.display()),
        )
    }

    fn open(&mut self) -> Result<(), ComponentError> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            vigil_fs::create_dir_all(dir).map_err(|e| self.err("creating the directory of", e))?;
        }
        let f = vigil_fs::options()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.err("opening", e))?;
        let md = f
            .metadata()
            .map_err(|e| self.err("reading metadata of", e))?;
        self.out = Some((BufWriter::with_capacity(256 * 1024, f), md.dev(), md.ino()));
        self.checked = Instant::now();
        Ok(())
    }

    /// Reopens the file when it was renamed or deleted since it was opened.
    fn reopen_if_moved(&mut self) -> Result<(), ComponentError> {
        if self.checked.elapsed() < REOPEN_CHECK {
            return Ok(());
        }
        self.checked = Instant::now();
        let moved = match (&self.out, std::fs::metadata(&self.path)) {
            (Some((_, dev, ino)), Ok(md)) => md.dev() != *dev || md.ino() != *ino,
            (Some(_), Err(_)) => true,
            (None, _) => false,
        };
        if moved {
            if let Some((mut w, _, _)) = self.out.take() {
                w.flush().map_err(|e| self.err("flushing", e))?;
            }
            self.open()?;
        }
        Ok(())
    }

    /// Appends `e` to the batch as one line.
    fn encode(&mut self, e: &Event) {
        match self.format {
            FileFormat::Raw => {
                // one record per line, whatever the record holds
                let start = self.batch.len();
                self.batch.extend_from_slice(&e.raw);
                for b in &mut self.batch[start..] {
                    if *b == b'\n' {
                        *b = b' ';
                    }
                }
            }
            // the same document as `Event::to_json`, written without building it; JSON text
            // holds no raw newline (strings escape theirs)
            FileFormat::Json => e.write_json(&mut self.batch),
        }
        self.batch.push(b'\n');
    }
}

impl Destination for FileDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        if self.out.is_none() {
            self.open()?;
        }
        self.reopen_if_moved()?;
        self.batch.clear();
        for e in events {
            self.encode(e);
        }
        let bytes = self.batch.len() as u64;
        // a batch larger than the writer's buffer goes to the file in one call
        let res = match &mut self.out {
            Some((w, _, _)) => w.write_all(&self.batch).and_then(|()| w.flush()),
            None => Ok(()),
        };
        if self.batch.capacity() > MAX_KEPT_BATCH {
            self.batch = Vec::new();
        }
        if let Err(err) = res {
            self.out = None;
            return Err(self.err("writing", err));
        }
        self.metrics.bytes_out(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        if let Some((w, _, _)) = &mut self.out {
            w.flush().map_err(|e| {
                ComponentError::new(
                    &self.metrics,
                    format!("flushing {}: {e}", self.path.display()),
                )
            })?;
            w.get_ref().sync_data().map_err(|e| {
                ComponentError::new(
                    &self.metrics,
                    format!("syncing {}: {e}", self.path.display()),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw: &str) -> Event {
        Event {
            raw: raw.as_bytes().to_vec().into(),
            message: Some(raw.into()),
            ..Event::default()
        }
    }

    fn read(path: &Path) -> String {
        String::from_utf8(vigil_config::read_file_capped(path, 1 << 20).unwrap()).unwrap()
    }

    #[test]
    fn writes_one_line_per_event_and_follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/events.jsonl");
        let m = ComponentMetrics::detached("destination", "file");
        let mut d = FileDestination::new(&path, FileFormat::Json, m);
        d.write(&[event("a"), event("two\nlines")]).unwrap();
        let text = read(&path);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["event"]["original"], "two\nlines");
        // rotation: the file is moved away, the next write (after the check interval) reopens
        std::fs::rename(&path, dir.path().join("out/events.jsonl.1")).unwrap();
        d.checked = Instant::now() - REOPEN_CHECK * 2;
        d.write(&[event("b")]).unwrap();
        d.flush().unwrap();
        assert_eq!(read(&path).lines().count(), 1);
    }

    #[test]
    fn raw_format_keeps_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.log");
        let m = ComponentMetrics::detached("destination", "file");
        let mut d = FileDestination::new(&path, FileFormat::Raw, m);
        d.write(&[event("<13>Jan  1 00:00:00 h p: x")]).unwrap();
        d.flush().unwrap();
        assert_eq!(read(&path), "<13>Jan  1 00:00:00 h p: x\n");
    }
}
