//! Async handlers (feature `tokio`): `concurrency` tasks per queue on a tokio runtime.
//!
//! The I/O-bound workload of the article (a slow HTTP call per message) should not need a
//! thread per pending call: [`Mq::register_async`] runs each queue's workers as tokio tasks that
//! await the queue (`recv` through segmq's cancel-safe async path) and the handler's future.
//! Retry, dead-letter, stop and stats semantics are the threads' (`pool.rs` holds the shared
//! per-message logic).
//!
//! Panics are caught by polling the handler's future inside `std::panic::catch_unwind`
//! (`poll_fn`), which needs neither `futures-util` nor a task spawn per call.
//!
//! While it polls a handler's future, a task marks its thread (a thread-local: two plain
//! stores per poll, no lock), so that a `stop` called inside the handler, or the last `Arc<Mq>`
//! dropped there, does not wait for the task it runs on.
//!
//! A task holds its message in an [`InFlight`] guard: if the task is cancelled (its runtime
//! shut down under it), the message goes to the leftovers instead of being dropped, and
//! `stop` still accounts for it.
//!
//! The retry path sleeps on the runtime's timer, so a runtime built without timers cannot serve
//! a queue: [`Mq::register_async`] refuses it with [`MqError::Unsupported`].

use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::context::CancelToken;
use super::core::{LiveGuard, Next, QueueCore};
use super::decision::decide;
use super::handler::{AsyncHandler, Plain};
use super::msg::Envelope;
use super::observe;
use super::publish_with::max_attempts_of;
use super::retry::XorShift;
use super::stats::WorkerStats;
use super::timeout::attempt_async;
use super::user_code::Failure;
use super::{Mq, MqError, Msg, Publisher, QueueOptions};
use crate::wait::{Channel, Waiter};
use crate::RecvError;

thread_local! {
    /// The queue (its `QueueCore`'s address; 0: none) whose handler this thread is polling, if any.
    static POLLING: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is polling a handler of the queue at address `core`.
pub(crate) fn polling_handler_of(core: usize) -> bool {
    POLLING.with(|p| p.get() == core)
}

/// Whether this thread is polling an async handler (of any queue).
fn polling_any_handler() -> bool {
    POLLING.with(|p| p.get() != 0)
}

/// How a blocking wait of `stop` (or `Drop`) may run on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockingWait {
    /// Outside any tokio runtime: wait as usual.
    Plain,
    /// On a multi-thread runtime (inside an async handler or any other task, or its
    /// `block_on`): wait in `block_in_place`, which hands this worker thread's queued tasks
    /// (its LIFO slot included, which no other worker may take) to another thread first.
    /// Without it, a task that the stop's close woke from this thread sits in the LIFO slot of
    /// the thread that waits for it.
    InPlace,
    /// Inside an async handler on a current-thread runtime: every other task of the runtime
    /// needs this very thread, so waiting for them cannot end. Do not wait.
    Impossible,
    /// Inside a current-thread runtime, not in a handler: blocking is fine unless one of the
    /// `Mq`'s async queues runs there (`stop.rs` decides).
    CurrentThread,
}

/// What kind of blocking wait is possible on this thread (see [`BlockingWait`]).
pub(crate) fn blocking_wait() -> BlockingWait {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) if polling_any_handler() => {
            BlockingWait::Impossible
        }
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => BlockingWait::CurrentThread,
        Ok(_) => BlockingWait::InPlace,
        Err(_) => BlockingWait::Plain,
    }
}

/// Whether `handle`'s runtime has timers (an async queue needs them for its retries).
pub(crate) fn has_timers(handle: &tokio::runtime::Handle) -> bool {
    let _entered = handle.enter();
    // `Sleep` panics at creation on a runtime without timers; that panic is the only probe
    // tokio offers (the default hook prints it once).
    match catch_unwind(|| drop(tokio::time::sleep(std::time::Duration::ZERO))) {
        Ok(()) => true,
        Err(p) => {
            super::user_code::drop_payload(p);
            false
        }
    }
}

/// Checks that `handle`'s runtime can serve an async queue (it has timers).
pub(crate) fn check_runtime(name: &str, handle: &tokio::runtime::Handle) -> Result<(), MqError> {
    if has_timers(handle) {
        return Ok(());
    }
    Err(MqError::Unsupported {
        queue: name.to_owned(),
        what: "a tokio runtime without timers (build it with `enable_time()`)",
    })
}

/// The future an async handler returns: boxed, and borrowing the message.
pub type HandlerFuture<'a, E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'a>>;

impl Mq {
    /// Registers a queue whose `concurrency` workers are tokio tasks running an async
    /// `handler`. The tasks run on the runtime given by [`QueueOptions::runtime`], else on the
    /// runtime this is called in (`Handle::try_current()`), else on a 2-thread runtime owned
    /// by the `Mq`; [`Publisher::async_runtime`] says which ([`AsyncRuntime`](crate::AsyncRuntime)).
    /// The handler returns a boxed future that may borrow the message
    /// (`Box::pin(async move { .. })`).
    ///
    /// Retries, dead letters, panics (caught, the task goes on), stop and stats behave as with
    /// [`register_with`](Mq::register_with). From async code, stop with
    /// [`stop_async`](Mq::stop_async)`.await`: the blocking [`stop`](Mq::stop) works outside a
    /// runtime and on a multi-thread runtime (in `block_in_place`), but panics on a
    /// current-thread runtime that runs one of the `Mq`'s async queues, since it would wait for
    /// tasks that need the thread it blocks. An ambient runtime shut down before the stop
    /// cancels the tasks; their messages are handed back ([`Publisher::drain_left`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg, QueueOptions};
    ///
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register_async("fetch", QueueOptions::new(100), |m: &Msg<String>| {
    ///         Box::pin(async move {
    ///             tokio::time::sleep(Duration::from_millis(10)).await; // a slow API call
    ///             if m.data.is_empty() {
    ///                 return Err("empty word".into());
    ///             }
    ///             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    ///         })
    ///     })
    ///     .unwrap();
    /// mq.start().unwrap();
    /// for w in ["a", "b", ""] {
    ///     p.publish(w.to_string()).unwrap();
    /// }
    /// mq.stop();
    /// let s = mq.stats("fetch").unwrap();
    /// assert_eq!((s.handled_ok, s.failed, s.dead_lettered), (2, 1, 1));
    /// ```
    pub fn register_async<T, F, E>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        handler: F,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + Sync + 'static,
        F: for<'a> Fn(&'a Msg<T>) -> HandlerFuture<'a, E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.register_async_handler(name, options, Plain::new(handler))
    }

    /// `register_async` and `register_async_ctx` (`handler.rs`).
    pub(crate) fn register_async_handler<T, H>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        handler: H,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + Sync + 'static,
        H: AsyncHandler<T>,
    {
        #[cfg(feature = "nats")]
        if options.remote.is_some() {
            return Err(MqError::Unsupported {
                queue: name.to_owned(),
                what: "async handlers on a queue with a NATS transport (use `register_with`)",
            });
        }
        let (handle, runtime) = self.choose_runtime(name, options.runtime.as_ref())?;
        tracing::info!(queue = name, runtime = ?runtime.kind, "mq: async queue's runtime");
        let handler = Arc::new(handler);
        let publisher = self.register_erased(
            name,
            options,
            Box::new(move |core: &Arc<QueueCore<T>>| {
                // Before any task exists (a stop looks at it, `runtime.rs`).
                let _ = core.runtime.set(runtime);
                // Tasks are not joined: stop waits for them through the live count.
                for worker in 0..core.concurrency {
                    let (w, live) = core.enter();
                    handle.spawn(run_task(core.clone(), worker, w, live, handler.clone()));
                }
                Ok(())
            }),
        )?;
        let _ = publisher.core.runtime.set(runtime);
        Ok(publisher)
    }

    pub(crate) fn internal_runtime(&self) -> Result<tokio::runtime::Handle, MqError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("segmq-mq-rt")
            .enable_time()
            .build()
            .map_err(|_| MqError::Unsupported {
                queue: String::new(),
                what: "an internal tokio runtime (it could not be built)",
            })?;
        // Another thread may have won the race: use whichever is stored.
        let _ = self.runtime.set(rt);
        Ok(self.runtime.get().expect("set above").handle().clone())
    }
}

/// Receives a message with its sequence number (the public `Recv` future drops it).
struct RecvSeq<'a, T> {
    chan: &'a Channel<T>,
    waiter: Waiter,
}

impl<T> Future for RecvSeq<'_, T> {
    type Output = Result<(u64, T), RecvError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.chan.poll_recv(&mut this.waiter, cx)
    }
}

impl<T> Drop for RecvSeq<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.waiter);
    }
}

/// Marks the thread as polling a handler of `core` while it lives (see `POLLING`).
struct Polling(usize);

impl Polling {
    fn enter(core: usize) -> Self {
        Self(POLLING.with(|p| p.replace(core)))
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.with(|p| p.set(self.0));
    }
}

/// Runs the handler's future to completion, catching a panic in the call or in any poll (and
/// in the conversion of its error).
pub(crate) async fn call<'a, T, F, E>(
    core: usize,
    handler: &F,
    msg: &'a Msg<T>,
) -> Result<(), Failure>
where
    F: Fn(&'a Msg<T>) -> HandlerFuture<'a, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut fut = {
        let _polling = Polling::enter(core);
        match catch_unwind(AssertUnwindSafe(|| handler(msg))) {
            Ok(fut) => fut,
            Err(p) => return Err(Failure::Panic(p)),
        }
    };
    std::future::poll_fn(|cx| {
        let _polling = Polling::enter(core);
        match catch_unwind(AssertUnwindSafe(|| {
            fut.as_mut().poll(cx).map(|r| r.map_err(Into::into))
        })) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(r.map_err(Failure::Error)),
            Err(p) => Poll::Ready(Err(Failure::Panic(p))),
        }
    })
    .await
}

/// Sleeps until `t` or the stop deadline; `false` if the deadline passed.
async fn sleep_until<T: Send + 'static>(core: &QueueCore<T>, t: Instant) -> bool {
    tokio::time::sleep_until(tokio::time::Instant::from_std(core.cap_at_deadline(t))).await;
    !core.past_deadline()
}

/// A message a task holds: put into the leftovers if the task is dropped (cancelled) with it.
struct InFlight<'a, T: Send + 'static> {
    core: &'a QueueCore<T>,
    w: &'a WorkerStats,
    msg: Option<Msg<T>>,
}

impl<T: Send + 'static> InFlight<'_, T> {
    fn msg(&self) -> &Msg<T> {
        self.msg.as_ref().expect("held until taken")
    }

    fn take(&mut self) -> Msg<T> {
        self.msg.take().expect("held until taken")
    }
}

impl<T: Send + 'static> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if let Some(msg) = self.msg.take() {
            tracing::warn!(
                queue = %self.core.name, msg_id = msg.id,
                "mq: async worker cancelled with a message: handed back as a leftover"
            );
            self.core.abandon(self.w, msg);
        }
    }
}

/// One worker task.
async fn run_task<T, H>(
    core: Arc<QueueCore<T>>,
    worker: usize,
    w: Arc<WorkerStats>,
    _live: LiveGuard<T>,
    handler: Arc<H>,
) where
    T: Send + Sync + 'static,
    H: AsyncHandler<T>,
{
    let mut rng = XorShift::new(worker as u64 ^ 0xA5A5);
    // The task's token, renewed per attempt for a context handler (`context.rs`).
    let mut token = CancelToken::attached(core.tokens.clone(), None);
    let me = Arc::as_ptr(&core) as usize;
    loop {
        let recv: RecvSeq<'_, Envelope<T>> = RecvSeq {
            chan: &core.queue.chan,
            waiter: Waiter::new(),
        };
        let (seq, env) = match recv.await {
            Ok(popped) => popped,
            Err(RecvError) => match core.take_parked() {
                Some(env) => (0, env),
                None => break,
            },
        };
        let Some((msg, not_before)) = core.begin(&w, seq, env) else {
            continue;
        };
        let mut held = InFlight {
            core: &core,
            w: &w,
            msg: Some(msg),
        };
        if let Some(t) = not_before {
            if !sleep_until(&core, t).await {
                core.abandon(&w, held.take());
                continue;
            }
        }
        loop {
            let attempt = attempt_async(&core, me, &*handler, held.msg(), &mut token);
            let outcome = observe::attempt_async(&core, &w, held.msg(), attempt).await;
            let msg = held.take();
            let max_attempts = || max_attempts_of(&core, &msg);
            let decision = decide(outcome, msg.attempt, max_attempts, core.policy(), &mut rng);
            match core.settle(&w, worker, msg, decision) {
                Next::Done => break,
                Next::RetryHere(m, due) => {
                    held.msg = Some(m);
                    if !sleep_until(&core, due).await {
                        core.abandon(&w, held.take());
                        break;
                    }
                }
            }
        }
    }
}
