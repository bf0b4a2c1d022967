//! Cutting a byte stream into top-level JSON values without reading it whole: JSON lines,
//! concatenated pretty-printed objects (evtx_dump's output) and top-level arrays all work.
//!
//! The splitter tracks only string/escape state and bracket depth, so it is a byte-at-a-time
//! state machine with bounded memory: one value at most `max_value` bytes is buffered. Bytes
//! outside any value that are not whitespace are garbage: the rest of that line is skipped and
//! one error is reported, so a corrupt line never hides the lines after it.

use std::io::Read;

/// One item cut from the stream.
#[derive(Debug)]
pub(crate) enum Piece<'a> {
    /// The bytes of one complete top-level value, and the offset where it started.
    Value(&'a [u8], u64),
    /// Something that is not JSON (or a value over the size or depth limit), at this offset.
    Error(String, u64),
}

/// Streaming splitter over a reader.
pub(crate) struct Splitter<R> {
    reader: R,
    block: Vec<u8>,
    pos: usize,
    len: usize,
    /// Offset in the stream of `block[0]`.
    base: u64,
    cur: Vec<u8>,
    cur_start: u64,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Skipping garbage until the next newline.
    skipping: bool,
    /// The current value grew over the limit: skip it, then report it.
    oversized: bool,
    max_value: usize,
    max_depth: usize,
    eof: bool,
    /// Read errors end the stream after being reported once.
    read_error: Option<String>,
}

impl<R: Read> Splitter<R> {
    pub(crate) fn new(reader: R, max_value: usize, max_depth: usize) -> Self {
        Splitter {
            reader,
            block: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
            base: 0,
            cur: Vec::new(),
            cur_start: 0,
            depth: 0,
            in_string: false,
            escape: false,
            skipping: false,
            oversized: false,
            max_value,
            max_depth,
            eof: false,
            read_error: None,
        }
    }

    /// The next piece, or `None` at the end of the stream.
    pub(crate) fn next_piece(&mut self) -> Option<Piece<'_>> {
        loop {
            if self.pos == self.len {
                if self.eof {
                    if let Some(e) = self.read_error.take() {
                        return Some(Piece::Error(e, self.base));
                    }
                    if self.depth > 0 && !self.oversized {
                        self.depth = 0;
                        return Some(Piece::Error(
                            "truncated JSON value at end of file".into(),
                            self.cur_start,
                        ));
                    }
                    return None;
                }
                self.base += self.len as u64;
                self.pos = 0;
                self.len = 0;
                match self.reader.read(&mut self.block) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.len = n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.eof = true;
                        self.read_error = Some(format!("read error: {e}"));
                    }
                }
                continue;
            }
            let b = self.block[self.pos];
            let at = self.base + self.pos as u64;
            self.pos += 1;
            if self.depth == 0 {
                if self.skipping {
                    if b == b'\n' {
                        self.skipping = false;
                    }
                    continue;
                }
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' | b',' => {}
                    // A UTF-8 byte order mark at the start of the file.
                    0xEF | 0xBB | 0xBF if at < 3 => {}
                    b'{' | b'[' => {
                        self.cur.clear();
                        self.cur.push(b);
                        self.cur_start = at;
                        self.depth = 1;
                        self.in_string = false;
                        self.escape = false;
                        self.oversized = false;
                    }
                    _ => {
                        self.skipping = true;
                        return Some(Piece::Error(
                            format!("not JSON (byte 0x{b:02x}); line skipped"),
                            at,
                        ));
                    }
                }
                continue;
            }
            if !self.oversized {
                self.cur.push(b);
                if self.cur.len() > self.max_value {
                    self.oversized = true;
                    self.cur.clear();
                }
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > self.max_depth && !self.oversized {
                        // Too deep: treat like an oversized value (skip it, report it).
                        self.oversized = true;
                        self.cur.clear();
                    }
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if self.oversized {
                            self.oversized = false;
                            return Some(Piece::Error(
                                format!(
                                    "JSON value larger than {} bytes or deeper than {} levels; skipped",
                                    self.max_value, self.max_depth
                                ),
                                self.cur_start,
                            ));
                        }
                        return Some(Piece::Value(&self.cur, self.cur_start));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        let mut sp = Splitter::new(s.as_bytes(), 1000, 8);
        let mut out = Vec::new();
        while let Some(p) = sp.next_piece() {
            out.push(match p {
                Piece::Value(v, at) => format!("{at}:{}", String::from_utf8_lossy(v)),
                Piece::Error(e, at) => format!("{at}!{e}"),
            });
        }
        out
    }

    #[test]
    fn lines_pretty_objects_and_garbage() {
        let got = split("{\"a\":1}\n{\"b\":\n  \"}{\\\"\"\n}\ngarbage {\"x\":1}\n[1,2]");
        assert_eq!(got[0], "0:{\"a\":1}");
        assert_eq!(got[1], "8:{\"b\":\n  \"}{\\\"\"\n}");
        assert!(got[2].starts_with("25!not JSON"), "{got:?}");
        assert_eq!(got[3], "41:[1,2]");
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn truncated_oversized_and_deep() {
        assert!(split("{\"a\": [1, 2")[0].contains("truncated"));
        let big = format!("{{\"a\":\"{}\"}}\n{{}}", "x".repeat(2000));
        let got = split(&big);
        assert!(got[0].contains("larger than"), "{got:?}");
        assert!(got[1].ends_with(":{}"));
        let deep = format!("{}{}\n{{}}", "[".repeat(20), "]".repeat(20));
        let got = split(&deep);
        assert!(got[0].contains("deeper"), "{got:?}");
        assert_eq!(got.len(), 2);
    }
}
