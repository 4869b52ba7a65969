//! The public API works in every feature combination, `--all-features` included (what
//! cargo-hack, rust-analyzer and docs.rs build): the `loom` feature must not swap the
//! primitives (they switch on `--cfg loom`, `src/sync.rs`). Had it swapped them, each of these
//! calls would panic outside a loom model ("cannot access loom execution state").
//! `.ci/run` runs this file with `--all-features`.

use std::thread;

#[test]
fn queues_handles_and_mq_work_outside_any_model() {
    let q = segmq::Queue::bounded(2);
    let worker = {
        let q = q.clone();
        thread::spawn(move || q.iter().sum::<u64>())
    };
    for n in 1..=100 {
        q.send(n).unwrap();
    }
    q.close();
    assert_eq!(worker.join().unwrap(), 5050);

    let (tx, rx) = segmq::unbounded();
    let producer = thread::spawn(move || tx.send_batch(0..10u32).unwrap());
    let mut got = Vec::new();
    while got.len() < 10 {
        rx.recv_batch(&mut got, 10).unwrap();
    }
    assert_eq!(producer.join().unwrap(), 10);
    assert_eq!(got, (0..10).collect::<Vec<_>>());

    let mq = segmq::Mq::new();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let publisher = {
        let seen = seen.clone();
        mq.register("sum", 2, move |m: &segmq::Msg<u64>| {
            seen.fetch_add(m.data, std::sync::atomic::Ordering::Relaxed);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap()
    };
    mq.start().unwrap();
    for n in 1..=10 {
        publisher.publish(n).unwrap();
    }
    let report = mq.stop_timeout(std::time::Duration::from_secs(600));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 55);
}
