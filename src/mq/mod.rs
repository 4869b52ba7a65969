//! The message queue: named queues with consumer pools, retries, dead letters and stats.
//!
//! This is the Go article's MQ ("multiple queues, multiple consumers", used to run slow work
//! such as a 5 s LLM call off the request path) on top of segmq's lock-free [`Queue`]:
//!
//! * [`Mq`] holds named queues. [`Mq::register`] gives a typed [`Publisher<T>`] whose
//!   `publish` is one lock-free push; [`Mq::publish`] by name adds a lock-free map read.
//! * Each queue has `concurrency` worker threads (or tokio tasks, `Mq::register_async` with the
//!   `tokio` feature) blocked on the queue. A handler's `Err` or panic is logged, counted, and
//!   retried by the queue's [`RetryPolicy`] (the wait happens in a timer, not in the worker),
//!   then dead-lettered by value.
//! * [`Msg::id`] is the message's queue position: 0, 1, 2, ... per queue, no lock (it wraps
//!   to 0 after at least 4.4 * 10^12 messages; see [`Msg::id`]).
//! * [`Publisher::publish_in`] / [`Publisher::publish_at`] delay a message in the same timer
//!   (no thread per message; IDs from [`DELAYED_ID_BASE`]); undelayed messages never wait
//!   behind them.
//! * [`Mq::stop`] drains every accepted message; [`Mq::stop_timeout`] gives up after a deadline
//!   and hands the rest back through [`Publisher::drain_left`].
//! * [`QueueStats`] counters are per worker, summed on read, with queue-wait and handler-duration
//!   percentiles.
//! * Each handler call runs in a `tracing` span (see "Observability" below); with the `metrics`
//!   feature every queue also records through the `metrics` facade (`mq::metrics`).
//! * Job features: handlers can take a context ([`Mq::register_ctx`], [`Ctx`]: the message,
//!   its attempt, its deadline and a [`CancelToken`] that fires at the attempt's timeout or at
//!   `stop_timeout`'s deadline); [`QueueOptions::timeout`] and per-message
//!   [`PublishOptions`] ([`Publisher::publish_with`]: timeout, attempts); [`SkipRetry`] for
//!   errors that retrying cannot fix; a dead-letter handler that gets the last error
//!   ([`QueueOptions::dead_letter_with_error`], [`DeadLetterReason`]).
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use segmq::{Mq, Msg, QueueOptions, RetryPolicy};
//!
//! let sum = Arc::new(AtomicU64::new(0));
//! let mq = Mq::new();
//! let total = sum.clone();
//! let numbers = mq
//!     .register_with(
//!         "numbers",
//!         QueueOptions::new(4).retry(RetryPolicy::fixed(3, Duration::from_millis(1))),
//!         move |m: &Msg<u64>| {
//!             if m.data % 10 == 0 && m.attempt() == 1 {
//!                 return Err("flaky"); // retried once, then fine
//!             }
//!             total.fetch_add(m.data, Ordering::Relaxed);
//!             Ok(())
//!         },
//!     )
//!     .unwrap();
//! mq.start().unwrap();
//! for n in 1..=100 {
//!     numbers.publish(n).unwrap();
//! }
//! mq.stop();
//! assert_eq!(sum.load(Ordering::Relaxed), 5050);
//! let stats = mq.stats("numbers").unwrap();
//! assert_eq!((stats.handled_ok, stats.retried), (100, 10));
//! ```
//!
//! # Observability
//!
//! Every handler call, thread or async, runs inside a span named `mq_message` with the fields
//! `queue`, `id` and `attempt` (level `DEBUG`, target `segmq::message`), so the handler's own
//! log lines carry the message; a retry runs in a new span (`attempt = 2`, ...). Each span is a
//! root that *follows from* the span that was current where the message was published, so a
//! trace can be followed across the queue. Enable them with a filter such as
//! `segmq::message=debug`; `DEBUG` (not `INFO`) so that a service logging at `INFO` pays no
//! per-message span, and `release_max_level_info` compiles them out. When no subscriber
//! enables them, a publish stores nothing (no allocation) and a handler call creates nothing;
//! the cost is one relaxed load on each side. A message keeps its publisher's span open until
//! its last attempt ends. Messages of durable queues recovered at start and of remote (NATS)
//! queues carry no publisher span.
//!
//! ```
//! use segmq::{Mq, Msg};
//! let mq = Mq::new();
//! let p = mq
//!     .register("orders", 1, |m: &Msg<u32>| {
//!         // With a subscriber enabling `segmq::message=debug`, this line reads
//!         // `mq_message{queue="orders" id=0 attempt=1}: ... shipping 42`.
//!         tracing::info!("shipping {}", m.data);
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .unwrap();
//! let request = tracing::info_span!("http_request", path = "/order");
//! request.in_scope(|| p.publish(42).unwrap()); // the handler's span follows from `request`
//! mq.start().unwrap();
//! mq.stop();
//! ```
//!
//! # Handler context, timeouts, non-retryable errors
//!
//! A handler that wants to know when to give up takes a [`Ctx`] instead of a `&Msg<T>`:
//! register it with [`Mq::register_ctx`] (threads) or `Mq::register_async_ctx` (tokio).
//! The context holds the message, its attempt, and a [`CancelToken`] that fires at the
//! attempt's deadline ([`QueueOptions::timeout`], or the message's own
//! [`PublishOptions::timeout`]) and at the deadline of [`Mq::stop_timeout`].
//!
//! Why a second registration rather than one `register` taking either kind of closure: a
//! `register` generic over a handler trait implemented for both `Fn(&Msg<T>)` and `Fn(Ctx<T>)`
//! would stop the compiler from inferring an unannotated closure's argument (`|m| ..`), which
//! today's callers rely on. So the plain handler keeps its signature, and pays nothing for the
//! context: whether an attempt needs a token is a compile-time constant of the handler kind,
//! and a plain handler on a queue without timeouts runs exactly the call it ran before.
//!
//! What a timeout can interrupt: an async handler's future is dropped at its deadline (at the
//! `.await` where it waits), after its token is cancelled. A thread cannot be interrupted: its
//! token fires, and an attempt that returns after its deadline counts as timed out whatever it
//! returned ([`QueueStats::timed_out`]); the retry policy applies to both.
//!
//! A handler that knows retrying cannot help returns [`SkipRetry`]: the message goes to the
//! dead-letter handler at once. [`QueueOptions::dead_letter_with_error`] receives the message
//! with its [`DeadLetterReason`] (the last error, panic or timeout).
//!
//! ```
//! use std::time::Duration;
//! use segmq::{BoxError, Ctx, Mq, PublishOptions, QueueOptions, RetryPolicy, SkipRetry};
//!
//! let mq = Mq::new();
//! let opts = QueueOptions::new(2)
//!     .timeout(Duration::from_secs(10))
//!     .retry(RetryPolicy::exponential(3, Duration::from_millis(1), Duration::from_millis(10)))
//!     .dead_letter_with_error(|m, why| eprintln!("gave up on {:?}: {why}", m.data));
//! let words = mq
//!     .register_ctx("define", opts, |ctx: Ctx<'_, String>| -> Result<(), BoxError> {
//!         if ctx.data().is_empty() {
//!             return Err(SkipRetry::new("an empty word").into());
//!         }
//!         // A slow call that ends early when the token fires (deadline or shutdown):
//!         if ctx.token().wait_timeout(Duration::from_millis(1)) {
//!             return Err("cancelled".into());
//!         }
//!         Ok(())
//!     })
//!     .unwrap();
//! mq.start().unwrap();
//! words.publish("serendipity".into()).unwrap();
//! words.publish(String::new()).unwrap(); // dead-lettered on attempt 1
//! words
//!     .publish_with("ephemeral".into(), PublishOptions::new().timeout(Duration::from_secs(1)))
//!     .unwrap();
//! mq.stop();
//! let s = mq.stats("define").unwrap();
//! assert_eq!((s.handled_ok, s.skipped_retry, s.dead_lettered), (2, 1, 1));
//! ```
//!
//! The design notes are in each file: `registry.rs` (lock-free name lookup), `msg.rs` (IDs),
//! `core.rs` (per-queue state, accounting, stop with a deadline), `decision.rs` (what follows
//! an attempt), `worker.rs` (worker threads), `async_pool.rs` (tokio tasks), `user_code.rs`
//! (user code never kills a worker), `stop.rs` (the lifecycle state machine and the stop
//! procedure), `live.rs` (the live-worker count), `clock.rs` (deadlines; stubbed under loom),
//! `retry.rs` (timer, stop without losing retries), `delay.rs` (delayed publish),
//! `stop_async.rs` (stop without blocking), `runtime.rs` (which tokio runtime), `stats.rs`
//! (counters), `observe.rs` (the `tracing` span and the timings of each handler call),
//! `metrics.rs` (the `metrics` feature), `context.rs` (the handler context and its token),
//! `handler.rs` (plain and context handlers), `timeout.rs` (an attempt with a deadline; what
//! can be interrupted), `publish_with.rs` (per-message options), `skip.rs` (`SkipRetry`,
//! dead-letter reasons), `remote/` (queues kept by a NATS JetStream server and shared between
//! processes: [`Transport`], feature `nats`).
#![forbid(unsafe_code)]

#[cfg(feature = "tokio")]
mod async_pool;
mod clock;
mod context;
mod core;
mod decision;
mod delay;
#[cfg(feature = "durable")]
pub mod durable;
mod error;
mod handler;
mod live;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
mod msg;
mod names;
mod observe;
mod options;
mod publish_with;
mod publisher;
mod registry;
#[cfg(all(test, feature = "durable"))]
mod registry_tests;
mod remote;
mod retry;
#[cfg(feature = "tokio")]
mod runtime;
mod skip;
mod stats;
mod stop;
mod stop_async;
mod timeout;
mod user_code;
mod worker;

#[cfg(feature = "tokio")]
pub use async_pool::HandlerFuture;
pub use context::{CancelToken, Cancelled, Ctx};
pub use delay::DELAYED_ID_BASE;
#[cfg(feature = "durable")]
pub use durable::{Damage, DurableError, DurableOptions, RecoveryReport, SyncPolicy};
pub use error::{MqError, PublishError};
pub use msg::Msg;
pub use options::QueueOptions;
pub use publish_with::PublishOptions;
pub use publisher::Publisher;
pub use registry::{Mq, QueueReport, StopReport};
pub use remote::Transport;
#[cfg(feature = "nats")]
pub use remote::{RemoteError, RemoteStats};
pub use retry::RetryPolicy;
#[cfg(feature = "tokio")]
pub use runtime::AsyncRuntime;
pub use skip::{DeadLetterReason, SkipRetry};
pub use stats::QueueStats;
pub use user_code::BoxError;

#[allow(unused_imports)] // for the docs
use crate::Queue;
