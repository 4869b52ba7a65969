//! Models of the MQ layer's lifecycle (`src/mq/stop.rs`, `live.rs`, `retry.rs`): the stop state
//! machine, the live-worker count and the retry timer hand-off, with real worker and timer
//! threads (loom threads through `crate::sync`).
//!
//! Under loom there is no clock (`src/mq/clock.rs`): every deadline has passed at its first
//! look and sleeps return at once. So these models cover a `stop_timeout` whose deadline has
//! passed when it begins, and deadline-free stops; they do not cover a deadline that passes in
//! the middle of a wait, retries with a non-zero backoff (the timer's own `wait_timeout` is
//! never reached), the async (tokio) workers, or the statistics counters (std atomics, read
//! as observations). One message, one worker per queue, to stay within the time budget.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use segmq::{Mq, Msg, QueueOptions, RetryPolicy};

use crate::model;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn ok_handler(_: &Msg<u32>) -> Result<(), BoxError> {
    Ok(())
}

/// Two `stop()` calls at once while the worker may still be handling the message: exactly one
/// closes the queues; the other waits for that, so neither takes the `Mq` for never started
/// and hands the queued message to the leftovers. The message is handled, never left.
///
/// Fails if: `Lifecycle::begin_stop` answers a call that finds `Closing`/`Closed` with
/// `StopRole::Closer { was_running: false }` (the second stop closes again as if never
/// started, draining the queue under the running worker).
#[test]
fn stop_racing_stop() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let p = mq.register("q", 1, ok_handler).unwrap();
        p.publish(7).unwrap();
        mq.start().unwrap();
        let other = {
            let mq = mq.clone();
            thread::spawn(move || mq.stop())
        };
        mq.stop();
        other.join().unwrap();
        let s = p.stats();
        assert_eq!((s.handled_ok, s.left, s.workers), (1, 0, 0), "{s:?}");
    });
}

/// `stop_timeout` (deadline passed at once, under loom) racing a handler that finishes: the
/// report either shows every message handled and `timed_out == false`, or says it timed out;
/// the message ends handled or left exactly once, and a later `stop` finds nothing in flight.
///
/// Fails if: `stop_inner` computes `timed_out` as `!all_exited` only (dropping
/// `|| made_left`): a worker that put the message aside past the deadline and exited before
/// the wait would then yield `timed_out == false` with a leftover.
#[test]
fn stop_timeout_racing_a_handler_that_finishes() {
    model(|| {
        let mq = Mq::new();
        let p = mq.register("q", 1, ok_handler).unwrap();
        p.publish(7).unwrap();
        mq.start().unwrap();
        let report = mq.stop_timeout(Duration::from_secs(3600));
        assert!(report.timed_out || report.left() == 0, "{report:?}");
        assert!(report.timed_out || report.handled() == 1, "{report:?}");
        mq.stop();
        let s = p.stats();
        let left = p.drain_left().len() as u64;
        assert_eq!(
            (s.handled_ok + left, s.in_flight, s.workers),
            (1, 0, 0),
            "{s:?}"
        );
    });
}

/// `register` racing `start`: the new queue's worker is started exactly once (by `start` if
/// the queue was in its list, else by `register`), and it handles the message.
///
/// Fails if: `Mq::start` releases the registry lock between setting `Running` and iterating
/// the queues (`reg.life.start()?;` becomes `reg.life.start()?; drop(reg); let reg =
/// lock(&self.registry);`): a queue registered in between is started twice.
#[test]
fn register_racing_start() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let registrar = {
            let mq = mq.clone();
            thread::spawn(move || {
                let p = mq.register("q", 1, ok_handler).unwrap();
                p.publish(7).unwrap();
                p
            })
        };
        mq.start().unwrap();
        let p = registrar.join().unwrap();
        // Both calls returned: the workers started by now are all there will be.
        assert_eq!(p.stats().workers, 1);
        mq.stop();
        let s = p.stats();
        assert_eq!((s.handled_ok, s.left, s.workers), (1, 0, 0), "{s:?}");
    });
}

/// Two registrations of one name at once (each checks and reserves the name under the
/// registry lock, then builds its queue without it): exactly one wins, the other gets
/// `DuplicateQueue`, and the winner's queue is the one registered.
///
/// Fails if: `register_erased` stops reserving the name (`reg.reserved.push(..)` removed):
/// both pass the check and both insert, the second replacing the first in the map.
#[test]
fn register_racing_register_of_the_same_name() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let other = {
            let mq = mq.clone();
            thread::spawn(move || mq.register("q", 1, ok_handler).map(|_| ()))
        };
        let mine = mq.register("q", 1, ok_handler).map(|_| ());
        let theirs = other.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        let lost = if mine.is_ok() { theirs } else { mine };
        assert!(
            matches!(lost, Err(segmq::MqError::DuplicateQueue(_))),
            "{lost:?}"
        );
        assert_eq!(mq.queue_names(), ["q"]);
    });
}

/// `register` racing `stop`: the registration either fails with `Stopped`, or its queue is in
/// that stop's report (the stop saw it and closed it); never a queue registered into a stopped
/// `Mq` that no stop closed. Its message is accounted either way.
///
/// Fails if: `register_erased` does not check the lifecycle again when it inserts the queue
/// (after its unlocked part): a registration that began before the stop inserts its queue
/// after the stop took its list.
#[test]
fn register_racing_stop() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let registrar = {
            let mq = mq.clone();
            thread::spawn(move || {
                let p = mq.register("q", 1, ok_handler)?;
                let published = p.publish(7).is_ok();
                Ok::<_, segmq::MqError>((p, published))
            })
        };
        let report = mq.stop_timeout(Duration::ZERO);
        let registered = registrar.join().unwrap();
        let in_report = report.queues.iter().any(|q| q.name == "q");
        match registered {
            Err(e) => {
                assert!(matches!(e, segmq::MqError::Stopped), "{e:?}");
                assert!(!in_report && mq.queue_names().is_empty());
            }
            Ok((p, published)) => {
                assert!(in_report, "registered but not stopped: {report:?}");
                let left = p.drain_left().len() as u64;
                assert_eq!(
                    left,
                    u64::from(published),
                    "never started: the message is left"
                );
            }
        }
    });
}

/// A retry due at once (zero backoff) while `stop` begins: the timer thread's requeue races
/// the stop's flush under the timer lock, and the worker's scheduling races both. The retry is
/// run exactly once (requeued by the timer, flushed by the stop, or retried in place), never
/// lost in the timer and never pushed into a closed queue.
///
/// Fails if: `RetryTimer::schedule` no longer checks `stopping()` under its lock (`if
/// stopping() || st.shutdown` becomes `if st.shutdown`): a retry scheduled after the flush
/// finds the queue closed and ends in the leftovers.
#[test]
fn retry_due_when_stop_begins() {
    model(|| {
        let attempts = Arc::new(AtomicU32::new(0));
        let a = attempts.clone();
        let mq = Mq::new();
        let options = QueueOptions::new(1).retry(RetryPolicy::fixed(2, Duration::ZERO));
        let p = mq
            .register_with("q", options, move |m: &Msg<u32>| {
                a.fetch_add(1, Ordering::Relaxed);
                if m.attempt() == 1 {
                    Err(BoxError::from("first attempt fails"))
                } else {
                    Ok(())
                }
            })
            .unwrap();
        p.publish(7).unwrap();
        mq.start().unwrap();
        mq.stop();
        let s = p.stats();
        assert_eq!(attempts.load(Ordering::Relaxed), 2);
        assert_eq!(
            (s.handled_ok, s.retried, s.left, s.depth),
            (1, 1, 0, 0),
            "{s:?}"
        );
    });
}

/// `stop()` called from inside a handler, with a second worker: the stop waits for the other
/// worker only (not for the one it runs on), then returns (its message still in flight);
/// that worker finishes it afterwards, and an outer `stop` joins everything. (A deadline-free
/// stop: under loom a deadline would pass at once and skip the wait.)
///
/// Fails if: `LiveWorkers::leave` notifies only when the count reaches 0 (`if *n <= 1`
/// becomes `if *n == 0`): the stop inside the handler waits for "at most 1" and is never woken
/// when the other worker exits.
#[test]
fn stop_inside_a_handler_waits_for_the_other_worker() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let me: Arc<std::sync::OnceLock<std::sync::Weak<Mq>>> = Arc::default();
        me.set(Arc::downgrade(&mq)).unwrap();
        let inner = Arc::new(std::sync::Mutex::new(None));
        let (m2, i2) = (me.clone(), inner.clone());
        let p = mq
            .register("q", 2, move |_: &Msg<u32>| {
                let mq = m2.get().unwrap().upgrade().unwrap();
                mq.stop();
                *i2.lock().unwrap() = Some(mq.stats("q").unwrap());
                Ok::<_, BoxError>(())
            })
            .unwrap();
        p.publish(7).unwrap();
        mq.start().unwrap();
        mq.stop();
        let seen = inner.lock().unwrap().take().expect("the handler ran");
        // When the inner stop returned, only the caller's worker was alive, holding the message.
        assert_eq!(
            (seen.handled_ok, seen.in_flight, seen.workers),
            (0, 1, 1),
            "{seen:?}"
        );
        let s = p.stats();
        assert_eq!((s.handled_ok, s.left, s.workers), (1, 0, 0), "{s:?}");
    });
}

/// `stop_async` while the worker may still be handling the message: the async wait registers
/// its listener before it reads the live count (`src/mq/live.rs`, invariant 3), so the
/// worker's exit, wherever it falls, either is seen by the read or notifies the listener. The
/// future completes, the message is handled once, and no worker is left.
///
/// Fails if: `LiveWorkers::exited_or_listen` reads the count before it calls `listen()`
/// (an exit between the two is missed: the future waits for ever, which loom reports as a
/// deadlock).
#[test]
fn stop_async_waits_for_the_worker() {
    model(|| {
        let mq = Mq::new();
        let p = mq.register("q", 1, ok_handler).unwrap();
        p.publish(7).unwrap();
        mq.start().unwrap();
        loom::future::block_on(mq.stop_async());
        let s = p.stats();
        assert_eq!((s.handled_ok, s.left, s.workers), (1, 0, 0), "{s:?}");
    });
}

/// A delayed publish (`src/mq/delay.rs`) racing `stop`: the message is either scheduled before
/// the stop flushes the timer (then flushed, and, every deadline having passed under loom,
/// pushed and handled) or refused with `Closed`; never scheduled into a timer nobody flushes
/// again. Exactly one of handled and refused, nothing left.
///
/// Fails if: `Publisher::publish_at` schedules with a `stopping` check that always says
/// `false` (`|| false` instead of `|| core.is_stopping()`): a publish after the flush is
/// accepted and waits in the shut-down timer for ever.
#[test]
fn delayed_publish_racing_stop() {
    model(|| {
        let mq = Arc::new(Mq::new());
        let p = mq.register("q", 1, ok_handler).unwrap();
        mq.start().unwrap();
        let publisher = {
            let p = p.clone();
            thread::spawn(move || p.publish_in(Duration::from_secs(3600), 7).is_ok())
        };
        mq.stop();
        let accepted = publisher.join().unwrap();
        let s = p.stats();
        let left = p.drain_left().len() as u64;
        assert_eq!(
            (s.handled_ok + left, s.delayed, s.workers),
            (u64::from(accepted), 0, 0),
            "{s:?}"
        );
        assert_eq!(left, 0, "{s:?}");
    });
}
