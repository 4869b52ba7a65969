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

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::msg::Envelope;
use super::pool::{Failure, LiveGuard, Next, QueueCore};
use super::retry::XorShift;
use super::stats::WorkerStats;
use super::{Mq, MqError, Msg, Publisher, QueueOptions};
use crate::channel::{Channel, Waiter};
use crate::RecvError;

/// The future an async handler returns: boxed, and borrowing the message.
pub type HandlerFuture<'a, E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'a>>;

impl Mq {
    /// Registers a queue whose `concurrency` workers are tokio tasks running an async
    /// `handler`, on the runtime given by [`QueueOptions::runtime`] or else on an internal
    /// 2-thread runtime owned by the `Mq`. The handler returns a boxed future that may borrow
    /// the message (`Box::pin(async move { .. })`).
    ///
    /// Retries, dead letters, panics (caught, the task goes on), stop and stats behave as with
    /// [`register_with`](Mq::register_with). Call [`stop`](Mq::stop) from outside the runtime
    /// (or in `spawn_blocking`): it blocks while the tasks drain.
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
        let handle = match &options.runtime {
            Some(h) => h.clone(),
            None => self.internal_runtime()?,
        };
        let handler = Arc::new(handler);
        self.register_erased(
            name,
            options,
            Box::new(move |core: &Arc<QueueCore<T>>| {
                // Tasks are not joined: stop waits for them through the live count.
                for worker in 0..core.concurrency {
                    let (w, live) = core.enter();
                    handle.spawn(run_task(core.clone(), worker, w, live, handler.clone()));
                }
            }),
        )
    }

    fn internal_runtime(&self) -> Result<tokio::runtime::Handle, MqError> {
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

/// Runs the handler's future to completion, catching a panic in the call or in any poll.
async fn call<'a, T, F, E>(handler: &F, msg: &'a Msg<T>) -> Result<(), Failure>
where
    F: Fn(&'a Msg<T>) -> HandlerFuture<'a, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut fut = match catch_unwind(AssertUnwindSafe(|| handler(msg))) {
        Ok(fut) => fut,
        Err(p) => return Err(Failure::Panic(p)),
    };
    let polled =
        std::future::poll_fn(
            |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                Err(p) => Poll::Ready(Err(p)),
            },
        )
        .await;
    match polled {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Error(e.into())),
        Err(p) => Err(Failure::Panic(p)),
    }
}

/// Sleeps until `t` or the stop deadline; `false` if the deadline passed.
async fn sleep_until<T: Send + 'static>(core: &QueueCore<T>, t: Instant) -> bool {
    tokio::time::sleep_until(tokio::time::Instant::from_std(core.cap_at_deadline(t))).await;
    !core.past_deadline()
}

/// One worker task.
async fn run_task<T, F, E>(
    core: Arc<QueueCore<T>>,
    worker: usize,
    w: Arc<WorkerStats>,
    _live: LiveGuard<T>,
    handler: Arc<F>,
) where
    T: Send + Sync + 'static,
    F: for<'a> Fn(&'a Msg<T>) -> HandlerFuture<'a, E> + Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let mut rng = XorShift::new(worker as u64 ^ 0xA5A5);
    loop {
        let recv: RecvSeq<'_, Envelope<T>> = RecvSeq {
            chan: &core.queue.chan,
            waiter: Waiter::new(),
        };
        let Ok((seq, env)) = recv.await else { break };
        let Some((mut msg, not_before)) = core.begin(&w, seq, env) else {
            continue;
        };
        if let Some(t) = not_before {
            if !sleep_until(&core, t).await {
                core.abandon(&w, msg);
                continue;
            }
        }
        loop {
            let outcome = call(&*handler, &msg).await;
            match core.after_attempt(&w, worker, msg, outcome, &mut rng) {
                Next::Done => break,
                Next::RetryHere(m, due) => {
                    if !sleep_until(&core, due).await {
                        core.abandon(&w, m);
                        break;
                    }
                    msg = m;
                }
            }
        }
    }
}
