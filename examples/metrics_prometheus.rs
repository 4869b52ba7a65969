//! The MQ's metrics (feature `metrics`) exported in Prometheus text format.
//!
//! `cargo run --example metrics_prometheus --features metrics`
//!
//! Installs a Prometheus recorder (no HTTP listener: `install_recorder` returns a handle whose
//! `render()` is the text a `/metrics` endpoint would serve), registers a queue whose handler
//! fails each message's first attempt when the message is a multiple of 5 and always fails 13,
//! runs 20 messages through it, prints the rendered metrics and checks them (tests/mq_metrics.rs
//! runs it). Install the recorder before registering queues: a queue builds its metric handles
//! once, at registration.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use segmq::{Mq, Msg, QueueOptions, RetryPolicy};

pub fn main() {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this process");

    let mq = Mq::new();
    let jobs = mq
        .register_with(
            "jobs",
            QueueOptions::new(2).retry(RetryPolicy::fixed(2, Duration::from_millis(1))),
            |m: &Msg<u32>| {
                std::thread::sleep(Duration::from_millis(1)); // some work
                match m.data {
                    13 => Err("13 is never accepted"),
                    n if n % 5 == 0 && m.attempt() == 1 => Err("flaky first attempt"),
                    _ => Ok(()),
                }
            },
        )
        .unwrap();
    mq.start().unwrap();
    for n in 1..=20 {
        jobs.publish(n).unwrap();
    }
    mq.stop();

    let s = mq.stats("jobs").unwrap();
    println!(
        "# QueueStats: published {}, ok {}, failed {}, retried {}, dead-lettered {}, handler p50 {:?}",
        s.published, s.handled_ok, s.failed, s.retried, s.dead_lettered, s.handler_p50
    );
    let text = prometheus.render();
    print!("{text}");
    // Every message once: 19 handled, 13 dead-lettered; the export says the same.
    assert_eq!((s.published, s.handled_ok, s.dead_lettered), (20, 19, 1));
    for line in [
        "segmq_published_total{queue=\"jobs\"} 20",
        "segmq_handled_ok_total{queue=\"jobs\"} 19",
        "segmq_dead_lettered_total{queue=\"jobs\"} 1",
        "segmq_retried_total{queue=\"jobs\"} 5",
        "segmq_depth{queue=\"jobs\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}`");
    }
}
