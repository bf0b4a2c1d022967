//! Incremental framing of syslog over a byte stream (RFC 6587), sync and allocation-free.
//!
//! Two framings share one port in practice, so the [`Framer`] decides *per frame*, as
//! syslog-ng does: a frame starting with a digit is octet-counted (`<len> <msg>`), anything
//! else is non-transparent (ends at LF, or NUL; a trailing CR is dropped). LF, CR and NUL
//! between frames are skipped, so `<len> <msg>\n` senders work too; empty lines yield nothing.
//!
//! Nothing is dropped silently:
//! - a frame longer than `max_frame` comes out cut to `max_frame` bytes with
//!   [`Frame::truncated`] set, and the rest of it is skipped, so the next frame is intact;
//! - a bad octet count (`12x`, `0 `, more than 9 digits) is a [`FrameError::BadOctetCount`]
//!   carrying the offending bytes up to the next LF, where decoding resumes;
//! - at end of input, [`Framer::finish`] returns the unterminated tail as a last frame.
//!
//! Frames are `Bytes` split off the caller's `BytesMut`: no copy.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr2;

/// Octet counts with more digits than this (≥ 1 GB) are rejected as absurd.
const MAX_COUNT_DIGITS: usize = 9;

/// One syslog frame (without its framing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's bytes, at most `max_frame` of them.
    pub data: Bytes,
    /// True when the frame was longer than `max_frame` (and is cut), or when the stream ended
    /// inside an octet-counted frame.
    pub truncated: bool,
}

/// A framing error. Decoding can continue after it.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// An octet-counted frame with an unusable count. `data` holds the bytes from the start of
    /// the frame to the next LF (exclusive, at most `max_frame`), which were skipped.
    #[error("bad octet count at stream offset {offset}: {reason}")]
    BadOctetCount {
        /// Stream offset (bytes since the framer was created) where the frame starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
        /// The skipped bytes, kept for the dead-letter store.
        data: Bytes,
    },
    /// An I/O error from the transport (for codec wrappers, which need `From<io::Error>`).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Start,
    /// In a non-transparent frame; `scanned` bytes are known not to hold a delimiter. With
    /// `bad_count`, the frame is the remainder of a bad octet-counted one.
    Line {
        scanned: usize,
        bad_count: Option<(u64, &'static str)>,
    },
    /// After the header of an octet-counted frame of `len` bytes.
    Counted { len: usize },
    /// Skipping the rest of an oversized counted frame.
    SkipCount { remaining: usize },
    /// Skipping the rest of an oversized line, up to and including its delimiter.
    SkipLine,
}

/// Incremental RFC 6587 decoder. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Framer {
    max_frame: usize,
    state: State,
    /// Stream offset of the first byte still in the buffer.
    consumed: u64,
}

enum Header {
    Incomplete,
    Ok { len: usize, header_len: usize },
    Bad(&'static str),
}

fn parse_header(buf: &[u8]) -> Header {
    let mut len: usize = 0;
    for (i, &c) in buf.iter().enumerate() {
        match c {
            b'0'..=b'9' if i < MAX_COUNT_DIGITS => len = len * 10 + usize::from(c - b'0'),
            b'0'..=b'9' => return Header::Bad("octet count has more than 9 digits"),
            b' ' if len == 0 => return Header::Bad("octet count is zero"),
            b' ' => {
                return Header::Ok {
                    len,
                    header_len: i + 1,
                };
            }
            _ => return Header::Bad("octet count not followed by a space"),
        }
    }
    Header::Incomplete
}

impl Framer {
    /// A framer that cuts frames at `max_frame` bytes (at least 1).
    pub fn new(max_frame: usize) -> Self {
        Framer {
            max_frame: max_frame.max(1),
            state: State::Start,
            consumed: 0,
        }
    }

    /// The maximum frame size.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Bytes taken off buffers so far (the stream offset of the next unread byte).
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }

    /// Whether a frame has begun and is not complete, after [`decode`](Self::decode) returned
    /// `Ok(None)` on `buf`: part of it is buffered, or the rest of an oversized one is being
    /// skipped. `false` between frames. (A connection's frame deadline starts with it.)
    pub fn in_frame(&self, buf: &[u8]) -> bool {
        !matches!(self.state, State::Start) || !buf.is_empty()
    }

    fn advance(&mut self, buf: &mut BytesMut, n: usize) {
        let n = n.min(buf.len());
        buf.advance(n);
        self.consumed += n as u64;
    }

    fn split(&mut self, buf: &mut BytesMut, n: usize) -> BytesMut {
        let n = n.min(buf.len());
        self.consumed += n as u64;
        buf.split_to(n)
    }

    /// Takes the next complete frame off the front of `buf`, or returns `Ok(None)` when more
    /// input is needed (everything in `buf` is then either kept for later or skipped). After an
    /// `Err`, call again: decoding has resynchronised.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                State::Start => {
                    let junk = buf
                        .iter()
                        .take_while(|&&c| matches!(c, b'\n' | b'\r' | 0))
                        .count();
                    self.advance(buf, junk);
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if !first.is_ascii_digit() {
                        self.state = State::Line {
                            scanned: 0,
                            bad_count: None,
                        };
                        continue;
                    }
                    match parse_header(buf) {
                        Header::Incomplete => return Ok(None),
                        Header::Ok { len, header_len } => {
                            self.advance(buf, header_len);
                            self.state = State::Counted { len };
                        }
                        Header::Bad(reason) => {
                            self.state = State::Line {
                                scanned: 0,
                                bad_count: Some((self.consumed, reason)),
                            };
                        }
                    }
                }
                State::Counted { len } => {
                    let take = len.min(self.max_frame);
                    if buf.len() < take {
                        return Ok(None);
                    }
                    let data = self.split(buf, take).freeze();
                    let truncated = len > take;
                    self.state = if truncated {
                        State::SkipCount {
                            remaining: len - take,
                        }
                    } else {
                        State::Start
                    };
                    return Ok(Some(Frame { data, truncated }));
                }
                State::SkipCount { remaining } => {
                    let n = remaining.min(buf.len());
                    self.advance(buf, n);
                    if n < remaining {
                        self.state = State::SkipCount {
                            remaining: remaining - n,
                        };
                        return Ok(None);
                    }
                    self.state = State::Start;
                }
                State::SkipLine => match memchr2(b'\n', 0, buf) {
                    Some(i) => {
                        self.advance(buf, i + 1);
                        self.state = State::Start;
                    }
                    None => {
                        let n = buf.len();
                        self.advance(buf, n);
                        return Ok(None);
                    }
                },
                State::Line { scanned, bad_count } => {
                    let found = buf.get(scanned..).and_then(|rest| memchr2(b'\n', 0, rest));
                    let (frame, truncated) = match found {
                        Some(i) => {
                            let end = scanned + i;
                            let mut line = self.split(buf, end + 1);
                            line.truncate(if line[..end].ends_with(b"\r") {
                                end - 1
                            } else {
                                end
                            });
                            self.state = State::Start;
                            let truncated = line.len() > self.max_frame;
                            line.truncate(self.max_frame);
                            (line, truncated)
                        }
                        // Room for a CR before the LF, so a line of exactly `max_frame` is whole.
                        None if buf.len() > self.max_frame.saturating_add(1) => {
                            let line = self.split(buf, self.max_frame);
                            self.state = State::SkipLine;
                            (line, true)
                        }
                        None => {
                            self.state = State::Line {
                                scanned: buf.len(),
                                bad_count,
                            };
                            return Ok(None);
                        }
                    };
                    let data = frame.freeze();
                    if let Some((offset, reason)) = bad_count {
                        return Err(FrameError::BadOctetCount {
                            offset,
                            reason,
                            data,
                        });
                    }
                    if data.is_empty() {
                        continue;
                    }
                    return Ok(Some(Frame { data, truncated }));
                }
            }
        }
    }

    /// End of input: returns the frames still in `buf`, one per call, then `Ok(None)`. A final
    /// unterminated line is a frame; so is the part of an octet-counted frame that arrived
    /// (marked truncated). Leaves `buf` empty and the framer ready for a new stream.
    pub fn finish(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // `decode` wants more input: whatever is left is the last (partial) frame.
        let state = std::mem::replace(&mut self.state, State::Start);
        let n = buf.len();
        let rest = self.split(buf, n);
        let (mut data, truncated, bad_count) = match state {
            State::Start => (rest, false, None),
            State::Line { bad_count, .. } => (rest, false, bad_count),
            State::Counted { .. } => (rest, true, None),
            State::SkipCount { .. } | State::SkipLine => return Ok(None),
        };
        if data.ends_with(b"\r") {
            data.truncate(data.len() - 1);
        }
        let truncated = truncated || data.len() > self.max_frame;
        data.truncate(self.max_frame);
        let data = data.freeze();
        if let Some((offset, reason)) = bad_count {
            return Err(FrameError::BadOctetCount {
                offset,
                reason,
                data,
            });
        }
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(Frame { data, truncated }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `chunk` bytes, then finishes; renders frames and errors.
    fn run(max: usize, input: &[u8], chunk: usize) -> Vec<String> {
        let mut f = Framer::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let push = |r: Result<Option<Frame>, FrameError>, out: &mut Vec<String>| match r {
            Ok(Some(fr)) => {
                let t = if fr.truncated { "T:" } else { "" };
                out.push(format!("{t}{}", String::from_utf8_lossy(&fr.data)));
                true
            }
            Ok(None) => false,
            Err(FrameError::BadOctetCount { offset, data, .. }) => {
                out.push(format!("E{offset}:{}", String::from_utf8_lossy(&data)));
                true
            }
            Err(e) => panic!("{e}"),
        };
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while push(f.decode(&mut buf), &mut out) {}
        }
        while push(f.finish(&mut buf), &mut out) {}
        assert!(buf.is_empty());
        out
    }

    /// `in_frame` after feeding each of `pieces` and decoding everything complete.
    fn in_frame_after(max: usize, pieces: &[&[u8]]) -> Vec<bool> {
        let mut f = Framer::new(max);
        let mut buf = BytesMut::new();
        pieces
            .iter()
            .map(|p| {
                buf.extend_from_slice(p);
                while !matches!(f.decode(&mut buf), Ok(None)) {}
                f.in_frame(&buf)
            })
            .collect()
    }

    #[test]
    fn in_frame_is_true_from_the_first_byte_of_a_frame_to_its_end() {
        // LF framing, with CR/LF/NUL junk between frames that starts nothing
        assert_eq!(
            in_frame_after(64, &[b"<13>a", b"b\n", b"\n\r\0", b"<1", b"3>c\n<13>d"]),
            [true, false, false, true, true]
        );
        // octet counting: inside the count, inside the frame, and done
        assert_eq!(
            in_frame_after(64, &[b"9", b" <13>", b"hello", b"5 <13>x"]),
            [true, true, false, false]
        );
        // the skipped tail of an oversized line or counted frame is still the same frame
        assert_eq!(
            in_frame_after(4, &[b"<13>abcdef", b"ghi", b"\n"]),
            [true, true, false]
        );
        assert_eq!(
            in_frame_after(4, &[b"9 <13>ab", b"cd", b"e"]),
            [true, true, false]
        );
    }

    fn all_chunkings(max: usize, input: &[u8], want: &[&str]) {
        for chunk in 1..=input.len().max(1) {
            assert_eq!(run(max, input, chunk), want, "chunk size {chunk}");
        }
    }

    #[test]
    fn lf_framing() {
        all_chunkings(
            100,
            b"<13>a\n<14>b\r\n\n<15>c\0<16>d",
            &["<13>a", "<14>b", "<15>c", "<16>d"],
        );
    }

    #[test]
    fn octet_counting() {
        all_chunkings(
            100,
            b"5 <13>a6 <14>bc\n4 \n\nxy",
            &["<13>a", "<14>bc", "\n\nxy"],
        );
    }

    #[test]
    fn mixed_per_frame() {
        all_chunkings(
            100,
            b"<13>lf\n5 <13>a<14>lf2\n",
            &["<13>lf", "<13>a", "<14>lf2"],
        );
    }

    #[test]
    fn oversized_line_is_cut_and_rest_skipped() {
        all_chunkings(4, b"<1>abcdefgh\n<2>x\n", &["T:<1>a", "<2>x"]);
        // Exactly max with CRLF is not oversized.
        all_chunkings(4, b"<1>a\r\n<2>b\n", &["<1>a", "<2>b"]);
    }

    #[test]
    fn oversized_counted_frame_is_cut_and_rest_skipped() {
        all_chunkings(4, b"10 0123456789<2>x\n", &["T:0123", "<2>x"]);
    }

    #[test]
    fn bad_octet_count_resyncs_to_lf() {
        all_chunkings(
            100,
            b"12x <13>bad\n<14>good\n",
            &["E0:12x <13>bad", "<14>good"],
        );
        all_chunkings(100, b"0 zero\n3 abc", &["E0:0 zero", "abc"]);
        all_chunkings(
            100,
            b"1234567890 absurd\n<1>x\n",
            &["E0:1234567890 absurd", "<1>x"],
        );
        all_chunkings(100, b"<1>x\n99y", &["<1>x", "E5:99y"]);
    }

    #[test]
    fn eof_inside_counted_frame_keeps_partial_data() {
        all_chunkings(100, b"10 abc", &["T:abc"]);
        all_chunkings(100, b"123", &["123"]);
    }

    #[test]
    fn offsets_track_the_stream() {
        let mut f = Framer::new(16);
        let mut buf = BytesMut::from(&b"<1>a\n5 hello"[..]);
        assert!(f.decode(&mut buf).unwrap().is_some());
        assert_eq!(f.stream_offset(), 5);
        assert!(f.decode(&mut buf).unwrap().is_some());
        assert_eq!(f.stream_offset(), 12);
        assert_eq!(f.max_frame(), 16);
    }

    #[test]
    fn huge_max_frame_does_not_overflow() {
        assert_eq!(run(usize::MAX, b"<1>a\n<2>b", 1), ["<1>a", "<2>b"]);
    }

    #[test]
    fn frames_are_zero_copy() {
        let mut f = Framer::new(64);
        let mut buf = BytesMut::from(&b"<1>hello\n"[..]);
        let base = buf.as_ptr();
        let fr = f.decode(&mut buf).unwrap().unwrap();
        assert_eq!(fr.data.as_ptr(), base);
    }
}
