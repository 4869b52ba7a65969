//! The MQ's metrics (feature `metrics`) read back from real recorders: metrics-util's
//! `DebuggingRecorder` (raw values) and the Prometheus exporter's rendered text, against the
//! counts of a run with successes, failures, a panic, retries and a dead letter.
//!
//! Each test registers its queues under `metrics::with_local_recorder`, which hands the queue
//! handles into that test's own recorder (a queue builds its handles once, at registration), so
//! the tests need no global recorder and run in parallel.

use std::collections::HashMap;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use segmq::mq::metrics as names;
use segmq::{Mq, Msg, Publisher, QueueOptions, RetryPolicy};

#[path = "../examples/metrics_prometheus.rs"]
mod metrics_prometheus;

/// The example installs the process's global recorder; the other tests use local ones.
#[test]
fn the_prometheus_example_runs_and_checks_its_export() {
    metrics_prometheus::main();
}

/// 30 messages on queue `name`: multiples of 3 fail their first attempt, 7 always fails
/// (3 attempts, then dead-lettered), 11 panics on its first attempt; every call takes at least
/// 2 ms. Expected: published 30, ok 29, failed 10 + 3, panicked 1, retried 10 + 2 + 1, dead
/// letters 1, calls 43.
fn register_mixed(mq: &Mq, name: &str) -> Publisher<u32> {
    mq.register_with(
        name,
        QueueOptions::new(3).retry(RetryPolicy::fixed(3, Duration::from_millis(1))),
        |m: &Msg<u32>| {
            std::thread::sleep(Duration::from_millis(2));
            match m.data {
                7 => Err("7 always fails"),
                11 if m.attempt() == 1 => panic!("11 panics once"),
                n if n % 3 == 0 && m.attempt() == 1 => Err("first attempt fails"),
                _ => Ok(()),
            }
        },
    )
    .unwrap()
}

const EXPECTED_COUNTERS: [(&str, u64); 7] = [
    (names::PUBLISHED, 30),
    (names::HANDLED_OK, 29),
    (names::FAILED, 13),
    (names::PANICKED, 1),
    (names::RETRIED, 13),
    (names::DEAD_LETTERED, 1),
    (names::TIMED_OUT, 0),
];

fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("11 panics once") {
            default(info);
        }
    }));
}

#[test]
fn debugging_recorder_sees_every_count_per_queue() {
    quiet_panics();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mq = Mq::new();
    let (mixed, other) = metrics::with_local_recorder(&recorder, || {
        let mixed = register_mixed(&mq, "metrics-mixed");
        let other = mq
            .register("metrics-other", 1, |_: &Msg<u32>| {
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        (mixed, other)
    });
    for n in 0..30 {
        mixed.publish(n).unwrap();
    }
    for n in 0..5 {
        other.publish(n).unwrap();
    }
    // Published before start: the depth gauge shows them.
    let depth = |snap: &HashMap<(MetricKind, String, String), DebugValue>, q: &str| match &snap
        [&(MetricKind::Gauge, names::DEPTH.to_owned(), q.to_owned())]
    {
        DebugValue::Gauge(v) => v.into_inner(),
        v => panic!("{v:?}"),
    };
    // (A snapshot of this recorder resets what it reads: counters are summed over both.)
    let before = values(&snapshotter);
    assert_eq!(depth(&before, "metrics-mixed"), 30.0);
    assert_eq!(depth(&before, "metrics-other"), 5.0);
    mq.start().unwrap();
    mq.stop();

    let snap = values(&snapshotter);
    let counter = |name: &str, q: &str| {
        let key = (MetricKind::Counter, name.to_owned(), q.to_owned());
        match (before.get(&key), snap.get(&key)) {
            (Some(DebugValue::Counter(a)), Some(DebugValue::Counter(b))) => a + b,
            v => panic!("{name}{{queue={q}}}: {v:?}"),
        }
    };
    for (name, want) in EXPECTED_COUNTERS {
        assert_eq!(counter(name, "metrics-mixed"), want, "{name}");
    }
    assert_eq!(counter(names::PUBLISHED, "metrics-other"), 5);
    assert_eq!(counter(names::HANDLED_OK, "metrics-other"), 5);
    assert_eq!(counter(names::FAILED, "metrics-other"), 0);

    // The same counts as QueueStats.
    let s = mq.stats("metrics-mixed").unwrap();
    assert_eq!(
        (
            s.published,
            s.handled_ok,
            s.failed,
            s.panicked,
            s.retried,
            s.dead_lettered
        ),
        (30, 29, 13, 1, 13, 1)
    );

    assert_eq!(depth(&snap, "metrics-mixed"), 0.0);
    assert_eq!(depth(&snap, "metrics-other"), 0.0);
    let in_flight = &snap[&(
        MetricKind::Gauge,
        names::IN_FLIGHT.to_owned(),
        "metrics-mixed".to_owned(),
    )];
    assert_eq!(in_flight, &DebugValue::Gauge(0.0.into()));

    let histogram = |name: &str| match &snap[&(
        MetricKind::Histogram,
        name.to_owned(),
        "metrics-mixed".to_owned(),
    )] {
        DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect::<Vec<f64>>(),
        v => panic!("{v:?}"),
    };
    let handler = histogram(names::HANDLER_DURATION);
    assert_eq!(handler.len(), 43, "one duration per handler call");
    assert!(
        handler.iter().all(|&s| s >= 0.002),
        "every call slept 2 ms: {handler:?}"
    );
    assert_eq!(
        histogram(names::QUEUE_WAIT).len(),
        30,
        "one wait per first attempt"
    );
}

/// The snapshot as (kind, name, queue label) -> value.
fn values(
    snapshotter: &metrics_util::debugging::Snapshotter,
) -> HashMap<(MetricKind, String, String), DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _desc, value)| {
            let (kind, key) = key.into_parts();
            let queue = key
                .labels()
                .find(|l| l.key() == names::QUEUE_LABEL)
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            ((kind, key.name().to_owned(), queue), value)
        })
        .collect()
}

#[test]
fn prometheus_text_has_the_counts() {
    quiet_panics();
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let mq = Mq::new();
    let p = metrics::with_local_recorder(&recorder, || register_mixed(&mq, "prom"));
    mq.start().unwrap();
    for n in 0..30 {
        p.publish(n).unwrap();
    }
    mq.stop();
    let text = handle.render();
    let sample = |line_start: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"));
        line[line_start.len()..].trim().parse().unwrap()
    };
    for (name, want) in EXPECTED_COUNTERS {
        assert_eq!(
            sample(&format!("{name}{{queue=\"prom\"}} ")),
            want as f64,
            "{name}"
        );
    }
    assert_eq!(sample(&format!("{}{{queue=\"prom\"}} ", names::DEPTH)), 0.0);
    assert_eq!(
        sample(&format!("{}{{queue=\"prom\"}} ", names::IN_FLIGHT)),
        0.0
    );
    assert_eq!(
        sample(&format!(
            "{}_count{{queue=\"prom\"}} ",
            names::HANDLER_DURATION
        )),
        43.0
    );
    assert!(
        sample(&format!(
            "{}_sum{{queue=\"prom\"}} ",
            names::HANDLER_DURATION
        )) >= 43.0 * 0.002
    );
    assert_eq!(
        sample(&format!("{}_count{{queue=\"prom\"}} ", names::QUEUE_WAIT)),
        30.0
    );
    assert!(
        text.contains(&format!("# HELP {} ", names::PUBLISHED)),
        "described:\n{text}"
    );
}
