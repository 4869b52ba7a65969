//! The MQ under hostile user code and hostile callers (issue 15): payloads, errors and panic
//! payloads whose `Drop`/`Display` panic, concurrent stops, stop and drop from inside a
//! handler, a stop that meets a handler blocked on its own full queue, drop after a timed-out
//! stop, bad names, runtimes that cannot serve a queue. Each test failed before its fix; every
//! assertion counts messages. Gates are channels; a hang is caught by a watchdog (a bounded
//! `recv_timeout`), never by a sleep that "should be long enough".

#[path = "support/within.rs"]
mod support_within;
use support_within::within;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use segmq::{Mq, MqError, Msg, QueueOptions, RetryPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Waits (bounded) until `cond` holds; the test then asserts on counts, not on the wait.
fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in 30 s");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until the thread named `name` sleeps in the kernel (blocked on a lock or a condition
/// variable), as `/proc/self/task/*/stat` says: the state after which a stop call can do
/// nothing more until the test opens a gate.
fn wait_until_blocked(name: &str) {
    let blocked = || -> bool {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return false;
        };
        tasks.flatten().any(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // `pid (comm) S ...`: the state follows the last ')'.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            comm.trim_end() == name && state.starts_with('S')
        })
    };
    wait_for(blocked);
}

/// A payload whose `Drop` panics if `explode`.
struct Bomb {
    explode: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.explode && !thread::panicking() {
            panic!("Bomb::drop");
        }
    }
}

#[test]
fn a_message_whose_drop_panics_after_its_handler_does_not_kill_the_worker() {
    let mq = Mq::new();
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let p = mq
        .register("bombs", 1, move |_: &Msg<Bomb>| {
            h.fetch_add(1, SeqCst);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish(Bomb { explode: true }).unwrap();
    for _ in 0..3 {
        p.publish(Bomb { explode: false }).unwrap();
    }
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    // Before: the worker died after the first message; stop reported 1 handled, 0 left.
    assert_eq!(handled.load(SeqCst), 4);
    assert_eq!((report.handled(), report.left(), report.lost()), (4, 0, 0));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!(mq.stats("bombs").unwrap().workers, 0);
}

#[test]
fn dead_lettered_messages_whose_drop_panics_do_not_kill_the_worker() {
    let mq = Mq::new();
    let p = mq
        .register("dead-bombs", 1, |_: &Msg<Bomb>| Err::<(), _>("no"))
        .unwrap();
    p.publish(Bomb { explode: true }).unwrap();
    p.publish(Bomb { explode: false }).unwrap();
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    let s = mq.stats("dead-bombs").unwrap();
    assert_eq!((s.failed, s.dead_lettered, s.left), (2, 2, 0));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
}

/// A panic payload whose `Drop` panics.
struct BombPayload;

impl Drop for BombPayload {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("BombPayload::drop");
        }
    }
}

/// An error whose `Drop` panics.
#[derive(Debug)]
struct BombError;

impl std::fmt::Display for BombError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bomb error")
    }
}

impl std::error::Error for BombError {}

impl Drop for BombError {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("BombError::drop");
        }
    }
}

#[test]
fn panic_payloads_and_errors_whose_drop_panics_do_not_kill_the_worker() {
    let mq = Mq::new();
    let p = mq
        .register("payloads", 1, |m: &Msg<u32>| match m.data {
            0 => std::panic::panic_any(BombPayload),
            1 => Err(BoxError::from(BombError)),
            _ => Ok(()),
        })
        .unwrap();
    for i in 0..4 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    let s = mq.stats("payloads").unwrap();
    // Before: the worker died with the first message; the other three were dropped unreported.
    assert_eq!(
        (s.panicked, s.failed, s.dead_lettered, s.handled_ok),
        (1, 1, 2, 2)
    );
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
}

/// A gate: `wait` blocks until `open` (once).
#[derive(Clone)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn new() -> Self {
        Self(Arc::new((Mutex::new(false), std::sync::Condvar::new())))
    }
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

#[test]
fn a_second_concurrent_stop_hands_nothing_to_the_leftovers() {
    let mq = Arc::new(Mq::new());
    let gate = Gate::new();
    let (entered_tx, entered) = mpsc::channel();
    let g = gate.clone();
    let entered_tx = Mutex::new(entered_tx);
    let p = mq
        .register("twice", 1, move |m: &Msg<u32>| {
            if m.data == 0 {
                entered_tx.lock().unwrap().send(()).unwrap();
                g.wait();
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    for i in 0..3 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    entered.recv().unwrap();
    let first = {
        let mq = mq.clone();
        thread::spawn(move || mq.stop_timeout(Duration::from_secs(60)))
    };
    // The first stop has closed the queue once publishing fails.
    wait_for(|| p.try_publish(99).is_err_and(|e| e.is_closed()));
    let accepted = mq.stats("twice").unwrap().published;
    let second = {
        let mq = mq.clone();
        thread::Builder::new()
            .name("second-stop".into())
            .spawn(move || mq.stop_timeout(Duration::from_secs(60)))
            .unwrap()
    };
    // Before: the second stop took the `Mq` for never started and moved the queue's messages
    // into the leftovers while the first stop's worker was still handling them, then waited.
    // Now it waits at once. Either way it ends up blocked: look at the leftovers then.
    wait_until_blocked("second-stop");
    assert_eq!(
        mq.stats("twice").unwrap().left,
        0,
        "the second stop drained the queue"
    );
    gate.open();
    let (a, b) = (first.join().unwrap(), second.join().unwrap());
    for r in [&a, &b] {
        assert!(!r.timed_out && r.is_accounted(), "{r:?}");
        assert_eq!((r.handled(), r.left()), (accepted, 0), "{r:?}");
    }
    assert!(p.drain_left().is_empty());
}

#[test]
fn stop_from_inside_a_handler_does_not_wait_for_itself() {
    let mq = Arc::new(Mq::new());
    let me: Arc<OnceLock<Weak<Mq>>> = Arc::new(OnceLock::new());
    me.set(Arc::downgrade(&mq)).unwrap();
    let (report_tx, reports) = mpsc::channel();
    let report_tx = Mutex::new(report_tx);
    let m2 = me.clone();
    let p = mq
        .register("self-stop", 2, move |m: &Msg<u32>| {
            if m.data == 0 {
                let mq = m2.get().unwrap().upgrade().unwrap();
                report_tx
                    .lock()
                    .unwrap()
                    .send(mq.stop_timeout(Duration::from_secs(60)))
                    .unwrap();
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish(0).unwrap();
    mq.start().unwrap();
    // Before: the stop waited for the live count, which included its own worker: for ever.
    let report = reports
        .recv_timeout(Duration::from_secs(60))
        .expect("stop inside a handler hung");
    assert!(!report.timed_out, "{report:?}");
    let q = &report.queues[0];
    assert_eq!(
        (q.handled_ok, q.in_flight, q.left, q.lost),
        (0, 1, 0, 0),
        "{q:?}"
    );
    assert!(report.is_accounted(), "{report:?}");
    let last = within("the outer stop", move || {
        mq.stop_timeout(Duration::from_secs(60))
    });
    assert_eq!((last.handled(), last.left()), (1, 0), "{last:?}");
}

#[test]
fn dropping_the_last_mq_inside_a_handler_does_not_wait_for_itself() {
    let slot: Arc<Mutex<Option<Arc<Mq>>>> = Arc::new(Mutex::new(None));
    let (done_tx, done) = mpsc::channel();
    let done_tx = Mutex::new(done_tx);
    let handled = Arc::new(AtomicU64::new(0));
    let (s2, h2) = (slot.clone(), handled.clone());
    let mq = Arc::new(Mq::new());
    let p = mq
        .register("self-drop", 1, move |m: &Msg<u32>| {
            h2.fetch_add(1, SeqCst);
            if m.data == 0 {
                let last = s2.lock().unwrap().take().unwrap();
                drop(last); // runs `Drop for Mq` on this worker
                done_tx.lock().unwrap().send(()).unwrap();
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    *slot.lock().unwrap() = Some(mq.clone());
    mq.start().unwrap();
    drop(mq);
    p.publish(0).unwrap();
    // Before: `Drop` ran `stop`, which waited for this very worker.
    done.recv_timeout(Duration::from_secs(60))
        .expect("dropping the Mq inside a handler hung");
    wait_for(|| p.stats().workers == 0);
    assert_eq!(handled.load(SeqCst), 1);
    let s = p.stats();
    assert_eq!((s.handled_ok, s.depth, s.in_flight), (1, 0, 0));
}

#[test]
fn stop_with_a_waiting_retry_and_a_handler_blocked_on_its_own_full_queue() {
    let mq = Arc::new(Mq::new());
    let publisher: Arc<OnceLock<segmq::Publisher<u32>>> = Arc::new(OnceLock::new());
    let (entered_tx, entered) = mpsc::channel();
    let entered_tx = Mutex::new(entered_tx);
    let gate = Gate::new();
    let refused = Arc::new(AtomicU64::new(0));
    let (pb, g, r) = (publisher.clone(), gate.clone(), refused.clone());
    let options = QueueOptions::new(1)
        .capacity(1)
        // Long enough that the retry is still in the timer when stop begins (the stop waits
        // for it after the fix, so the test takes about this long).
        .retry(RetryPolicy::fixed(2, Duration::from_millis(300)));
    let p = mq
        .register_with("own-full", options, move |m: &Msg<u32>| match m.data {
            0 if m.attempt() == 1 => Err::<(), BoxError>("retry me".into()),
            1 => {
                entered_tx.lock().unwrap().send(()).unwrap();
                g.wait();
                // The queue is full (message 2) and this is its only worker: blocks until the
                // queue is closed.
                if let Err(e) = pb.get().unwrap().publish(100) {
                    assert!(e.is_closed());
                    r.fetch_add(1, SeqCst);
                }
                Ok(())
            }
            _ => Ok(()),
        })
        .unwrap();
    publisher.set(p.clone()).unwrap();
    mq.start().unwrap();
    p.publish(0).unwrap();
    wait_for(|| p.stats().retried == 1); // message 0 waits in the timer
    p.publish(1).unwrap();
    entered.recv().unwrap();
    p.publish(2).unwrap(); // the queue is full now
    gate.open();
    // Before: stop waited for room for the retry before closing the queue, while the handler
    // waited for room (or the close) to publish: a deadlock.
    let report = within("stop", move || mq.stop_timeout(Duration::from_secs(60)));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    let s = p.stats();
    assert_eq!(
        refused.load(SeqCst),
        1,
        "the blocked publish got Closed back"
    );
    assert_eq!(
        (s.handled_ok, s.dead_lettered, s.left, s.depth),
        (3, 0, 0, 0),
        "{s:?}"
    );
}

#[test]
fn drop_after_a_timed_out_stop_does_not_wait_for_a_stuck_handler() {
    let mq = Mq::new();
    let gate = Gate::new();
    let (entered_tx, entered) = mpsc::channel();
    let entered_tx = Mutex::new(entered_tx);
    let handled = Arc::new(AtomicU64::new(0));
    let (g, h) = (gate.clone(), handled.clone());
    let p = mq
        .register("stuck", 1, move |_: &Msg<u32>| {
            entered_tx.lock().unwrap().send(()).unwrap();
            g.wait();
            h.fetch_add(1, SeqCst);
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish(0).unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    entered.recv().unwrap();
    let report = mq.stop_timeout(Duration::from_millis(1));
    assert!(report.timed_out, "{report:?}");
    assert_eq!(report.queues[0].in_flight, 1);
    // Before: `Drop` ran `stop`, which joined the stuck worker without a limit.
    within("drop", move || drop(mq));
    gate.open();
    wait_for(|| p.stats().workers == 0);
    // The stuck message ends as handled when its handler returns; the queued one was left.
    assert_eq!(handled.load(SeqCst), 1);
    let left = p.drain_left();
    assert_eq!(left.iter().map(|m| m.data).collect::<Vec<_>>(), [1]);
    assert_eq!(p.stats().handled_ok, 1);
}

#[test]
fn bad_queue_names_are_refused_at_register() {
    let mq = Mq::new();
    for name in ["a\0b", ""] {
        let err = mq
            .register(name, 1, |_: &Msg<u8>| Ok::<_, BoxError>(()))
            .unwrap_err();
        assert!(
            matches!(&err, MqError::InvalidName { name: n, .. } if n == name),
            "{err:?}"
        );
        assert!(err.to_string().contains("refused"), "{err}");
    }
    // Before: the NUL name was accepted, then `start` panicked spawning its thread and left
    // the later queues without workers.
    let later = mq
        .register("later", 1, |_: &Msg<u8>| Ok::<_, BoxError>(()))
        .unwrap();
    later.publish(1).unwrap();
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert_eq!((report.handled(), report.left()), (1, 0));
    assert_eq!(mq.queue_names(), ["later"]);
}

#[cfg(feature = "tokio")]
mod async_queues {
    use super::*;

    #[test]
    fn a_runtime_without_timers_is_refused_at_registration() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let mq = Mq::new();
        let options = QueueOptions::new(1).runtime(rt.handle().clone());
        let err = mq
            .register_async("no-timers", options, |_: &Msg<u8>| {
                Box::pin(async { Ok::<_, BoxError>(()) })
            })
            .unwrap_err();
        // Before: accepted; the retry path then panicked in `sleep_until` and killed the task.
        assert!(
            matches!(&err, MqError::Unsupported { queue, .. } if queue == "no-timers"),
            "{err:?}"
        );
        assert!(err.to_string().contains("enable_time"), "{err}");
    }

    #[test]
    fn a_runtime_shut_down_under_the_tasks_loses_nothing() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let mq = Mq::new();
        let (entered_tx, entered) = mpsc::channel();
        let entered_tx = Mutex::new(entered_tx);
        let options = QueueOptions::new(1).runtime(rt.handle().clone());
        let p = mq
            .register_async("cancelled", options, move |m: &Msg<u32>| {
                if m.data == 0 {
                    entered_tx.lock().unwrap().send(()).unwrap();
                }
                Box::pin(async move {
                    if m.data == 0 {
                        std::future::pending::<()>().await; // never returns
                    }
                    Ok::<_, BoxError>(())
                })
            })
            .unwrap();
        for i in 0..3 {
            p.publish(i).unwrap();
        }
        mq.start().unwrap();
        entered.recv().unwrap();
        drop(rt); // cancels the task mid-handler
        let report = within("stop", move || mq.stop_timeout(Duration::from_secs(60)));
        assert_eq!((report.left(), report.lost()), (3, 0), "{report:?}");
        assert!(report.is_accounted(), "{report:?}");
        // Before: stop saw no live worker, reported nothing left, and the three messages were
        // dropped with the queue.
        let left: Vec<u32> = {
            let mut v: Vec<u32> = p.drain_left().into_iter().map(|m| m.data).collect();
            v.sort();
            v
        };
        assert_eq!(left, [0, 1, 2]);
        let s = p.stats();
        assert_eq!(
            (s.left, s.depth, s.in_flight, s.workers),
            (3, 0, 0, 0),
            "{s:?}"
        );
    }

    /// As `stop_from_inside_a_handler_does_not_wait_for_itself`, from an async handler: the
    /// stop blocks a runtime thread, and must neither wait for its own task nor lose the
    /// messages queued behind it.
    #[test]
    fn stop_from_inside_an_async_handler_does_not_wait_for_itself() {
        let mq = Arc::new(Mq::new());
        let me: Arc<OnceLock<Weak<Mq>>> = Arc::new(OnceLock::new());
        me.set(Arc::downgrade(&mq)).unwrap();
        let (report_tx, reports) = mpsc::channel();
        let report_tx = Mutex::new(report_tx);
        let (both_tx, both_ran) = mpsc::channel();
        let both_tx = Mutex::new(both_tx);
        // Messages 1 and 2 meet here: each task has run once, and then waits for a message.
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let handled = Arc::new(AtomicU64::new(0));
        let (m2, h2) = (me.clone(), handled.clone());
        let p = mq
            .register_async("self-stop", QueueOptions::new(2), move |m: &Msg<u32>| {
                if m.data == 0 {
                    let mq = m2.get().unwrap().upgrade().unwrap();
                    report_tx
                        .lock()
                        .unwrap()
                        // Shorter than the watchdog below, so a stuck stop is reported.
                        .send(mq.stop_timeout(Duration::from_secs(30)))
                        .unwrap();
                }
                let (barrier, h2) = (barrier.clone(), h2.clone());
                let both_tx = both_tx.lock().unwrap().clone();
                Box::pin(async move {
                    if m.data > 0 && barrier.wait().await.is_leader() {
                        both_tx.send(()).unwrap();
                    }
                    h2.fetch_add(1, SeqCst);
                    Ok::<_, BoxError>(())
                })
            })
            .unwrap();
        mq.start().unwrap();
        p.publish(1).unwrap();
        p.publish(2).unwrap();
        both_ran.recv().unwrap();
        wait_for(|| p.stats().handled_ok == 2);
        p.publish(0).unwrap();
        let report = reports
            .recv_timeout(Duration::from_secs(60))
            .expect("stop inside an async handler hung");
        // Before: the close woke the idle task into this runtime thread's LIFO slot, which no
        // other thread may take, and the stop blocked that thread waiting for it: until the
        // deadline (for ever with `stop()`).
        assert!(!report.timed_out, "{report:?}");
        assert!(report.is_accounted(), "{report:?}");
        let q = &report.queues[0];
        assert_eq!(
            (q.handled_ok, q.in_flight, q.left, q.lost),
            (2, 1, 0, 0),
            "{q:?}"
        );
        let last = within("the outer stop", move || {
            mq.stop_timeout(Duration::from_secs(60))
        });
        assert!(!last.timed_out && last.is_accounted(), "{last:?}");
        assert_eq!((last.handled(), last.left()), (3, 0), "{last:?}");
        assert_eq!(handled.load(SeqCst), 3);
        assert!(p.drain_left().is_empty());
    }

    /// `stop()` inside an async handler on a current-thread runtime: the other tasks need the
    /// very thread the stop would block, so it must not wait for them; they finish the queue
    /// after the handler returns.
    #[test]
    fn stop_inside_an_async_handler_on_a_current_thread_runtime_does_not_hang() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let (quit, quit_rx) = tokio::sync::oneshot::channel::<()>();
        let driver = thread::spawn(move || {
            rt.block_on(async {
                let _ = quit_rx.await;
            })
        });
        let mq = Arc::new(Mq::new());
        let me: Arc<OnceLock<Weak<Mq>>> = Arc::new(OnceLock::new());
        me.set(Arc::downgrade(&mq)).unwrap();
        let (done_tx, done) = mpsc::channel();
        let done_tx = Mutex::new(done_tx);
        let m2 = me.clone();
        let options = QueueOptions::new(2).runtime(handle);
        let p = mq
            .register_async("current-thread", options, move |m: &Msg<u32>| {
                if m.data == 0 {
                    m2.get().unwrap().upgrade().unwrap().stop();
                    done_tx.lock().unwrap().send(()).unwrap();
                }
                Box::pin(async { Ok::<_, BoxError>(()) })
            })
            .unwrap();
        for i in 0..5 {
            p.publish(i).unwrap();
        }
        mq.start().unwrap();
        // Before: the stop waited for the other task, which needed this thread: for ever.
        done.recv_timeout(Duration::from_secs(60))
            .expect("stop inside a current-thread runtime's handler hung");
        let last = within("the outer stop", move || {
            mq.stop_timeout(Duration::from_secs(60))
        });
        assert!(!last.timed_out && last.is_accounted(), "{last:?}");
        assert_eq!((last.handled(), last.left()), (5, 0), "{last:?}");
        quit.send(()).unwrap();
        driver.join().unwrap();
    }

    /// As `dropping_the_last_mq_inside_a_handler_does_not_wait_for_itself`, from an async
    /// handler, with messages queued behind it: `Drop` also shuts the `Mq`'s own runtime down
    /// from inside one of its tasks.
    #[test]
    fn dropping_the_last_mq_inside_an_async_handler_does_not_wait_for_itself() {
        for concurrency in [1, 2] {
            drop_the_last_mq_inside_an_async_handler(concurrency);
        }
    }

    fn drop_the_last_mq_inside_an_async_handler(concurrency: usize) {
        let slot: Arc<Mutex<Option<Arc<Mq>>>> = Arc::new(Mutex::new(None));
        let (done_tx, done) = mpsc::channel();
        let done_tx = Mutex::new(done_tx);
        let handled = Arc::new(AtomicU64::new(0));
        let (s2, h2) = (slot.clone(), handled.clone());
        let mq = Arc::new(Mq::new());
        let p = mq
            .register_async(
                "self-drop",
                QueueOptions::new(concurrency),
                move |m: &Msg<u32>| {
                    if m.data == 0 {
                        let last = s2.lock().unwrap().take().unwrap();
                        drop(last); // runs `Drop for Mq` on this task
                        done_tx.lock().unwrap().send(()).unwrap();
                    }
                    let h2 = h2.clone();
                    Box::pin(async move {
                        // The runtime may cancel the task here (the drop shut it down): then the
                        // message is handed back as a leftover.
                        tokio::task::yield_now().await;
                        h2.fetch_add(1, SeqCst);
                        Ok::<_, BoxError>(())
                    })
                },
            )
            .unwrap();
        for i in 0..20 {
            p.publish(i).unwrap();
        }
        *slot.lock().unwrap() = Some(mq.clone());
        mq.start().unwrap();
        drop(mq);
        done.recv_timeout(Duration::from_secs(60))
            .expect("dropping the Mq inside an async handler hung");
        wait_for(|| p.stats().workers == 0);
        // Every message handled, or handed back: none left in a queue nobody serves.
        let left = p.drain_left().len() as u64;
        let s = p.stats();
        assert_eq!(s.handled_ok + left, 20, "concurrency {concurrency}: {s:?}");
        assert_eq!(handled.load(SeqCst), s.handled_ok);
        assert_eq!((s.depth, s.in_flight), (0, 0), "{s:?}");
    }
}
