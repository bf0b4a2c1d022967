//! The stored form of one event (in WAL frames and memtable blocks):
//!
//! ```text
//! record = tag varint | postcard(Event)
//!          tag 0: the event as is
//!          tag n+1: `message` was the tail of `raw` from byte n and is left out of the
//!                   encoding (syslog messages usually are: this saves ~40% of the bytes to
//!                   write, checksum, compress and decode)
//! ```
//! The encoding is postcard over a borrowed mirror of [`Event`] whose field order is pinned by
//! an exhaustive destructuring (a new field fails to compile here) and a byte-equality test.

use serde::Serialize;
use vigil_event::{
    Bytes, Endpoint, Event, EventFields, FieldMap, HostFields, LogFields, Meta, NetworkFields,
    ObserverFields, ProcessFields, RuleFields, SmolStr, Timestamp, UserFields, WebFields,
};

#[derive(Serialize)]
struct EventRef<'a> {
    meta: &'a Meta,
    timestamp: &'a Timestamp,
    message: Option<&'a SmolStr>,
    tags: &'a Vec<SmolStr>,
    event: &'a EventFields,
    source: &'a Endpoint,
    destination: &'a Endpoint,
    user: &'a UserFields,
    host: &'a HostFields,
    process: &'a ProcessFields,
    network: &'a NetworkFields,
    observer: &'a ObserverFields,
    rule: &'a RuleFields,
    log: &'a LogFields,
    web: &'a WebFields,
    extra: &'a FieldMap,
    original: &'a FieldMap,
    raw: &'a Bytes,
}

/// Appends postcard's output to a vector: a byte is a `push`, a slice (the raw record) one
/// `extend_from_slice` (postcard's `Extend` flavor went through an iterator for each: a third
/// of the encoding's instructions).
struct Sink<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Sink<'_> {
    type Output = ();

    #[inline(always)]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// Appends the stored form of `ev` to `out`; returns where the message starts in the raw
/// record when it was left out as the raw record's tail.
pub(crate) fn encode(ev: &Event, out: &mut Vec<u8>) -> Option<usize> {
    let Event {
        meta,
        timestamp,
        message,
        tags,
        event,
        source,
        destination,
        user,
        host,
        process,
        network,
        observer,
        rule,
        log,
        web,
        extra,
        original,
        raw,
    } = ev;
    let suffix_at = message.as_ref().and_then(|m| {
        let m = m.as_bytes();
        (!m.is_empty() && raw.ends_with(m)).then(|| raw.len() - m.len())
    });
    put_varint(suffix_at.map_or(0, |n| n as u64 + 1), out);
    let r = EventRef {
        meta,
        timestamp,
        message: if suffix_at.is_some() {
            None
        } else {
            message.as_ref()
        },
        tags,
        event,
        source,
        destination,
        user,
        host,
        process,
        network,
        observer,
        rule,
        log,
        web,
        extra,
        original,
        raw,
    };
    // postcard cannot fail on these types (see Event::encode)
    let _ = postcard::serialize_with_flavor(&r, Sink(out));
    suffix_at
}

/// Decodes one stored event from the front of `bytes`, returning it and the rest.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Event, &[u8]), String> {
    let (tag, rest) = get_varint(bytes).ok_or("bad record tag")?;
    let (mut ev, rest) = Event::decode(rest).map_err(|e| e.to_string())?;
    if tag > 0 {
        let at = usize::try_from(tag - 1).map_err(|_| "bad message offset")?;
        let tail = ev
            .raw
            .get(at..)
            .ok_or("message offset beyond the raw record")?;
        let s = std::str::from_utf8(tail).map_err(|_| "message is not UTF-8")?;
        ev.message = Some(SmolStr::new(s));
    }
    Ok((ev, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Event {
        let mut ev = Event::new(Bytes::from_static(b"<13>host app: hello world"));
        ev.message = Some("hello world".into());
        ev.tags = vec!["a".into()];
        ev.source.ip = Some([1, 2, 3, 4].into());
        ev.destination.port = Some(22);
        ev.user.name = Some("u".into());
        ev.host.name = Some("h".into());
        ev.process.pid = Some(7);
        ev.network.transport = Some("tcp".into());
        ev.observer.product = Some("p".into());
        ev.rule.name = Some("r".into());
        ev.log.level = Some("info".into());
        ev.web.status_code = Some(200);
        ev.event.category = vec!["network".into()];
        ev.extra.insert("x.y", 1);
        ev.original.insert("suser", "bob");
        ev
    }

    #[test]
    fn mirror_encodes_like_event() {
        let mut ev = full();
        ev.message = Some("not a suffix".into());
        let mut a = Vec::new();
        encode(&ev, &mut a);
        let mut b = vec![0u8];
        ev.encode(&mut b);
        assert_eq!(a, b);
        assert_eq!(decode(&a).expect("decodes").0, ev);
    }

    #[test]
    fn suffix_message_is_left_out_and_restored() {
        let ev = full();
        let mut a = Vec::new();
        encode(&ev, &mut a);
        let mut plain = Vec::new();
        ev.encode(&mut plain);
        assert!(a.len() < plain.len());
        let (back, rest) = decode(&a).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(back, ev);
        // garbage tags are errors, not panics
        assert!(decode(&[0xff; 12]).is_err());
        let mut bad = vec![0x7f];
        bad.extend_from_slice(&a[1..]);
        assert!(decode(&bad).is_err());
    }
}
