//! The sFlow connector: sFlow v5 datagrams (sflow.org's `sflow_version_5.txt`) over UDP, one
//! record per sampled packet and per interface counter set.
//!
//! A flow sample (format 1, or the expanded format 3) carries flow records; each *raw packet
//! header* record (format 1) is decoded (Ethernet with 802.1Q tags, IPv4, IPv6, TCP, UDP,
//! ICMP) into `source.*`/`destination.*` (MAC, IP, port), `network.transport`,
//! `network.iana_number`, `network.vlan.id`, `network.bytes` (the frame length) and
//! `sflow.sampling_rate`, with the agent as `observer.ip` and the sample's interfaces as
//! `observer.ingress/egress.interface.id`. A counter sample (format 2, expanded 4) gives one
//! record per *generic interface counters* record (format 1: `sflow.if_index`,
//! `sflow.if_in_octets`, ...). Other flow and counter record formats (vendor structures,
//! extended switch/router data) become records of their format and hex bytes, so nothing is
//! lost.
//!
//! **Bounds.** Every length read from the datagram is checked against what is left before it
//! is used; a datagram whose header or sample framing is wrong is passed on whole, marked
//! (error `malformed_packet`), and a sample whose body is cut short is passed on as its own
//! bytes, marked (error `malformed_sample`). The receive loop is the NetFlow connector's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use serde_json::{Map, Value};
use smol_str::SmolStr;
use vigil_config::SflowConfig;
use vigil_event::Timestamp;
use vigil_pipeline::{
    BoxFuture, ComponentError, Connector, ConnectorContext, ListenAddr, RawRecord,
};

use crate::udp::LazyUdp;

/// Most datagrams read in one wake-up before the batch is sent.
/// Most samples or records one datagram may declare (a UDP datagram cannot hold more).
const MAX_ITEMS: u32 = 8192;

/// Why a datagram or a sample was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SflowError {
    /// The datagram ends before `what`.
    #[error("truncated at {what} (offset {offset})")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Its offset in the datagram or sample.
        offset: usize,
    },
    /// Not sFlow version 5.
    #[error("not an sFlow v5 datagram (version {0})")]
    Version(u32),
    /// An unknown agent address type.
    #[error("unknown agent address type {0}")]
    AddressType(u32),
    /// A count larger than a datagram can hold.
    #[error("{what} count {n} is not possible in one datagram")]
    Count {
        /// What is counted.
        what: &'static str,
        /// The count.
        n: u32,
    },
}

/// A bounds-checked big-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SflowError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(SflowError::Truncated {
                what,
                offset: self.pos,
            });
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, SflowError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, SflowError> {
        let hi = u64::from(self.u32(what)?);
        let lo = u64::from(self.u32(what)?);
        Ok(hi << 32 | lo)
    }
    /// An XDR opaque of `n` bytes, padded to 4.
    fn opaque(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SflowError> {
        let b = self.take(n, what)?;
        let pad = (4 - n % 4) % 4;
        self.take(pad, what)?;
        Ok(b)
    }
    fn count(&mut self, what: &'static str) -> Result<u32, SflowError> {
        let n = self.u32(what)?;
        if n > MAX_ITEMS {
            return Err(SflowError::Count { what, n });
        }
        Ok(n)
    }
}

/// One decoded datagram: the records, and the samples that could not be decoded with their
/// byte ranges in the datagram.
#[derive(Debug, Default)]
pub struct Decoded {
    /// One JSON object per sampled packet or counter record.
    pub records: Vec<Map<String, Value>>,
    /// Samples cut short or malformed: the error and the sample's range.
    pub errors: Vec<(SflowError, std::ops::Range<usize>)>,
}

/// Decodes one sFlow v5 datagram.
pub fn decode(packet: &[u8]) -> Result<Decoded, SflowError> {
    let mut r = Reader::new(packet);
    let version = r.u32("version")?;
    if version != 5 {
        return Err(SflowError::Version(version));
    }
    let agent: IpAddr = match r.u32("agent address type")? {
        1 => {
            let b = r.take(4, "agent address")?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        2 => {
            let b = r.take(16, "agent address")?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        t => return Err(SflowError::AddressType(t)),
    };
    let sub_agent = r.u32("sub agent id")?;
    let sequence = r.u32("sequence number")?;
    let uptime = r.u32("uptime")?;
    let n = r.count("sample")?;
    let mut out = Decoded::default();
    for _ in 0..n {
        let format = r.u32("sample format")?;
        let len = r.u32("sample length")? as usize;
        let start = r.pos;
        let body = r.take(len, "sample data")?;
        let mut base = Map::new();
        base.insert("observer.ip".into(), agent.to_string().into());
        base.insert("sflow.agent.sub_id".into(), sub_agent.into());
        base.insert("sflow.sequence".into(), sequence.into());
        base.insert("sflow.uptime_millis".into(), uptime.into());
        let res = match (format >> 12, format & 0xfff) {
            (0, 1) => flow_sample(body, false, base, &mut out.records),
            (0, 3) => flow_sample(body, true, base, &mut out.records),
            (0, 2) => counter_sample(body, false, base, &mut out.records),
            (0, 4) => counter_sample(body, true, base, &mut out.records),
            (enterprise, f) => {
                base.insert("sflow.type".into(), "sflow_sample".into());
                base.insert("sflow.enterprise".into(), enterprise.into());
                base.insert("sflow.format".into(), f.into());
                base.insert("sflow.data".into(), hex(body).into());
                out.records.push(base);
                Ok(())
            }
        };
        if let Err(e) = res {
            out.errors.push((e, start..start + len));
        }
    }
    Ok(out)
}

fn flow_sample(
    body: &[u8],
    expanded: bool,
    mut base: Map<String, Value>,
    out: &mut Vec<Map<String, Value>>,
) -> Result<(), SflowError> {
    let mut r = Reader::new(body);
    base.insert(
        "sflow.sample_sequence".into(),
        r.u32("sample sequence")?.into(),
    );
    let source = if expanded {
        let _ = r.u32("source id type")?;
        r.u32("source id index")?
    } else {
        r.u32("source id")? & 0x00ff_ffff
    };
    base.insert("sflow.source_id".into(), source.into());
    base.insert("sflow.sampling_rate".into(), r.u32("sampling rate")?.into());
    base.insert("sflow.sample_pool".into(), r.u32("sample pool")?.into());
    base.insert("sflow.drops".into(), r.u32("drops")?.into());
    let (input, output) = if expanded {
        let _ = r.u32("input format")?;
        let i = r.u32("input")?;
        let _ = r.u32("output format")?;
        (i, r.u32("output")?)
    } else {
        (
            r.u32("input")? & 0x3fff_ffff,
            r.u32("output")? & 0x3fff_ffff,
        )
    };
    base.insert(
        "observer.ingress.interface.id".into(),
        input.to_string().into(),
    );
    base.insert(
        "observer.egress.interface.id".into(),
        output.to_string().into(),
    );
    let n = r.count("flow record")?;
    // records are collected first, so a sample cut short adds none of its records
    let mut recs = Vec::new();
    for _ in 0..n {
        let format = r.u32("flow record format")?;
        let len = r.u32("flow record length")? as usize;
        let data = r.take(len, "flow record data")?;
        let mut rec = base.clone();
        if format == 1 {
            let mut h = Reader::new(data);
            let protocol = h.u32("header protocol")?;
            let frame_length = h.u32("frame length")?;
            let _stripped = h.u32("stripped")?;
            let hlen = h.u32("header length")? as usize;
            let header = h.opaque(hlen, "header")?;
            rec.insert("sflow.type".into(), "sflow_flow".into());
            rec.insert("network.bytes".into(), frame_length.into());
            rec.insert("network.packets".into(), 1.into());
            rec.insert("sflow.header_protocol".into(), protocol.into());
            match protocol {
                1 => ethernet(header, &mut rec),
                11 => ip(header, 4, &mut rec),
                12 => ip(header, 6, &mut rec),
                _ => {}
            }
        } else {
            rec.insert("sflow.type".into(), "sflow_flow_record".into());
            rec.insert("sflow.enterprise".into(), (format >> 12).into());
            rec.insert("sflow.format".into(), (format & 0xfff).into());
            rec.insert("sflow.data".into(), hex(data).into());
        }
        recs.push(rec);
    }
    out.extend(recs);
    Ok(())
}

fn counter_sample(
    body: &[u8],
    expanded: bool,
    mut base: Map<String, Value>,
    out: &mut Vec<Map<String, Value>>,
) -> Result<(), SflowError> {
    let mut r = Reader::new(body);
    base.insert(
        "sflow.sample_sequence".into(),
        r.u32("sample sequence")?.into(),
    );
    let source = if expanded {
        let _ = r.u32("source id type")?;
        r.u32("source id index")?
    } else {
        r.u32("source id")? & 0x00ff_ffff
    };
    base.insert("sflow.source_id".into(), source.into());
    let n = r.count("counter record")?;
    let mut recs = Vec::new();
    for _ in 0..n {
        let format = r.u32("counter record format")?;
        let len = r.u32("counter record length")? as usize;
        let data = r.take(len, "counter record data")?;
        let mut rec = base.clone();
        if format == 1 {
            let mut c = Reader::new(data);
            rec.insert("sflow.type".into(), "sflow_counters".into());
            let fields32 =
                |c: &mut Reader<'_>, rec: &mut Map<String, Value>, names: &[&'static str]| {
                    for name in names {
                        rec.insert(format!("sflow.{name}"), c.u32(name)?.into());
                    }
                    Ok::<(), SflowError>(())
                };
            fields32(&mut c, &mut rec, &["if_index", "if_type"])?;
            rec.insert("sflow.if_speed".into(), c.u64("if_speed")?.into());
            fields32(&mut c, &mut rec, &["if_direction", "if_status"])?;
            rec.insert("sflow.if_in_octets".into(), c.u64("if_in_octets")?.into());
            fields32(
                &mut c,
                &mut rec,
                &[
                    "if_in_ucast_pkts",
                    "if_in_multicast_pkts",
                    "if_in_broadcast_pkts",
                    "if_in_discards",
                    "if_in_errors",
                    "if_in_unknown_protos",
                ],
            )?;
            rec.insert("sflow.if_out_octets".into(), c.u64("if_out_octets")?.into());
            fields32(
                &mut c,
                &mut rec,
                &[
                    "if_out_ucast_pkts",
                    "if_out_multicast_pkts",
                    "if_out_broadcast_pkts",
                    "if_out_discards",
                    "if_out_errors",
                    "if_promiscuous_mode",
                ],
            )?;
        } else {
            rec.insert("sflow.type".into(), "sflow_counter_record".into());
            rec.insert("sflow.enterprise".into(), (format >> 12).into());
            rec.insert("sflow.format".into(), (format & 0xfff).into());
            rec.insert("sflow.data".into(), hex(data).into());
        }
        recs.push(rec);
    }
    out.extend(recs);
    Ok(())
}

/// The addresses of an Ethernet frame's header, as far as the sampled bytes reach.
fn ethernet(h: &[u8], rec: &mut Map<String, Value>) {
    if h.len() < 14 {
        return;
    }
    rec.insert("destination.mac".into(), mac(&h[0..6]).into());
    rec.insert("source.mac".into(), mac(&h[6..12]).into());
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([h[12], h[13]]);
    while matches!(ethertype, 0x8100 | 0x88a8) && h.len() >= off + 6 {
        let tci = u16::from_be_bytes([h[off + 2], h[off + 3]]);
        rec.insert("network.vlan.id".into(), (tci & 0x0fff).to_string().into());
        ethertype = u16::from_be_bytes([h[off + 4], h[off + 5]]);
        off += 4;
    }
    let payload = h.get(off + 2..).unwrap_or(&[]);
    match ethertype {
        0x0800 => ip(payload, 4, rec),
        0x86dd => ip(payload, 6, rec),
        _ => {}
    }
}

/// The addresses, transport and ports of an IP packet's header.
fn ip(p: &[u8], version: u8, rec: &mut Map<String, Value>) {
    let (src, dst, proto, rest): (IpAddr, IpAddr, u8, &[u8]) = if version == 4 {
        if p.len() < 20 || p[0] >> 4 != 4 {
            return;
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        // a fragment after the first has no transport header
        let frag_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
        let rest = if frag_offset == 0 {
            p.get(ihl.max(20)..).unwrap_or(&[])
        } else {
            &[]
        };
        (src.into(), dst.into(), p[9], rest)
    } else {
        if p.len() < 40 || p[0] >> 4 != 6 {
            return;
        }
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&p[8..24]);
        d.copy_from_slice(&p[24..40]);
        (
            Ipv6Addr::from(s).into(),
            Ipv6Addr::from(d).into(),
            p[6],
            &p[40..],
        )
    };
    rec.insert("source.ip".into(), src.to_string().into());
    rec.insert("destination.ip".into(), dst.to_string().into());
    rec.insert("network.iana_number".into(), proto.to_string().into());
    rec.insert(
        "network.type".into(),
        if version == 4 { "ipv4" } else { "ipv6" }.into(),
    );
    let transport = match proto {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        _ => return,
    };
    rec.insert("network.transport".into(), transport.into());
    if matches!(proto, 6 | 17) && rest.len() >= 4 {
        rec.insert(
            "source.port".into(),
            u16::from_be_bytes([rest[0], rest[1]]).into(),
        );
        rec.insert(
            "destination.port".into(),
            u16::from_be_bytes([rest[2], rest[3]]).into(),
        );
    }
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join("-")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `sflow` connector.
#[derive(Debug)]
pub struct SflowConnector {
    udp: LazyUdp,
}

impl SflowConnector {
    /// A connector with `settings`; nothing is bound until [`Connector::listen`] or `run`.
    pub fn new(settings: SflowConfig) -> SflowConnector {
        let udp = LazyUdp::new(
            "for sFlow over UDP",
            settings.listen,
            settings.udp_recv_buffer,
        );
        SflowConnector { udp }
    }
}

impl Connector for SflowConnector {
    fn listen(&mut self) -> Result<Vec<ListenAddr>, String> {
        self.udp.listen()
    }

    fn run(mut self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            self.udp
                .run(&ctx, |packet, peer, received, records| {
                    to_records(packet, peer, received, &ctx, records);
                })
                .await
        })
    }
}

fn to_records(
    packet: &[u8],
    peer: SocketAddr,
    received: Timestamp,
    ctx: &ConnectorContext,
    out: &mut Vec<RawRecord>,
) {
    let raw = |data: &[u8], reason: String| RawRecord {
        data: Bytes::copy_from_slice(data),
        received,
        peer: Some(peer),
        transport_error: Some(SmolStr::new(reason)),
    };
    if packet.is_empty() {
        ctx.metrics.error("empty_datagram", 1);
        return;
    }
    match decode(packet) {
        Err(e) => {
            ctx.metrics.error("malformed_packet", 1);
            out.push(raw(packet, format!("sflow: {e}")));
        }
        Ok(d) => {
            for rec in d.records {
                let data = serde_json::to_vec(&Value::Object(rec)).unwrap_or_default();
                out.push(RawRecord {
                    data: Bytes::from(data),
                    received,
                    peer: Some(peer),
                    transport_error: None,
                });
            }
            for (e, range) in d.errors {
                ctx.metrics.error("malformed_sample", 1);
                let part = packet.get(range).unwrap_or(packet);
                out.push(raw(part, format!("sflow: {e}")));
            }
        }
    }
}
