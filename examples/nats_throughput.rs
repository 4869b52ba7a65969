//! Throughput of remote queues over NATS JetStream on loopback: segmq's `Mq` against the raw
//! async-nats client doing the same work (same server, same stream settings, a `Nats-Msg-Id`
//! on every publish, explicit acks).
//!
//! `cargo run --release --features nats --example nats_throughput [-- --quick]`
//!
//! Starts its own `nats-server -js` (or uses `SEGMQ_URL=nats://host:port`). Rows:
//! * publish + await the server's ack, 1 publisher (one round trip per message);
//! * the same with 8 concurrent publishers;
//! * the same two from tokio tasks with `publish_async`, the client on the tasks' runtime
//!   (`Transport::runtime`), as the raw client's rows run;
//! * pipelined publish: batches of 256 sent, then their acks awaited (`publish_batch`);
//! * consume + ack: N messages already in the stream, handled by 8 workers (segmq, with the
//!   default prefetch of one message per worker, then with `Transport::prefetch(256)`) or read
//!   from one pull consumer's `messages()` stream and acked (raw; async-nats fetches 200 ahead
//!   by default). The raw row is measured once and both segmq rows are divided by it.
//!
//! `--quick` runs 2,000 messages per row (a smoke run); the default is 50,000. Run it on a
//! quiet machine: the figures are the whole loopback path, server included.

#[path = "../tests/support/nats_server.rs"]
mod nats_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use segmq::{Mq, MqError, Msg, QueueOptions, Transport};

const PIPELINE: usize = 256;
const PUBLISHERS: usize = 8;

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

// ---- segmq ----

fn segmq_publish(
    t: &Transport,
    name: &str,
    n: u64,
    publishers: usize,
    pipelined: bool,
) -> Duration {
    let mq = Mq::new();
    let p = mq
        .register_publisher(name, QueueOptions::<u64>::new(1).transport(t))
        .unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..publishers as u64 {
            let p = p.clone();
            s.spawn(move || {
                let mine: Vec<u64> = (0..n).filter(|i| i % publishers as u64 == w).collect();
                if pipelined {
                    for chunk in mine.chunks(PIPELINE) {
                        p.publish_batch(chunk.iter().copied()).unwrap();
                    }
                } else {
                    for i in mine {
                        p.publish(i).unwrap();
                    }
                }
            });
        }
    });
    let took = started.elapsed();
    mq.stop();
    took
}

fn segmq_consume(t: &Transport, name: &str, n: u64) -> Duration {
    let filler = Mq::new();
    let p = filler
        .register_publisher(name, QueueOptions::<u64>::new(1).transport(t))
        .unwrap();
    let items: Vec<u64> = (0..n).collect();
    for chunk in items.chunks(PIPELINE) {
        p.publish_batch(chunk.iter().copied()).unwrap();
    }
    filler.stop();
    let mq = Mq::new();
    let count = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let c = count.clone();
    mq.register_with(
        name,
        QueueOptions::new(8).transport(t),
        move |_: &Msg<u64>| {
            if c.fetch_add(1, Ordering::Relaxed) + 1 == n {
                let _ = done_tx.try_send(());
            }
            Ok::<_, MqError>(())
        },
    )
    .unwrap();
    let started = Instant::now();
    mq.start().unwrap();
    done_rx.recv().unwrap();
    let took = started.elapsed();
    mq.stop();
    took
}

/// `Publisher::publish_async` from `publishers` tasks on `rt`, the client running on `rt` too
/// (`Transport::runtime`), each task awaiting its ack before the next publish: what the raw
/// client's publish rows do.
fn segmq_publish_async(
    rt: &tokio::runtime::Runtime,
    t: &Transport,
    name: &str,
    n: u64,
    publishers: usize,
) -> Duration {
    let mq = Mq::new();
    let p = mq
        .register_publisher(
            name,
            QueueOptions::<u64>::new(1).transport(&t.clone().runtime(rt.handle().clone())),
        )
        .unwrap();
    let started = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..publishers as u64 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                for i in (0..n).filter(|i| i % publishers as u64 == w) {
                    p.publish_async(i).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let took = started.elapsed();
    mq.stop();
    took
}

// ---- raw async-nats ----

async fn raw_stream(js: &jetstream::Context, name: &str) -> String {
    let subject = format!("raw.{name}");
    js.get_or_create_stream(stream::Config {
        name: format!("RAW_{name}"),
        subjects: vec![subject.clone()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
    subject
}

fn message(i: u64, id: &str) -> jetstream::message::PublishMessage {
    jetstream::message::PublishMessage::build()
        .payload(postcard::to_allocvec(&i).unwrap().into())
        .message_id(id)
}

async fn raw_publish(
    js: jetstream::Context,
    name: &str,
    n: u64,
    publishers: usize,
    pipelined: bool,
) -> Duration {
    let subject = raw_stream(&js, name).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..publishers as u64 {
        let (js, subject) = (js.clone(), subject.clone());
        tasks.push(tokio::spawn(async move {
            let mine: Vec<u64> = (0..n).filter(|i| i % publishers as u64 == w).collect();
            if pipelined {
                for chunk in mine.chunks(PIPELINE) {
                    let mut acks = Vec::with_capacity(chunk.len());
                    for &i in chunk {
                        let m = message(i, &format!("{w}-{i}"));
                        acks.push(js.send_publish(subject.clone(), m).await.unwrap());
                    }
                    for a in acks {
                        a.await.unwrap();
                    }
                }
            } else {
                for i in mine {
                    let m = message(i, &format!("{w}-{i}"));
                    js.send_publish(subject.clone(), m)
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

async fn raw_consume(js: jetstream::Context, name: &str, n: u64) -> Duration {
    let subject = raw_stream(&js, name).await;
    let items: Vec<u64> = (0..n).collect();
    for chunk in items.chunks(PIPELINE) {
        let mut acks = Vec::new();
        for &i in chunk {
            acks.push(
                js.send_publish(subject.clone(), message(i, &format!("c-{i}")))
                    .await
                    .unwrap(),
            );
        }
        for a in acks {
            a.await.unwrap();
        }
    }
    let s = js.get_stream(format!("RAW_{name}")).await.unwrap();
    let c = s
        .get_or_create_consumer(
            name,
            consumer::pull::Config {
                durable_name: Some(name.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut messages = c.messages().await.unwrap();
    let mut seen = 0;
    while seen < n {
        let m = messages.next().await.unwrap().unwrap();
        let _: u64 = postcard::from_bytes(&m.payload).unwrap();
        m.ack().await.unwrap();
        seen += 1;
    }
    started.elapsed()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 2_000 } else { 50_000 };
    let server = std::env::var("SEGMQ_URL")
        .is_err()
        .then(nats_server::NatsServer::start);
    let url = std::env::var("SEGMQ_URL").unwrap_or_else(|_| server.as_ref().unwrap().url());
    let t = Transport::from_url(&url).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let js = rt.block_on(async {
        jetstream::ContextBuilder::new()
            .backpressure_on_inflight(true)
            .build(async_nats::connect(&url).await.unwrap())
    });
    println!("server {url}, {n} messages per row, 8-byte payloads, file storage");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "row", "segmq msg/s", "raw msg/s", "ratio"
    );
    let rows: [(&str, usize, bool, bool); 5] = [
        ("publish + ack, 1 publisher", 1, false, false),
        ("publish + ack, 8 publishers", PUBLISHERS, false, false),
        ("publish_async + ack, 1 task", 1, false, true),
        ("publish_async + ack, 8 tasks", PUBLISHERS, false, true),
        ("pipelined publish (256 in flight)", 1, true, false),
    ];
    for (i, (label, publishers, pipelined, in_task)) in rows.into_iter().enumerate() {
        let name = format!("bench{i}");
        let ours = if in_task {
            rate(n, segmq_publish_async(&rt, &t, &name, n, publishers))
        } else {
            rate(n, segmq_publish(&t, &name, n, publishers, pipelined))
        };
        let raw = rate(
            n,
            rt.block_on(raw_publish(js.clone(), &name, n, publishers, pipelined)),
        );
        println!("{label:<34} {ours:>12.0} {raw:>12.0} {:>8.2}", ours / raw);
    }
    let raw = rate(n, rt.block_on(raw_consume(js.clone(), "consume", n)));
    for (label, transport) in [
        ("consume + ack (prefetch 8)", t.clone()),
        ("consume + ack (prefetch 256)", t.clone().prefetch(256)),
    ] {
        let name = if label.contains("256") {
            "consume256"
        } else {
            "consume"
        };
        let ours = rate(n, segmq_consume(&transport, name, n));
        println!("{label:<34} {ours:>12.0} {raw:>12.0} {:>8.2}", ours / raw);
    }
    drop(server);
}
