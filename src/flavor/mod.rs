//! Queue flavours: the lock-free storage under [`Queue`](crate::Queue), without any waiting.
//!
//! A flavour never parks. It pushes and pops, reports closed, and keeps the *waiter counts* that
//! tell the waiting layer (`crate::channel`) whether a notification is needed.
//!
//! # Index words
//!
//! Each flavour keeps a `head` and a `tail` word (`u64`, each on its own cache line):
//!
//! ```text
//!  63                         21 20                 1   0
//! +-----------------------------+--------------------+---+
//! |  index (43 bits, wrapping)  |  waiters (20 bits) | F |
//! +-----------------------------+--------------------+---+
//! ```
//!
//! * `index` is the position of the next slot to claim; it only grows (wrapping at 2^43, which
//!   is harmless because only differences below 2^43 are ever compared).
//! * `F` is a flag whose meaning belongs to the word: in `tail` it is [`CLOSED`]; in the
//!   unbounded flavour's `head` it says that the head block is not the last one.
//! * `waiters`: in `tail`, the number of receivers registered as (about to be) parked; in `head`,
//!   the number of senders parked on a full bounded queue.
//!
//! # Waiter counts: why no notification is lost
//!
//! A receiver that found the queue empty (1) registers a listener on the `recv_ops` event,
//! (2) adds itself to `tail.waiters` with one read-modify-write on `tail`, (3) tries to pop
//! again, and only then (4) parks. A sender claims its slot with a CAS on `tail`, so it reads
//! the waiter count in the same atomic step that publishes its message, and notifies when the
//! count is non-zero. Both sides touch one location, whose modification order is total, so
//! either the sender's CAS comes after (2) and sees the count (and the `Acquire` on the CAS
//! synchronises with the `Release` of (2), so the listener of (1) is registered when the
//! sender notifies), or it comes before (2) and the re-check (3) loads `tail` after (2) and sees
//! the message (coherence). The sender's fast path therefore costs nothing beyond its CAS when
//! nobody waits: no fence and no event-listener call (whose `notify` takes a `SeqCst` fence and a
//! lock every time since event-listener#138). Senders waiting for room use the same protocol on
//! `head`, which receivers CAS. The loom models in `loom-tests/` check both.
//!
//! **Every round, not only the first.** A waiter woken with nothing to take (another receiver
//! took the message, or the notification was passed on) listens again and re-checks. It is
//! still counted, so it does not join again; instead it *renews* (`Flavor::renew_waiters`): one
//! RMW on the same word (`fetch_add(0)`, `Release`) between the new `listen()` and the
//! re-check. The argument above then holds for that round word for word: a counterpart whose
//! CAS follows the renewal in the word's modification order acquires it (an RMW continues the
//! release sequence), so the new listener is registered when it notifies; one whose CAS comes
//! first is seen by the re-check (coherence). Without the renewal, round two would be ordered
//! only by event-listener's internal lock (its `notify` locks today), an implementation detail
//! segmq must not rest on. The RMW runs only on that slow path, never on a send or a receive.
//!
//! **Close.** `close` sets `CLOSED` with a `SeqCst` RMW on `tail` and then calls
//! `notify_all`, which issues a `SeqCst` fence before it reads the listener list;
//! event-listener's `listen` issues a `SeqCst` fence after it registers. A parked sender's
//! re-check loads `tail`, so by the two fences either the closer's `notify_all` sees its
//! listener or its re-check sees `CLOSED` (event-listener's documented contract, not its lock).

pub(crate) mod bounded;
pub(crate) mod unbounded;

/// `tail` flag: the queue is closed; no push succeeds after it is set.
pub(crate) const CLOSED: u64 = 1;
/// One waiter in the waiter field.
pub(crate) const WAITER: u64 = 1 << 1;
/// Width of the waiter field.
const WAITER_BITS: u32 = 20;
/// Mask of the waiter field.
pub(crate) const WAITER_MASK: u64 = ((1 << WAITER_BITS) - 1) << 1;
/// The index starts at this bit.
pub(crate) const SHIFT: u32 = 1 + WAITER_BITS;
/// One step of the index.
pub(crate) const ONE: u64 = 1 << SHIFT;
/// Mask of an index once shifted down (43 bits).
pub(crate) const INDEX_MASK: u64 = u64::MAX >> SHIFT;
/// Most waiters one word can count.
pub(crate) const MAX_WAITERS: u64 = (1 << WAITER_BITS) - 1;

/// The index field of a word.
#[inline(always)]
pub(crate) fn index(word: u64) -> u64 {
    word >> SHIFT
}

/// Whether the waiter field of a word is non-zero.
#[inline(always)]
pub(crate) fn has_waiters(word: u64) -> bool {
    word & WAITER_MASK != 0
}

/// A successful push.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed {
    /// Position of the message in the queue: 0, 1, 2, ... in claim order.
    pub(crate) seq: u64,
    /// A receiver may be parked: notify one.
    pub(crate) wake_receiver: bool,
}

/// Number of parties in the waiter field of a word.
#[inline(always)]
pub(crate) fn waiters(word: u64) -> usize {
    ((word & WAITER_MASK) >> 1) as usize
}

/// A successful batch push: at least one message, in consecutive slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushedMany {
    /// Receivers to wake: the smaller of `count` and the parked receivers counted in the word.
    pub(crate) wake_receivers: usize,
}

/// A successful batch pop: `count` messages appended to the caller's buffer, in FIFO order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoppedMany {
    /// How many messages were popped (at least 1).
    pub(crate) count: usize,
    /// Senders to wake: the smaller of `count` and the parked senders counted in the word.
    pub(crate) wake_senders: usize,
}

/// A successful pop.
#[derive(Debug)]
pub(crate) struct Popped<T> {
    /// Position of the message in the queue (the `seq` its push returned).
    pub(crate) seq: u64,
    /// The message.
    pub(crate) value: T,
    /// A sender may be parked waiting for room: notify one.
    pub(crate) wake_sender: bool,
}

/// Why a push failed; the message comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// Bounded and full.
    Full(T),
    /// Closed.
    Closed(T),
}

/// Why a pop returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    /// Open and empty.
    Empty,
    /// Closed and empty.
    Closed,
}

/// Panics when a waiter field would overflow (over a million parked parties on one queue).
#[cold]
#[inline(never)]
pub(crate) fn too_many_waiters() -> ! {
    panic!("segmq: more than {MAX_WAITERS} receivers or senders parked on one queue")
}

/// Which side of the queue a waiting operation is on: receivers wait in `tail`'s count for a
/// message, senders in `head`'s count for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// A receiver waiting for a message (or close).
    Recv,
    /// A sender waiting for room on a full bounded queue (or close).
    Send,
}

/// The storage behind a queue, chosen at construction.
pub(crate) enum Flavor<T> {
    /// Linked list of blocks.
    Unbounded(unbounded::Unbounded<T>),
    /// Ring buffer with a fixed capacity.
    Bounded(bounded::Bounded<T>),
}

macro_rules! dispatch {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            Flavor::Unbounded($q) => $e,
            Flavor::Bounded($q) => $e,
        }
    };
}

impl<T> Flavor<T> {
    #[inline]
    pub(crate) fn push(&self, value: T) -> Result<Pushed, PushError<T>> {
        dispatch!(self, q => q.push(value))
    }
    #[inline]
    pub(crate) fn pop(&self) -> Result<Popped<T>, PopError> {
        dispatch!(self, q => q.pop())
    }
    /// Pushes a prefix (at least one message) of `src` with one claim; `src` keeps the rest.
    /// `src` must not be empty. The error carries no message: they all stay in `src`.
    #[inline]
    pub(crate) fn push_some(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<PushedMany, PushError<()>> {
        debug_assert!(src.len() > 0);
        dispatch!(self, q => q.push_some(src))
    }
    /// Pops between 1 and `max` (> 0) messages with one claim, appending them to `out`.
    #[inline]
    pub(crate) fn pop_some(&self, max: usize, out: &mut Vec<T>) -> Result<PoppedMany, PopError> {
        debug_assert!(max > 0);
        dispatch!(self, q => q.pop_some(max, out))
    }
    /// Joins the waiter count of `side` (once per waiting operation, after its first
    /// `listen()`).
    pub(crate) fn join_waiters(&self, side: Side) {
        match (side, self) {
            (Side::Recv, _) => dispatch!(self, q => q.add_recv_waiter()),
            // Only a bounded queue is ever full, so only its senders park.
            (Side::Send, Flavor::Bounded(q)) => q.add_send_waiter(),
            (Side::Send, Flavor::Unbounded(_)) => {}
        }
    }
    /// Re-announces a counted waiter of `side` after a later round's `listen()`: an RMW on the
    /// same word, so the argument "listen, RMW, re-check" holds in every round (see "Waiter
    /// counts" above), not only in the first one.
    pub(crate) fn renew_waiters(&self, side: Side) {
        match (side, self) {
            (Side::Recv, _) => dispatch!(self, q => q.renew_recv_waiter()),
            (Side::Send, Flavor::Bounded(q)) => q.renew_send_waiter(),
            (Side::Send, Flavor::Unbounded(_)) => {}
        }
    }
    /// Leaves the waiter count of `side` (once, when a counted operation ends).
    pub(crate) fn leave_waiters(&self, side: Side) {
        match (side, self) {
            (Side::Recv, _) => dispatch!(self, q => q.remove_recv_waiter()),
            (Side::Send, Flavor::Bounded(q)) => q.remove_send_waiter(),
            (Side::Send, Flavor::Unbounded(_)) => {}
        }
    }
    pub(crate) fn close(&self) -> bool {
        dispatch!(self, q => q.close())
    }
    pub(crate) fn is_closed(&self) -> bool {
        dispatch!(self, q => q.is_closed())
    }
    pub(crate) fn len(&self) -> usize {
        dispatch!(self, q => q.len())
    }
    pub(crate) fn is_empty(&self) -> bool {
        dispatch!(self, q => q.is_empty())
    }
    pub(crate) fn capacity(&self) -> Option<usize> {
        match self {
            Flavor::Unbounded(_) => None,
            Flavor::Bounded(q) => Some(q.capacity()),
        }
    }
}
