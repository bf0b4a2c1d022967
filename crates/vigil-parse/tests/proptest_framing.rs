//! Property tests for the RFC 6587 framer: arbitrary input at arbitrary chunk boundaries never
//! panics or spins, and framed messages come back intact (or cut and flagged when oversized).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use proptest::prelude::*;
use vigil_parse::framing::{Frame, FrameError, Framer};

#[derive(Debug, PartialEq)]
enum Out {
    Frame(Vec<u8>, bool),
    Bad(Vec<u8>),
}

/// Feeds `input` split at `cuts`, then finishes. Panics if decoding does not make progress.
fn run(max: usize, input: &[u8], cuts: &[usize]) -> Vec<Out> {
    let mut f = Framer::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    let mut prev = 0;
    // Every item consumes at least one byte, so this bounds the number of calls.
    let mut budget = input.len() + 2 * bounds.len() + 4;
    let mut record = |r: Result<Option<Frame>, FrameError>, out: &mut Vec<Out>| -> bool {
        budget = budget
            .checked_sub(1)
            .expect("framer does not make progress");
        match r {
            Ok(Some(fr)) => out.push(Out::Frame(fr.data.to_vec(), fr.truncated)),
            Ok(None) => return false,
            Err(FrameError::BadOctetCount { data, .. }) => out.push(Out::Bad(data.to_vec())),
            Err(e) => panic!("{e}"),
        }
        true
    };
    for &b in &bounds {
        buf.extend_from_slice(&input[prev..b]);
        prev = b;
        while record(f.decode(&mut buf), &mut out) {}
    }
    while record(f.finish(&mut buf), &mut out) {}
    assert!(buf.is_empty(), "finish leaves the buffer empty");
    for o in &out {
        let (Out::Frame(d, _) | Out::Bad(d)) = o;
        assert!(d.len() <= max.max(1), "frame longer than max_frame");
    }
    out
}

/// A message for LF framing: no LF/NUL, not starting with a digit or CR, no trailing CR.
fn lf_message() -> impl Strategy<Value = Vec<u8>> {
    ("[<a-zA-Z]", proptest::collection::vec(any::<u8>(), 0..60)).prop_map(|(first, rest)| {
        let mut m = first.into_bytes();
        m.extend(rest.into_iter().filter(|&c| c != b'\n' && c != 0));
        while m.last() == Some(&b'\r') {
            m.pop();
        }
        m
    })
}

#[derive(Debug, Clone)]
enum Framing {
    Lf,
    Crlf,
    Nul,
    Octet,
}

fn framed() -> impl Strategy<Value = (Framing, Vec<u8>)> {
    prop_oneof![
        lf_message().prop_map(|m| (Framing::Lf, m)),
        lf_message().prop_map(|m| (Framing::Crlf, m)),
        lf_message().prop_map(|m| (Framing::Nul, m)),
        proptest::collection::vec(any::<u8>(), 1..60).prop_map(|m| (Framing::Octet, m)),
    ]
}

fn encode(frames: &[(Framing, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, m) in frames {
        match kind {
            Framing::Lf => out.extend_from_slice(&[m.as_slice(), b"\n"].concat()),
            Framing::Crlf => out.extend_from_slice(&[m.as_slice(), b"\r\n"].concat()),
            Framing::Nul => out.extend_from_slice(&[m.as_slice(), b"\0"].concat()),
            Framing::Octet => {
                out.extend_from_slice(format!("{} ", m.len()).as_bytes());
                out.extend_from_slice(m);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_or_spins(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        max in 0usize..64,
    ) {
        run(max, &input, &cuts);
    }

    #[test]
    fn digit_heavy_input_never_panics_or_spins(
        input in "[0-9 \n\r<a]{0,200}",
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        max in 1usize..16,
    ) {
        run(max, input.as_bytes(), &cuts);
    }

    #[test]
    fn frames_round_trip_at_any_chunking(
        frames in proptest::collection::vec(framed(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let input = encode(&frames);
        let got = run(1024, &input, &cuts);
        let want: Vec<Out> = frames.iter().map(|(_, m)| Out::Frame(m.clone(), false)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn oversized_frames_are_cut_and_the_next_survives(
        frames in proptest::collection::vec(framed(), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
        max in 1usize..40,
    ) {
        let input = encode(&frames);
        let got = run(max, &input, &cuts);
        let want: Vec<Out> = frames.iter().map(|(_, m)| {
            let cut = m.len() > max;
            Out::Frame(m[..m.len().min(max)].to_vec(), cut)
        }).collect();
        prop_assert_eq!(got, want);
    }
}
