//! The little BER the SNMPv3 envelope needs, read and written by hand: definite lengths,
//! one-byte tags. `snmp-parser` reads PDUs; this reads the USM fields with their place in the
//! datagram (the MAC is computed over the message with its own field zeroed) and writes
//! the answers (Response and Report PDUs).

/// `SEQUENCE`.
pub(crate) const SEQUENCE: u8 = 0x30;
/// `INTEGER`.
pub(crate) const INTEGER: u8 = 0x02;
/// `OCTET STRING`.
pub(crate) const OCTET_STRING: u8 = 0x04;
/// `OBJECT IDENTIFIER`.
pub(crate) const OID: u8 = 0x06;
/// `Counter32` (application 1).
pub(crate) const COUNTER32: u8 = 0x41;
/// GetRequest-PDU.
pub(crate) const GET_REQUEST: u8 = 0xa0;
/// Response-PDU.
pub(crate) const RESPONSE: u8 = 0xa2;
/// InformRequest-PDU.
pub(crate) const INFORM: u8 = 0xa6;
/// SNMPv2-Trap-PDU.
pub(crate) const TRAP_V2: u8 = 0xa7;
/// Report-PDU.
pub(crate) const REPORT: u8 = 0xa8;

/// Splits the first TLV off `input`: its tag, its content and what follows it. `None` when it
/// is not a sound definite-length TLV with a one-byte tag.
pub(crate) fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A TLV split off its input: tag, content, the whole TLV, and what follows.
pub(crate) type Whole<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Like [`read`], also giving the whole TLV (header and content).
pub(crate) fn read_whole(input: &[u8]) -> Option<Whole<'_>> {
    let (tag, content, rest) = read(input)?;
    let whole = &input[..input.len() - rest.len()];
    Some((tag, content, whole, rest))
}

/// Reads a TLV that must have `tag`.
pub(crate) fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match read(input)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

/// Reads an `INTEGER` of at most 8 bytes.
pub(crate) fn integer(input: &[u8]) -> Option<(i64, &[u8])> {
    let (content, rest) = expect(input, INTEGER)?;
    if content.is_empty() || content.len() > 8 {
        return None;
    }
    let mut v: i64 = if content[0] & 0x80 != 0 { -1 } else { 0 };
    for b in content {
        v = (v << 8) | i64::from(*b);
    }
    Some((v, rest))
}

/// Appends a TLV.
pub(crate) fn put(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// A TLV as a new buffer.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    put(&mut out, tag, content);
    out
}

/// Appends an `INTEGER` (or an application type with INTEGER encoding, such as Counter32)
/// in its shortest two's-complement form.
pub(crate) fn put_int(out: &mut Vec<u8>, tag: u8, v: i64) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    put(out, tag, &bytes[start..]);
}

/// The BER content of a dotted numeric OID (`1.3.6.1...`); `None` when it is not one.
pub(crate) fn oid_content(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().ok())
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 {
        return None;
    }
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(tmp.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; n];
            let t = tlv(OCTET_STRING, &content);
            let (tag, c, rest) = read(&t).unwrap_or((0, &[], &[]));
            assert_eq!((tag, c.len(), rest.len()), (OCTET_STRING, n, 0));
        }
        assert!(read(&[0x04, 0x05, 1, 2]).is_none(), "short content");
        assert!(
            read(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_none(),
            "5-byte length"
        );
        assert!(read(&[0x04, 0x80]).is_none(), "indefinite length");
        assert!(read(&[0x1f, 0x01, 0x00]).is_none(), "multi-byte tag");
    }

    #[test]
    fn integers_round_trip() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            2_147_483_647,
            -2_147_483_648,
        ] {
            let mut out = Vec::new();
            put_int(&mut out, INTEGER, v);
            assert_eq!(integer(&out).map(|x| x.0), Some(v), "{v}: {out:02x?}");
        }
        let mut out = Vec::new();
        put_int(&mut out, INTEGER, 128);
        assert_eq!(out, [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn oids_encode_as_in_x690() {
        assert_eq!(
            oid_content("1.3.6.1.6.3.15.1.1.4.0"),
            Some(vec![0x2b, 6, 1, 6, 3, 15, 1, 1, 4, 0])
        );
        assert_eq!(
            oid_content("1.3.6.1.4.1.8072"),
            Some(vec![0x2b, 6, 1, 4, 1, 0xbf, 0x08])
        );
        assert_eq!(oid_content("x.1"), None);
    }
}
