//! Kafka: a connector that consumes topics in a consumer group, and a destination that produces
//! events to a topic (feature `kafka`; the client is librdkafka through `rdkafka`, built from
//! the source the crate vendors).
//!
//! **At least once, committed after durability.** The connector never lets librdkafka commit
//! on its own (`enable.auto.commit=false`). Messages are gathered into batches (`batch_size`,
//! or what arrived within 10 ms) and sent to the pipeline with an [`Ack`]; a batch's offsets
//! are committed, in order, once the pipeline answers that every destination wrote its events
//! (for the store: its write-ahead log). At most `max_in_flight` batches wait for that answer;
//! beyond, the connector stops fetching (backpressure; the brokers keep the messages). A batch
//! that will not be durable (a destination gave up at shutdown) stops the commits: its
//! messages, and every later one, are consumed again by the next member of the group. On
//! shutdown the connector stops fetching, waits for the answers on the batches in flight,
//! commits synchronously and leaves the group, so a stop and start delivers every message once.
//! When Vigil is killed instead, the messages written but not yet committed (at most the
//! batches in flight) are consumed again and stored a second time: the destination of a
//! message is not transactional with the group's offsets.
//!
//! **Brokers.** librdkafka reconnects on its own; errors it reports (broker down, topic
//! missing) are counted and logged, and consuming goes on when the brokers are back. A broker
//! that answers a fetch with a zero topic id and a leader hint (tansu, after a restart that lost
//! its topics) used to crash librdkafka 2.12.1 (a NULL topic name in
//! `rd_kafka_metadata_update_op`); `leader_hint.c`, linked in its place with `--wrap` (see
//! build.rs), drops such hints first. A group
//! without committed offsets (or whose offset the brokers no longer hold) starts at `start`.
//!
//! **Bad input.** A message longer than `max_message_size` is cut, marked
//! (`transport_error`) and kept; a message without a value (a tombstone) has nothing to store
//! and is counted as drop `empty_message`.
//!
//! Connector metrics (component kind `connector`): `events_in`, `bytes_in`, drop
//! `empty_message`, errors `broker`, `consume`, `commit`, `not_durable`, gauge `in_flight`
//! (batches). Destination metrics: `events_out`, `bytes_out`, errors `produce`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use smol_str::SmolStr;
use vigil_config::{FileFormat, KafkaConfig, KafkaDestinationConfig, KafkaStart};
use vigil_event::{Event, Timestamp};
use vigil_pipeline::{
    Ack, AckWait, BoxFuture, ComponentError, ComponentMetrics, Connector, ConnectorContext,
    Destination, RawBatch, RawRecord,
};

/// How long a partial batch waits for more messages.
const LINGER: Duration = Duration::from_millis(10);
/// How long shutdown waits for the pipeline's answers on batches in flight.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);
/// How long a dead member keeps its partitions before the group gives them to another.
const SESSION_TIMEOUT_MS: &str = "10000";
/// Longest a log line about a recurring error is held back.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// librdkafka's callbacks: errors counted and logged (at most every 10 s).
struct Ctx {
    metrics: ComponentMetrics,
    logged: std::sync::Mutex<Option<Instant>>,
}

impl Ctx {
    fn new(metrics: ComponentMetrics) -> Ctx {
        Ctx {
            metrics,
            logged: std::sync::Mutex::new(None),
        }
    }

    /// Whether a recurring problem may be logged now.
    fn may_log(&self) -> bool {
        let Ok(mut l) = self.logged.lock() else {
            return false;
        };
        if l.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return false;
        }
        *l = Some(Instant::now());
        true
    }
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.error("broker", 1);
        if self.may_log() {
            tracing::warn!(component = %self.metrics.id(), %error, reason, "kafka brokers");
        }
    }
}

impl ConsumerContext for Ctx {}

/// The client settings shared by consumer and producer.
fn client_config(brokers: &str, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        // librdkafka's own log goes to our error callback and counters, not to stderr
        .set("log_level", "3");
    c
}

/// Consumes Kafka topics in a consumer group.
#[derive(Debug)]
pub struct KafkaConnector {
    config: KafkaConfig,
}

impl KafkaConnector {
    /// A connector with validated `config`; connects when run.
    pub fn new(config: KafkaConfig) -> KafkaConnector {
        KafkaConnector { config }
    }
}

/// The next offset to read per partition: what a batch commits.
type Offsets = BTreeMap<(SmolStr, i32), i64>;

/// Commits, in order, the offsets of the batches the pipeline answers durable; stops
/// committing at the first that is not. Returns the offsets committed last.
async fn commit_durable(
    consumer: Arc<StreamConsumer<Ctx>>,
    metrics: ComponentMetrics,
    mut answers: tokio::sync::mpsc::Receiver<(AckWait, Offsets)>,
) -> Offsets {
    let gauge = metrics.gauge("in_flight");
    let mut committed = Offsets::new();
    let mut stopped = false;
    while let Some((wait, offsets)) = answers.recv().await {
        let durable = wait.durable().await;
        gauge.fetch_sub(1, Ordering::Relaxed);
        if stopped {
            continue;
        }
        if !durable {
            metrics.error("not_durable", 1);
            tracing::warn!(
                component = %metrics.id(),
                "a batch was not written by every destination; its offsets and later ones are \
                 not committed (consumed again by the group's next member)"
            );
            stopped = true;
            continue;
        }
        if offsets.is_empty() {
            continue;
        }
        match tpl(&offsets) {
            Ok(list) => {
                if let Err(e) = consumer.commit(&list, CommitMode::Async) {
                    metrics.error("commit", 1);
                    tracing::warn!(component = %metrics.id(), error = %e, "kafka commit");
                }
            }
            Err(e) => {
                metrics.error("commit", 1);
                tracing::warn!(component = %metrics.id(), error = %e, "kafka commit");
            }
        }
        committed.extend(offsets);
    }
    committed
}

/// The partition list of `offsets`.
fn tpl(offsets: &Offsets) -> Result<TopicPartitionList, KafkaError> {
    let mut list = TopicPartitionList::with_capacity(offsets.len());
    for ((topic, partition), next) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    Ok(list)
}

/// A batch being gathered.
#[derive(Default)]
struct Gathering {
    records: Vec<RawRecord>,
    offsets: Offsets,
    messages: usize,
}

impl Gathering {
    /// Takes one message in.
    fn add(
        &mut self,
        m: &rdkafka::message::BorrowedMessage<'_>,
        cfg: &KafkaConfig,
        metrics: &ComponentMetrics,
    ) {
        self.messages += 1;
        let key = (SmolStr::new(m.topic()), m.partition());
        let next = m.offset().saturating_add(1);
        let e = self.offsets.entry(key).or_insert(next);
        *e = (*e).max(next);
        let Some(payload) = m.payload() else {
            metrics.drop("empty_message", 1);
            return;
        };
        metrics.bytes_in(payload.len() as u64);
        let (data, transport_error) = if payload.len() > cfg.max_message_size {
            (
                Bytes::copy_from_slice(&payload[..cfg.max_message_size]),
                Some(SmolStr::new_static("truncated to max_message_size")),
            )
        } else {
            (Bytes::copy_from_slice(payload), None)
        };
        self.records.push(RawRecord {
            data,
            received: Timestamp::now(),
            peer: None,
            transport_error,
        });
    }
}

impl Connector for KafkaConnector {
    fn run(self: Box<Self>, ctx: ConnectorContext) -> BoxFuture<Result<(), ComponentError>> {
        Box::pin(async move {
            let cfg = self.config;
            let metrics = ctx.metrics.clone();
            let client_id = format!("vigil-{}", ctx.source.id);
            let consumer: StreamConsumer<Ctx> = client_config(&cfg.brokers, &client_id)
                .set("group.id", &cfg.group)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("enable.partition.eof", "false")
                .set("session.timeout.ms", SESSION_TIMEOUT_MS)
                .set(
                    "auto.offset.reset",
                    match cfg.start {
                        KafkaStart::Earliest => "earliest",
                        KafkaStart::Latest => "latest",
                    },
                )
                .create_with_context(Ctx::new(metrics.clone()))
                .map_err(|e| ComponentError::new(&metrics, format!("kafka consumer: {e}")))?;
            let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
            consumer.subscribe(&topics).map_err(|e| {
                ComponentError::new(&metrics, format!("subscribing to {topics:?}: {e}"))
            })?;
            let consumer = Arc::new(consumer);
            let (tx, rx) = tokio::sync::mpsc::channel(cfg.max_in_flight);
            let committer = tokio::spawn(commit_durable(consumer.clone(), metrics.clone(), rx));
            let gauge = metrics.gauge("in_flight");
            let mut shutdown = ctx.shutdown.clone();
            let mut logged: Option<Instant> = None;
            'outer: loop {
                let mut batch = Gathering::default();
                // the first message: wait for it
                let first = tokio::select! {
                    _ = shutdown.wait() => break 'outer,
                    m = consumer.recv() => m,
                };
                match first {
                    Ok(m) => batch.add(&m, &cfg, &metrics),
                    Err(e) => {
                        consume_error(&metrics, &e, &mut logged);
                        tokio::select! {
                            _ = shutdown.wait() => break 'outer,
                            _ = tokio::time::sleep(Duration::from_millis(500)) => {},
                        }
                        continue;
                    }
                }
                // more, for at most LINGER
                let until = tokio::time::Instant::now() + LINGER;
                while batch.messages < cfg.batch_size {
                    match tokio::time::timeout_at(until, consumer.recv()).await {
                        Ok(Ok(m)) => batch.add(&m, &cfg, &metrics),
                        Ok(Err(e)) => {
                            consume_error(&metrics, &e, &mut logged);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                metrics.events_in(batch.records.len() as u64);
                let (ack, wait) = Ack::new();
                let raw = RawBatch {
                    source: ctx.source.clone(),
                    records: batch.records,
                    ack: Some(ack),
                    file: None,
                };
                if ctx.out.send_async(raw).await.is_err() {
                    // the pipeline is gone: nothing more is committed
                    break;
                }
                gauge.fetch_add(1, Ordering::Relaxed);
                // waits while max_in_flight batches are unanswered: backpressure
                if tx.send((wait, batch.offsets)).await.is_err() {
                    break;
                }
            }
            drop(tx);
            let committed = match tokio::time::timeout(SHUTDOWN_WAIT, committer).await {
                Ok(Ok(c)) => c,
                Ok(Err(_)) | Err(_) => {
                    metrics.error("not_durable", 1);
                    Offsets::new()
                }
            };
            // one synchronous commit of the last durable offsets, then leave the group
            if !committed.is_empty() {
                let c = consumer.clone();
                let m = metrics.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let r = tpl(&committed).and_then(|l| c.commit(&l, CommitMode::Sync));
                    if let Err(e) = r {
                        m.error("commit", 1);
                        tracing::warn!(component = %m.id(), error = %e, "kafka commit at shutdown");
                    }
                    c.unsubscribe();
                })
                .await;
                if done.is_err() {
                    metrics.error("commit", 1);
                }
            }
            Ok(())
        })
    }
}

/// Counts a consume error and logs it (at most every 10 s).
fn consume_error(metrics: &ComponentMetrics, e: &KafkaError, logged: &mut Option<Instant>) {
    // a missing topic is what a fresh broker reports until the topic is created
    let reason = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            "unknown_topic"
        }
        _ => "consume",
    };
    metrics.error(reason, 1);
    if logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
        *logged = Some(Instant::now());
        tracing::warn!(component = %metrics.id(), error = %e, "kafka consumer");
    }
}

/// Produces events to a Kafka topic, one message each, keyed by the event id. A batch is
/// written when the brokers acknowledged every message (`acks=all`); otherwise the pipeline
/// writes it again, so a message may arrive twice (with the same key), never zero times.
pub struct KafkaDestination {
    config: KafkaDestinationConfig,
    metrics: ComponentMetrics,
    producer: Option<FutureProducer<Ctx>>,
    runtime: Option<tokio::runtime::Runtime>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for KafkaDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaDestination")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KafkaDestination {
    /// A destination with validated `config` (the producer is created on the first write).
    pub fn new(config: KafkaDestinationConfig, metrics: ComponentMetrics) -> KafkaDestination {
        KafkaDestination {
            config,
            metrics,
            producer: None,
            runtime: None,
            buf: Vec::new(),
        }
    }

    fn err(&self, what: impl std::fmt::Display) -> ComponentError {
        ComponentError::new(
            &self.metrics,
            format!("topic {}: {what}", self.config.topic),
        )
    }

    fn open(&mut self) -> Result<(), ComponentError> {
        if self.producer.is_some() {
            return Ok(());
        }
        let timeout_ms = self
            .config
            .timeout
            .as_millis()
            .clamp(1, i32::MAX as u128)
            .to_string();
        let client_id = format!("vigil-{}", self.metrics.id());
        let producer: FutureProducer<Ctx> = client_config(&self.config.brokers, &client_id)
            .set("acks", "all")
            .set("message.timeout.ms", &timeout_ms)
            .set("linger.ms", "5")
            .create_with_context(Ctx::new(self.metrics.clone()))
            .map_err(|e| self.err(format!("kafka producer: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| self.err(format!("runtime: {e}")))?;
        self.producer = Some(producer);
        self.runtime = Some(runtime);
        Ok(())
    }
}

impl Destination for KafkaDestination {
    fn write(&mut self, events: &[Event]) -> Result<(), ComponentError> {
        self.open()?;
        let (Some(producer), Some(runtime)) = (&self.producer, &self.runtime) else {
            return Err(self.err("producer not created"));
        };
        let topic = self.config.topic.as_str();
        let format = self.config.format;
        let buf = &mut self.buf;
        let metrics = &self.metrics;
        let result: Result<u64, String> = runtime.block_on(async {
            let mut deliveries = Vec::with_capacity(events.len());
            let mut bytes = 0u64;
            for e in events {
                buf.clear();
                match format {
                    FileFormat::Raw => buf.extend_from_slice(&e.raw),
                    FileFormat::Json => e.write_json(buf),
                }
                bytes += buf.len() as u64;
                let key = e.meta.id.to_string();
                let mut record = FutureRecord::to(topic)
                    .key(key.as_str())
                    .payload(buf.as_slice());
                // the local queue is full: wait for deliveries to make room
                loop {
                    match producer.send_result(record) {
                        Ok(d) => {
                            deliveries.push(d);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err((e, _)) => return Err(e.to_string()),
                    }
                }
            }
            let mut failed = None;
            for d in deliveries {
                match d.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => failed = Some(e.to_string()),
                    Err(_) => failed = Some("delivery cancelled".into()),
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(bytes),
            }
        });
        match result {
            Ok(bytes) => {
                metrics.bytes_out(bytes);
                Ok(())
            }
            Err(e) => {
                metrics.error("produce", 1);
                Err(self.err(e))
            }
        }
    }

    fn flush(&mut self) -> Result<(), ComponentError> {
        if let Some(p) = &self.producer {
            p.flush(self.config.timeout)
                .map_err(|e| self.err(format!("flush: {e}")))?;
        }
        Ok(())
    }
}
