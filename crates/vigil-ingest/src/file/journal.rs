//! The systemd journal through `journalctl --output=json --follow`: one entry a line, its
//! `__CURSOR` saved after the entry was sent, `--after-cursor` on the next start.
//!
//! `journalctl` is used rather than a binding to libsystemd: no C library to link, the same
//! program the operator uses to look at the journal, and journal files from other machines
//! read with `--directory` or `--file`. If it exits (journal rotated away, killed), it is
//! started again after 5 s from the saved cursor, counted as error `journal`.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use vigil_config::{JournalConfig, StartAt};

use super::lines::{OVERSIZED, Rec};
use super::{Out, SHUTDOWN_WAIT, Settle};

/// Entries sent in one batch at most.
const BATCH: usize = 1024;

/// Starts the journal reader on its own thread.
pub(crate) fn spawn(cfg: JournalConfig, max: usize, out: Out) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || run(&cfg, max, &out))
}

/// The command line for a start after `cursor`.
pub(crate) fn command(cfg: &JournalConfig, cursor: Option<&str>) -> Command {
    let mut c = Command::new(&cfg.journalctl);
    c.args(["--output=json", "--follow", "--no-pager", "--all"]);
    match (cursor, cfg.start_at) {
        (Some(cur), _) => {
            c.arg(format!("--after-cursor={cur}")).arg("--no-tail");
        }
        (None, StartAt::Beginning) => {
            c.arg("--no-tail");
        }
        (None, StartAt::End) => {
            c.arg("--lines=0");
        }
    }
    if let Some(d) = &cfg.directory {
        c.arg(format!("--directory={}", d.display()));
    }
    for f in &cfg.files {
        c.arg(format!("--file={}", f.display()));
    }
    for u in &cfg.units {
        c.arg(format!("--unit={u}"));
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The `__CURSOR` of one JSON entry (journalctl writes it first; cursors hold no quotes).
pub(crate) fn cursor_of(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"__CURSOR\":\"";
    let at = memchr::memmem::find(line, KEY)? + KEY.len();
    let len = memchr::memchr(b'"', &line[at..])?;
    std::str::from_utf8(&line[at..at + len]).ok()
}

fn run(cfg: &JournalConfig, max: usize, out: &Out) {
    while !out.shutdown.is_triggered() {
        let cursor = out.checkpoints.lock().state.journal_cursor.clone();
        let mut child = match command(cfg, cursor.as_deref()).spawn() {
            Ok(c) => c,
            Err(e) => {
                out.metrics.error("journal", 1);
                tracing::warn!(program = %cfg.journalctl.display(), error = %e, "cannot start journalctl");
                super::sleep_until(&out.shutdown, Duration::from_secs(5));
                continue;
            }
        };
        let ended = follow(&mut child, max, out);
        let _ = child.kill();
        let status = child.wait();
        if !ended {
            return; // pipeline gone
        }
        if out.shutdown.is_triggered() {
            return;
        }
        out.metrics.error("journal", 1);
        tracing::warn!(status = ?status.ok(), "journalctl exited; starting it again in 5 s");
        super::sleep_until(&out.shutdown, Duration::from_secs(5));
    }
}

/// Reads entries until shutdown or until journalctl exits (`true`), or until the pipeline is
/// gone (`false`).
fn follow(child: &mut Child, max: usize, out: &Out) -> bool {
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return true;
    };
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stderr);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            tracing::warn!(message = %line.trim_end(), "journalctl");
            line.clear();
        }
    });
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(BATCH * 4);
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::with_capacity(256 * 1024, stdout);
        loop {
            let mut line = Vec::new();
            // capped read: a line longer than the cap is cut, the rest skipped
            match read_capped_line(&mut r, &mut line, max) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    // the cursor moves once the batches up to it are durable
    let mut settle: Settle<Option<String>> = Settle::new();
    let mut open = true;
    while open && !out.shutdown.is_triggered() {
        settled(out, settle.ready(&out.metrics, &out.source.id));
        let mut lines = Vec::new();
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        while lines.len() < BATCH {
            match rx.try_recv() {
                Ok(l) => lines.push(l),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let mut cursor = None;
        let mut recs = Vec::with_capacity(lines.len());
        for mut l in lines {
            out.metrics.bytes_in(l.len() as u64);
            let oversized = l.last() != Some(&b'\n');
            while matches!(l.last(), Some(b'\n' | b'\r')) {
                l.pop();
            }
            if let Some(c) = cursor_of(&l) {
                cursor = Some(c.to_owned());
            }
            recs.push(Rec {
                data: Bytes::from(l),
                end: 0,
                error: oversized.then_some(OVERSIZED),
            });
        }
        let Some(waits) = out.send_from(recs, None, true) else {
            return false;
        };
        settle.push(waits, cursor);
    }
    // journalctl ended or shutdown: the answers on what is in flight, before a restart of
    // journalctl reads from the cursor
    settled(
        out,
        settle.drain(SHUTDOWN_WAIT, &out.metrics, &out.source.id),
    );
    true
}

/// Keeps the cursor of the last entry whose batch is durable.
fn settled(out: &Out, ready: Vec<Option<String>>) {
    if let Some(c) = ready.into_iter().flatten().last() {
        out.checkpoints.lock().state.journal_cursor = Some(c);
        out.save();
    }
}

/// Reads one line into `buf` keeping at most `max` bytes of it (the `\n` is kept when the
/// line fit); returns the bytes consumed (0 at the end).
fn read_capped_line(
    r: &mut impl std::io::BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&avail[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            if buf.last() != Some(&b'\n') {
                buf.truncate(max); // cut: no `\n` marks it oversized
            }
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursor_is_found() {
        let l = br#"{"__CURSOR":"s=abc;i=1;b=2","__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}"#;
        assert_eq!(cursor_of(l), Some("s=abc;i=1;b=2"));
        assert_eq!(cursor_of(b"{\"MESSAGE\":\"x\"}"), None);
    }

    #[test]
    fn long_lines_are_capped() {
        let mut r = std::io::BufReader::with_capacity(4, &b"0123456789\nab\n"[..]);
        let mut b = Vec::new();
        assert_eq!(read_capped_line(&mut r, &mut b, 5).unwrap(), 11);
        assert_eq!(b, b"01234");
        b.clear();
        assert_eq!(read_capped_line(&mut r, &mut b, 5).unwrap(), 3);
        assert_eq!(b, b"ab\n");
    }
}
