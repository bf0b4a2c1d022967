//! Pruning structures: the stable hash, the tokenizer, the keyword fields, per-block bloom
//! filters, and the must-have terms ([`Needles`]) derived from a query.
//!
//! Everything here is persisted in segment files (bloom filters, keyword columns), so the hash
//! function, the token rules and the keyword field list are part of the segment format:
//! change them only together with [`super::segment::FORMAT`].

use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::AhoCorasick;
use vigil_event::{Event, FieldId, FieldKind};
use vigil_query::{Expr, Term, Value, is_token_byte};

/// Fields stored as dictionary columns in segments and hashed into the bloom filters. Order
/// matters (it seeds the hash and orders the columns): append only, and change
/// [`super::segment::FORMAT`] when changing. The last eight are Vigil's own metadata and the
/// rule of correlation events (issue 12: alerts and audit events are searched and counted as
/// cheaply as any keyword field); segments of format 2 have only the first
/// [`KEYWORD_FIELDS_V2`].
pub(crate) const KEYWORD_FIELDS: [&str; 20] = [
    "host.name",
    "process.name",
    "source.ip",
    "destination.ip",
    "user.name",
    "event.action",
    "event.outcome",
    "event.code",
    "event.dataset",
    "observer.vendor",
    "observer.product",
    "destination.port",
    "vigil.type",
    "vigil.tenant",
    "vigil.source",
    "vigil.collector",
    "rule.id",
    "rule.name",
    "rule.category",
    "rule.ruleset",
];

/// How many of the [`KEYWORD_FIELDS`] segments of format 2 (`vigil-segment-parquet-2`) store
/// as keyword columns and hash into their bloom filters: there, the others are per-segment
/// text columns, and a bloom filter of such a segment says nothing about them.
pub(crate) const KEYWORD_FIELDS_V2: usize = 12;

/// Longest token indexed in the bloom filters (longer runs are not indexed, and needles with
/// longer tokens do not prune).
pub(crate) const MAX_TOKEN: usize = 32;

const SEED_TOKEN: u64 = 0x7f4a_7c15_9e37_79b9;
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// The store's persisted 64-bit hash (a small multiply-rotate hash with the murmur3 finalizer).
/// Stable across platforms and releases: it is part of the segment format.
pub(crate) fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let mut h = seed;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w.wrapping_mul(K2)).rotate_left(31).wrapping_mul(K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = 0u64;
        for (i, &x) in rest.iter().enumerate() {
            w |= u64::from(x) << (8 * i);
        }
        h = (h ^ w.wrapping_mul(K2)).rotate_left(31).wrapping_mul(K1);
    }
    fmix(h ^ (b.len() as u64).wrapping_mul(K1))
}

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn key_seed(field_idx: usize) -> u64 {
    fmix(0x5eed_0000_0000_0000 ^ (field_idx as u64 + 1))
}

/// The hash of a keyword field value (already canonical: lowercase text, IP display, decimal).
pub(crate) fn key_hash(field_idx: usize, canonical: &str) -> u64 {
    hash_bytes(key_seed(field_idx), canonical.as_bytes())
}

/// An identity hasher for sets of hashes.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// A fast hasher for short strings (the store's [`hash_bytes`]); not DoS-resistant, used only
/// for per-block dictionaries whose size is bounded by the block.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct BytesHasher(u64);

impl Hasher for BytesHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(self.0, bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = fmix(self.0 ^ u64::from(i));
    }
}

/// A set of 64-bit hashes.
pub(crate) type HashSet64 = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// Byte class table: 0 for separators, else the ASCII-lowercased byte. Word bytes are the
/// query language's ([`is_token_byte`]; test `token_table_agrees_with_the_query_language`).
static TOKEN_TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if is_token_byte(b) {
            b.to_ascii_lowercase()
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Calls `f` with the hash of every token of `text`: maximal runs of ASCII letters, digits and
/// non-ASCII bytes, ASCII-lowercased, at most [`MAX_TOKEN`] bytes. The hash equals
/// `hash_bytes(SEED_TOKEN, lowercased token)`, computed in one pass without copying.
pub(crate) fn for_each_token(text: &[u8], f: &mut impl FnMut(u64)) {
    let mut len = 0usize;
    let mut word = 0u64;
    let mut h = 0u64;
    let flush = |len: usize, word: u64, h: u64, f: &mut dyn FnMut(u64)| {
        if len == 0 || len > MAX_TOKEN {
            return;
        }
        let mut h = h;
        if !len.is_multiple_of(8) {
            h = (h ^ word.wrapping_mul(K2)).rotate_left(31).wrapping_mul(K1);
        }
        f(fmix(h ^ (len as u64).wrapping_mul(K1)));
    };
    for &b in text {
        let c = TOKEN_TABLE[b as usize];
        if c == 0 {
            if len > 0 {
                flush(len, word, h, f);
                len = 0;
            }
            continue;
        }
        if len == 0 {
            word = 0;
            h = SEED_TOKEN;
        }
        if len < MAX_TOKEN + 1 {
            word |= u64::from(c) << (8 * (len % 8));
            if len % 8 == 7 {
                h = (h ^ word.wrapping_mul(K2)).rotate_left(31).wrapping_mul(K1);
                word = 0;
            }
        }
        len += 1;
    }
    if len > 0 {
        flush(len, word, h, f);
    }
}

/// The hashes of the words every text matched by a full-text term holds as whole words
/// ([`vigil_query::whole_words`]: full text matches at word boundaries), at most
/// [`MAX_TOKEN`] bytes long (longer words are not indexed).
pub(crate) fn needle_tokens(term: &Term) -> Vec<u64> {
    vigil_query::whole_words(term)
        .into_iter()
        .filter(|w| w.len() <= MAX_TOKEN)
        .map(|w| hash_bytes(SEED_TOKEN, &w.as_bytes().to_ascii_lowercase()))
        .collect()
}

/// Lowercases like the query matcher (`field:value` is Unicode-lowercase insensitive).
pub(crate) fn lower_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// Appends `ip` as `Display` writes it, IPv4 without the formatting machinery (the hot path
/// of every event with an address).
pub(crate) fn push_ip(ip: std::net::IpAddr, out: &mut String) {
    match ip {
        std::net::IpAddr::V4(a) => {
            for (i, &o) in a.octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if o >= 100 {
                    out.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    out.push(char::from(b'0' + (o / 10) % 10));
                }
                out.push(char::from(b'0' + o % 10));
            }
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// [`KEYWORD_FIELDS`] resolved in the field registry, once per process (an extractor is made
/// per append: with a line per append, looking them up each time was a tenth of the append).
static KEYWORD_IDS: std::sync::LazyLock<Vec<(usize, FieldId)>> = std::sync::LazyLock::new(|| {
    KEYWORD_FIELDS
        .iter()
        .enumerate()
        .filter_map(|(i, n)| FieldId::lookup(n).map(|id| (i, id)))
        .collect()
});

/// Extracts the keyword values, key hashes and token hashes of events.
#[derive(Debug)]
pub(crate) struct Extractor {
    ids: &'static [(usize, FieldId)],
    buf: String,
    /// Per metadata field (from [`KEYWORD_FIELDS_V2`] on): the last value seen and its hash.
    /// Type, tenant, source and collector rarely change from one event to the next.
    last: Vec<(String, u64)>,
}

impl Extractor {
    pub(crate) fn new() -> Self {
        Extractor {
            ids: &KEYWORD_IDS,
            buf: String::new(),
            last: vec![(String::new(), 0); KEYWORD_FIELDS.len() - KEYWORD_FIELDS_V2],
        }
    }

    /// Calls `key` with the hash of every keyword field value of `ev`, `col` with its display
    /// form (original case), and `token` with every token hash of its raw record and message.
    pub(crate) fn extract(
        &mut self,
        ev: &Event,
        key: &mut impl FnMut(u64),
        token: &mut impl FnMut(u64),
        col: &mut impl FnMut(usize, &str),
    ) {
        let (buf, last) = (&mut self.buf, &mut self.last);
        for &(idx, id) in self.ids {
            id.def().visit(ev, &mut |v| {
                buf.clear();
                match v {
                    vigil_event::ValueRef::Str(s) if idx >= KEYWORD_FIELDS_V2 => {
                        col(idx, s);
                        if let Some((prev, h)) = last.get_mut(idx - KEYWORD_FIELDS_V2) {
                            if prev != s || prev.is_empty() {
                                prev.clear();
                                prev.push_str(s);
                                lower_into(s, buf);
                                *h = key_hash(idx, buf);
                            }
                            key(*h);
                        }
                        return;
                    }
                    vigil_event::ValueRef::Str(s) => {
                        col(idx, s);
                        lower_into(s, buf);
                    }
                    vigil_event::ValueRef::Ip(ip) => {
                        push_ip(ip, buf);
                        col(idx, buf);
                    }
                    vigil_event::ValueRef::Int(i) => {
                        let _ = write!(buf, "{i}");
                        col(idx, buf);
                    }
                    _ => return,
                }
                key(key_hash(idx, buf));
            });
        }
        for_each_token(&ev.raw, token);
        if let Some(m) = &ev.message {
            // Syslog messages are usually the tail of the raw line: their tokens are already in.
            let m = m.as_bytes();
            if !ev.raw.ends_with(m) && memchr::memmem::find(&ev.raw, m).is_none() {
                for_each_token(m, token);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bloom filters.

/// Bloom filter bits per distinct token.
pub(crate) const BLOOM_BITS_PER_KEY: usize = 10;
/// Probes per key (optimal for 10 bits/key is ~7).
pub(crate) const BLOOM_K: u32 = 7;

/// Builds the bit array of a bloom filter over `keys`.
pub(crate) fn bloom_build(keys: &HashSet64) -> Vec<u8> {
    let bits = (keys.len() * BLOOM_BITS_PER_KEY)
        .max(64)
        .next_multiple_of(64);
    let mut out = vec![0u8; bits / 8];
    for &k in keys {
        for pos in bloom_positions(k, bits as u64) {
            out[(pos / 8) as usize] |= 1 << (pos % 8);
        }
    }
    out
}

fn bloom_positions(k: u64, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = k;
    let h2 = fmix(k ^ K2) | 1;
    (0..u64::from(BLOOM_K)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Whether the bloom filter may contain `k` (false means certainly not).
pub(crate) fn bloom_may_contain(bloom: &[u8], k: u64) -> bool {
    let bits = bloom.len() as u64 * 8;
    if bits == 0 {
        return true;
    }
    bloom_positions(k, bits).all(|pos| bloom[(pos / 8) as usize] & (1 << (pos % 8)) != 0)
}

// ---------------------------------------------------------------------------------------------
// Needles: what a query requires of a block.

/// Terms every matching event must have, derived from the query's AND-ed conditions. Used only
/// to skip blocks and events; the compiled filter still decides.
#[derive(Debug, Default)]
pub(crate) struct Needles {
    /// Each entry: a keyword field (index into [`KEYWORD_FIELDS`]) and hashes of its values, at
    /// least one of which must be present in the block.
    pub keys_any: Vec<(usize, Vec<u64>)>,
    /// Every token must be present in the block's bloom filter.
    pub tokens: Vec<u64>,
    /// Every literal must occur (ASCII case-insensitively) in the event's encoded bytes.
    pub texts: Vec<AhoCorasick>,
    /// `@timestamp` lower bound (inclusive) from the query.
    pub from: Option<i64>,
    /// `@timestamp` upper bound (exclusive) from the query.
    pub to: Option<i64>,
}

impl Needles {
    pub(crate) fn from_expr(e: &Expr) -> Needles {
        let mut n = Needles::default();
        n.collect(e);
        n
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys_any.is_empty() && self.tokens.is_empty() && self.texts.is_empty()
    }

    fn collect(&mut self, e: &Expr) {
        match e {
            Expr::And(xs) => xs.iter().for_each(|x| self.collect(x)),
            Expr::Term(t) => self.term(t),
            Expr::MatchAll | Expr::Or(_) | Expr::Not(_) => {}
        }
    }

    fn term(&mut self, t: &Term) {
        match t {
            Term::Eq { field, value, .. } => {
                if let Some((f, k)) = keyword_needle(field, value) {
                    self.keys_any.push((f, vec![k]));
                }
            }
            Term::In { field, values } => {
                let ks: Option<Vec<(usize, u64)>> =
                    values.iter().map(|v| keyword_needle(field, v)).collect();
                if let Some(ks) = ks.filter(|k| !k.is_empty()) {
                    let f = ks.iter().map(|k| k.0).max().unwrap_or(0);
                    self.keys_any
                        .push((f, ks.into_iter().map(|k| k.1).collect()));
                }
            }
            Term::TextWildcard(_) => self.tokens.extend(needle_tokens(t)),
            Term::Text(s) => {
                self.tokens.extend(needle_tokens(t));
                if s.is_ascii()
                    && !s.is_empty()
                    && let Ok(ac) = vigil_query::ascii_ci_finder([s])
                {
                    self.texts.push(ac);
                }
            }
            Term::Range {
                field,
                lower,
                upper,
            } if is_timestamp(field) => {
                if let Some(b) = lower
                    && let Value::Time(t) = b.value
                {
                    let lo = if b.inclusive { t } else { t.saturating_add(1) };
                    self.from = Some(self.from.map_or(lo, |f| f.max(lo)));
                }
                if let Some(b) = upper
                    && let Value::Time(t) = b.value
                {
                    let hi = if b.inclusive { t.saturating_add(1) } else { t };
                    self.to = Some(self.to.map_or(hi, |f| f.min(hi)));
                }
            }
            _ => {}
        }
    }

    /// Whether a block with these keyword and token sets may hold a match. `keywords`: how many
    /// of the [`KEYWORD_FIELDS`] the block's sets cover (all, but in segments of an older
    /// format); a condition on another field does not prune it.
    pub(crate) fn block_may_match(
        &self,
        keywords: usize,
        has_key: impl Fn(u64) -> bool,
        has_token: impl Fn(u64) -> bool,
    ) -> bool {
        self.keys_any
            .iter()
            .all(|(f, alts)| *f >= keywords || alts.iter().any(|&k| has_key(k)))
            && self.tokens.iter().all(|&t| has_token(t))
    }

    /// Whether an event's encoded bytes may hold a match.
    pub(crate) fn bytes_may_match(&self, encoded: &[u8]) -> bool {
        self.texts.iter().all(|ac| ac.is_match(encoded))
    }
}

fn is_timestamp(field: &str) -> bool {
    FieldId::lookup(field).map(|id| id.name()) == Some("@timestamp")
}

/// The keyword field and hash an event must have for `field == value` to match, if the field
/// is a keyword field and the literal has a canonical form the index shares.
fn keyword_needle(field: &str, value: &Value) -> Option<(usize, u64)> {
    let id = FieldId::lookup(field)?;
    let idx = KEYWORD_FIELDS.iter().position(|n| *n == id.name())?;
    let kind = id.def().kind();
    let mut buf = String::new();
    match (value, kind) {
        // A string literal compares (case-insensitively) with the value's display form.
        (Value::Str(s), _) => lower_into(s, &mut buf),
        (Value::Ip(ip), FieldKind::Ip) => {
            let _ = write!(buf, "{ip}");
        }
        (Value::Int(i), FieldKind::Int) => {
            let _ = write!(buf, "{i}");
        }
        _ => return None,
    }
    Some((idx, key_hash(idx, &buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lowercase_and_bounded_needles() {
        let mut a = Vec::new();
        for_each_token(b"Failed password for ALICE from 10.0.0.1", &mut |h| {
            a.push(h)
        });
        assert_eq!(a.len(), 9);
        let mut b = Vec::new();
        for_each_token(b"alice", &mut |h| b.push(h));
        assert!(a.contains(&b[0]));
        let text = |s: &str| needle_tokens(&Term::Text(s.into()));
        let glob = |s: &str| needle_tokens(&Term::TextWildcard(s.into()));
        // Full text matches whole words: every word of a needle is a whole word of the text.
        assert_eq!(text("fail").len(), 1);
        assert_eq!(text("Failed password for").len(), 3);
        assert!(a.contains(&text(" ALICE ")[0]));
        assert!(a.contains(&text("alice")[0]));
        // A word touching a wildcard is not whole.
        assert!(glob("ali*").is_empty());
        assert_eq!(glob("*for ALICE"), text("alice"));
        // Longer words are not indexed, so they do not prune.
        assert!(text(&"x".repeat(MAX_TOKEN + 1)).is_empty());
    }

    /// The streaming tokenizer gives the hashes of its definition: runs of token bytes,
    /// lowercased with the table, hashed with `hash_bytes`, the long ones left out.
    #[test]
    fn tokenizer_agrees_with_its_definition() {
        let reference = |text: &[u8]| -> Vec<u64> {
            text.split(|&b| TOKEN_TABLE[b as usize] == 0)
                .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
                .map(|t| {
                    let low: Vec<u8> = t.iter().map(|&b| TOKEN_TABLE[b as usize]).collect();
                    hash_bytes(SEED_TOKEN, &low)
                })
                .collect()
        };
        // every byte value, in every position of a word, and runs of every length around 8
        let mut texts: Vec<Vec<u8>> = (0..=255u8)
            .flat_map(|b| {
                (0..9).map(move |at| {
                    let mut t = b"xYzAbCdEfG".to_vec();
                    t.insert(at, b);
                    t
                })
            })
            .collect();
        texts.extend((0..=MAX_TOKEN + 2).map(|n| "Ab9\u{e9}".repeat(n).into_bytes()));
        texts.extend((1..=MAX_TOKEN + 2).map(|n| format!("-{}-", "Q".repeat(n)).into_bytes()));
        // pseudo-random bytes biased to letters, digits and separators
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (x % 97) as usize;
            let t: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"aZ09 .:=-_/\xc3\xa9QqM"[(x % 16) as usize]
                })
                .collect();
            texts.push(t);
        }
        for t in &texts {
            let mut got = Vec::new();
            for_each_token(t, &mut |h| got.push(h));
            assert_eq!(got, reference(t), "{:?}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn token_table_agrees_with_the_query_language() {
        for b in 0..=255u8 {
            assert_eq!(TOKEN_TABLE[b as usize] != 0, is_token_byte(b), "byte {b}");
        }
    }

    #[test]
    fn streaming_token_hash_equals_hash_bytes() {
        let text = b"a ABCDEFGH abcdefghi 0123456789abcdef x\xc3\xa9t\xc3\xa9 ".to_vec();
        let long = "y".repeat(MAX_TOKEN + 1);
        let mut got = Vec::new();
        for_each_token(&[text.as_slice(), long.as_bytes()].concat(), &mut |h| {
            got.push(h)
        });
        let want: Vec<u64> = [
            "a",
            "abcdefgh",
            "abcdefghi",
            "0123456789abcdef",
            "x\u{e9}t\u{e9}",
        ]
        .iter()
        .map(|t| hash_bytes(SEED_TOKEN, t.as_bytes()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ip_display_without_the_formatter() {
        for ip in [
            "0.0.0.0",
            "10.0.9.255",
            "100.99.9.1",
            "255.255.255.255",
            "::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: std::net::IpAddr = ip.parse().expect("ip");
            let mut s = String::new();
            push_ip(ip, &mut s);
            assert_eq!(s, ip.to_string());
        }
        for n in 0..=255u8 {
            let ip = std::net::IpAddr::from([n, n / 3, 255 - n, 9]);
            let mut s = String::new();
            push_ip(ip, &mut s);
            assert_eq!(s, ip.to_string());
        }
    }

    #[test]
    fn bloom_has_no_false_negatives() {
        let keys: HashSet64 = (0..5000u64)
            .map(|i| hash_bytes(1, &i.to_le_bytes()))
            .collect();
        let bloom = bloom_build(&keys);
        assert!(keys.iter().all(|&k| bloom_may_contain(&bloom, k)));
        let fp = (5000..15000u64)
            .filter(|i| bloom_may_contain(&bloom, hash_bytes(1, &i.to_le_bytes())))
            .count();
        assert!(fp < 300, "false positive rate too high: {fp}/10000");
    }

    #[test]
    fn hash_is_stable() {
        // persisted in segment files: must never change within a format version
        assert_eq!(
            hash_bytes(SEED_TOKEN, b"alice"),
            hash_bytes(SEED_TOKEN, b"alice")
        );
        assert_eq!(hash_bytes(0, b""), 0);
        assert_ne!(hash_bytes(0, b"a"), hash_bytes(0, b"b"));
        assert_ne!(hash_bytes(0, b"abcdefgh1"), hash_bytes(0, b"abcdefgh2"));
    }

    /// A condition on a keyword field prunes a block whose sets lack its value, but not a
    /// segment of format 2 when the field was not a keyword field there.
    #[test]
    fn metadata_needles_prune_only_blocks_that_index_them() {
        let q = vigil_query::parse("vigil.type:correlation rule.name in (a, B)").expect("parses");
        let n = Needles::from_expr(&q.filter);
        let fields: Vec<usize> = n.keys_any.iter().map(|k| k.0).collect();
        let pos = |f: &str| KEYWORD_FIELDS.iter().position(|k| *k == f).expect(f);
        assert_eq!(fields, vec![pos("vigil.type"), pos("rule.name")]);
        assert_eq!(
            n.keys_any[1].1,
            vec![
                key_hash(pos("rule.name"), "a"),
                key_hash(pos("rule.name"), "b")
            ]
        );
        assert!(pos("vigil.type") >= KEYWORD_FIELDS_V2);
        let none = |_| false;
        assert!(!n.block_may_match(KEYWORD_FIELDS.len(), none, none));
        assert!(n.block_may_match(KEYWORD_FIELDS_V2, none, none));
        let has = |k| {
            k == key_hash(pos("vigil.type"), "correlation") || k == key_hash(pos("rule.name"), "b")
        };
        assert!(n.block_may_match(KEYWORD_FIELDS.len(), has, none));
        // ECS keyword fields prune format-2 segments as before
        let q = vigil_query::parse("process.name:sshd").expect("parses");
        let n = Needles::from_expr(&q.filter);
        assert!(!n.block_may_match(KEYWORD_FIELDS_V2, none, none));
    }

    /// The hashes of the metadata fields, remembered from one event to the next, are those of
    /// each event's own values.
    #[test]
    fn remembered_metadata_hashes_follow_the_values() {
        let mut x = Extractor::new();
        for (i, src) in ["a", "a", "B", "", "b", "a"].iter().enumerate() {
            let mut ev = Event::new(vigil_event::Bytes::from_static(b"x"));
            ev.meta.source_id = (*src).into();
            if i % 2 == 1 {
                ev.meta.kind = vigil_event::EventType::Audit;
                ev.rule.name = Some("R".into());
            }
            let keys = |x: &mut Extractor| {
                let mut k = Vec::new();
                x.extract(&ev, &mut |h| k.push(h), &mut |_| {}, &mut |_, _| {});
                k
            };
            assert_eq!(keys(&mut x), keys(&mut Extractor::new()), "event {i}");
        }
    }
}
