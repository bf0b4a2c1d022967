//! The NetFlow connector: NetFlow v5, v9 and IPFIX export packets over UDP, decoded by
//! [`vigil_parse::netflow`] into one record per flow.
//!
//! One UDP socket takes all three versions (the version is the packet's first two bytes).
//! Templates are kept per exporter scope (address, version, v9 source id / IPFIX observation
//! domain) by the decoder, so two routers that both use template 256 never read each other's
//! data. Each decoded flow or options record is passed on as one JSON object whose keys are the
//! decoder's (`source.ip`, `network.bytes`, `event.start`, `netflow.tcp_control_bits`, ...);
//! the `netflow` normalizer pack (the default for this connector) maps them to the schema.
//!
//! **Nothing is dropped silently.** A datagram whose header cannot be trusted is passed on
//! whole, as received, marked with the reason (`vigil.transport_error`, error
//! `malformed_packet`); a set that cannot be decoded (its template never arrived, it is cut
//! short, ...) is passed on as its own bytes, marked (errors `missing_template`,
//! `malformed_set`). The normalizer cannot parse these binary records, so they are stored raw
//! with a parse error: a flow collector that held them back waiting for a template would be
//! a memory sink an attacker could fill.
//!
//! On shutdown the datagrams already waiting in the socket are still read and sent.
//!
//! The receive loop is one task (the decoder's template cache is not shared); it drains the
//! socket without waiting after each wake-up, so a burst of datagrams becomes one batch, and
//! waits on the pipeline's bounded queue, so a flood is dropped by the kernel (counted as
//! `kernel_udp_overflow`), never buffered without bound here.

use std::net::SocketAddr;

use bytes::Bytes;
use smol_str::SmolStr;
use vigil_config::NetflowConfig;
use vigil_event::Timestamp;
use vigil_parse::FieldValue;
use vigil_parse::netflow::{NetflowDecoder, NetflowError, NetflowOptions};
use vigil_pipeline::{
    BoxFuture, ComponentError, Connector, ConnectorContext, ListenAddr, RawBatch, RawRecord,
};

use crate::udp::LazyUdp;

/// The `netflow` connector.
#[derive(Debug)]
pub struct NetflowConnector {
    settings: NetflowConfig,
    udp: LazyUdp,
}

impl NetflowConnector {
    /// A connector with `settings`; nothing is bound until [`Connector::listen`] or `run`.
    pub fn new(settings: NetflowConfig) -> NetflowConnector {
        let udp = LazyUdp::new(
            "for NetFlow/IPFIX over UDP",
            settings.listen,
            settings.udp_recv_buffer,
        );
        NetflowConnector { settings, udp }
    }
}

impl Connector for NetflowConnector {
    fn listen(&mut self) -> Result<Vec<ListenAddr>, String> {
        self.udp.listen()
    }

    fn run(mut self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let decoder = NetflowDecoder::new(NetflowOptions {
                max_exporters: self.settings.max_exporters,
                max_templates_per_exporter: self.settings.max_templates_per_exporter,
                ..NetflowOptions::default()
            });
            let mut decoder = decoder;
            let exporters = ctx.metrics.gauge("exporters");
            self.udp
                .run(&ctx, |packet, peer, received, records| {
                    decode(&mut decoder, packet, peer, received, &ctx, records);
                    exporters.store(
                        i64::try_from(decoder.cached().0).unwrap_or(i64::MAX),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                })
                .await
        })
    }
}

/// Sends `records` as one batch, waiting while the pipeline is full; `false` when the
/// pipeline is gone (the records are counted as dropped).
pub(crate) async fn send(ctx: &ConnectorContext, records: Vec<RawRecord>) -> bool {
    if records.is_empty() {
        return true;
    }
    let n = records.len() as u64;
    ctx.metrics.events_in(n);
    let batch = RawBatch {
        source: ctx.source.clone(),
        records,
        ack: None,
        file: None,
    };
    if ctx.out.send_async(batch).await.is_err() {
        ctx.metrics.drop("pipeline_closed", n);
        return false;
    }
    true
}

/// Decodes one datagram into `out`: a JSON record per flow, the undecodable parts raw and
/// marked.
fn decode(
    decoder: &mut NetflowDecoder,
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
    match decoder.decode(peer.ip(), packet) {
        Err(e) => {
            ctx.metrics.error("malformed_packet", 1);
            out.push(raw(packet, format!("netflow: {e}")));
        }
        Ok(p) => {
            for rec in &p.records {
                let mut json = Vec::with_capacity(512);
                write_json(rec.iter(), &mut json);
                out.push(RawRecord {
                    data: Bytes::from(json),
                    received,
                    peer: Some(peer),
                    transport_error: None,
                });
            }
            for e in &p.errors {
                let reason = match e.error {
                    NetflowError::MissingTemplate { .. } => "missing_template",
                    _ => "malformed_set",
                };
                ctx.metrics.error(reason, 1);
                let part = packet.get(e.range.clone()).unwrap_or(packet);
                out.push(raw(part, format!("netflow: {}", e.error)));
            }
        }
    }
}

/// Writes fields as one JSON object, in order (a repeated key is written again; the JSON
/// parser keeps the last).
pub(crate) fn write_json<'a, 'v: 'a>(
    fields: impl Iterator<Item = (&'a str, &'a FieldValue<'v>)>,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(k, out);
        out.push(b':');
        write_value(v, out);
    }
    out.push(b'}');
}

fn write_value(v: &FieldValue<'_>, out: &mut Vec<u8>) {
    match v {
        FieldValue::Str(s) => write_str(s, out),
        FieldValue::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        FieldValue::Float(f) if f.is_finite() => out.extend_from_slice(f.to_string().as_bytes()),
        FieldValue::Float(_) | FieldValue::Null => out.extend_from_slice(b"null"),
        FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        FieldValue::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(x, out);
            }
            out.push(b']');
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's string escaping; writing to a Vec cannot fail
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_parse::Fields;

    #[test]
    fn fields_as_json() {
        let mut f = Fields::new();
        f.push("source.ip", "10.0.0.1");
        f.push("network.bytes", FieldValue::Int(1500));
        f.push("netflow.x", "a\"b");
        let mut out = Vec::new();
        write_json(f.iter(), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["source.ip"], "10.0.0.1");
        assert_eq!(v["network.bytes"], 1500);
        assert_eq!(v["netflow.x"], "a\"b");
    }
}
