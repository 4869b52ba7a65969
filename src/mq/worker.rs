//! The worker threads of a blocking queue: spawning them, and the worker loop.
//!
//! # Design
//!
//! Each queue has `concurrency` worker threads, named `mq:<queue>:<n>`, each blocked in `recv`
//! on the queue (parked on the queue's event, no polling while idle). Per message the loop is
//! [`QueueCore::begin`], the handler call, [`decide`] and [`QueueCore::settle`], the same steps
//! as the async tasks of `async_pool.rs`, which differ only in how they wait.
//!
//! A worker never dies of user code: the handler, the error's conversion, `Display` and `Drop`,
//! the message's `Drop` and the dead-letter handler all run under `catch_unwind`
//! (`user_code.rs`). As a last line, each message's whole turn runs under `catch_unwind` too:
//! a panic that still escapes (a bug in segmq) is logged and counted as `lost` in the stop
//! report, and the worker goes on.
//!
//! When the queue is closed and empty, a worker takes the retries parked at stop (`retry.rs`)
//! before it exits.
//!
//! Spawning goes through a spawner function (the OS's by default), so a spawn that fails
//! (`concurrency` too large for the machine) is an error of `start`/`register` that names the
//! queue, and the tests can make it fail.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::clock;
use super::context::CancelToken;
use super::core::{lock, LiveGuard, Next, QueueCore};
use super::decision::decide;
use super::handler::ThreadHandler;
use super::msg::Envelope;
use super::observe;
use super::publish_with::max_attempts_of;
use super::retry::XorShift;
use super::stats::WorkerStats;
use super::timeout::attempt_blocking;
use super::MqError;
use crate::sync::thread;

/// A worker's body, ready to run on a new thread.
pub(crate) type WorkerBody = Box<dyn FnOnce() + Send>;

/// Spawns a thread named `name` running `body`.
pub(crate) fn os_spawn(name: String, body: WorkerBody) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name(name).spawn(body)
}

/// Starts the worker threads of a queue through `spawn`. A worker that cannot be spawned
/// leaves the live count at once (its guard is dropped with its body); the ones spawned
/// before it keep running.
pub(crate) fn spawn_threads<T, H>(
    core: &Arc<QueueCore<T>>,
    handler: &Arc<H>,
    spawn: &mut dyn FnMut(String, WorkerBody) -> io::Result<thread::JoinHandle<()>>,
) -> Result<(), MqError>
where
    T: Send + 'static,
    H: ThreadHandler<T>,
{
    // Held while spawning: a stop inside a handler of this queue recognises its own thread
    // by this list, which must hold the handle before the worker takes a message.
    let mut threads = lock(&core.threads);
    for worker in 0..core.concurrency {
        let (w, live) = core.enter();
        let body: WorkerBody = {
            let core = core.clone();
            let handler = handler.clone();
            Box::new(move || {
                let _live: LiveGuard<T> = live;
                run_worker(&core, worker, &w, &*handler);
            })
        };
        match spawn(format!("mq:{}:{worker}", core.name), body) {
            Ok(t) => threads.push(t),
            Err(e) => {
                tracing::error!(queue = %core.name, worker, "mq: cannot spawn a worker thread: {e}");
                return Err(MqError::Spawn {
                    queue: core.name.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// One worker thread: receive, handle, retry or dead-letter, until the queue is closed and
/// empty and no parked retry is left.
fn run_worker<T, H>(core: &Arc<QueueCore<T>>, worker: usize, w: &WorkerStats, handler: &H)
where
    T: Send + 'static,
    H: ThreadHandler<T>,
{
    // Wait for the spawner to record this thread's handle (see `spawn_threads`).
    drop(lock(&core.threads));
    let mut rng = XorShift::new(worker as u64);
    // The worker's token, renewed per attempt for a context handler (`context.rs`).
    let mut token = CancelToken::attached(core.tokens.clone(), None);
    tracing::debug!(queue = %core.name, worker, "mq: worker started");
    loop {
        let (seq, env) = match core.queue.chan.recv_blocking(None) {
            Ok(popped) => popped,
            Err(_) => match core.take_parked() {
                Some(env) => (0, env),
                None => break,
            },
        };
        let turn = catch_unwind(AssertUnwindSafe(|| {
            handle_one(core, worker, w, handler, &mut rng, &mut token, seq, env)
        }));
        if turn.is_err() {
            core.lose(w, worker);
        }
    }
    tracing::debug!(queue = %core.name, worker, "mq: worker stopped");
}

/// One message's turn: begin, attempts (retried in place while stopping), settle.
#[allow(clippy::too_many_arguments)]
fn handle_one<T, H>(
    core: &Arc<QueueCore<T>>,
    worker: usize,
    w: &WorkerStats,
    handler: &H,
    rng: &mut XorShift,
    token: &mut CancelToken,
    seq: u64,
    env: Envelope<T>,
) where
    T: Send + 'static,
    H: ThreadHandler<T>,
{
    let Some((mut msg, not_before)) = core.begin(w, seq, env) else {
        return;
    };
    if let Some(t) = not_before {
        clock::sleep_until(core.cap_at_deadline(t));
        if core.past_deadline() {
            core.abandon(w, msg);
            return;
        }
    }
    loop {
        let outcome = observe::attempt(core, w, &msg, || {
            attempt_blocking(core, handler, &msg, token)
        });
        let max_attempts = || max_attempts_of(core, &msg);
        let decision = decide(outcome, msg.attempt, max_attempts, core.policy(), rng);
        match core.settle(w, worker, msg, decision) {
            Next::Done => return,
            Next::RetryHere(m, due) => {
                clock::sleep_until(core.cap_at_deadline(due));
                if core.past_deadline() {
                    core.abandon(w, m);
                    return;
                }
                msg = m;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::mq::handler::Plain;
    use crate::mq::retry::{RetryPolicy, RetryTimer};
    use crate::mq::user_code::BoxError;
    use crate::mq::Msg;

    /// A spawn that fails for the second worker: an error naming the queue, the first worker
    /// runs and is counted, the second is not (before, `expect` panicked with half the workers
    /// started).
    #[test]
    fn a_failed_spawn_is_an_error_naming_the_queue() {
        let core = Arc::new(
            QueueCore::<u8>::new(
                "spawny",
                3,
                None,
                RetryPolicy::none(),
                None,
                Arc::new(RetryTimer::default()),
            )
            .unwrap(),
        );
        let handler = Arc::new(Plain::new(|_: &Msg<u8>| Ok::<_, BoxError>(())));
        let mut calls = 0;
        let mut spawn = |name: String, body: WorkerBody| {
            calls += 1;
            if calls == 2 {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "no more threads"));
            }
            os_spawn(name, body)
        };
        let err = spawn_threads(&core, &handler, &mut spawn).unwrap_err();
        assert_eq!(
            err,
            MqError::Spawn {
                queue: "spawny".into(),
                reason: "no more threads".into()
            }
        );
        assert!(err.to_string().contains("spawny"), "{err}");
        assert_eq!(core.live.get(), 1, "the failed worker left the live count");
        core.queue.chan.try_send(Envelope::fresh(7)).unwrap();
        core.queue.close();
        assert!(core.wait_workers(None));
        core.join_exited();
        assert_eq!(core.snapshot().handled_ok, 1);
    }
}
