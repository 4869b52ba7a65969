//! Delayed and scheduled publish (issue 17, "Time and order"): `publish_in`, `publish_at`.
//! Never before the time asked; in due order; undelayed messages not held behind delayed ones;
//! stop runs the due ones and hands the others back; every message counted once. No timing
//! goal is asserted here (lateness is measured by `examples/mq_delay_lateness.rs`); waits are
//! bounded by a 30 s deadline.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use segmq::{Mq, Msg, PublishError, QueueOptions, RetryPolicy, DELAYED_ID_BASE};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Waits (bounded) until `cond` holds; the test then asserts on counts, not on the wait.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached in 30 s");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Hundreds of messages at random delays, a few workers: each handler call sees
/// `Instant::now() >= asked`, and each message is handled exactly once.
#[test]
fn a_delayed_message_never_starts_before_its_time() {
    const N: usize = 600;
    let early = Arc::new(AtomicU64::new(0));
    let seen: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let (e2, s2) = (early.clone(), seen.clone());
    let mq = Mq::new();
    let p = mq
        .register("timed", 4, move |m: &Msg<(usize, Instant)>| {
            let (i, asked) = m.data;
            if Instant::now() < asked {
                e2.fetch_add(1, SeqCst);
            }
            s2[i].fetch_add(1, SeqCst);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    let mut x = 0x2545_F491_u64;
    for i in 0..N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_micros(x % 40_000);
        let asked = Instant::now() + delay;
        if i % 2 == 0 {
            p.publish_at(asked, (i, asked)).unwrap();
        } else {
            // `publish_in` computes its time after this line: `asked` is no later than it.
            p.publish_in(delay, (i, asked)).unwrap();
        }
    }
    wait_for("all handled", || p.stats().handled_ok == N as u64);
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!(early.load(SeqCst), 0, "handled before their time");
    assert!(
        seen.iter().all(|n| n.load(SeqCst) == 1),
        "a message twice or never"
    );
    assert_eq!((report.handled(), report.left()), (N as u64, 0));
}

/// One worker, delayed messages published in the reverse of their due order: handled in due
/// order (the timer is a heap by due time; equal times keep publish order).
#[test]
fn delayed_messages_are_handled_in_due_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o2 = order.clone();
    let mq = Mq::new();
    let p = mq
        .register("ordered", 1, move |m: &Msg<u32>| {
            o2.lock().unwrap().push(m.data);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    let base = Instant::now() + Duration::from_millis(20);
    for i in (0..50u32).rev() {
        p.publish_at(base + Duration::from_millis(u64::from(i)), i)
            .unwrap();
    }
    // Two at the same time: publish order.
    let same = base + Duration::from_millis(60);
    p.publish_at(same, 100).unwrap();
    p.publish_at(same, 101).unwrap();
    wait_for("all handled", || p.stats().handled_ok == 52);
    mq.stop();
    let mut expected: Vec<u32> = (0..50).collect();
    expected.extend([100, 101]);
    assert_eq!(*order.lock().unwrap(), expected);
}

/// A thousand messages delayed by an hour, then a hundred plain ones: the plain ones are all
/// handled while the delayed wait (the stats count them as `delayed`, and in `published`);
/// stop hands the delayed ones back at once, with their IDs and due time, and that is not a
/// timeout.
#[test]
fn undelayed_messages_are_not_held_behind_delayed_ones_and_stop_hands_those_back() {
    let mq = Mq::new();
    let p = mq
        .register("mixed", 2, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    mq.start().unwrap();
    let due = Instant::now() + Duration::from_secs(3600);
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(p.publish_at(due, i).unwrap());
    }
    assert_eq!(
        ids,
        (0..1000).map(|n| DELAYED_ID_BASE + n).collect::<Vec<_>>()
    );
    for i in 0..100 {
        assert!(p.publish(i).unwrap() < DELAYED_ID_BASE);
    }
    wait_for("the plain ones", || p.stats().handled_ok == 100);
    let s = p.stats();
    assert_eq!(
        (s.published, s.delayed, s.depth, s.handled_ok),
        (1100, 1000, 0, 100),
        "{s:?}"
    );
    let started = Instant::now();
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "stop waited for the delayed ones"
    );
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    let q = &report.queues[0];
    assert_eq!(
        (q.published, q.handled_ok, q.left, q.delayed),
        (1100, 100, 1000, 0),
        "{q:?}"
    );
    let left = p.drain_left();
    let mut back: Vec<u64> = left.iter().map(|m| m.id).collect();
    back.sort();
    assert_eq!(back, ids);
    assert!(left
        .iter()
        .all(|m| m.enqueued_at() == due && m.attempt() == 1));
    assert_eq!(p.stats().delayed, 0);
}

/// Stop while due delayed messages wait in the queue behind a busy handler and others are not
/// due: the due ones are handled, the others handed back; no timeout, every message once.
#[test]
fn stop_runs_the_due_delayed_messages_and_hands_back_the_rest() {
    let (gate_tx, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let handled = Arc::new(Mutex::new(Vec::new()));
    let h2 = handled.clone();
    let mq = Arc::new(Mq::new());
    let p = mq
        .register("gated", 1, move |m: &Msg<u32>| {
            if m.data == 0 {
                gate.lock().unwrap().recv().unwrap();
            }
            h2.lock().unwrap().push(m.data);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    // Rebound after `mq`, so dropped before it if the test fails: the worker is let go and
    // the `Mq`'s drop does not wait for it for ever.
    let gate_tx = gate_tx;
    mq.start().unwrap();
    p.publish(0).unwrap(); // holds the only worker
    wait_for("the worker holds 0", || p.stats().in_flight == 1);
    let soon = Instant::now() + Duration::from_millis(1);
    for i in 1..=10 {
        p.publish_at(soon, i).unwrap();
    }
    for i in 11..=20 {
        p.publish_in(Duration::from_secs(3600), i).unwrap();
    }
    // The timer pushed the due ones into the queue, behind message 0.
    wait_for("the due ones queued", || p.stats().depth == 10);
    assert_eq!(p.stats().delayed, 10);
    let stopper = {
        let mq = mq.clone();
        thread::spawn(move || mq.stop_timeout(Duration::from_secs(60)))
    };
    wait_for("the stop began", || format!("{mq:?}").contains("Stop"));
    gate_tx.send(()).unwrap();
    let report = stopper.join().unwrap();
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!((report.handled(), report.left()), (11, 10), "{report:?}");
    let mut done = handled.lock().unwrap().clone();
    done.sort();
    assert_eq!(done, (0..=10).collect::<Vec<_>>());
    let mut left: Vec<u32> = p.drain_left().into_iter().map(|m| m.data).collect();
    left.sort();
    assert_eq!(left, (11..=20).collect::<Vec<_>>());
}

/// Never started: the delayed messages are handed back with the plain ones, each once.
#[test]
fn stop_before_start_hands_back_delayed_and_plain_messages() {
    let mq = Mq::new();
    let p = mq
        .register("idle", 1, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    p.publish(1).unwrap();
    p.publish_in(Duration::from_secs(3600), 2).unwrap();
    p.publish_in(Duration::from_micros(1), 3).unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(report.is_accounted(), "{report:?}");
    let mut left: Vec<u32> = p.drain_left().into_iter().map(|m| m.data).collect();
    left.sort();
    assert_eq!(left, [1, 2, 3]);
    assert_eq!(report.left(), 3);
}

/// After stop a delayed publish is refused with its data; nothing is counted.
#[test]
fn a_delayed_publish_after_stop_gives_the_data_back() {
    let mq = Mq::new();
    let p = mq
        .register("closed", 1, |_: &Msg<String>| Ok::<_, BoxError>(()))
        .unwrap();
    mq.start().unwrap();
    mq.stop();
    let err = p
        .publish_in(Duration::from_secs(1), "late".to_string())
        .unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner(), "late");
    let err = mq
        .publish_at(
            "closed",
            Instant::now() + Duration::from_secs(1),
            "x".to_string(),
        )
        .unwrap_err();
    assert!(err.is_closed());
    assert_eq!((p.stats().published, p.stats().delayed), (0, 0));
}

/// A delayed message that fails is retried under the same (delayed) ID.
#[test]
fn a_retried_delayed_message_keeps_its_id() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i2 = ids.clone();
    let mq = Mq::new();
    let opts = QueueOptions::new(1).retry(RetryPolicy::fixed(2, Duration::from_millis(1)));
    let p = mq
        .register_with("flaky", opts, move |m: &Msg<u32>| {
            i2.lock().unwrap().push((m.id, m.attempt()));
            if m.attempt() == 1 {
                return Err("first try fails");
            }
            Ok(())
        })
        .unwrap();
    mq.start().unwrap();
    p.publish(0).unwrap();
    let id = p.publish_in(Duration::from_millis(5), 1).unwrap();
    wait_for("both handled", || p.stats().handled_ok == 2);
    mq.stop();
    let ids = ids.lock().unwrap();
    let delayed: Vec<_> = ids.iter().filter(|(i, _)| *i == id).collect();
    assert_eq!(delayed, [&(DELAYED_ID_BASE, 1), &(DELAYED_ID_BASE, 2)]);
}

/// Delayed IDs stay unique with publishers on several threads.
#[test]
fn delayed_ids_are_unique_across_threads() {
    let mq = Mq::new();
    let p = mq
        .register("ids", 1, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            thread::spawn(move || {
                (0..500)
                    .map(|i| p.publish_in(Duration::from_secs(3600), i).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2000);
    assert!(all.iter().all(|&id| id >= DELAYED_ID_BASE));
    mq.stop();
    assert_eq!(p.drain_left().len(), 2000);
}

/// A bounded queue: due messages that meet a full queue wait in the timer, and all arrive.
#[test]
fn delayed_messages_wait_for_room_in_a_bounded_queue() {
    let handled = Arc::new(AtomicU64::new(0));
    let h2 = handled.clone();
    let mq = Mq::new();
    let p = mq
        .register_with(
            "bounded",
            QueueOptions::new(1).capacity(4),
            move |_: &Msg<u32>| {
                h2.fetch_add(1, SeqCst);
                Ok::<_, BoxError>(())
            },
        )
        .unwrap();
    for i in 0..4 {
        p.publish(i).unwrap(); // full before the workers start
    }
    let soon = Instant::now() + Duration::from_millis(2);
    for i in 4..40 {
        p.publish_at(soon, i).unwrap();
    }
    mq.start().unwrap();
    wait_for("all handled", || handled.load(SeqCst) == 40);
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!(report.handled(), 40);
}

/// Delayed publish on an async queue.
#[cfg(feature = "tokio")]
#[test]
fn delayed_messages_on_an_async_queue() {
    let early = Arc::new(AtomicU64::new(0));
    let e2 = early.clone();
    let mq = Mq::new();
    let p = mq
        .register_async("async", QueueOptions::new(8), move |m: &Msg<Instant>| {
            if Instant::now() < m.data {
                e2.fetch_add(1, SeqCst);
            }
            Box::pin(async { Ok::<_, BoxError>(()) })
        })
        .unwrap();
    mq.start().unwrap();
    for i in 0..200u64 {
        let d = Duration::from_micros(i * 97 % 20_000);
        p.publish_at(Instant::now() + d, Instant::now() + d)
            .unwrap();
    }
    wait_for("all handled", || p.stats().handled_ok == 200);
    mq.stop();
    assert_eq!(early.load(SeqCst), 0);
}

/// Durable queues refuse a delayed publish (the log cannot carry a due time, so the message
/// would not survive a crash): a clear error naming the queue, the data back, nothing logged.
#[cfg(feature = "durable")]
#[test]
fn a_durable_queue_refuses_a_delayed_publish() {
    let dir = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let opts = QueueOptions::new(1).durable(dir.path(), segmq::SyncPolicy::Always);
    let p = mq
        .register_with("kept", opts, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    let err = p.publish_in(Duration::from_secs(1), 7).unwrap_err();
    assert!(
        matches!(err, PublishError::Unsupported { data: 7, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("`kept`") && text.contains("durable"),
        "{text}"
    );
    assert_eq!(p.stats().published, 0);
    mq.stop();
}

/// By name: unknown queue and wrong type give the data back, as `Mq::publish` does.
#[test]
fn publish_in_by_name_refuses_like_publish() {
    let mq = Mq::new();
    mq.register("n", 1, |_: &Msg<u64>| Ok::<_, BoxError>(()))
        .unwrap();
    let d = Duration::from_secs(1);
    assert!(matches!(
        mq.publish_in("m", d, 5u64),
        Err(PublishError::UnknownQueue(5))
    ));
    assert!(matches!(
        mq.publish_in("n", d, 5i32),
        Err(PublishError::TypeMismatch(5))
    ));
    assert_eq!(mq.publish_in("n", d, 5u64).unwrap(), DELAYED_ID_BASE);
    mq.stop();
}
