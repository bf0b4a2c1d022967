//! `cargo fuzz run framing`: the first byte picks `max_frame`, the next two a chunk size; the
//! rest is fed to the framer in chunks. It must not panic, spin, or emit a frame over the cap.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use vigil_parse::framing::{Frame, FrameError, Framer};

fuzz_target!(|data: &[u8]| {
    let [max, c0, c1, input @ ..] = data else {
        return;
    };
    let max = usize::from(*max) + 1;
    let chunk = usize::from(u16::from_le_bytes([*c0, *c1])).max(1);
    let mut framer = Framer::new(max);
    let mut buf = BytesMut::new();
    let mut budget = input.len() + 2 * (input.len() / chunk + 1) + 4;
    let mut check = |r: Result<Option<Frame>, FrameError>| -> bool {
        budget = budget
            .checked_sub(1)
            .expect("framer does not make progress");
        match r {
            Ok(Some(f)) => assert!(f.data.len() <= max),
            Ok(None) => return false,
            Err(FrameError::BadOctetCount { data, .. }) => assert!(data.len() <= max),
            Err(e) => panic!("{e}"),
        }
        true
    };
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while check(framer.decode(&mut buf)) {}
    }
    while check(framer.finish(&mut buf)) {}
    assert!(buf.is_empty());
});
