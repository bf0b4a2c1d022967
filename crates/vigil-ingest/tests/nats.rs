//! The NATS JetStream connector against a real `nats-server -js` started here: every message
//! reaches the destination once, also when the server is killed and restarted mid-stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use async_nats::jetstream;
use support::*;
use vigil_config::{NatsAuth, NatsConfig};
use vigil_ingest::nats::NatsConnector;
use vigil_pipeline::Telemetry;

fn config(url: String) -> NatsConfig {
    NatsConfig {
        url,
        auth: NatsAuth::None,
        ca: None,
        stream: "EVENTS".into(),
        consumer: "vigil".into(),
        subject: None,
        batch_size: 100,
        max_in_flight: 4,
        ack_wait: Duration::from_secs(3),
        dedup_ids: 100_000,
        state_dir: Default::default(),
    }
}

/// Publishes `range` as `msg-<n>`, with `Nats-Msg-Id: m-<n>` on even numbers (odd ones are
/// de-duplicated by stream sequence), retrying each until the stream acknowledges it.
async fn publish(js: &jetstream::Context, range: std::ops::Range<u32>) {
    for n in range {
        loop {
            let mut h = async_nats::HeaderMap::new();
            if n % 2 == 0 {
                h.insert("Nats-Msg-Id", format!("m-{n}").as_str());
            }
            let sent = async {
                js.publish_with_headers("events.test", h, format!("msg-{n}").into())
                    .await
                    .ok()?
                    .await
                    .ok()
            };
            match tokio::time::timeout(Duration::from_secs(2), sent).await {
                Ok(Some(_)) => break,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_stored_once_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = NatsServer::start(dir.path()) else {
        return;
    };
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "EVENTS".into(),
        subjects: vec!["events.>".into()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    publish(&js, 0..3000).await;

    let tel = Telemetry::new();
    let out = Collect::default();
    let got = out.0.clone();
    let running = pipeline(
        Box::new(NatsConnector::new(config(server.url()))),
        Box::new(out),
        &tel,
    );
    // mid-stream: some stored, not all
    assert!(wait_for(Duration::from_secs(30), || got.lock().unwrap().len() >= 500).await);
    server.kill();
    eprintln!("server killed with {} stored", got.lock().unwrap().len());
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    publish(&js, 3000..6000).await;

    let key = |s: &str| s.strip_prefix("msg-").map(str::to_owned);
    let all = wait_for(Duration::from_secs(90), || {
        count_ids(&got.lock().unwrap(), key).len() == 6000
    })
    .await;
    // redeliveries of anything acknowledged late have come and gone by now
    tokio::time::sleep(Duration::from_secs(4)).await;
    running.stop().await.unwrap();
    let counts = count_ids(&got.lock().unwrap(), key);
    assert!(all, "only {} of 6000 messages arrived", counts.len());
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let m = tel.component("connector", "src").snapshot();
    assert_eq!(m.events_in, 6000, "{m:?}");
}

/// De-duplication across a restart of Vigil: everything is stored and acknowledged, Vigil
/// stops, the durable consumer is reset so that the server redelivers every message (what it
/// does when acknowledgements were lost while Vigil was down), and Vigil starts again with
/// the same state directory: the redeliveries are recognized (by `Nats-Msg-Id`, and by
/// stream sequence for messages without one) and nothing is stored twice; messages published
/// meanwhile are stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_after_a_vigil_restart_are_not_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = NatsServer::start(&dir.path().join("nats")) else {
        return;
    };
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
    publish(&js, 0..1000).await;
    let state = dir.path().join("state");
    let cfg = NatsConfig {
        state_dir: state.clone(),
        ..config(server.url())
    };
    let key = |s: &str| s.strip_prefix("msg-").map(str::to_owned);

    // first run: all 1000 stored and acknowledged
    let out = Collect::default();
    let got = out.0.clone();
    let tel = Telemetry::new();
    let running = pipeline(
        Box::new(NatsConnector::new(cfg.clone())),
        Box::new(out),
        &tel,
    );
    assert!(
        wait_for(Duration::from_secs(60), || {
            count_ids(&got.lock().unwrap(), key).len() == 1000
        })
        .await
    );
    // every message acknowledged: nothing pending on the consumer
    let mut consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer("vigil").await.unwrap();
    let mut acked = false;
    for _ in 0..200 {
        let info = consumer.info().await.unwrap();
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            acked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(acked, "the first run acknowledged everything");
    running.stop().await.unwrap();
    assert!(state.join("nats_ids.log").exists());

    // the consumer is reset: the server will deliver all 1000 again
    stream.delete_consumer("vigil").await.unwrap();
    publish(&js, 1000..1200).await;

    // second run, same state directory
    let out = Collect::default();
    let got2 = out.0.clone();
    let tel = Telemetry::new();
    let running = pipeline(Box::new(NatsConnector::new(cfg)), Box::new(out), &tel);
    let m = tel.component("connector", "src");
    assert!(
        wait_for(Duration::from_secs(60), || {
            let s = m.snapshot();
            s.drops.get("duplicate").copied().unwrap_or(0) == 1000
                && count_ids(&got2.lock().unwrap(), key).len() == 200
        })
        .await,
        "{:?} with {} stored",
        m.snapshot(),
        got2.lock().unwrap().len()
    );
    running.stop().await.unwrap();
    let mut all = got.lock().unwrap().clone();
    all.extend(got2.lock().unwrap().iter().cloned());
    let counts = count_ids(&all, key);
    assert_eq!(counts.len(), 1200);
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    drop(consumer);
    drop(server);
}
