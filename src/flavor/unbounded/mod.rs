//! The unbounded flavour: a lock-free MPMC linked list of fixed-size blocks.
//!
//! * `block.rs`: a block's slots, its link and its receivers' `read` flags ("Slot states").
//! * `reclaim.rs`: where passed blocks go: reuse as spares, deferral while a slow receiver
//!   still reads one, free.
//! * here: the two ends and the one claim step of each (`claim_tail`, `claim_head`), shared by
//!   the single and the batch operations.
//!
//! # Layout
//!
//! Messages live in `Block`s of [`BLOCK_CAP`] slots, linked by `next`. Positions are counted in
//! *laps* of [`LAP`] = `BLOCK_CAP + 1` indices: offset `0..BLOCK_CAP` of a lap names a slot of one
//! block, and the extra offset `BLOCK_CAP` is never a slot: an index parked there means "a thread
//! is moving this end to the next block, wait". `head` and `tail` are `Position`s (index word +
//! block pointer), each on its own cache line. The index words follow `flavor/mod.rs`: `tail`
//! carries [`CLOSED`] and the receiver waiter count, `head` carries [`NOT_LAST`].
//!
//! # Invariants
//!
//! 1. `index(head) <= index(tail)` (modulo 2^43), and the slots in `[head, tail)` are claimed by
//!    senders; a claimed slot is written in a bounded number of the sender's steps.
//! 2. A slot is claimed by exactly one sender (a successful CAS on `tail`) and one receiver (a
//!    successful CAS on `head`), so a message is moved in once and out once. A CAS claims
//!    `count >= 1` consecutive slots of one block (a batch stops at the block's end).
//! 3. `tail.block` is the block that holds index `tail` (or, while `tail` is parked at offset
//!    `BLOCK_CAP`, the block being replaced); the same for `head`. There is always a block: the
//!    first one is allocated by `new`, and the sender that claims the last slot of a block
//!    installs the next one before any other index of the next lap can be claimed.
//! 4. `NOT_LAST` set in `head` implies the head block has a successor, so every one of its
//!    remaining slots is claimed and `tail` need not be read.
//! 5. A block is retired (kept as a spare or freed) exactly once, and only after every receiver
//!    that claimed one of its slots has set its `read` flag (or is the last slot's receiver,
//!    which finishes it). Until then it is reachable from `head` or from the deferred list
//!    (`reclaim.rs`), never both.
//!
//! Only a thread that won a CAS on `head`/`tail` ever dereferences a block, and a winning CAS
//! proves the index, and so the block it had loaded, is still current (indices never repeat
//! within 2^43). An idle queue holds one block (two while a sender is crossing a boundary)
//! plus at most 16 KiB of spares (30 blocks of `u64`). Under loom `LAP` is 4, so the models
//! cross blocks, defer and reuse them.
//!
//! # Orderings
//!
//! Each atomic access names its partner in a comment. The waiter protocol (no lost wake-up) is
//! argued in `flavor/mod.rs` and needs only that the CAS on `tail` acquire.

mod block;
mod reclaim;
#[cfg(all(test, not(loom)))]
mod tests;

use std::ptr;

use crossbeam_utils::CachePadded;

use self::block::Block;
pub(crate) use self::block::{BLOCK_CAP, LAP};
use self::reclaim::Reclaim;
use super::{
    index, less_waiters, waking, PopError, Popped, PoppedMany, PushError, Pushed, PushedMany,
    CLOSED, INDEX_MASK, ONE,
};
use crate::sync::{AtomicPtr, AtomicU64, Backoff, Ordering};

/// `head` flag: the head block is not the last block.
const NOT_LAST: u64 = 1;

/// One end of the queue.
struct Position<T> {
    index: AtomicU64,
    block: AtomicPtr<Block<T>>,
}

/// The unbounded block-list flavour.
pub(crate) struct Unbounded<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
    reclaim: Reclaim<T>,
}

// SAFETY: messages of type `T` move between threads through the queue (so `T: Send`); all shared
// state is atomics and slots whose access is arbitrated by the protocol above.
unsafe impl<T: Send> Send for Unbounded<T> {}
// SAFETY: as above; `&Unbounded<T>` only ever moves `T` values, never shares `&T`.
unsafe impl<T: Send> Sync for Unbounded<T> {}

/// Slots `offset..offset + count` of `block`, claimed by one CAS on an end.
struct Claim<T> {
    block: *mut Block<T>,
    offset: u64,
    count: u64,
    /// The index word the CAS replaced (its index is the first claimed slot's).
    word: u64,
    /// Receiver waiters the CAS took out of the count, to be woken (`claim_tail` only).
    wake: usize,
}

/// Sequence number (0, 1, 2, ...) of the slot at `index`.
#[inline(always)]
fn seq_of(index: u64) -> u64 {
    (index / LAP) * BLOCK_CAP + index % LAP
}

impl<T> Unbounded<T> {
    /// An empty open queue with its first block.
    pub(crate) fn new() -> Self {
        let first = Block::<T>::alloc();
        Self {
            head: CachePadded::new(Position {
                index: AtomicU64::new(0),
                block: AtomicPtr::new(first),
            }),
            tail: CachePadded::new(Position {
                index: AtomicU64::new(0),
                block: AtomicPtr::new(first),
            }),
            reclaim: Reclaim::new(),
        }
    }

    /// Claims up to `want` (at least one) slots at the tail with one CAS, as many as are left
    /// in the tail block; the claim that takes a block's last slot links the next block. `Err`
    /// if the queue is closed. The caller writes every claimed slot, in a bounded number of
    /// steps (invariant 1).
    #[inline(always)]
    fn claim_tail(&self, want: u64) -> Result<Claim<T>, ()> {
        debug_assert!(want > 0);
        let backoff = Backoff::new();
        // Acquire (both): pairs with the `Release` of the index `fetch_add` that ends a block
        // switch, which follows the `Release` store of `tail.block`, so a post-switch index
        // comes with the new block.
        let mut tail = self.tail.index.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();

        loop {
            if tail & CLOSED != 0 {
                if !next_block.is_null() {
                    // SAFETY: from `fresh_block` below, never shared.
                    unsafe { self.reclaim.unused(next_block) };
                }
                return Err(());
            }
            let offset = index(tail) % LAP;

            // Another sender is installing the next block: wait for it.
            if offset == BLOCK_CAP {
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }

            let count = want.min(BLOCK_CAP - offset);
            let fills_block = offset + count == BLOCK_CAP;
            // About to claim the last slot: get the successor outside the critical step.
            if fills_block && next_block.is_null() {
                next_block = self.reclaim.fresh_block();
            }

            let wake = waking(tail, count as usize);
            let new_tail = less_waiters(tail.wrapping_add(count * ONE), wake);
            // Success `Acquire`: reads the waiter count that a parking receiver published with
            // `Release` after registering its listener (no lost wake-up, flavor/mod.rs).
            // `Release` is not needed: the messages are published by the slots' `written`
            // stores. Failure `Acquire`: as the loads above.
            match self.tail.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if fills_block {
                        // SAFETY: we own the last slot, so no other sender can claim an index
                        // of the next lap until `link_next_block`'s `fetch_add` (they wait at
                        // offset `BLOCK_CAP`); `block` is alive because its last slot is unread.
                        unsafe { self.link_next_block(block, next_block) };
                    } else if !next_block.is_null() {
                        // SAFETY: from `fresh_block`, never shared.
                        unsafe { self.reclaim.unused(next_block) };
                    }
                    return Ok(Claim {
                        block,
                        offset,
                        count,
                        word: tail,
                        wake,
                    });
                }
                Err(current) => {
                    tail = current;
                    block = self.tail.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// Installs `next` after `block` and moves `tail` past the lap's spare offset.
    ///
    /// # Safety
    /// The caller has just claimed the last slot of `block`, and `next` is a fresh block.
    unsafe fn link_next_block(&self, block: *mut Block<T>, next: *mut Block<T>) {
        debug_assert!(!next.is_null());
        // Release: the new block's contents are published to senders that acquire `tail`.
        self.tail.block.store(next, Ordering::Release);
        // Release: ends the switch (pairs with senders' `Acquire` loads of `tail.index`).
        self.tail.index.fetch_add(ONE, Ordering::Release);
        // Release: pairs with `wait_next`'s `Acquire` in the receiver of the last slot.
        // SAFETY: `block` is alive (its last slot is claimed by us and unread).
        unsafe { (*block).next.store(next, Ordering::Release) };
    }

    /// Pushes `value`, or gives it back if the queue is closed.
    #[inline]
    pub(crate) fn push(&self, value: T) -> Result<Pushed, PushError<T>> {
        let Ok(claim) = self.claim_tail(1) else {
            return Err(PushError::Closed(value));
        };
        // SAFETY: the claim gave us this slot (invariant 2), and the block stays alive until
        // its receiver reads it (invariant 5).
        unsafe {
            (*claim.block)
                .slots
                .get_unchecked(claim.offset as usize)
                .write(value)
        };
        Ok(Pushed {
            seq: seq_of(index(claim.word)),
            wake_receiver: claim.wake == 1,
        })
    }

    /// Pushes as many messages of `src` as fit in the tail block with one claim (a batch that
    /// reaches the end of the block stops there; the caller calls again for the rest).
    ///
    /// `src` is a `vec::IntoIter`, whose `next` runs no user code and cannot fail, so every
    /// claimed slot is written in a bounded number of steps (invariant 1).
    pub(crate) fn push_some(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<PushedMany, PushError<()>> {
        let claim = self
            .claim_tail(src.len() as u64)
            .map_err(|()| PushError::Closed(()))?;
        for i in claim.offset..claim.offset + claim.count {
            let value = src.next().expect("count <= src.len()");
            // SAFETY: the claim gave us these slots (invariant 2); the block stays alive until
            // each is read (invariant 5).
            unsafe { (*claim.block).slots.get_unchecked(i as usize).write(value) };
        }
        Ok(PushedMany {
            wake_receivers: claim.wake,
        })
    }

    /// Claims up to `max` (at least one) messages at the head with one CAS, as many as are
    /// claimed by senders in the head block. `room(count)` runs just before the CAS, so that a
    /// batch makes room for what it will take while nothing is claimed yet: between the claim
    /// and the reads nothing may fail. The caller then takes every claimed slot, in order,
    /// with [`take`](Self::take).
    #[inline(always)]
    fn claim_head(&self, max: u64, mut room: impl FnMut(u64)) -> Result<Claim<T>, PopError> {
        debug_assert!(max > 0);
        let backoff = Backoff::new();
        // Acquire (both): pairs with the `Release` stores that end a head block switch
        // (`advance_head_block`).
        let mut head = self.head.index.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);

        loop {
            let offset = index(head) % LAP;

            // Another receiver is moving to the next block: wait for it.
            if offset == BLOCK_CAP {
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }

            let mut count = max.min(BLOCK_CAP - offset);
            let mut not_last = head & NOT_LAST;
            if not_last == 0 {
                // Acquire: pairs with nothing that carries data (the message is published by
                // `written`); it keeps this load after our own waiter registration on `tail` in
                // program order, which is what the re-check needs (coherence, flavor/mod.rs).
                let tail = self.tail.index.load(Ordering::Acquire);
                if index(head) == index(tail) {
                    return Err(if tail & CLOSED != 0 {
                        PopError::Closed
                    } else {
                        PopError::Empty
                    });
                }
                if (index(head) / LAP) != (index(tail) / LAP) {
                    // Head and tail are in different blocks: every remaining slot of the head
                    // block is claimed by a sender, and the head block is not the last.
                    not_last = NOT_LAST;
                } else if max > 1 {
                    // Same lap: only the slots below `tail` are claimed (a single claim needs
                    // one, and `head != tail` says there is one: the test folds away).
                    count = count.min(index(tail).wrapping_sub(index(head)) & INDEX_MASK);
                }
            }
            room(count);
            let new_head = head.wrapping_add(count * ONE) | not_last;

            // Success `AcqRel`: `Release` so that a receiver that later acquires this `head`
            // also sees a `tail` at least as new as the one we compared against; without it,
            // that receiver may read a stale `tail` below `head` and claim an unpushed slot
            // (found by loom: `each_send_wakes_a_parked_receiver`). `Acquire` (and on failure)
            // pairs the reloaded block pointer with the index (invariant 3).
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if offset + count == BLOCK_CAP {
                        // SAFETY: we claimed the last slot of `block`, unread, so it is alive
                        // and `head` is parked at offset `BLOCK_CAP`.
                        unsafe { self.advance_head_block(block, new_head) };
                    }
                    return Ok(Claim {
                        block,
                        offset,
                        count,
                        word: head,
                        wake: 0,
                    });
                }
                Err(current) => {
                    head = current;
                    block = self.head.block.load(Ordering::Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// Moves `head` to the block after `block`, once its successor is linked.
    ///
    /// # Safety
    /// The caller has just claimed the last slot of `block` (so `head` is parked at offset
    /// `BLOCK_CAP` and no other receiver can move it).
    unsafe fn advance_head_block(&self, block: *mut Block<T>, new_head: u64) {
        // SAFETY: `block` is alive: its last slot is claimed by the caller and unread.
        let next = unsafe { (*block).wait_next() };
        let mut next_index = (new_head & !NOT_LAST).wrapping_add(ONE);
        // Relaxed: a hint only. If the successor already has a successor, the new head block is
        // not the last; if we miss it, the next pop reads `tail` instead.
        // SAFETY: `next` is alive: its slots are not all read (head has not reached them).
        if !unsafe { (*next).next.load(Ordering::Relaxed) }.is_null() {
            next_index |= NOT_LAST;
        }
        // Release (both): publish the new block before the index that points into it (pairs
        // with the `Acquire` loads at the top of `claim_head`).
        self.head.block.store(next, Ordering::Release);
        self.head.index.store(next_index, Ordering::Release);
    }

    /// Moves the message of claimed slot `i` of `block` out, then marks the slot read, or, for
    /// the last slot, finishes the block (`reclaim.rs`).
    ///
    /// # Safety
    /// `claim_head` gave the caller slot `i` of `block`, not taken yet; a caller with several
    /// slots of the block takes them in order, so the last slot (which finishes the block)
    /// comes after every other slot of its claim is marked read.
    #[inline(always)]
    unsafe fn take(&self, block: *mut Block<T>, i: u64) -> T {
        // SAFETY: the claim makes the slot ours to read (invariant 2) and keeps the block
        // alive until we mark it read or finish it (invariant 5).
        unsafe {
            let value = (*block).slots.get_unchecked(i as usize).read();
            if i + 1 == BLOCK_CAP {
                self.reclaim.finish_block(block);
            } else {
                Block::mark_read(block, i as usize);
            }
            value
        }
    }

    /// Pops the oldest message, if any.
    #[inline]
    pub(crate) fn pop(&self) -> Result<Popped<T>, PopError> {
        let claim = self.claim_head(1, |_| {})?;
        // SAFETY: the claim gave us this one slot.
        let value = unsafe { self.take(claim.block, claim.offset) };
        Ok(Popped {
            seq: seq_of(index(claim.word)),
            value,
            wake_sender: false,
        })
    }

    /// Pops up to `max` messages from the head block with one claim, appending them to `out`.
    pub(crate) fn pop_some(&self, max: usize, out: &mut Vec<T>) -> Result<PoppedMany, PopError> {
        // Room first: nothing may allocate (or fail to) between the claim and the reads.
        let claim = self.claim_head(max as u64, |count| out.reserve(count as usize))?;
        for i in claim.offset..claim.offset + claim.count {
            // SAFETY: the claim gave us these slots; we take them in order.
            out.push(unsafe { self.take(claim.block, i) });
        }
        Ok(PoppedMany {
            count: claim.count as usize,
            wake_senders: 0,
        })
    }

    /// The `tail` word, which counts parked receivers (`flavor/mod.rs`).
    #[inline]
    pub(crate) fn tail_word(&self) -> &AtomicU64 {
        &self.tail.index
    }

    /// Closes the queue; `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        // SeqCst: close is rare; the strongest ordering keeps reasoning simple. What matters is
        // that it is an RMW on `tail`, ordered against every push CAS and waiter registration.
        self.tail.index.fetch_or(CLOSED, Ordering::SeqCst) & CLOSED == 0
    }

    /// Whether the queue is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.tail.index.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Number of messages claimed by senders and not yet claimed by receivers.
    pub(crate) fn len(&self) -> usize {
        loop {
            // SeqCst (all three): a consistent snapshot of both ends; `len` is not a hot path.
            let tail = self.tail.index.load(Ordering::SeqCst);
            let head = self.head.index.load(Ordering::SeqCst);
            if self.tail.index.load(Ordering::SeqCst) == tail {
                return Self::distance(index(head), index(tail));
            }
        }
    }

    /// Messages between two indices, skipping the spare offset of each lap.
    fn distance(mut head: u64, mut tail: u64) -> usize {
        // An index parked on the spare offset counts as the start of the next lap.
        if head % LAP == BLOCK_CAP {
            head = (head + 1) & INDEX_MASK;
        }
        if tail % LAP == BLOCK_CAP {
            tail = (tail + 1) & INDEX_MASK;
        }
        // Rotate so that `head` falls into lap 0 (indices wrap at 2^43).
        let head_off = head % LAP;
        let tail = head_off + (tail.wrapping_sub(head) & INDEX_MASK);
        (tail - head_off - tail / LAP) as usize
    }

    /// Whether the queue has no message.
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.index.load(Ordering::SeqCst);
        let tail = self.tail.index.load(Ordering::SeqCst);
        index(head) == index(tail)
    }

    /// Test hook: starts both ends at `lap` laps, to exercise index wrap-around.
    #[cfg(all(test, not(loom)))]
    fn starting_at_lap(lap: u64) -> Self {
        let q = Self::new();
        let word = ((lap * LAP) & INDEX_MASK) << super::SHIFT;
        q.head.index.store(word, Ordering::Relaxed);
        q.tail.index.store(word, Ordering::Relaxed);
        q
    }
}

impl<T> Drop for Unbounded<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the queue; Relaxed is enough. The deferred
        // blocks and the spares are freed by `Reclaim`'s drop, after this one.
        let mut head = index(self.head.index.load(Ordering::Relaxed));
        let tail = index(self.tail.index.load(Ordering::Relaxed));
        let mut block = self.head.block.load(Ordering::Relaxed);

        // Moves the messages out one by one, freeing each block once it is passed and the last
        // one at the end, so a panicking message `Drop` leaks neither the rest nor the blocks.
        crate::drop_all::drop_all(|| loop {
            if head == tail {
                if !block.is_null() {
                    // SAFETY: `block` is the last live block; set to null so it is freed once.
                    unsafe { Block::free(block) };
                    block = ptr::null_mut();
                }
                return None;
            }
            let offset = head % LAP;
            head = (head + 1) & INDEX_MASK;
            // SAFETY: with exclusive access, every slot in [head, tail) is written and unread
            // (invariant 1; a sender finishes its write before `push` returns), so reading it is
            // reading a slot nobody else can claim; the blocks from the head block on are alive
            // and linked. `head` has moved past this slot (or block end) before anything can
            // panic, so each message is read out once and each block freed once.
            unsafe {
                if offset < BLOCK_CAP {
                    return Some((*block).slots.get_unchecked(offset as usize).read());
                }
                let next = (*block).next.load(Ordering::Relaxed);
                Block::free(block);
                block = next;
            }
        });
    }
}
