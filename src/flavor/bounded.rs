//! The bounded flavour: a lock-free MPMC ring buffer with per-slot stamps (after Dmitry
//! Vyukov's bounded MPMC queue).
//!
//! # Layout
//!
//! `cap` slots; positions are `lap + index`, where `index < cap` and `lap` is a multiple of
//! `one_lap`, the smallest power of two above `cap` (so positions wrap cleanly at 2^43). `head`
//! and `tail` are index words as in `flavor/mod.rs`: `tail` carries [`CLOSED`] and the receiver
//! waiter count, `head` carries the *sender* waiter count (senders parked on a full queue).
//!
//! # Slot stamps
//!
//! A slot's `stamp` says whose turn it is:
//! * `stamp == pos`: empty, the sender that claims `tail == pos` may write it;
//! * `stamp == pos + 1`: written, the receiver that claims `head == pos` may read it;
//! * after the read the receiver stores `pos + one_lap`: empty for the next lap.
//!
//! # Invariants
//!
//! 1. `index(head) <= index(tail) <= index(head) + one_lap` in position order; the queue is
//!    full when `tail == head + one_lap` (every slot of the lap written and unread).
//! 2. A slot is claimed by one sender (CAS on `tail` while its stamp says empty) and one
//!    receiver (CAS on `head` while its stamp says written), so each message moves in once and
//!    out once.
//! 3. The CASes on `head`/`tail` preserve the flag and waiter bits of the word they replace.
//! 4. Batches: a CAS that moves `tail` from `pos` over `count` positions claims all of them,
//!    and is only tried after the stamps of those `count` slots said "empty for this lap". The
//!    stamps cannot change in between, because only the sender that claims a position writes
//!    its slot, and a successful CAS from `pos` proves nobody claimed `pos` or later. The same
//!    holds for receivers and "written" stamps on `head`. A batch never passes the ring's last
//!    slot (the caller claims again for the rest), so a claim's positions are
//!    `pos..pos + count` of one lap, in slots `index(pos)..index(pos) + count`.
//! 5. A displacement (`force_push`, full ring) claims the oldest message through a CAS on
//!    `head` and then the same slot's next position through `tail`: between the two no other
//!    thread can claim either (the stamp still says "written, last lap"), so the displacer
//!    moves the old message out and the new one in, and invariants 1-3 hold after each step.
//!
//! Senders learn from their `tail` CAS whether a receiver is parked, receivers from their `head`
//! CAS whether a sender is parked (no lost wake-up: `flavor/mod.rs`, "Waiter counts").

use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::{
    index, less_waiters, waking, ForcePushed, PopError, Popped, PoppedMany, PushError, Pushed,
    PushedMany, CLOSED, INDEX_MASK, SHIFT,
};
use crate::sync::{AtomicU64, Backoff, Ordering, UnsafeCell};

/// Bits of a word below the index.
const LOW_BITS: u64 = (1 << SHIFT) - 1;

struct Slot<T> {
    stamp: AtomicU64,
    msg: UnsafeCell<MaybeUninit<T>>,
}

/// `count` consecutive positions from `pos`, claimed by one CAS on an end.
struct Claim {
    pos: u64,
    count: usize,
    /// Waiters of the other side that the CAS took out of the count, to be woken.
    wake: usize,
}

/// The fields of a ring that never change, copied out of `&self` at the start of an operation.
/// Behind `&self`, beside the atomics, the compiler reloads them after every atomic access (it
/// cannot tell that nothing writes them); as locals they stay in registers. Without it a
/// message in and out took 189 instructions instead of 162 (callgrind,
/// `examples/queue_op_count.rs`).
struct Shape<'a, T> {
    slots: &'a [Slot<T>],
    cap: u64,
    one_lap: u64,
}

impl<T> Clone for Shape<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shape<'_, T> {}

impl<'a, T> Shape<'a, T> {
    /// The position after `pos`.
    #[inline(always)]
    fn next(self, pos: u64) -> u64 {
        self.advance(pos, 1)
    }

    /// Sequence number of a position (0, 1, 2, ... in claim order).
    #[inline(always)]
    fn seq(self, pos: u64) -> u64 {
        // A shift, not a division: `one_lap` is a power of two only the compiler does not know
        // (a 64-bit `div` on every push and pop was a measurable part of the ring's cost).
        (pos >> self.one_lap.trailing_zeros()) * self.cap + (pos & (self.one_lap - 1))
    }

    #[inline(always)]
    fn slot(self, pos: u64) -> &'a Slot<T> {
        // SAFETY: `pos & (one_lap - 1) < cap` for every position the ring produces.
        unsafe {
            self.slots
                .get_unchecked((pos & (self.one_lap - 1)) as usize)
        }
    }

    /// The position `count` places after `pos`, for a run that stays within `pos`'s lap: the
    /// next lap's first position when the run ends at the ring's last slot.
    #[inline(always)]
    fn advance(self, pos: u64, count: usize) -> u64 {
        let idx = pos & (self.one_lap - 1);
        if idx + (count as u64) < self.cap {
            pos + count as u64
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap) & INDEX_MASK
        }
    }

    /// The run of ready slots that starts at `pos`, whose stamp the caller found ready: `pos`
    /// and the slots after it whose stamp is `position + offset` (offset 0: empty for this lap;
    /// 1: written), at most `max` in all, and never past the ring's last slot (invariant 4: a
    /// claim's positions are `pos..pos + count` of one lap, in slots next to each other).
    /// Returns the count and the position after the run. A single claim (`max == 1`) reads
    /// no further stamp.
    #[inline(always)]
    fn run_from(self, pos: u64, max: usize, offset: u64) -> (usize, u64) {
        let idx = (pos & (self.one_lap - 1)) as usize;
        let max = max.min(self.cap as usize - idx);
        let mut count = 1;
        while count < max {
            // Acquire: as the first slot's stamp load in `claim_tail` (offset 0) or
            // `claim_head` (offset 1).
            // SAFETY: `idx + count < cap`, the number of slots.
            let stamp = unsafe { self.slots.get_unchecked(idx + count) }
                .stamp
                .load(Ordering::Acquire);
            if stamp != pos + count as u64 + offset {
                break;
            }
            count += 1;
        }
        (count, self.advance(pos, count))
    }

    /// Writes the message of a claimed position and stamps it written.
    ///
    /// # Safety
    /// `claim_tail` gave the caller `pos`, not written yet.
    #[inline(always)]
    unsafe fn write(self, pos: u64, value: T) {
        let slot = self.slot(pos);
        // SAFETY: the stamp said empty and the claim took the position (invariants 2 and 4):
        // nobody else touches the cell until we publish it.
        slot.msg
            .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
        // Release: publishes the message to the receiver's `Acquire` stamp load.
        slot.stamp.store(pos + 1, Ordering::Release);
    }

    /// Moves the message of a claimed position out and hands the slot to the next lap.
    ///
    /// # Safety
    /// `claim_head` gave the caller `pos`, not taken yet.
    #[inline(always)]
    unsafe fn take(self, pos: u64) -> T {
        let slot = self.slot(pos);
        // SAFETY: the stamp said written and the claim took the position (invariants 2, 4).
        let value = slot.msg.with(|p| unsafe { p.read().assume_init() });
        // Release: hands the slot to the next lap's sender (its `Acquire` stamp load).
        slot.stamp.store(
            pos.wrapping_add(self.one_lap) & INDEX_MASK,
            Ordering::Release,
        );
        value
    }
}

/// The bounded ring flavour.
pub(crate) struct Bounded<T> {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    cap: u64,
    one_lap: u64,
}

// SAFETY: messages of type `T` move between threads (so `T: Send`); all shared state is atomics
// and slots whose access the stamps arbitrate (invariant 2).
unsafe impl<T: Send> Send for Bounded<T> {}
// SAFETY: as above; `&Bounded<T>` only moves `T` values, never shares `&T`.
unsafe impl<T: Send> Sync for Bounded<T> {}

impl<T> Bounded<T> {
    /// An empty ring of `cap` slots.
    ///
    /// # Panics
    /// If `cap` is 0 or above 2^40.
    pub(crate) fn new(cap: usize) -> Self {
        assert!(
            cap > 0,
            "segmq: a bounded queue needs a capacity of at least 1 (segmq has no rendezvous \
             flavour: for a direct hand-off use bounded(1), and an acknowledgement queue if the \
             sender must wait for the receiver; see `Queue::bounded`)"
        );
        assert!(cap as u64 <= 1 << 40, "segmq: bounded capacity too large");
        let cap = cap as u64;
        let one_lap = (cap + 1).next_power_of_two();
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i),
                msg: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            slots,
            cap,
            one_lap,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// The ring's fixed shape, copied into locals once per operation (see [`Shape`]).
    #[inline(always)]
    fn shape(&self) -> Shape<'_, T> {
        Shape {
            slots: &self.slots,
            cap: self.cap,
            one_lap: self.one_lap,
        }
    }

    /// The position after `pos`.
    fn next(&self, pos: u64) -> u64 {
        self.shape().next(pos)
    }

    /// Sequence number of a position.
    fn seq(&self, pos: u64) -> u64 {
        self.shape().seq(pos)
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        self.shape().slot(pos)
    }

    /// Claims up to `want` (at least one) consecutive free slots from `tail` with one CAS
    /// (invariant 4): `Err(Full)` if the first is not free and the ring is full, `Err(Closed)`
    /// if closed. The caller writes every claimed slot with [`Shape::write`].
    #[inline(always)]
    fn claim_tail(&self, shape: Shape<'_, T>, want: usize) -> Result<Claim, PushError<()>> {
        debug_assert!(want > 0);
        let backoff = Backoff::new();
        // Relaxed: the slots' stamps (acquired below and in `run_from`) license the writes.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return Err(PushError::Closed(()));
            }
            let pos = index(tail);
            // Acquire: pairs with the receiver's `Release` stamp store in `take`, so the last
            // lap's message is moved out before we write.
            let stamp = shape.slot(pos).stamp.load(Ordering::Acquire);
            if stamp == pos {
                let (count, end) = shape.run_from(pos, want, 0);
                let wake = waking(tail, count);
                let new = less_waiters((end << SHIFT) | (tail & LOW_BITS), wake);
                // Success `Acquire`: reads the receiver waiter count released by
                // `join_count` (flavor/mod.rs). Failure: a reload.
                match self.tail.compare_exchange_weak(
                    tail,
                    new,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Claim { pos, count, wake }),
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                        continue;
                    }
                }
            }
            if stamp.wrapping_add(shape.one_lap) & INDEX_MASK == pos + 1 {
                // The slot still holds last lap's message: full, unless a receiver has
                // claimed it meanwhile. Acquire: orders this load after our own `head`
                // registration in program order (the re-check of a parking sender).
                let head = self.head.load(Ordering::Acquire);
                if index(head).wrapping_add(shape.one_lap) & INDEX_MASK == pos {
                    return Err(PushError::Full(()));
                }
                backoff.spin();
            } else {
                // Another sender is mid-claim on this lap: wait for it.
                backoff.snooze();
            }
            tail = self.tail.load(Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn push(&self, value: T) -> Result<Pushed, PushError<T>> {
        let shape = self.shape();
        let claim = match self.claim_tail(shape, 1) {
            Ok(claim) => claim,
            Err(PushError::Full(())) => return Err(PushError::Full(value)),
            Err(PushError::Closed(())) => return Err(PushError::Closed(value)),
        };
        // SAFETY: the claim gave us this position.
        unsafe { shape.write(claim.pos, value) };
        Ok(Pushed {
            seq: shape.seq(claim.pos),
            wake_receiver: claim.wake == 1,
        })
    }

    /// Claims up to `max` (at least one) consecutive written slots from `head` with one CAS
    /// (invariant 4): `Err` if the first is not written and the ring is empty (or closed and
    /// drained). `room(count)` runs just before the CAS, so that a batch makes room for what it
    /// will take while nothing is claimed yet. The caller takes every claimed slot with
    /// [`Shape::take`].
    #[inline(always)]
    fn claim_head(
        &self,
        shape: Shape<'_, T>,
        max: usize,
        mut room: impl FnMut(usize),
    ) -> Result<Claim, PopError> {
        debug_assert!(max > 0);
        let backoff = Backoff::new();
        // Relaxed: the stamps (acquired below and in `run_from`) license the reads.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let pos = index(head);
            // Acquire: pairs with the sender's `Release` stamp store in `write`, so the message
            // is visible before we read it.
            let stamp = shape.slot(pos).stamp.load(Ordering::Acquire);
            if stamp == pos + 1 {
                let (count, end) = shape.run_from(pos, max, 1);
                room(count);
                let wake = waking(head, count);
                let new = less_waiters((end << SHIFT) | (head & LOW_BITS), wake);
                // Success `AcqRel`: `Acquire` reads the sender waiter count released by
                // `join_count`; `Release` keeps the head index we publish after the
                // stamp check. Failure: a reload.
                match self.head.compare_exchange_weak(
                    head,
                    new,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Claim { pos, count, wake }),
                    Err(h) => {
                        head = h;
                        backoff.spin();
                        continue;
                    }
                }
            }
            if stamp == pos {
                // Not written yet: empty, unless a sender has claimed it meanwhile.
                // Acquire: orders this load after our own `tail` registration in program
                // order (the re-check of a parking receiver).
                let tail = self.tail.load(Ordering::Acquire);
                if index(tail) == pos {
                    return Err(if tail & CLOSED != 0 {
                        PopError::Closed
                    } else {
                        PopError::Empty
                    });
                }
            }
            // A sender is mid-write, or another receiver mid-claim: wait for it.
            backoff.snooze();
            head = self.head.load(Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Result<Popped<T>, PopError> {
        let shape = self.shape();
        let claim = self.claim_head(shape, 1, |_| {})?;
        // SAFETY: the claim gave us this position.
        let value = unsafe { shape.take(claim.pos) };
        Ok(Popped {
            seq: shape.seq(claim.pos),
            value,
            wake_sender: claim.wake == 1,
        })
    }

    /// Pushes `value`; when the ring is full, displaces the oldest message and returns it
    /// (`force_send`). Fails only when the queue is closed.
    ///
    /// A displacement is a receive and a send in one: the CAS that moves `head` past the oldest
    /// position `pos - one_lap` claims that slot as its receiver (invariant 2), so no receiver
    /// can take it; no sender can claim `pos` either, because its stamp still says "written,
    /// last lap" and only a CAS on `tail` after a stamp saying "empty" claims a position. So
    /// the displacing thread owns the slot for both turns: it advances `tail` past `pos` (a CAS
    /// that keeps the word's flag and waiter bits, invariant 3), swaps the message, and stamps
    /// the slot written for this lap.
    pub(crate) fn force_push(&self, mut value: T) -> Result<ForcePushed<T>, PushError<T>> {
        let backoff = Backoff::new();
        loop {
            match self.push(value) {
                Ok(pushed) => return Ok((pushed, None)),
                Err(PushError::Closed(v)) => return Err(PushError::Closed(v)),
                Err(PushError::Full(v)) => match self.displace(v) {
                    Ok(done) => return Ok(done),
                    Err(v) => value = v,
                },
            }
            // The ring changed under us (a receive made room, or another displacement won):
            // try again.
            backoff.spin();
        }
    }

    /// One attempt at displacing the oldest message of a full ring with `value`; gives `value`
    /// back if the ring is not full (any more) or another thread moved `head` first. Closed is
    /// left to the `push` that follows.
    fn displace(&self, value: T) -> Result<ForcePushed<T>, T> {
        // Relaxed: the stamp (acquired below) and the `head` CAS decide.
        let tail = self.tail.load(Ordering::Relaxed);
        if tail & CLOSED != 0 {
            return Err(value);
        }
        let pos = index(tail);
        let slot = self.slot(pos);
        // Acquire: pairs with the `Release` stamp store of the oldest message's sender, so its
        // write is visible before we move it out.
        let stamp = slot.stamp.load(Ordering::Acquire);
        let oldest = pos.wrapping_sub(self.one_lap) & INDEX_MASK;
        if stamp != oldest + 1 {
            return Err(value);
        }
        // Relaxed: only the index matters, and the CAS below re-checks the whole word.
        let head = self.head.load(Ordering::Relaxed);
        if index(head) != oldest {
            return Err(value);
        }
        // Claim the oldest message as its receiver. The sender waiters in `head` stay counted:
        // the ring is full again right after, so there is no room to wake them for.
        // AcqRel, as the CAS in `claim_head`; failure: give up this attempt.
        let new_head = (self.next(oldest) << SHIFT) | (head & LOW_BITS);
        if self
            .head
            .compare_exchange(head, new_head, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // Now `pos` is ours to send into: advance `tail`, keeping its flag and waiter bits and
        // taking out the receivers this message wakes (as the claim in `push`).
        let mut current = self.tail.load(Ordering::Relaxed);
        let wake = loop {
            debug_assert_eq!(index(current), pos, "nobody else can move tail past pos");
            let wake = waking(current, 1);
            let new = less_waiters((self.next(pos) << SHIFT) | (current & LOW_BITS), wake);
            // Acquire on success: reads the receiver waiter count, as the CAS in `claim_tail`.
            match self.tail.compare_exchange_weak(
                current,
                new,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break wake,
                Err(c) => current = c,
            }
        };
        // SAFETY: the `head` CAS made us the receiver of this slot's written message and no
        // sender can claim `pos` before our stamp store (see `force_push`): we move the old
        // message out and the new one in, once each.
        let old = slot.msg.with_mut(|p| unsafe {
            let old = p.read().assume_init();
            p.write(MaybeUninit::new(value));
            old
        });
        // Release: publishes the new message to the receiver of `pos` (its `Acquire`).
        slot.stamp.store(pos + 1, Ordering::Release);
        Ok((
            Pushed {
                seq: self.seq(pos),
                wake_receiver: wake == 1,
            },
            Some((self.seq(oldest), old)),
        ))
    }

    /// Pushes as many messages of `src` as there are free slots (at least one) with one claim
    /// (invariant 4); `src` keeps the rest. `src` is a `vec::IntoIter`, whose `next` runs no
    /// user code, so every claimed slot is written in a bounded number of steps.
    pub(crate) fn push_some(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<PushedMany, PushError<()>> {
        let shape = self.shape();
        let claim = self.claim_tail(shape, src.len())?;
        for pos in claim.pos..claim.pos + claim.count as u64 {
            let value = src.next().expect("count <= src.len()");
            // SAFETY: the claim gave us positions `claim.pos..claim.pos + count`, of one lap
            // (invariant 4).
            unsafe { shape.write(pos, value) };
        }
        Ok(PushedMany {
            wake_receivers: claim.wake,
        })
    }

    /// Pops up to `max` written messages (at least one) with one claim (invariant 4),
    /// appending them to `out` in FIFO order.
    pub(crate) fn pop_some(&self, max: usize, out: &mut Vec<T>) -> Result<PoppedMany, PopError> {
        // Room first: nothing may allocate (or fail to) between the claim and the reads.
        let shape = self.shape();
        let claim = self.claim_head(shape, max, |count| out.reserve(count))?;
        for pos in claim.pos..claim.pos + claim.count as u64 {
            // SAFETY: the claim gave us positions `claim.pos..claim.pos + count`, of one lap
            // (invariant 4).
            out.push(unsafe { shape.take(pos) });
        }
        Ok(PoppedMany {
            count: claim.count,
            wake_senders: claim.wake,
        })
    }

    /// The `tail` word, which counts parked receivers (`flavor/mod.rs`).
    #[inline]
    pub(crate) fn tail_word(&self) -> &AtomicU64 {
        &self.tail
    }

    /// The `head` word, which counts senders parked on a full ring (`flavor/mod.rs`).
    #[inline]
    pub(crate) fn head_word(&self) -> &AtomicU64 {
        &self.head
    }

    pub(crate) fn close(&self) -> bool {
        // SeqCst: rare; an RMW on `tail`, ordered against every push CAS.
        self.tail.fetch_or(CLOSED, Ordering::SeqCst) & CLOSED == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & CLOSED != 0
    }

    pub(crate) fn len(&self) -> usize {
        loop {
            // SeqCst: a consistent snapshot of both ends; not a hot path.
            let tail = index(self.tail.load(Ordering::SeqCst));
            let head = index(self.head.load(Ordering::SeqCst));
            if index(self.tail.load(Ordering::SeqCst)) == tail {
                let hix = head & (self.one_lap - 1);
                let tix = tail & (self.one_lap - 1);
                return if hix < tix {
                    (tix - hix) as usize
                } else if hix > tix {
                    (self.cap - hix + tix) as usize
                } else if tail == head {
                    0
                } else {
                    self.cap as usize
                };
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        index(self.head.load(Ordering::SeqCst)) == index(self.tail.load(Ordering::SeqCst))
    }
}

impl<T> Drop for Bounded<T> {
    fn drop(&mut self) {
        let mut pos = index(self.head.load(Ordering::Relaxed));
        let mut left = self.len() as u64;
        // A panicking message `Drop` does not stop the rest (see `crate::drop_all`).
        crate::drop_all::drop_all(|| {
            if left == 0 {
                return None;
            }
            let slot = self.slot(pos);
            pos = self.next(pos);
            left -= 1;
            // SAFETY: with `&mut self`, the `len` slots from `head` hold written, unread
            // messages (invariant 1); `left` has counted this one off before anything can
            // panic, so each is read out once.
            Some(slot.msg.with(|p| unsafe { (*p).assume_init_read() }))
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn full_and_empty_and_wrap() {
        let q = Bounded::new(3);
        for round in 0..10u64 {
            for i in 0..3 {
                assert_eq!(q.push(round * 3 + i).unwrap().seq, round * 3 + i);
            }
            assert!(matches!(q.push(99), Err(PushError::Full(99))));
            assert_eq!(q.len(), 3);
            for i in 0..3 {
                assert_eq!(q.pop().unwrap().value, round * 3 + i);
            }
            assert_eq!(q.pop().unwrap_err(), PopError::Empty);
            assert_eq!(q.len(), 0);
        }
    }

    #[test]
    fn capacity_one() {
        let q = Bounded::new(1);
        q.push(1).unwrap();
        assert!(matches!(q.push(2), Err(PushError::Full(2))));
        assert_eq!(q.pop().unwrap().value, 1);
        q.push(3).unwrap();
        assert!(q.close());
        assert!(matches!(q.push(4), Err(PushError::Closed(4))));
        assert_eq!(q.pop().unwrap().value, 3);
        assert_eq!(q.pop().unwrap_err(), PopError::Closed);
    }

    #[test]
    #[should_panic(expected = "capacity of at least 1")]
    fn capacity_zero_panics() {
        let _ = Bounded::<u8>::new(0);
    }

    #[test]
    fn sender_waiters_are_reported_to_receivers() {
        let q = Bounded::new(2);
        q.push(1).unwrap();
        assert!(!q.pop().unwrap().wake_sender);
        q.push(2).unwrap();
        crate::flavor::join_count(q.head_word());
        crate::flavor::join_count(q.head_word());
        // The claim wakes one counted sender and takes it out of the count.
        assert!(q.pop().unwrap().wake_sender);
        assert_eq!(
            crate::flavor::release_count(q.head_word(), 5),
            1,
            "saturates"
        );
        assert_eq!(crate::flavor::release_count(q.head_word(), 1), 0);
    }
}
