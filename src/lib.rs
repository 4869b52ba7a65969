//! # segmq: a lock-free, low-latency, in-process message queue engine
//!
//! [`Queue<T>`] is a multi-producer multi-consumer queue. Its unbounded flavour is a lock-free
//! linked list of fixed-size blocks: a message goes from producer to consumer with one CAS on
//! each end, no lock and no forwarding thread. Consumers can block ([`Queue::recv`],
//! [`Queue::recv_timeout`]) or await ([`Queue::recv_async`], [`Queue::stream`]) on the same
//! queue; producers wake a parked consumer only when one is registered, at no cost otherwise.
//!
//! ```
//! use segmq::Queue;
//!
//! let jobs = Queue::unbounded();
//! let workers: Vec<_> = (0..2)
//!     .map(|_| {
//!         let jobs = jobs.clone();
//!         std::thread::spawn(move || jobs.iter().map(|n: u64| n * n).sum::<u64>())
//!     })
//!     .collect();
//! for n in 1..=10 {
//!     jobs.send(n).unwrap();
//! }
//! jobs.close(); // "only dequeue, no more enqueue": the workers drain, then stop
//! let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
//! assert_eq!(total, 385);
//! ```
//!
//! On top of it, [`Mq`] (module [`mq`]) is a message queue of named queues with consumer pools:
//! typed lock-free publishers, per-queue message IDs, retries with backoff, dead letters,
//! panic-proof workers (threads, or tokio tasks with the `tokio` feature), graceful stop that
//! loses nothing, and cheap stats.
//!
//! ## Channel handles
//!
//! [`unbounded`] and [`bounded`] return a [`Sender`] and a [`Receiver`], for users of
//! crossbeam-channel, flume, async-channel or tokio: blocking, deadline, batch and async
//! operations; a [`Select`] over several receivers; [`WeakSender`]s that do not keep the queue
//! open; [`Sender::closed`]; owned (`'static`) futures ([`Receiver::into_recv_async`],
//! [`Sender::into_send_async`]); the receiver as a `Stream` and the sender as a `Sink`
//! ([`Sender::into_sink`]). Examples: `examples/sync_pipeline.rs`, `examples/async_pipeline.rs`.
//!
//! ## Guarantees
//!
//! * Every send that returned `Ok` is received exactly once, or dropped exactly once when the
//!   last handle of the queue is dropped. A refused send gives its message back.
//! * [`Queue::close`] wakes every waiter; receivers drain what was accepted, then see "closed".
//! * Async receives are cancel-safe (see [`Queue::recv_async`]).
//!
//! ## Allocation behaviour
//!
//! The unbounded flavour allocates one block of 31 slots at a time (zeroed, on the heap, never
//! on the stack) and retires each block as soon as the last of its messages is received: it
//! keeps up to 16 KiB of retired blocks (30 blocks of `u64`) for the senders to reuse, so a busy
//! queue does not call the allocator, and frees the rest, so the memory of a drained burst
//! returns at once: an idle queue holds one block and its spares.
//!
//! ## Verification
//!
//! Every atomic, cell, mutex and thread goes through one shim (`src/sync.rs`) that swaps in
//! [loom]'s under `--cfg loom` (never a cargo feature, so no build of a dependent crate is
//! affected), with 3-slot blocks so the models cross block boundaries and the real
//! event-listener built on loom: `cargo test --features loom` runs every model.
//!
//! ## Features and minimum Rust version
//!
//! | feature | what it adds | minimum Rust (locked dependencies) |
//! |---|---|---|
//! | *(default)* | the queues, the channel handles, [`Mq`] with thread workers | 1.75 (`rust-version`) |
//! | `tokio` | async handlers for [`Mq`] on a tokio runtime | 1.85 (tokio 1.54) |
//! | `durable` | durable queues with a write-ahead log | 1.88 (postcard 1.2) |
//! | `nats` | queues on NATS JetStream by configuration (`docs/nats.md`) | 1.89 (async-nats 0.51) |
//! | `metrics` | per-queue counters, gauges and histograms through the `metrics` facade (`segmq::mq::metrics`) | 1.75 (metrics 0.24 needs 1.71.1) |
//! | `loom` | the loom model test target only; changes nothing in the library | n/a |
//!
//! `scripts/check-msrv.py` checks this table (kept in `Cargo.toml`,
//! `[package.metadata.msrv]`) against the `rust-version` that the locked dependencies declare.
//! With the MSRV-aware resolver (`incompatible-rust-versions = "fallback"`, the default of
//! resolver 3 and edition 2024), an older compiler gets older dependency versions that support
//! it where they exist.
//!
//! [loom]: https://docs.rs/loom
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod closed;
mod drop_all;
mod error;
mod flavor;
mod handles;
pub mod mq;
mod owned;
mod queue;
mod recv;
mod select;
pub(crate) mod send;
mod sink;
mod sync;
mod wait;
mod wait_strategy;
mod weak;

pub use closed::Closed;
pub use error::{
    RecvError, RecvTimeoutError, SendBatchError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
pub use handles::{bounded, unbounded, Receiver, Sender};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use mq::AsyncRuntime;
pub use mq::{
    BoxError, CancelToken, Cancelled, Ctx, DeadLetterReason, Mq, MqError, Msg, PublishError,
    PublishOptions, Publisher, QueueOptions, QueueReport, QueueStats, RetryPolicy, SkipRetry,
    StopReport, Transport, DELAYED_ID_BASE,
};
#[cfg(feature = "durable")]
#[cfg_attr(docsrs, doc(cfg(feature = "durable")))]
pub use mq::{Damage, DurableError, DurableOptions, RecoveryReport, SyncPolicy};
#[cfg(feature = "nats")]
pub use mq::{RemoteError, RemoteStats};
pub use owned::{OwnedRecv, OwnedSend};
pub use queue::Queue;
pub use recv::{Drain, IntoIter, Iter, Recv, RecvBatch, RecvStream, TryIter};
pub use select::{Select, SelectTimeoutError};
pub use send::SendFut;
pub use sink::SendSink;
pub use wait_strategy::WaitStrategy;
pub use weak::WeakSender;

/// The README's examples run as doc tests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
