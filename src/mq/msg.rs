//! [`Msg<T>`], what a handler sees, and the internal envelope that travels through the queue.
//!
//! # IDs
//!
//! A fresh message's ID is the sequence number of the queue slot its publish claimed (0, 1, 2,
//! ... per queue, in claim order), so IDs cost no lock and no extra atomic: the publisher learns
//! the number from the push, and the consumer gets the same number from its pop, so the envelope
//! does not even need to carry it (`id: None` means "the pop's sequence number"). A retried message
//! keeps its original ID (`id: Some(..)`) but takes a new queue slot, so the IDs of fresh
//! messages can have gaps after retries. Fresh messages' IDs increase in the order consumers
//! take them; a retry, taken later, carries its older ID.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// A message as a handler sees it: its ID, its data, and where it is in its life.
///
/// ```
/// use segmq::{Mq, Msg};
/// let mq = Mq::new();
/// let words = mq
///     .register("words", 1, |m: &Msg<String>| {
///         assert_eq!(m.queue(), "words");
///         assert_eq!(m.attempt(), 1);
///         assert!(m.enqueued_at() <= std::time::Instant::now());
///         println!("#{} {}", m.id, m.data);
///         Ok::<_, std::io::Error>(())
///     })
///     .unwrap();
/// assert_eq!(words.publish("hello".to_string()).unwrap(), 0);
/// mq.start().unwrap();
/// mq.stop();
/// ```
pub struct Msg<T> {
    /// Per-queue ID: 0, 1, 2, ... in queue order; kept across retries.
    pub id: u64,
    /// The payload.
    pub data: T,
    pub(crate) attempt: u32,
    pub(crate) queue: Arc<str>,
    pub(crate) enqueued_at: Instant,
}

impl<T> Msg<T> {
    /// Which attempt this is: 1 for the first delivery, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Name of the queue the message was published to.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// When the message was first published.
    pub fn enqueued_at(&self) -> Instant {
        self.enqueued_at
    }

    /// Gives the payload, dropping the metadata.
    pub fn into_data(self) -> T {
        self.data
    }

    pub(crate) fn into_envelope(self) -> Envelope<T> {
        Envelope {
            id: Some(self.id),
            attempt: self.attempt,
            enqueued_at: self.enqueued_at,
            not_before: None,
            data: self.data,
        }
    }
}

impl<T> fmt::Debug for Msg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Msg")
            .field("id", &self.id)
            .field("queue", &self.queue)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What the queue carries.
pub(crate) struct Envelope<T> {
    /// `None` for a fresh message: its ID is the sequence number of its queue slot.
    pub(crate) id: Option<u64>,
    /// Attempt number the next delivery will be (1 for a fresh message).
    pub(crate) attempt: u32,
    pub(crate) enqueued_at: Instant,
    /// Set only for retries flushed into the queue at stop: do not run before this.
    pub(crate) not_before: Option<Instant>,
    pub(crate) data: T,
}

impl<T> Envelope<T> {
    pub(crate) fn fresh(data: T) -> Self {
        Self {
            id: None,
            attempt: 1,
            enqueued_at: Instant::now(),
            not_before: None,
            data,
        }
    }

    /// The message, given the sequence number its pop returned.
    pub(crate) fn into_msg(self, seq: u64, queue: &Arc<str>) -> Msg<T> {
        Msg {
            id: self.id.unwrap_or(seq),
            data: self.data,
            attempt: self.attempt,
            queue: queue.clone(),
            enqueued_at: self.enqueued_at,
        }
    }
}
