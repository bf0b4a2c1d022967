//! Cutting bytes into lines (capped in length) and joining lines into multiline records.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

/// The mark of a line or record cut to the maximum size.
pub(crate) const OVERSIZED: &str = "oversized_line";

/// A record ready to send: its bytes, where it ends in its file, and its mark.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    /// The line or joined lines, without the final line break.
    pub data: Bytes,
    /// Offset just past its last line.
    pub end: u64,
    /// `oversized_line` when cut.
    pub error: Option<&'static str>,
}

/// Cuts a byte stream into lines: `\n` ends a line (a `\r` before it is removed); a line
/// longer than the maximum is cut to it, marked, and the rest of it skipped. Lines are
/// handles into the read buffer, not copies.
#[derive(Debug)]
pub(crate) struct LineCutter {
    buf: BytesMut,
    /// Offset of `buf[0]` in the stream.
    buf_start: u64,
    /// How far `buf` was searched for `\n` already.
    scanned: usize,
    /// Inside an oversized line: drop bytes until the next `\n`.
    skipping: bool,
    max: usize,
}

impl LineCutter {
    /// A cutter whose next byte is at `offset`.
    pub fn new(offset: u64, max: usize) -> LineCutter {
        LineCutter {
            buf: BytesMut::new(),
            buf_start: offset,
            scanned: 0,
            skipping: false,
            max,
        }
    }

    /// The offset just past the last complete line cut (where reading resumes after a
    /// restart).
    pub fn consumed(&self) -> u64 {
        self.buf_start
    }

    /// Bytes of an unfinished line held.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Appends `data` (the stream's next bytes) and hands every complete line to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut impl FnMut(Rec, u64)) {
        self.buf.extend_from_slice(data);
        loop {
            let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max && !self.skipping {
                    // an oversized line: send its head now, skip the rest up to its end
                    let start = self.buf_start;
                    let head = self.buf.split_to(self.max).freeze();
                    self.buf_start += head.len() as u64;
                    self.skipping = true;
                    out(
                        Rec {
                            data: head,
                            end: self.buf_start,
                            error: Some(OVERSIZED),
                        },
                        start,
                    );
                }
                if self.skipping {
                    self.buf_start += self.buf.len() as u64;
                    self.buf.clear();
                    self.scanned = 0;
                }
                return;
            };
            let at = self.scanned + i;
            let line = self.buf.split_to(at + 1).freeze();
            self.scanned = 0;
            let start = self.buf_start;
            self.buf_start += line.len() as u64;
            if self.skipping {
                self.skipping = false;
                continue;
            }
            let mut body = line.slice(..line.len() - 1);
            if body.last() == Some(&b'\r') {
                body = body.slice(..body.len() - 1);
            }
            let error = if body.len() > self.max {
                body = body.slice(..self.max);
                Some(OVERSIZED)
            } else {
                None
            };
            out(
                Rec {
                    data: body,
                    end: self.buf_start,
                    error,
                },
                start,
            );
        }
    }

    /// The unterminated last line, if any (the file is closed or its end is final).
    pub fn finish(&mut self, out: &mut impl FnMut(Rec, u64)) {
        if self.buf.is_empty() || self.skipping {
            self.buf_start += self.buf.len() as u64;
            self.buf.clear();
            self.skipping = false;
            self.scanned = 0;
            return;
        }
        let start = self.buf_start;
        let mut body = std::mem::take(&mut self.buf).freeze();
        self.buf_start += body.len() as u64;
        self.scanned = 0;
        if body.last() == Some(&b'\r') {
            body = body.slice(..body.len() - 1);
        }
        out(
            Rec {
                data: body,
                end: self.buf_start,
                error: None,
            },
            start,
        );
    }

    /// Forgets the unfinished line (the file was truncated) and continues at `offset`.
    pub fn reset(&mut self, offset: u64) {
        self.buf.clear();
        self.buf_start = offset;
        self.scanned = 0;
        self.skipping = false;
    }
}

/// The multiline settings, compiled.
#[derive(Debug, Clone)]
pub(crate) struct MultilineRule {
    /// The pattern (bytes: lines need not be UTF-8).
    pub pattern: regex::bytes::Regex,
    /// Non-matching lines are the continuation lines.
    pub negate: bool,
    /// Continuation lines join the record before them (else the one after).
    pub after: bool,
    /// Most lines in one record.
    pub max_lines: usize,
    /// A record idle this long is sent.
    pub timeout: Duration,
}

#[derive(Debug)]
struct Pending {
    data: BytesMut,
    /// The first line alone (joined records copy; a single line stays a handle).
    first: Option<Bytes>,
    start: u64,
    end: u64,
    lines: usize,
    oversized: bool,
    last: Instant,
}

/// Joins lines into records by a [`MultilineRule`]; without a rule every line is a record.
#[derive(Debug)]
pub(crate) struct Joiner {
    rule: Option<MultilineRule>,
    max: usize,
    pending: Option<Pending>,
}

impl Joiner {
    /// A joiner capping records at `max` bytes.
    pub fn new(rule: Option<MultilineRule>, max: usize) -> Joiner {
        Joiner {
            rule,
            max,
            pending: None,
        }
    }

    /// Where the record being joined starts, if one is: nothing from there on was sent.
    pub fn pending_start(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.start)
    }

    /// Takes one line (starting at `start`), handing finished records to `out`.
    pub fn push(&mut self, line: Rec, start: u64, out: &mut Vec<Rec>) {
        let Some(rule) = &self.rule else {
            out.push(line);
            return;
        };
        let matched = rule.pattern.is_match(&line.data) != rule.negate;
        let (after, max_lines) = (rule.after, rule.max_lines);
        if after {
            // a continuation line joins the record before it
            let joins = matched && self.pending.as_ref().is_some_and(|p| p.lines < max_lines);
            if !joins {
                self.flush(out);
            }
            self.append(line, start);
        } else {
            // a matching line is continued by the next one
            self.append(line, start);
            let full = self.pending.as_ref().is_some_and(|p| p.lines >= max_lines);
            if !matched || full {
                self.flush(out);
            }
        }
    }

    fn append(&mut self, line: Rec, start: u64) {
        let now = Instant::now();
        match &mut self.pending {
            None => {
                self.pending = Some(Pending {
                    data: BytesMut::new(),
                    first: Some(line.data),
                    start,
                    end: line.end,
                    lines: 1,
                    oversized: line.error.is_some(),
                    last: now,
                })
            }
            Some(p) => {
                if let Some(first) = p.first.take() {
                    p.data.extend_from_slice(&first);
                }
                let room = self.max.saturating_sub(p.data.len());
                if room > 0 {
                    p.data.extend_from_slice(b"\n");
                    let take = line.data.len().min(room - 1);
                    p.data.extend_from_slice(&line.data[..take]);
                    if take < line.data.len() {
                        p.oversized = true;
                    }
                } else {
                    p.oversized = true;
                }
                p.oversized |= line.error.is_some();
                p.end = line.end;
                p.lines += 1;
                p.last = now;
            }
        }
    }

    /// Sends the record being joined.
    pub fn flush(&mut self, out: &mut Vec<Rec>) {
        if let Some(p) = self.pending.take() {
            out.push(Rec {
                data: p.first.unwrap_or_else(|| p.data.freeze()),
                end: p.end,
                error: p.oversized.then_some(OVERSIZED),
            });
        }
    }

    /// Sends the record being joined when it has waited `timeout` for another line.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Rec>) {
        let due = match (&self.rule, &self.pending) {
            (Some(r), Some(p)) => now.duration_since(p.last) >= r.timeout,
            _ => false,
        };
        if due {
            self.flush(out);
        }
    }

    /// Drops the record being joined without sending it (its lines will be read again).
    pub fn discard(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cut(input: &[&[u8]], max: usize) -> (Vec<(String, u64, bool)>, u64) {
        let mut c = LineCutter::new(0, max);
        let mut got = Vec::new();
        for chunk in input {
            c.push(chunk, &mut |r: Rec, _| {
                got.push((
                    String::from_utf8_lossy(&r.data).into_owned(),
                    r.end,
                    r.error.is_some(),
                ))
            });
        }
        (got, c.consumed())
    }

    #[test]
    fn lines_across_reads_and_crlf() {
        let (got, consumed) = cut(&[b"ab", b"c\r\nde\n", b"f"], 100);
        assert_eq!(got, vec![("abc".into(), 5, false), ("de".into(), 8, false)]);
        assert_eq!(consumed, 8);
    }

    #[test]
    fn oversized_line_is_cut_marked_and_the_rest_skipped() {
        let (got, consumed) = cut(&[b"0123456789", b"abcdef", b"gh\nnext\n"], 8);
        assert_eq!(
            got,
            vec![("01234567".into(), 8, true), ("next".into(), 24, false)]
        );
        assert_eq!(consumed, 24);
        // a long line that arrives whole
        let (got, _) = cut(&[b"0123456789abc\nok\n"], 8);
        assert_eq!(got[0], ("01234567".into(), 14, true));
        assert_eq!(got[1], ("ok".into(), 17, false));
    }

    fn java() -> MultilineRule {
        MultilineRule {
            pattern: regex::bytes::Regex::new(r"^(\s+at |Caused by:|\s+\.\.\. )").unwrap(),
            negate: false,
            after: true,
            max_lines: 50,
            timeout: Duration::from_secs(5),
        }
    }

    fn join(rule: MultilineRule, lines: &[&str], max: usize) -> (Vec<String>, Option<u64>) {
        let mut j = Joiner::new(Some(rule), max);
        let mut out = Vec::new();
        let mut off = 0u64;
        for l in lines {
            let end = off + l.len() as u64 + 1;
            j.push(
                Rec {
                    data: Bytes::copy_from_slice(l.as_bytes()),
                    end,
                    error: None,
                },
                off,
                &mut out,
            );
            off = end;
        }
        let pending = j.pending_start();
        (
            out.iter()
                .map(|r| String::from_utf8_lossy(&r.data).into_owned())
                .collect(),
            pending,
        )
    }

    #[test]
    fn java_stack_trace_joins_after() {
        let (out, pending) = join(
            java(),
            &[
                "2026-12-07 ERROR boom",
                "java.lang.IllegalStateException: x",
                "    at a.b.C.d(C.java:10)",
                "Caused by: java.io.IOException: y",
                "    ... 3 more",
                "2026-12-07 INFO next",
            ],
            1000,
        );
        assert_eq!(
            out,
            vec![
                "2026-12-07 ERROR boom".to_string(),
                "java.lang.IllegalStateException: x\n    at a.b.C.d(C.java:10)\nCaused by: java.io.IOException: y\n    ... 3 more".to_string(),
            ]
        );
        // the last record waits for more lines; nothing from its start was sent
        let start_of_last = [
            "2026-12-07 ERROR boom",
            "java.lang.IllegalStateException: x",
            "    at a.b.C.d(C.java:10)",
            "Caused by: java.io.IOException: y",
            "    ... 3 more",
        ]
        .iter()
        .map(|l| l.len() as u64 + 1)
        .sum::<u64>();
        assert_eq!(pending, Some(start_of_last));
    }

    #[test]
    fn backslash_continuation_joins_before() {
        let rule = MultilineRule {
            pattern: regex::bytes::Regex::new(r"\\$").unwrap(),
            negate: false,
            after: false,
            max_lines: 50,
            timeout: Duration::from_secs(5),
        };
        let (out, pending) = join(rule, &["a \\", "b \\", "c", "d"], 1000);
        assert_eq!(out, vec!["a \\\nb \\\nc".to_string(), "d".to_string()]);
        assert_eq!(pending, None);
    }

    #[test]
    fn max_lines_and_max_size_cap_a_record() {
        let mut rule = java();
        rule.max_lines = 2;
        let (out, _) = join(rule, &["E", "  at 1", "  at 2", "  at 3", "X"], 1000);
        assert_eq!(out, vec!["E\n  at 1", "  at 2\n  at 3"]);
        let mut j = Joiner::new(Some(java()), 10);
        let mut out = Vec::new();
        for (i, l) in ["Error:", "    at aaaaaaaaaa", "next"].iter().enumerate() {
            let r = Rec {
                data: Bytes::copy_from_slice(l.as_bytes()),
                end: i as u64,
                error: None,
            };
            j.push(r, i as u64, &mut out);
        }
        assert_eq!(&out[0].data[..], b"Error:\n   ");
        assert_eq!(out[0].error, Some(OVERSIZED));
    }
}
