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
//! **Waking takes the woken out of the count.** A counterpart whose claim CAS reads a non-zero
//! count takes as many waiters out of the count *in that same CAS* as it will wake (one per
//! slot claimed, [`waking`]/[`less_waiters`]), then wakes that many listeners that have not been
//! woken yet. So the counterparts after it do not notify again while the woken waiter is on
//! its way (an async task may sit in a run queue for a while): one notification per wait, not
//! one per message, and no extra atomic on the hot path. A woken waiter is therefore not
//! counted any more; if it finds nothing to take it listens again and *joins again*: "listen,
//! RMW, re-check" holds in every round word for word, with no reliance on event-listener's
//! internal lock. The count can be off for a moment, and only in ways that lose nothing:
//!
//! * *Too high* (a waiter woken by `close`, which takes nobody out): a later claim takes one
//!   out and notifies nobody, or wakes a waiter early. A spare notification, never a lost one.
//! * *Lower than the sleepers* only while a wake-up is on its way to a listener whose owner has
//!   not joined yet (it listened earlier than the sleepers, and event-listener wakes in listen
//!   order). That owner then joins, which counts the sleeper again, and re-checks after the
//!   claim, so it sees the message. If it takes a message in that re-check (or is cancelled,
//!   or times out as the wake-up lands), its listener holds a wake-up it did not use: it does
//!   not leave the count itself (the claim took it out) and passes the wake-up on, taking the
//!   waiter it reaches out of the count in turn (`Waiter::finish`). So a message whose wake-up
//!   went to a waiter that did not need it still wakes a sleeper.
//! * A waiter that leaves without a wake-up (done, cancelled, timed out) takes itself out with
//!   a saturating decrement: if a claim took it out first and its wake-up then found nobody,
//!   the count stays at zero instead of wrapping into the index.
//!
//! **Close.** `close` sets `CLOSED` with a `SeqCst` RMW on `tail` and then calls
//! `notify_all`, which issues a `SeqCst` fence before it reads the listener list;
//! event-listener's `listen` issues a `SeqCst` fence after it registers. A parked sender's
//! re-check loads `tail`, so by the two fences either the closer's `notify_all` sees its
//! listener or its re-check sees `CLOSED` (event-listener's documented contract, not its lock).

pub(crate) mod bounded;
pub(crate) mod unbounded;

use crate::sync::{AtomicU64, Ordering};

/// `tail` flag: the queue is closed; no push succeeds after it is set.
pub(crate) const CLOSED: u64 = 1;
/// One waiter in the waiter field.
const WAITER: u64 = 1 << 1;
/// Width of the waiter field.
const WAITER_BITS: u32 = 20;
/// Mask of the waiter field.
const WAITER_MASK: u64 = ((1 << WAITER_BITS) - 1) << 1;
/// The index starts at this bit.
pub(crate) const SHIFT: u32 = 1 + WAITER_BITS;
/// One step of the index.
pub(crate) const ONE: u64 = 1 << SHIFT;
/// Mask of an index once shifted down (43 bits).
pub(crate) const INDEX_MASK: u64 = u64::MAX >> SHIFT;
/// Most waiters one word can count.
const MAX_WAITERS: u64 = (1 << WAITER_BITS) - 1;

/// The index field of a word.
#[inline(always)]
pub(crate) fn index(word: u64) -> u64 {
    word >> SHIFT
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

/// How many of the waiters counted in `word` a claim of `n` slots (or messages) wakes: at most
/// one per slot. The claim's CAS takes them out of the count ([`less_waiters`]) and the caller
/// then notifies that many ("Waking takes the woken out of the count").
#[inline(always)]
pub(crate) fn waking(word: u64, n: usize) -> usize {
    waiters(word).min(n)
}

/// `word` with `n` fewer waiters counted (`n <= waiters(word)`: no borrow into the index).
#[inline(always)]
pub(crate) fn less_waiters(word: u64, n: usize) -> u64 {
    debug_assert!(n <= waiters(word));
    word - n as u64 * WAITER
}

/// A successful displacing push (`force_push`): the push, and the oldest message it displaced
/// with that message's sequence number, if the ring was full.
pub(crate) type ForcePushed<T> = (Pushed, Option<(u64, T)>);

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

/// Adds one waiter to the count in `word`.
fn join_count(word: &AtomicU64) {
    let mut current = word.load(Ordering::Relaxed);
    loop {
        if waiters(current) as u64 == MAX_WAITERS {
            too_many_waiters();
        }
        // Release: publishes the listener registered before this call to the counterpart whose
        // CAS on this word reads the count (its `Acquire`): "Waiter counts" above.
        match word.compare_exchange_weak(
            current,
            current + WAITER,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(c) => current = c,
        }
    }
}

/// Takes up to `n` waiters out of the count in `word`, saturating at zero; returns how many.
fn release_count(word: &AtomicU64, n: usize) -> usize {
    let mut current = word.load(Ordering::Relaxed);
    loop {
        let take = waiters(current).min(n);
        if take == 0 {
            return 0;
        }
        // Relaxed: bookkeeping only, nothing is published through it; being an RMW, it leaves
        // the release sequence of every earlier join intact for the counterparts that acquire
        // the word.
        match word.compare_exchange_weak(
            current,
            current - take as u64 * WAITER,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return take,
            Err(c) => current = c,
        }
    }
}

/// Panics when a waiter field would overflow (over a million parked parties on one queue).
#[cold]
#[inline(never)]
fn too_many_waiters() -> ! {
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
///
/// One per queue, inside the shared `Channel` (behind an `Arc`): the unbounded variant's extra
/// cache lines (its spare and deferred blocks) cost 256 bytes per queue, while boxing it would
/// put a pointer chase on every operation.
#[allow(clippy::large_enum_variant)]
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
    /// Pushes `value`; on a full ring, displaces the oldest message and returns it (with its
    /// sequence number). An
    /// unbounded queue is never full, so it never displaces.
    #[inline]
    pub(crate) fn force_push(&self, value: T) -> Result<ForcePushed<T>, PushError<T>> {
        match self {
            Flavor::Unbounded(q) => q.push(value).map(|pushed| (pushed, None)),
            Flavor::Bounded(q) => q.force_push(value),
        }
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
    /// The word that counts the waiters of `side`: `tail` for receivers, `head` for senders
    /// (only a bounded queue is ever full, so only its senders wait).
    #[inline]
    fn waiter_word(&self, side: Side) -> Option<&AtomicU64> {
        match (side, self) {
            (Side::Recv, Flavor::Unbounded(q)) => Some(q.tail_word()),
            (Side::Recv, Flavor::Bounded(q)) => Some(q.tail_word()),
            (Side::Send, Flavor::Bounded(q)) => Some(q.head_word()),
            (Side::Send, Flavor::Unbounded(_)) => None,
        }
    }
    /// Joins the waiter count of `side`: once per round of a wait, after that round's
    /// `listen()` (see "Waiter counts" above).
    pub(crate) fn join_waiters(&self, side: Side) {
        if let Some(word) = self.waiter_word(side) {
            join_count(word);
        }
    }
    /// Takes up to `n` waiters of `side` out of the count (never below zero): one waiter
    /// leaving, or the one a passed-on wake-up woke. Returns how many were taken.
    pub(crate) fn release_waiters(&self, side: Side, n: usize) -> usize {
        self.waiter_word(side)
            .map_or(0, |word| release_count(word, n))
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
