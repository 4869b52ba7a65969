//! Stopping an `Mq` from async code (issue 17, "Async integration"): `stop_async`,
//! `stop_timeout_async`, the blocking `stop` on a current-thread runtime (refused with a panic
//! naming `stop_async`, never a deadlock), `Drop` there, and the choice of the ambient runtime.
//! Every test counts each message once; a hang is caught by a watchdog (`within`), never by a
//! sleep.
#![cfg(feature = "tokio")]

#[path = "support/within.rs"]
mod support_within;
use support_within::within;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use segmq::{AsyncRuntime, Mq, Msg, QueueOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// An async queue counting what it handles, after one yield (so each message takes a turn
/// of the runtime).
fn counting(mq: &Mq, name: &str, concurrency: usize) -> (segmq::Publisher<u32>, Arc<AtomicU64>) {
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let p = mq
        .register_async(name, QueueOptions::new(concurrency), move |_: &Msg<u32>| {
            let h = h.clone();
            Box::pin(async move {
                tokio::task::yield_now().await;
                h.fetch_add(1, SeqCst);
                Ok::<_, BoxError>(())
            })
        })
        .unwrap();
    (p, handled)
}

/// `stop_async` on a current-thread runtime whose tasks serve the queue: every message is
/// handled once, the report adds up, and the queue used the ambient runtime.
#[test]
fn stop_async_on_a_current_thread_runtime_drains_every_message() {
    within("stop_async", || {
        current_thread().block_on(async {
            let mq = Mq::new();
            let (p, handled) = counting(&mq, "ambient", 4);
            assert_eq!(p.async_runtime(), Some(AsyncRuntime::Ambient));
            mq.start().unwrap();
            for i in 0..1000 {
                p.publish(i).unwrap();
            }
            mq.stop_async().await;
            let s = p.stats();
            assert_eq!(
                (s.published, s.handled_ok, s.left, s.depth, s.workers),
                (1000, 1000, 0, 0, 0),
                "{s:?}"
            );
            assert_eq!(handled.load(SeqCst), 1000);
            assert!(p.publish(0).unwrap_err().is_closed());
        })
    });
}

/// The blocking `stop` on the current-thread runtime that runs the queue's tasks: before, it
/// waited for tasks that needed the very thread it blocked, for ever. Now it panics, naming
/// `stop_async`, before it stops anything; `stop_async` then drains everything.
#[test]
fn blocking_stop_on_the_runtime_of_its_async_queue_panics_naming_stop_async() {
    within("the refused stop", || {
        current_thread().block_on(async {
            let mq = Mq::new();
            let (p, handled) = counting(&mq, "refused", 2);
            mq.start().unwrap();
            for i in 0..100 {
                p.publish(i).unwrap();
            }
            for stop in [&(|mq: &Mq| mq.stop()) as &dyn Fn(&Mq), &|mq: &Mq| {
                drop(mq.stop_timeout(Duration::from_secs(1)))
            }] {
                let err = catch_unwind(AssertUnwindSafe(|| stop(&mq))).unwrap_err();
                let text = err
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .unwrap_or("");
                assert!(
                    text.contains("stop_async") && text.contains("`refused`"),
                    "{text}"
                );
            }
            // Nothing was stopped: still running, still accepting.
            p.publish(100).unwrap();
            mq.stop_async().await;
            assert_eq!((p.stats().handled_ok, handled.load(SeqCst)), (101, 101));
        })
    });
}

/// Inside a current-thread runtime, a blocking `stop` of an `Mq` whose queues are threads (or
/// run elsewhere) is fine: it is not refused.
#[test]
fn blocking_stop_inside_a_current_thread_runtime_without_its_tasks_works() {
    let other = tokio::runtime::Runtime::new().unwrap();
    let handle = other.handle().clone();
    within("the blocking stop", move || {
        current_thread().block_on(async move {
            let mq = Mq::new();
            let threads = mq
                .register("threads", 2, |_: &Msg<u32>| Ok::<_, BoxError>(()))
                .unwrap();
            let elsewhere = mq
                .register_async(
                    "elsewhere",
                    QueueOptions::new(2).runtime(handle),
                    |_: &Msg<u32>| Box::pin(async { Ok::<_, BoxError>(()) }),
                )
                .unwrap();
            assert_eq!(elsewhere.async_runtime(), Some(AsyncRuntime::Given));
            mq.start().unwrap();
            for i in 0..100 {
                threads.publish(i).unwrap();
                elsewhere.publish(i).unwrap();
            }
            let report = mq.stop_timeout(Duration::from_secs(60));
            assert!(!report.timed_out && report.is_accounted(), "{report:?}");
            assert_eq!(report.handled(), 200);
        })
    });
    drop(other);
}

/// `stop_timeout_async`: past the deadline the queued messages are handed back, the handler
/// still running finishes, and handled + leftovers is every message, once.
#[test]
fn stop_timeout_async_hands_back_what_it_could_not_run() {
    within("stop_timeout_async", || {
        current_thread().block_on(async {
            let mq = Mq::new();
            let p = mq
                .register_async("slow", QueueOptions::new(1), |_: &Msg<u32>| {
                    Box::pin(async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, BoxError>(())
                    })
                })
                .unwrap();
            for i in 0..50 {
                p.publish(i).unwrap();
            }
            mq.start().unwrap();
            let report = mq.stop_timeout_async(Duration::from_millis(30)).await;
            assert!(report.timed_out, "{report:?}");
            mq.stop_async().await;
            let s = p.stats();
            let mut left: Vec<u32> = p.drain_left().into_iter().map(|m| m.data).collect();
            assert_eq!(s.handled_ok + left.len() as u64, 50, "{s:?}");
            assert!(s.handled_ok >= 1 && !left.is_empty(), "{s:?}");
            left.sort();
            left.dedup();
            assert_eq!(s.handled_ok + left.len() as u64, 50, "a leftover twice");
            assert_eq!((s.depth, s.in_flight, s.workers), (0, 0, 0), "{s:?}");
        })
    });
}

/// `stop_async` awaited inside one of the queue's own handlers (current-thread runtime): it
/// must not wait for its own task, and the messages queued behind it are still handled.
#[test]
fn stop_async_inside_an_async_handler_does_not_wait_for_itself() {
    within("stop_async inside a handler", || {
        current_thread().block_on(async {
            let mq = Arc::new(Mq::new());
            let me: Arc<OnceLock<Weak<Mq>>> = Arc::new(OnceLock::new());
            me.set(Arc::downgrade(&mq)).unwrap();
            let handled = Arc::new(AtomicU64::new(0));
            let (m2, h2) = (me.clone(), handled.clone());
            let p = mq
                .register_async("self-stop", QueueOptions::new(2), move |m: &Msg<u32>| {
                    let (me, h2) = (m2.clone(), h2.clone());
                    let data = m.data;
                    Box::pin(async move {
                        if data == 0 {
                            let mq = me.get().unwrap().upgrade().unwrap();
                            mq.stop_async().await;
                        }
                        h2.fetch_add(1, SeqCst);
                        Ok::<_, BoxError>(())
                    })
                })
                .unwrap();
            for i in 0..20 {
                p.publish(i).unwrap();
            }
            mq.start().unwrap();
            // The outer stop waits for the handler whose stop finished.
            mq.stop_async().await;
            let s = p.stats();
            assert_eq!((s.handled_ok, s.left, s.workers), (20, 0, 0), "{s:?}");
            assert_eq!(handled.load(SeqCst), 20);
        })
    });
}

/// A blocking `stop` from a task (not a handler) of a multi-thread runtime that runs the
/// queue: it waits in `block_in_place`, so a task its close woke into this thread's LIFO slot
/// runs elsewhere.
#[test]
fn blocking_stop_from_a_task_of_a_multi_thread_runtime_finishes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let report = within("the stop in a task", move || {
        rt.block_on(async {
            let mq = Arc::new(Mq::new());
            let (p, handled) = counting(&mq, "in-task", 4);
            assert_eq!(p.async_runtime(), Some(AsyncRuntime::Ambient));
            mq.start().unwrap();
            for i in 0..500 {
                p.publish(i).unwrap();
            }
            let m = mq.clone();
            let report = tokio::spawn(async move { m.stop_timeout(Duration::from_secs(60)) })
                .await
                .unwrap();
            assert_eq!(handled.load(SeqCst), report.handled());
            report
        })
    });
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    assert_eq!((report.handled(), report.left()), (500, 0));
}

/// `Drop` cannot panic: dropped inside the current-thread runtime that runs its queue, the
/// `Mq` closes and returns without waiting; the tasks then finish the closed queue.
#[test]
fn dropping_on_the_runtime_of_its_async_queue_does_not_hang() {
    within("the drop", || {
        current_thread().block_on(async {
            let mq = Mq::new();
            let (p, handled) = counting(&mq, "dropped", 2);
            mq.start().unwrap();
            for i in 0..100 {
                p.publish(i).unwrap();
            }
            drop(mq);
            assert!(p.publish(0).unwrap_err().is_closed());
            let deadline = Instant::now() + Duration::from_secs(30);
            while p.stats().workers > 0 {
                assert!(Instant::now() < deadline, "the tasks did not finish");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let s = p.stats();
            assert_eq!((s.handled_ok, s.left, s.depth), (100, 0, 0), "{s:?}");
            assert_eq!(handled.load(SeqCst), 100);
        })
    });
}

/// An ambient runtime without timers cannot serve a queue (its retries sleep): the queue
/// takes the `Mq`'s own runtime instead, and says so.
#[test]
fn an_ambient_runtime_without_timers_is_passed_over() {
    let bare = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mq = Mq::new();
    let (p, handled) = bare.block_on(async { counting(&mq, "no-timers", 1) });
    assert_eq!(p.async_runtime(), Some(AsyncRuntime::Internal));
    mq.start().unwrap();
    p.publish(1).unwrap();
    mq.stop();
    assert_eq!(handled.load(SeqCst), 1);
}

/// `stop_async` needs no tokio: thread queues stopped under another executor.
#[test]
fn stop_async_runs_on_any_executor() {
    let mq = Mq::new();
    let p = mq
        .register("threads", 3, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    mq.start().unwrap();
    for i in 0..300 {
        p.publish(i).unwrap();
    }
    within("stop_async under futures-executor", move || {
        futures_executor::block_on(mq.stop_async());
        let s = p.stats();
        assert_eq!((s.handled_ok, s.workers), (300, 0), "{s:?}");
    });
}

/// After `stop_async` has finished, a blocking `stop` and the drop on the same current-thread
/// runtime wait for nothing: neither is refused.
#[test]
fn blocking_stop_after_stop_async_on_the_same_runtime_is_a_no_op() {
    within("stop after stop_async", || {
        current_thread().block_on(async {
            let mq = Mq::new();
            let (p, handled) = counting(&mq, "twice", 2);
            assert!(format!("{p:?}").contains("Ambient"), "{p:?}");
            mq.start().unwrap();
            for i in 0..10 {
                p.publish(i).unwrap();
            }
            mq.stop_async().await;
            mq.stop();
            let report = mq.stop_timeout(Duration::from_secs(1));
            assert!(!report.timed_out && report.is_accounted(), "{report:?}");
            drop(mq);
            assert_eq!((p.stats().handled_ok, handled.load(SeqCst)), (10, 10));
        })
    });
}
