//! [`Msg<T>`], what a handler sees, and the internal envelope that travels through the queue.
//!
//! # IDs
//!
//! A fresh message's ID is the sequence number of the queue slot its publish claimed (0, 1, 2,
//! ... per queue, in claim order), so IDs cost no lock and no extra atomic: the publisher learns
//! the number from the push, and the consumer gets the same number from its pop, so the envelope
//! does not even need to carry it (`id: UNNUMBERED` means "the pop's sequence number"). A retried
//! message keeps its original ID but takes a new queue slot, so the IDs of fresh
//! messages can have gaps after retries. Fresh messages' IDs increase in the order consumers
//! take them; a retry, taken later, carries its older ID.
//!
//! Delayed messages ([`Publisher::publish_in`](crate::Publisher::publish_in),
//! [`publish_at`](crate::Publisher::publish_at)) take their slot only when they are due, after
//! their publish returned, so they are numbered from a second per-queue counter instead:
//! [`DELAYED_ID_BASE`](crate::DELAYED_ID_BASE) (2^63) + 0, 1, 2, ... in publish order, a range
//! the slot numbers (below 2^43) never reach (`delay.rs`).
//!
//! # Wrap-around
//!
//! Queue positions are 43-bit counters (the rest of the word holds the closed flag and the
//! waiter count), so the sequence number, and with it the ID, starts again at 0 after
//! `31 * 2^38` (about 8.5 * 10^12) messages on an unbounded queue, and after
//! `(2^43 / lap) * capacity` messages on a bounded one (`lap` is the smallest power of two
//! above `capacity`: between 2^42 and 2^43 messages, about 4.4 to 8.8 * 10^12). At 10^6
//! messages a second that is over 50 days; at 10^8, about 12 hours. After a wrap, IDs repeat:
//! an ID is unique among the messages of one queue published within one period, so a consumer
//! that deduplicates by ID must forget IDs older than that (or key on its own field). Durable
//! queues are not affected: their IDs are 64-bit counters kept in the log.
//!
//! Why not 64-bit here: the MQ layer could rebuild 64-bit IDs from an epoch counter, but both
//! the publisher and the consumer would have to read a shared epoch word per message and
//! agree on the queue core's wrap period, which is being rewritten; the clean fix is for the
//! core to return its position as a full 64-bit count, which makes these IDs monotonic at no
//! cost.

use std::fmt;
use std::time::{Duration, Instant};
/// The `Envelope::id` of a fresh message, numbered by its pop (no ID reaches it: slot numbers
/// stay below 2^43, delayed IDs start at 2^63 and durable ones count up from 0).
pub(crate) const UNNUMBERED: u64 = u64::MAX;

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
    /// Per-queue ID: 0, 1, 2, ... in queue order; kept across retries. It wraps to 0 after
    /// about 4.4 * 10^12 to 8.5 * 10^12 messages (see the module docs): unique within that
    /// period, not for ever.
    pub id: u64,
    /// The payload.
    pub data: T,
    pub(crate) attempt: u32,
    pub(crate) queue: &'static str,
    pub(crate) enqueued_at: Instant,
    /// The message's own options (`Envelope::extras`), kept across retries.
    pub(crate) extras: Option<Box<Extras>>,
}

impl<T> Msg<T> {
    /// Which attempt this is: 1 for the first delivery, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Name of the queue the message was published to.
    pub fn queue(&self) -> &str {
        self.queue
    }

    /// When the message was first published; for a delayed message
    /// ([`Publisher::publish_at`](crate::Publisher::publish_at)), the time it was due, so that
    /// a handed-back one can be published again for the same time.
    pub fn enqueued_at(&self) -> Instant {
        self.enqueued_at
    }

    /// Gives the payload, dropping the metadata.
    pub fn into_data(self) -> T {
        self.data
    }

    /// The payload and the extras, apart (see `QueueCore::settle`).
    pub(crate) fn into_parts(self) -> (T, Option<Box<Extras>>) {
        (self.data, self.extras)
    }

    pub(crate) fn into_envelope(self) -> Envelope<T> {
        Envelope {
            id: self.id,
            attempt: self.attempt,
            enqueued_at: self.enqueued_at,
            extras: self.extras,
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
    /// [`UNNUMBERED`] for a fresh message: its ID is the sequence number of its queue slot.
    /// (Not an `Option`: that doubles the field, and the envelope is what each message moves
    /// from the publisher's core to the consumer's: an `Envelope<u64>` is 48 bytes, not 56.)
    pub(crate) id: u64,
    /// Attempt number the next delivery will be (1 for a fresh message).
    pub(crate) attempt: u32,
    pub(crate) enqueued_at: Instant,
    /// What only some messages carry, boxed so that a plain message pays one word (`None`).
    pub(crate) extras: Option<Box<Extras>>,
    pub(crate) data: T,
}

/// Per-message data that most messages do not need, boxed behind one `Option` in [`Envelope`]
/// and [`Msg`] so that a plain publish neither allocates nor grows by more than a word.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// The span that was current where the message was published, when a subscriber was
    /// interested in message spans then (`observe.rs`): each attempt's span follows from it.
    pub(crate) publisher_span: Option<tracing::Span>,
    /// Handler timeout of each attempt, instead of the queue's (`publish_with.rs`).
    pub(crate) timeout: Option<Duration>,
    /// Attempts in all, instead of the retry policy's.
    pub(crate) max_attempts: Option<u32>,
    /// Set only for retries flushed into the queue at stop: do not run before this. (Here,
    /// not in the envelope: 16 bytes every slot would carry for a rare case.)
    pub(crate) not_before: Option<Instant>,
}

impl<T> Envelope<T> {
    pub(crate) fn fresh(data: T) -> Self {
        Self {
            id: UNNUMBERED,
            attempt: 1,
            enqueued_at: Instant::now(),
            extras: super::observe::publisher_extras(),
            data,
        }
    }

    /// A message recovered from or just written to a durable queue's log, under its log ID.
    #[cfg(feature = "durable")]
    pub(crate) fn logged(id: u64, data: T) -> Self {
        Self {
            id,
            ..Self::fresh(data)
        }
    }

    /// Takes the time before which the message must not run (a retry flushed at stop).
    #[inline]
    pub(crate) fn take_not_before(&mut self) -> Option<Instant> {
        match &mut self.extras {
            None => None,
            Some(x) => x.not_before.take(),
        }
    }

    /// Sets (or clears) the time before which the message must not run.
    pub(crate) fn set_not_before(&mut self, t: Option<Instant>) {
        match (&mut self.extras, t) {
            (None, None) => {}
            (Some(x), t) => x.not_before = t,
            (None, Some(t)) => {
                self.extras = Some(Box::new(Extras {
                    not_before: Some(t),
                    ..Extras::default()
                }));
            }
        }
    }

    /// The message, given the sequence number its pop returned.
    pub(crate) fn into_msg(self, seq: u64, queue: &'static str) -> Msg<T> {
        Msg {
            id: if self.id == UNNUMBERED { seq } else { self.id },
            data: self.data,
            attempt: self.attempt,
            queue,
            enqueued_at: self.enqueued_at,
            extras: self.extras,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The envelope is what each message moves between cores: `id` is a plain `u64` with a
    /// sentinel (an `Option<u64>` made it 56 bytes).
    #[test]
    fn an_envelope_of_u64_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Envelope<u64>>(), 48);
    }
}
