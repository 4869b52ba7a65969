//! [`Mq::stop_async`] and [`Mq::stop_timeout_async`]: the stop procedure of `stop.rs` with its
//! wait for the workers turned into an `.await`.
//!
//! # Design
//!
//! A stop has three parts (`stop.rs`): the close (mark stopping, flush the timer, close the
//! queues), the wait for the workers, and the report. The close and the report never wait for
//! a worker, so both run as they are; only the wait changes. Each queue's live count
//! (`live.rs`) also signals an event-listener `Event` when a worker exits, and the async wait
//! awaits that event's listener (registered *before* the count is read, `live.rs` invariant
//! 3), so no exit is missed and nothing polls. The only blocking left is a concurrent stop's
//! close, which this call may have to wait for: it waits for no worker, only for the retry
//! timer's lock and thread, so it is short.
//!
//! `stop_async` needs no particular executor (the listener is runtime-agnostic, and under loom
//! it is loom's: the model `stop_async_waits_for_the_worker` runs it). `stop_timeout_async`
//! needs tokio's timer for its deadline (feature `tokio`).
//!
//! Called from inside one of the `Mq`'s async handlers, the wait does not count the handler's
//! own task (the thread-local of `async_pool.rs` is set while the handler's future is polled,
//! which is when the count is read), exactly like the blocking stop.

use super::stop::Caller;
use super::Mq;
#[cfg(feature = "tokio")]
use super::StopReport;

impl Mq {
    /// Stops gracefully, like [`stop`](Mq::stop), without blocking the thread while the
    /// workers drain: the future completes once every worker (thread or task) has exited.
    ///
    /// This is the stop to use from async code, and the only one on a current-thread tokio
    /// runtime that runs one of the `Mq`'s async queues (there the blocking `stop` panics: it
    /// would wait for tasks that need the thread it blocks). It needs no particular executor.
    /// Dropping the future before it completes leaves the `Mq` stopped (closed), its workers
    /// finishing on their own; a later `stop` or `stop_async` waits for them.
    ///
    /// ```
    /// use segmq::{Mq, Msg, QueueOptions};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let mq = Mq::new();
    ///     // Registered inside the runtime: the tasks run on it (the ambient runtime).
    ///     let p = mq
    ///         .register_async("jobs", QueueOptions::new(4), |m: &Msg<u32>| {
    ///             Box::pin(async move {
    ///                 tokio::task::yield_now().await;
    ///                 Ok::<_, std::io::Error>(())
    ///             })
    ///         })
    ///         .unwrap();
    ///     mq.start().unwrap();
    ///     for i in 0..100 {
    ///         p.publish(i).unwrap();
    ///     }
    ///     mq.stop_async().await; // `mq.stop()` here would panic: it would block this runtime
    ///     assert_eq!(mq.stats("jobs").unwrap().handled_ok, 100);
    /// }
    /// ```
    pub async fn stop_async(&self) {
        let stopping = self.close_for_stop(None, Caller::User);
        let all_exited = wait_exited(&stopping.queues).await;
        self.finish_stop(stopping, all_exited, true);
    }

    /// Stops like [`stop_timeout`](Mq::stop_timeout), waiting at most `timeout` for the
    /// workers, without blocking the thread; the report and the leftovers
    /// ([`Publisher::drain_left`](crate::Publisher::drain_left)) are those of `stop_timeout`.
    ///
    /// Needs a tokio runtime with timers (feature `tokio`) for its deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg, QueueOptions};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let mq = Mq::new();
    ///     let p = mq
    ///         .register_async("slow", QueueOptions::new(1), |_: &Msg<u32>| {
    ///             Box::pin(async {
    ///                 tokio::time::sleep(Duration::from_millis(20)).await;
    ///                 Ok::<_, std::io::Error>(())
    ///             })
    ///         })
    ///         .unwrap();
    ///     for i in 0..100 {
    ///         p.publish(i).unwrap();
    ///     }
    ///     mq.start().unwrap();
    ///     let report = mq.stop_timeout_async(Duration::from_millis(50)).await;
    ///     assert!(report.timed_out);
    ///     mq.stop_async().await; // waits for the handler still running
    ///     let handled = mq.stats("slow").unwrap().handled_ok;
    ///     assert_eq!(handled + p.drain_left().len() as u64, 100);
    /// }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn stop_timeout_async(&self, timeout: std::time::Duration) -> StopReport {
        let deadline = std::time::Instant::now().checked_add(timeout);
        let stopping = self.close_for_stop(deadline, Caller::User);
        let all_exited = match stopping.deadline {
            None => wait_exited(&stopping.queues).await,
            Some(d) => {
                let d = tokio::time::Instant::from_std(d);
                match tokio::time::timeout_at(d, wait_exited(&stopping.queues)).await {
                    Ok(all) => all,
                    // One last look, as the blocking wait takes at its deadline.
                    Err(_) => stopping.queues.iter().all(|q| q.exited_or_listen().is_ok()),
                }
            }
        };
        self.finish_stop(stopping, all_exited, true)
    }
}

/// Waits until every queue's workers (but the caller's own) have exited; always `true` (the
/// shape of the blocking wait's result, whose deadline can pass).
async fn wait_exited(queues: &[std::sync::Arc<dyn super::registry::ErasedQueue>]) -> bool {
    for q in queues {
        while let Err(listener) = q.exited_or_listen() {
            listener.await;
        }
    }
    true
}

#[allow(unused_imports)] // for the docs
use super::Publisher;
