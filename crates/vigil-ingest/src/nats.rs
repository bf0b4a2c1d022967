//! The NATS JetStream connector: a durable pull consumer whose messages are acknowledged only
//! once their events are durable.
//!
//! **At least once, stored once.** Messages are gathered into batches (`batch_size`, or what
//! arrived within 20 ms) and sent to the pipeline with an [`Ack`]; a batch's messages are
//! acknowledged when the pipeline answers that every destination wrote its events (for the
//! store: its write-ahead log), and negatively acknowledged (redelivered at once) when it
//! answers they will not be. A message never acknowledged (Vigil stopped, the server
//! restarted, the acknowledgement lost) is redelivered after the consumer's `ack_wait`. A
//! redelivery of a message already stored is recognized by its id, the `Nats-Msg-Id` header
//! or else the stream sequence with the message's publication time (so that a stream deleted
//! and made anew does not alias old ids), among the last `dedup_ids` stored (counted as drop
//! `duplicate`, and acknowledged); a redelivery of a message still in the pipeline waits for
//! the first delivery's answer.
//!
//! **Across restarts.** The remembered ids are also appended to
//! `<data_dir>/connectors/<id>/nats_ids.log` *before* the messages are acknowledged, and read
//! back at start, so a redelivery after Vigil restarted (it stopped after storing a batch and
//! before the server took the acknowledgement, or the consumer was reset) is still recognized.
//! The log is rewritten with the last `dedup_ids` ids when it holds twice as many. It is
//! written without fsync, so it survives a crash of Vigil, not necessarily one of the machine
//! (the store's own write-ahead log is fsynced every `storage.fsync_interval`: what a machine
//! crash loses from either side is redelivered). Writing it failing is counted
//! (`dedup_log`) and de-duplication goes on in memory.
//!
//! **Flow control.** At most `max_in_flight` batches are in the pipeline unanswered; beyond,
//! the connector stops pulling, and the server holds the messages.
//!
//! **Server outages.** The client reconnects on its own; the pull stream is re-created after
//! an error with backoff (1 s up to 30 s). The consumer is durable, so its position survives a
//! server restart when the stream is file-backed.
//!
//! **Server versions.** Only what NATS 2.9 offers is used (no multi-filter consumers, no
//! 2.10+ consumer options).
//!
//! Metrics (component kind `connector`): `events_in`, `bytes_in`, drop `duplicate`, errors
//! `connect`, `consume`, `not_durable`, `ack`, `dedup_log`, gauge `in_flight` (batches).

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use smol_str::SmolStr;
use vigil_config::{NatsAuth, NatsConfig};
use vigil_event::Timestamp;
use vigil_pipeline::{
    Ack, BoxFuture, ComponentError, Connector, ConnectorContext, RawBatch, RawRecord,
};

/// How long a partial batch waits for more messages.
const LINGER: Duration = Duration::from_millis(20);
/// How long shutdown waits for the pipeline's answers on batches in flight.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// Connects to a NATS server with `url`, authentication and CA (shared with the NATS
/// destination). Retries in the background when the server is down at first.
pub async fn connect(
    url: &str,
    auth: &NatsAuth,
    ca: Option<&std::path::Path>,
    name: &str,
) -> Result<async_nats::Client, String> {
    let mut o = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .retry_on_initial_connect();
    o = match auth {
        NatsAuth::None => o,
        NatsAuth::Token(t) => o.token(t.expose().to_owned()),
        NatsAuth::UserPassword(u, p) => o.user_and_password(u.clone(), p.expose().to_owned()),
    };
    if let Some(ca) = ca {
        o = o.add_root_certificates(ca.to_path_buf());
    }
    if url.starts_with("tls://") {
        o = o.require_tls(true);
    }
    o.connect(url).await.map_err(|e| format!("{url}: {e}"))
}

/// Reads a JetStream stream through a durable consumer.
#[derive(Debug)]
pub struct NatsConnector {
    config: NatsConfig,
}

impl NatsConnector {
    /// A connector with validated `config`; connects when run.
    pub fn new(config: NatsConfig) -> NatsConnector {
        NatsConnector { config }
    }
}

/// The ids of messages stored lately, oldest forgotten first, kept in a log file when the
/// connector has a state directory.
#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<SmolStr>,
    set: HashSet<SmolStr>,
    cap: usize,
    log: Option<IdLog>,
}

/// The append-only file of stored ids: one per line.
#[derive(Debug)]
struct IdLog {
    path: std::path::PathBuf,
    file: std::fs::File,
    lines: usize,
}

/// The longest id kept (a `Nats-Msg-Id` is a header value; longer ones are not remembered).
const MAX_ID_LEN: usize = 512;

impl Recent {
    /// The window of `cap` ids, read back from `state_dir`'s log (none without a state
    /// directory or with `cap` 0).
    fn open(cap: usize, state_dir: &std::path::Path) -> Result<Recent, String> {
        let mut r = Recent {
            cap,
            ..Recent::default()
        };
        if cap == 0 || state_dir.as_os_str().is_empty() {
            return Ok(r);
        }
        let path = state_dir.join("nats_ids.log");
        match std::fs::File::open(&path) {
            Ok(f) => {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(f).split(b'\n') {
                    let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
                    if let Ok(id) = std::str::from_utf8(&line)
                        && !id.is_empty()
                        && id.len() <= MAX_ID_LEN
                    {
                        r.remember(SmolStr::new(id));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        vigil_fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
        r.log = Some(
            r.rewrite(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
        Ok(r)
    }

    /// Writes the window as the new log (temporary file renamed over it) and opens it for
    /// appending.
    fn rewrite(&self, path: &std::path::Path) -> std::io::Result<IdLog> {
        use std::io::Write as _;
        let tmp = path.with_extension("log.tmp");
        let mut f = std::io::BufWriter::new(vigil_fs::create(&tmp)?);
        for id in &self.order {
            f.write_all(id.as_bytes())?;
            f.write_all(b"\n")?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let file = vigil_fs::options().append(true).open(path)?;
        Ok(IdLog {
            path: path.to_path_buf(),
            file,
            lines: self.order.len(),
        })
    }

    /// Remembers `id` in memory; false when it was known.
    fn remember(&mut self, id: SmolStr) -> bool {
        if self.cap == 0 || !self.set.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Remembers the ids of a stored batch, in memory and in the log, before the batch is
    /// acknowledged.
    fn insert_all(&mut self, ids: impl IntoIterator<Item = SmolStr>) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut text = Vec::new();
        for id in ids {
            if id.len() <= MAX_ID_LEN && !id.contains('\n') && self.remember(id.clone()) {
                text.extend_from_slice(id.as_bytes());
                text.push(b'\n');
            }
        }
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        if text.is_empty() {
            return Ok(());
        }
        log.file.write_all(&text)?;
        log.lines += text.iter().filter(|b| **b == b'\n').count();
        if log.lines > self.cap.saturating_mul(2) {
            let path = log.path.clone();
            self.log = Some(self.rewrite(&path)?);
        }
        Ok(())
    }
}

/// A message's id for de-duplication: `Nats-Msg-Id`, else the stream sequence.
fn message_id(m: &jetstream::Message) -> Option<SmolStr> {
    if let Some(id) = m
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str())
        .filter(|v| !v.is_empty())
    {
        return Some(SmolStr::new(id));
    }
    m.info().ok().map(|i| {
        SmolStr::new(format!(
            "#{}@{}",
            i.stream_sequence,
            i.published.unix_timestamp_nanos()
        ))
    })
}

type Answer = (bool, Vec<(Option<SmolStr>, jetstream::Message)>);
type Pending = FuturesUnordered<Pin<Box<dyn std::future::Future<Output = Answer> + Send>>>;

struct State {
    cfg: NatsConfig,
    ctx: ConnectorContext,
    recent: Recent,
    /// Ids in the pipeline, with redeliveries of them that arrived meanwhile.
    in_flight: HashMap<SmolStr, Vec<jetstream::Message>>,
    pending: Pending,
    batch: Vec<(Option<SmolStr>, jetstream::Message)>,
}

impl State {
    /// Takes one delivered message into the batch (or answers it as a duplicate).
    async fn take(&mut self, m: jetstream::Message) {
        let id = message_id(&m);
        if let Some(id) = &id {
            if self.recent.set.contains(id) {
                self.ctx.metrics.drop("duplicate", 1);
                if m.ack().await.is_err() {
                    self.ctx.metrics.error("ack", 1);
                }
                return;
            }
            if let Some(dups) = self.in_flight.get_mut(id) {
                dups.push(m);
                return;
            }
            self.in_flight.insert(id.clone(), Vec::new());
        }
        self.batch.push((id, m));
    }

    /// Sends the gathered batch with an acknowledgement to wait for.
    async fn send(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let msgs = std::mem::take(&mut self.batch);
        let received = Timestamp::now();
        let mut bytes = 0u64;
        let records: Vec<RawRecord> = msgs
            .iter()
            .map(|(_, m)| {
                bytes += m.payload.len() as u64;
                RawRecord {
                    data: m.payload.clone(),
                    received,
                    peer: None,
                    transport_error: None,
                }
            })
            .collect();
        let n = records.len() as u64;
        let (ack, wait) = Ack::new();
        let batch = RawBatch {
            source: self.ctx.source.clone(),
            records,
            ack: Some(ack),
            file: None,
        };
        if self.ctx.out.send_async(batch).await.is_err() {
            // the pipeline is gone: the messages stay unacknowledged and come back
            self.ctx.metrics.drop("pipeline_closed", n);
            return false;
        }
        self.ctx.metrics.events_in(n);
        self.ctx.metrics.bytes_in(bytes);
        self.pending
            .push(Box::pin(async move { (wait.durable().await, msgs) }));
        true
    }

    /// Acknowledges (or returns) a batch the pipeline answered for.
    async fn answer(&mut self, (durable, msgs): Answer) {
        if !durable {
            self.ctx.metrics.error("not_durable", 1);
        }
        // remembered (and logged) before any is acknowledged
        if durable
            && let Err(e) = self
                .recent
                .insert_all(msgs.iter().filter_map(|(id, _)| id.clone()))
        {
            self.ctx.metrics.error("dedup_log", 1);
            tracing::warn!(source = %self.ctx.source.id, error = %e, "NATS de-duplication log not written; de-duplicating in memory");
        }
        for (id, m) in msgs {
            let dups = id
                .as_ref()
                .and_then(|id| self.in_flight.remove(id))
                .unwrap_or_default();
            let kind = if durable {
                AckKind::Ack
            } else {
                AckKind::Nak(None)
            };
            if m.ack_with(kind).await.is_err() {
                self.ctx.metrics.error("ack", 1);
            }
            for d in dups {
                if d.ack_with(kind).await.is_err() {
                    self.ctx.metrics.error("ack", 1);
                }
            }
        }
    }
}

impl Connector for NatsConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let cfg = self.config;
            let gauge = ctx.metrics.gauge("in_flight");
            let mut shutdown = ctx.shutdown.clone();
            let recent = Recent::open(cfg.dedup_ids, &cfg.state_dir)
                .map_err(|e| ComponentError::new(&ctx.metrics, e))?;
            let mut st = State {
                recent,
                cfg,
                ctx,
                in_flight: HashMap::new(),
                pending: FuturesUnordered::new(),
                batch: Vec::new(),
            };
            let name = format!("vigil {}", st.ctx.source.id);
            let client = tokio::select! {
                c = connect(&st.cfg.url, &st.cfg.auth, st.cfg.ca.as_deref(), &name) => c,
                _ = shutdown.wait() => return Ok(()),
            };
            let client = match client {
                Ok(c) => c,
                Err(e) => return Err(ComponentError::new(&st.ctx.metrics, e)),
            };
            let js = jetstream::new(client.clone());
            let mut backoff = Duration::from_secs(1);
            'outer: loop {
                let mut messages = match open(&js, &st.cfg).await {
                    Ok(m) => {
                        backoff = Duration::from_secs(1);
                        m
                    }
                    Err(e) => {
                        st.ctx.metrics.error("connect", 1);
                        tracing::warn!(source = %st.ctx.source.id, error = %e, "NATS consumer unavailable; retrying");
                        let sleep = tokio::time::sleep(backoff);
                        tokio::pin!(sleep);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        loop {
                            tokio::select! {
                                _ = &mut sleep => continue 'outer,
                                Some(a) = st.pending.next() => st.answer(a).await,
                                _ = shutdown.wait() => break 'outer,
                            }
                        }
                    }
                };
                let mut deadline: Option<tokio::time::Instant> = None;
                loop {
                    gauge.store(st.pending.len() as i64, Ordering::Relaxed);
                    let room = st.pending.len() < st.cfg.max_in_flight;
                    tokio::select! {
                        biased;
                        _ = shutdown.wait() => break 'outer,
                        Some(a) = st.pending.next() => st.answer(a).await,
                        m = messages.next(), if room => match m {
                            Some(Ok(m)) => {
                                st.take(m).await;
                                if st.batch.len() >= st.cfg.batch_size {
                                    deadline = None;
                                    if !st.send().await { break 'outer; }
                                } else if deadline.is_none() && !st.batch.is_empty() {
                                    deadline = Some(tokio::time::Instant::now() + LINGER);
                                }
                            }
                            Some(Err(e)) => {
                                st.ctx.metrics.error("consume", 1);
                                tracing::warn!(source = %st.ctx.source.id, error = %e, "NATS pull failed; re-creating it");
                                if !st.send().await { break 'outer; }
                                tokio::time::sleep(backoff).await;
                                continue 'outer;
                            }
                            None => {
                                if !st.send().await { break 'outer; }
                                continue 'outer;
                            }
                        },
                        _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending::<()>().await } } => {
                            deadline = None;
                            if !st.send().await { break 'outer; }
                        }
                    }
                }
            }
            // shutdown: hand on what was gathered, then wait (bounded) for the answers so
            // that what was stored is acknowledged; the rest comes back after ack_wait
            let _ = st.send().await;
            let until = tokio::time::Instant::now() + SHUTDOWN_WAIT;
            while !st.pending.is_empty() {
                match tokio::time::timeout_at(until, st.pending.next()).await {
                    Ok(Some(a)) => st.answer(a).await,
                    _ => break,
                }
            }
            let _ = client.flush().await;
            gauge.store(0, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// The consumer's message stream: the stream must exist, the durable consumer is created
/// when missing.
async fn open(js: &jetstream::Context, cfg: &NatsConfig) -> Result<pull::Stream, String> {
    let stream = js
        .get_stream(&cfg.stream)
        .await
        .map_err(|e| format!("stream {}: {e}", cfg.stream))?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            &cfg.consumer,
            pull::Config {
                durable_name: Some(cfg.consumer.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: cfg.ack_wait,
                filter_subject: cfg.subject.clone().unwrap_or_default(),
                max_ack_pending: i64::try_from(cfg.batch_size * (cfg.max_in_flight + 1))
                    .unwrap_or(i64::MAX),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {}: {e}", cfg.consumer))?;
    consumer
        .stream()
        .max_messages_per_batch(cfg.batch_size)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| format!("consumer {}: {e}", cfg.consumer))
}
