//! `QueueStats::handler_p50`/`handler_p99`: handlers whose calls last at least a known time
//! (each call blocks until the test, told that it started, has waited that long and releases
//! it), so the percentiles must be at least that time; with the histogram's bucket error (a
//! bucket's middle is within 12.5 % below any value in it), at least 7/8 of it.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use segmq::{Mq, Msg};

const HOLD: Duration = Duration::from_millis(20);
const DEADLINE: Duration = Duration::from_secs(30);

fn at_least(d: Option<Duration>, min: Duration) -> bool {
    d.is_some_and(|d| d >= min * 7 / 8)
}

/// A thread handler held for `HOLD` per call: p50 and p99 are at least `HOLD`. Before the
/// handler histogram existed there was nothing to read; a duration measured around the wrong
/// thing (the pop, the settle) would be near zero.
#[test]
fn thread_handler_percentiles_are_at_least_the_held_time() {
    let (started_tx, started) = mpsc::channel::<u32>();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let mq = Mq::new();
    let started_tx = Mutex::new(started_tx);
    let p = mq
        .register("held-threads", 1, move |m: &Msg<u32>| {
            started_tx.lock().unwrap().send(m.data).unwrap();
            release_rx.lock().unwrap().recv_timeout(DEADLINE).unwrap();
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    // 17 messages: the first and the 17th are sampled (one in 16 per worker).
    for n in 0..17 {
        p.publish(n).unwrap();
    }
    mq.start().unwrap();
    for _ in 0..17 {
        started.recv_timeout(DEADLINE).unwrap();
        let t = Instant::now();
        std::thread::sleep(HOLD);
        assert!(t.elapsed() >= HOLD);
        release.send(()).unwrap();
    }
    mq.stop();
    let s = mq.stats("held-threads").unwrap();
    assert_eq!(s.handled_ok, 17);
    assert!(at_least(s.handler_p50, HOLD), "{s:?}");
    assert!(at_least(s.handler_p99, HOLD), "{s:?}");
    assert!(s.handler_p99 >= s.handler_p50);
}

/// An async handler's duration is its whole future: it awaits a release that comes `HOLD`
/// after it started. Timing only the call that builds the future would give microseconds.
#[cfg(feature = "tokio")]
#[test]
fn async_handler_percentiles_cover_the_whole_future() {
    use segmq::QueueOptions;
    use std::sync::Arc;
    use tokio::sync::oneshot;
    type Gate = oneshot::Sender<()>;
    let (started_tx, started) = mpsc::channel::<Gate>();
    let started_tx = Arc::new(Mutex::new(started_tx));
    let mq = Mq::new();
    let p = mq
        .register_async("held-async", QueueOptions::new(2), move |_: &Msg<u32>| {
            let started_tx = started_tx.clone();
            Box::pin(async move {
                let (gate, wait) = oneshot::channel();
                started_tx.lock().unwrap().send(gate).unwrap();
                wait.await.map_err(|_| "the test dropped the gate")?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .unwrap();
    mq.start().unwrap();
    for n in 0..4 {
        p.publish(n).unwrap();
    }
    for _ in 0..4 {
        let gate = started.recv_timeout(DEADLINE).unwrap();
        std::thread::sleep(HOLD);
        gate.send(()).unwrap();
    }
    mq.stop();
    let s = mq.stats("held-async").unwrap();
    assert_eq!(s.handled_ok, 4);
    assert!(at_least(s.handler_p50, HOLD), "{s:?}");
}

/// A queue whose handler never ran has no handler percentiles; queue wait and handler time
/// are kept apart (a quick handler after a long wait in the queue).
#[test]
fn handler_time_is_not_queue_wait() {
    let mq = Mq::new();
    let p = mq
        .register("waited", 1, |_: &Msg<u32>| Ok::<_, std::io::Error>(()))
        .unwrap();
    p.publish(1).unwrap();
    let s = mq.stats("waited").unwrap();
    assert_eq!((s.handler_p50, s.latency_p50), (None, None));
    std::thread::sleep(HOLD);
    mq.start().unwrap();
    mq.stop();
    let s = mq.stats("waited").unwrap();
    assert!(at_least(s.latency_p50, HOLD), "waited at least HOLD: {s:?}");
    assert!(s.handler_p50.is_some(), "{s:?}");
}
