//! The stored form of one event (in WAL frames and segment blocks):
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

use serde::{Deserialize, Serialize};
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

struct Sink<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Sink<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0.extend(iter);
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

/// Appends the stored form of `ev` to `out`.
pub(crate) fn encode(ev: &Event, out: &mut Vec<u8>) {
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
    let _ = postcard::to_extend(&r, Sink(out));
}

/// The stored form of an event up to its raw record: postcard decodes a struct's fields in
/// order, so this reads everything but the trailing raw bytes, without copying them.
#[derive(Deserialize)]
struct EventHead {
    meta: Meta,
    timestamp: Timestamp,
    message: Option<SmolStr>,
    tags: Vec<SmolStr>,
    event: EventFields,
    source: Endpoint,
    destination: Endpoint,
    user: UserFields,
    host: HostFields,
    process: ProcessFields,
    network: NetworkFields,
    observer: ObserverFields,
    rule: RuleFields,
    log: LogFields,
    web: WebFields,
    extra: FieldMap,
    original: FieldMap,
}

/// Decodes a stored event without its raw record (left empty; it is the record's last
/// `raw_len` bytes). Returns the event and where its message starts in the raw record when the
/// message was left out as the raw record's tail (the event's `message` is then `None`).
pub(crate) fn decode_head(record: &[u8]) -> Result<(Event, Option<usize>), String> {
    let (tag, rest) = get_varint(record).ok_or("bad record tag")?;
    let (h, _raw) = postcard::take_from_bytes::<EventHead>(rest).map_err(|e| e.to_string())?;
    let message_at = match tag {
        0 => None,
        n => Some(usize::try_from(n - 1).map_err(|_| "bad message offset")?),
    };
    let EventHead {
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
    } = h;
    let ev = Event {
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
        raw: Bytes::new(),
    };
    Ok((ev, message_at))
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
        // the head decoder reads all but the raw record
        for m in [Some("hello world"), Some("elsewhere"), None] {
            let mut ev = full();
            ev.message = m.map(Into::into);
            let mut rec = Vec::new();
            encode(&ev, &mut rec);
            let (head, at) = decode_head(&rec).expect("decodes");
            assert_eq!(at, (m == Some("hello world")).then_some(14));
            let mut back = head;
            back.raw = ev.raw.clone();
            if at.is_some() {
                back.message = ev.message.clone();
            }
            assert_eq!(back, ev);
        }
        // garbage tags are errors, not panics
        assert!(decode(&[0xff; 12]).is_err());
        let mut bad = vec![0x7f];
        bad.extend_from_slice(&a[1..]);
        assert!(decode(&bad).is_err());
    }
}
