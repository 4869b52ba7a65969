//! The message queue (`segmq::Mq`): lifecycle errors, exactly-once accounting under load with
//! failing, panicking and sleeping handlers, retries, stop with and without a deadline, and the
//! async (tokio) workers. Every assertion counts; none relies on a sleep having been long enough.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use segmq::{Mq, MqError, Msg, PublishError, QueueOptions, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A deterministic "random" number from a message and its attempt.
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

/// Waits (bounded) until `cond` holds; the test then asserts on counts, not on the wait.
fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in 20 s");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Per-data outcome counters for exactly-once checks.
struct Ledger {
    ok: Vec<AtomicU32>,
    dead: Vec<AtomicU32>,
    ids: Vec<Mutex<Option<u64>>>,
}

impl Ledger {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            ok: (0..n).map(|_| AtomicU32::new(0)).collect(),
            dead: (0..n).map(|_| AtomicU32::new(0)).collect(),
            ids: (0..n).map(|_| Mutex::new(None)).collect(),
        })
    }

    /// The same data always comes with the same ID (retries keep it).
    fn see_id(&self, data: u64, id: u64) {
        let mut slot = self.ids[data as usize].lock().unwrap();
        assert_eq!(*slot.get_or_insert(id), id, "data {data} changed ID");
    }

    /// Every datum observed exactly once as ok, dead-lettered or left.
    fn check(&self, left: &[Msg<u64>]) -> (u64, u64) {
        let mut left_count = vec![0u32; self.ok.len()];
        for m in left {
            left_count[m.data as usize] += 1;
            self.see_id(m.data, m.id);
        }
        let (mut ok, mut dead) = (0, 0);
        for (i, left_i) in left_count.into_iter().enumerate() {
            let o = self.ok[i].load(Relaxed);
            let d = self.dead[i].load(Relaxed);
            assert_eq!(
                o + d + left_i,
                1,
                "data {i}: ok {o}, dead {d}, left {left_i}"
            );
            ok += o as u64;
            dead += d as u64;
        }
        (ok, dead)
    }
}

/// A handler that fails, panics, sleeps or succeeds, deterministically per (data, attempt).
fn chaotic(ledger: Arc<Ledger>) -> impl Fn(&Msg<u64>) -> Result<(), BoxError> + Send + Sync {
    move |m: &Msg<u64>| {
        ledger.see_id(m.data, m.id);
        match mix(m.data, m.attempt() as u64) % 10 {
            0 | 1 => Err(format!("failed {}", m.data).into()),
            2 => panic!("handler panicked on {}", m.data),
            3 => {
                thread::sleep(Duration::from_micros(200));
                ledger.ok[m.data as usize].fetch_add(1, Relaxed);
                Ok(())
            }
            _ => {
                ledger.ok[m.data as usize].fetch_add(1, Relaxed);
                Ok(())
            }
        }
    }
}

fn dead_letter_into(ledger: Arc<Ledger>) -> impl Fn(Msg<u64>) + Send + Sync {
    move |m| {
        ledger.see_id(m.data, m.id);
        ledger.dead[m.data as usize].fetch_add(1, Relaxed);
    }
}

fn publish_range(p: &segmq::Publisher<u64>, range: std::ops::Range<u64>) -> Vec<u64> {
    range.map(|d| p.publish(d).unwrap()).collect()
}

#[test]
fn exactly_once_under_load_with_failures_panics_and_retries() {
    exactly_once_under_load(None);
}

/// The same on a bounded queue (capacity 8): publishers block for room, retries re-enter a
/// queue that may be full.
#[test]
fn exactly_once_under_load_on_a_bounded_queue() {
    exactly_once_under_load(Some(8));
}

fn exactly_once_under_load(capacity: Option<usize>) {
    const N: u64 = if cfg!(debug_assertions) {
        20_000
    } else {
        100_000
    };
    let ledger = Ledger::new(N as usize);
    let mq = Mq::new();
    let options = QueueOptions::new(4)
        .retry(RetryPolicy::exponential(
            3,
            Duration::from_micros(100),
            Duration::from_millis(2),
        ))
        .dead_letter(dead_letter_into(ledger.clone()));
    let options = match capacity {
        Some(n) => options.capacity(n),
        None => options,
    };
    let p = mq
        .register_with("load", options, chaotic(ledger.clone()))
        .unwrap();
    mq.start().unwrap();
    let ids: Vec<u64> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let p = p.clone();
                s.spawn(move || publish_range(&p, t * N / 4..(t + 1) * N / 4))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    mq.stop();
    let ids: HashSet<u64> = ids.into_iter().collect();
    assert_eq!(ids.len() as u64, N, "IDs are unique");
    let (ok, dead) = ledger.check(&p.drain_left());
    let s = mq.stats("load").unwrap();
    assert_eq!(s.published, N);
    assert_eq!((s.handled_ok, s.dead_lettered, s.left), (ok, dead, 0));
    assert_eq!(s.failed + s.panicked, s.retried + s.dead_lettered);
    assert!(
        s.failed > 0 && s.panicked > 0 && s.retried > 0 && dead > 0,
        "{s:?}"
    );
    assert_eq!((s.depth, s.in_flight, s.workers), (0, 0, 0));
}

#[test]
fn stop_under_concurrent_publishing_handles_everything_accepted() {
    let handled = Arc::new(AtomicU32::new(0));
    let mq = Arc::new(Mq::new());
    let h = handled.clone();
    let p = mq
        .register("busy", 3, move |_: &Msg<u64>| {
            h.fetch_add(1, Relaxed);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    let started = Arc::new(AtomicU32::new(0));
    let publishers: Vec<_> = (0..4)
        .map(|t| {
            let mq = mq.clone();
            let p = p.clone();
            let started = started.clone();
            thread::spawn(move || {
                let mut accepted = 0u64;
                for i in 0.. {
                    // Half by name, half typed.
                    let r = if i % 2 == 0 {
                        p.publish(i)
                    } else {
                        mq.publish("busy", i)
                    };
                    match r {
                        Ok(_) => accepted += 1,
                        Err(PublishError::Closed(data)) => {
                            assert_eq!(data, i);
                            break;
                        }
                        Err(e) => panic!("publisher {t}: {e}"),
                    }
                    if accepted == 1000 {
                        started.fetch_add(1, Relaxed);
                    }
                }
                accepted
            })
        })
        .collect();
    wait_for(|| started.load(Relaxed) == 4);
    mq.stop();
    let accepted: u64 = publishers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(handled.load(Relaxed) as u64, accepted);
    let s = mq.stats("busy").unwrap();
    assert_eq!((s.published, s.handled_ok, s.left), (accepted, accepted, 0));
}

#[test]
fn stop_timeout_returns_leftovers_and_loses_nothing() {
    const N: u64 = 300;
    let ledger = Ledger::new(N as usize);
    let mq = Mq::new();
    let l = ledger.clone();
    let options = QueueOptions::new(2)
        .retry(RetryPolicy::fixed(3, Duration::from_millis(20)))
        .dead_letter(dead_letter_into(ledger.clone()));
    let p = mq
        .register_with("slow", options, move |m: &Msg<u64>| {
            l.see_id(m.data, m.id);
            thread::sleep(Duration::from_millis(1));
            if m.data % 3 == 0 {
                return Err("fails, to have retries waiting");
            }
            l.ok[m.data as usize].fetch_add(1, Relaxed);
            Ok(())
        })
        .unwrap();
    publish_range(&p, 0..N);
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_millis(40));
    assert!(report.timed_out);
    assert!(report.left() > 0, "{report:?}");
    mq.stop(); // joins the workers that were in a handler at the deadline
    let left = p.drain_left();
    assert!(left.len() as u64 >= report.left());
    let (ok, dead) = ledger.check(&left);
    let s = mq.stats("slow").unwrap();
    assert_eq!(s.published, N);
    assert_eq!(s.handled_ok + s.dead_lettered + s.left, N);
    assert_eq!(
        (s.handled_ok, s.dead_lettered, s.left),
        (ok, dead, left.len() as u64)
    );
    assert!(p.drain_left().is_empty());
}

#[test]
fn graceful_stop_waits_for_pending_retries() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let a = attempts.clone();
    let mq = Mq::new();
    let options = QueueOptions::new(1).retry(RetryPolicy::fixed(3, Duration::from_millis(30)));
    let p = mq
        .register_with("retry-at-stop", options, move |m: &Msg<u64>| {
            a.lock().unwrap().push((m.id, m.attempt()));
            if m.attempt() < 3 {
                Err("not yet")
            } else {
                Ok(())
            }
        })
        .unwrap();
    mq.start().unwrap();
    p.publish(7).unwrap();
    wait_for(|| attempts.lock().unwrap().len() == 1); // the retry is now in the timer
    mq.stop();
    assert_eq!(*attempts.lock().unwrap(), [(0, 1), (0, 2), (0, 3)]);
    let s = mq.stats("retry-at-stop").unwrap();
    assert_eq!((s.handled_ok, s.failed, s.retried, s.left), (1, 2, 2, 0));
}

#[test]
fn retries_are_counted_and_keep_the_id() {
    const N: u64 = 50;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let mq = Mq::new();
    let options = QueueOptions::new(2).retry(RetryPolicy::fixed(3, Duration::from_millis(1)));
    let p = mq
        .register_with("retry", options, move |m: &Msg<u64>| {
            s2.lock().unwrap().push((m.data, m.id, m.attempt()));
            if m.attempt() < 3 {
                Err("again")
            } else {
                Ok(())
            }
        })
        .unwrap();
    let ids = publish_range(&p, 0..N);
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
    mq.start().unwrap();
    mq.stop();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let expected: Vec<_> = (0..N)
        .flat_map(|d| (1..=3).map(move |a| (d, d, a)))
        .collect();
    assert_eq!(seen, expected);
    let s = mq.stats("retry").unwrap();
    assert_eq!(
        (s.handled_ok, s.failed, s.retried, s.dead_lettered),
        (N, 2 * N, 2 * N, 0)
    );
    assert_eq!(s.published, N);
}

#[test]
fn ids_follow_queue_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let mq = Mq::new();
    let p = mq
        .register("ordered", 1, move |m: &Msg<u32>| {
            s2.lock().unwrap().push(m.id);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    for i in 0..1000 {
        assert_eq!(p.publish(i).unwrap(), i as u64);
    }
    mq.stop();
    assert_eq!(*seen.lock().unwrap(), (0..1000).collect::<Vec<u64>>());
}

#[test]
fn a_panicking_handler_leaves_the_worker_count_unchanged() {
    let mq = Mq::new();
    let ok = Arc::new(AtomicU32::new(0));
    let ok2 = ok.clone();
    let p = mq
        .register("panics", 3, move |m: &Msg<u32>| {
            if m.data < 30 {
                panic!("boom {}", m.data);
            }
            ok2.fetch_add(1, Relaxed);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    assert_eq!(mq.stats("panics").unwrap().workers, 3);
    for i in 0..30 {
        p.publish(i).unwrap();
    }
    wait_for(|| mq.stats("panics").unwrap().dead_lettered == 30);
    let s = mq.stats("panics").unwrap();
    assert_eq!((s.panicked, s.workers), (30, 3));
    for i in 30..60 {
        p.publish(i).unwrap();
    }
    mq.stop();
    assert_eq!(ok.load(Relaxed), 30);
    assert_eq!(mq.stats("panics").unwrap().workers, 0);
}

#[test]
fn publish_before_start_waits_and_register_while_running_starts_at_once() {
    let mq = Mq::new();
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    let early = mq
        .register("early", 1, move |_: &Msg<u8>| {
            c.fetch_add(1, Relaxed);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    for i in 0..10 {
        early.publish(i).unwrap();
    }
    assert_eq!(mq.stats("early").unwrap().depth, 10);
    assert_eq!(count.load(Relaxed), 0);
    mq.start().unwrap();
    let c = count.clone();
    let late = mq
        .register("late", 2, move |_: &Msg<u8>| {
            c.fetch_add(100, Relaxed);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    assert_eq!(mq.stats("late").unwrap().workers, 2);
    late.publish(1).unwrap();
    wait_for(|| count.load(Relaxed) >= 100); // the late queue's worker runs before stop
    mq.stop();
    assert_eq!(count.load(Relaxed), 110);
}

#[test]
fn lifecycle_and_lookup_errors() {
    let mq = Mq::new();
    let noop = |_: &Msg<u32>| Ok::<_, BoxError>(());
    assert_eq!(
        mq.register("zero", 0, noop).unwrap_err(),
        MqError::InvalidConcurrency("zero".into())
    );
    mq.register("q", 1, noop).unwrap();
    assert_eq!(
        mq.register("q", 1, noop).unwrap_err(),
        MqError::DuplicateQueue("q".into())
    );
    assert!(matches!(
        mq.publish("nope", 1u32),
        Err(PublishError::UnknownQueue(1))
    ));
    assert!(matches!(mq.publisher::<u32>("nope"), Err(MqError::UnknownQueue(n)) if n == "nope"));
    match mq.publish("q", String::from("text")) {
        Err(PublishError::TypeMismatch(s)) => assert_eq!(s, "text"),
        other => panic!("{other:?}"),
    }
    match mq.publisher::<i64>("q") {
        Err(MqError::TypeMismatch {
            queue,
            expected,
            found,
        }) => {
            assert_eq!((queue.as_str(), expected, found), ("q", "u32", "i64"));
        }
        other => panic!("{other:?}"),
    }
    mq.start().unwrap();
    assert_eq!(mq.start(), Err(MqError::AlreadyRunning));
    mq.stop();
    mq.stop(); // idempotent
    assert_eq!(mq.start(), Err(MqError::Stopped));
    assert_eq!(mq.register("after", 1, noop).unwrap_err(), MqError::Stopped);
    let err = mq.publish("q", 9u32).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner(), 9);
    let err = mq
        .publisher::<u32>("q")
        .unwrap()
        .publish_batch([1, 2])
        .unwrap_err();
    assert_eq!(err.into_inner(), [1, 2]);
    assert_eq!(format!("{:?}", PublishError::Full(NotDebug)), "Full(..)");
}

struct NotDebug;

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mq>();
    send_sync::<segmq::Publisher<String>>();
    send_sync::<Msg<String>>();
}

#[test]
fn dropping_the_mq_drains_it() {
    let count = Arc::new(AtomicU32::new(0));
    {
        let mq = Mq::new();
        let c = count.clone();
        let p = mq
            .register("drop", 2, move |_: &Msg<u8>| {
                thread::sleep(Duration::from_micros(100));
                c.fetch_add(1, Relaxed);
                Ok::<_, BoxError>(())
            })
            .unwrap();
        mq.start().unwrap();
        for i in 0..100 {
            p.publish(i).unwrap();
        }
    }
    assert_eq!(count.load(Relaxed), 100);
}

#[test]
fn stats_latency_and_depth() {
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let mq = Mq::new();
    let p = mq
        .register("gated", 1, move |_: &Msg<u8>| {
            while !g.load(Relaxed) {
                thread::yield_now();
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    mq.start().unwrap();
    for i in 0..5 {
        p.publish(i).unwrap();
    }
    wait_for(|| mq.stats("gated").unwrap().in_flight == 1);
    let s = mq.stats("gated").unwrap();
    assert_eq!((s.published, s.depth, s.in_flight), (5, 4, 1));
    gate.store(true, Relaxed);
    mq.stop();
    let s = mq.stats("gated").unwrap();
    assert_eq!((s.handled_ok, s.depth, s.in_flight), (5, 0, 0));
    assert!(s.latency_p50.unwrap() <= s.latency_p99.unwrap());
}

#[cfg(feature = "tokio")]
mod async_handlers {
    use super::*;

    #[test]
    fn exactly_once_with_async_handlers() {
        const N: u64 = 5_000;
        let ledger = Ledger::new(N as usize);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let mq = Mq::new();
        let l = ledger.clone();
        let options = QueueOptions::new(50)
            .retry(RetryPolicy::fixed(3, Duration::from_micros(300)))
            .dead_letter(dead_letter_into(ledger.clone()))
            .runtime(rt.handle().clone());
        let p = mq
            .register_async("async", options, move |m: &Msg<u64>| {
                let l = l.clone();
                Box::pin(async move {
                    l.see_id(m.data, m.id);
                    match mix(m.data, m.attempt() as u64) % 10 {
                        0 | 1 => return Err(BoxError::from("failed")),
                        2 => panic!("async handler panicked"),
                        3 => tokio::time::sleep(Duration::from_millis(1)).await,
                        4 => {
                            tokio::time::sleep(Duration::from_micros(10)).await;
                            panic!("panicked after an await");
                        }
                        _ => {}
                    }
                    l.ok[m.data as usize].fetch_add(1, Relaxed);
                    Ok(())
                })
            })
            .unwrap();
        mq.start().unwrap();
        thread::scope(|s| {
            for t in 0..2 {
                let p = p.clone();
                s.spawn(move || publish_range(&p, t * N / 2..(t + 1) * N / 2));
            }
        });
        assert_eq!(mq.stats("async").unwrap().workers, 50);
        mq.stop();
        let (ok, dead) = ledger.check(&p.drain_left());
        let s = mq.stats("async").unwrap();
        assert_eq!((s.published, s.handled_ok, s.dead_lettered), (N, ok, dead));
        assert_eq!(s.failed + s.panicked, s.retried + s.dead_lettered);
        assert!(s.panicked > 0 && s.failed > 0);
        assert_eq!(s.workers, 0);
    }

    #[test]
    fn async_stop_timeout_and_internal_runtime() {
        const N: u64 = 200;
        let ledger = Ledger::new(N as usize);
        let mq = Mq::new();
        let l = ledger.clone();
        let p = mq
            .register_async("async-slow", QueueOptions::new(2), move |m: &Msg<u64>| {
                let l = l.clone();
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    l.ok[m.data as usize].fetch_add(1, Relaxed);
                    Ok::<_, BoxError>(())
                })
            })
            .unwrap();
        publish_range(&p, 0..N);
        mq.start().unwrap();
        let report = mq.stop_timeout(Duration::from_millis(30));
        assert!(report.timed_out && report.left() > 0, "{report:?}");
        mq.stop();
        let (ok, _) = ledger.check(&p.drain_left());
        assert_eq!(mq.stats("async-slow").unwrap().handled_ok, ok);
        assert!(mq.publish("async-slow", 1u64).unwrap_err().is_closed());
    }
}

/// The drop-oldest overflow policy needs a capacity: refused at registration without one.
#[test]
fn drop_oldest_without_a_capacity_is_refused() {
    let mq = Mq::new();
    let r = mq.register_with(
        "unbounded-drop-oldest",
        QueueOptions::new(1).drop_oldest(),
        |_: &Msg<u8>| Ok::<_, MqError>(()),
    );
    assert!(matches!(r, Err(MqError::Unsupported { .. })), "{r:?}");
}

/// Drop-oldest under load: four publishers never wait on a full queue of 8; every message is
/// handled or displaced, exactly once, each displaced one reaches the dead-letter handler, and
/// the stop report accounts for all of them.
#[test]
fn drop_oldest_accounts_for_every_message_under_load() {
    const PER_PUBLISHER: u64 = 5_000;
    let mq = Mq::new();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let displaced = Arc::new(Mutex::new(Vec::new()));
    let (h, d) = (handled.clone(), displaced.clone());
    let p = mq
        .register_with(
            "ticks",
            QueueOptions::new(2)
                .capacity(8)
                .drop_oldest()
                .dead_letter(move |m: Msg<u64>| d.lock().unwrap().push(m.data)),
            move |m: &Msg<u64>| {
                h.lock().unwrap().push(m.data);
                Ok::<_, MqError>(())
            },
        )
        .unwrap();
    mq.start().unwrap();
    let publishers: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            thread::spawn(move || {
                for i in 0..PER_PUBLISHER {
                    p.publish((t << 32) | i).unwrap();
                }
            })
        })
        .collect();
    for t in publishers {
        t.join().unwrap();
    }
    let report = mq.stop_timeout(Duration::from_secs(120));
    assert!(!report.timed_out, "{report:?}");
    assert!(report.is_accounted(), "{report:?}");
    let q = &report.queues[0];
    let (handled, displaced) = (handled.lock().unwrap(), displaced.lock().unwrap());
    assert_eq!(q.published, 4 * PER_PUBLISHER);
    assert_eq!(q.handled_ok, handled.len() as u64);
    assert_eq!(q.displaced, displaced.len() as u64);
    assert_eq!(q.dead_lettered, 0, "displacement is not a dead letter");
    let all: HashSet<u64> = handled.iter().chain(displaced.iter()).copied().collect();
    assert_eq!(
        all.len() as u64,
        4 * PER_PUBLISHER,
        "exactly once, nothing lost"
    );
}
