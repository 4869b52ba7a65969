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
//! on the stack) and frees each block as soon as the last of its messages is received, so the
//! memory of a drained burst returns at once: an idle queue holds one block.
//!
//! ## Verification
//!
//! Every atomic, cell, mutex and thread goes through one shim (`src/sync.rs`) that swaps in
//! [loom]'s under `--cfg loom` (never a cargo feature, so no build of a dependent crate is
//! affected), with 3-slot blocks so the models cross block boundaries and the real
//! event-listener built on loom: `cargo test --features loom` runs every model.
//!
//! [loom]: https://docs.rs/loom
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod channel;
mod error;
mod flavor;
mod handles;
pub mod mq;
mod queue;
mod recv;
pub(crate) mod send;
mod sync;
mod wait_strategy;

pub use error::{
    RecvError, RecvTimeoutError, SendBatchError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
pub use handles::{bounded, unbounded, Receiver, Sender};
#[cfg(feature = "durable")]
pub use mq::{Damage, DurableError, DurableOptions, RecoveryReport, SyncPolicy};
pub use mq::{
    Mq, MqError, Msg, PublishError, Publisher, QueueOptions, QueueReport, QueueStats, RetryPolicy,
    StopReport, Transport,
};
#[cfg(feature = "nats")]
pub use mq::{RemoteError, RemoteStats};
pub use queue::Queue;
pub use recv::{Iter, Recv, RecvBatch, RecvStream, TryIter};
pub use send::Send;
pub use wait_strategy::WaitStrategy;

/// The README's examples run as doc tests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
