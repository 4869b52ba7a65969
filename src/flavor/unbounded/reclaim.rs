//! Where the unbounded list's blocks go once the head has passed them: reuse, deferral, free.
//!
//! # Finishing a block (why a slow reader is safe)
//!
//! The receiver that reads the *last* slot of a block finishes it (`Reclaim::finish_block`):
//! if every other slot's `read` flag is set, the block is retired; if one is not, a slower
//! receiver is still moving that message out, and the block goes onto `deferred`, a list linked
//! through the blocks' `next` words (nobody reads a passed block's `next` any more). The next
//! receiver that finishes a block takes the whole list (`swap`) and sends each block through the
//! same step again: retired if its readers are done, else pushed back. The list is only ever
//! pushed onto (CAS) and taken whole (swap), so it has no ABA problem, and it holds at most one
//! block per stalled receiver. No receiver ever waits for another.
//!
//! # Spare blocks
//!
//! A retired block goes into a free slot of `spares` (as many as fit in 16 KiB, at most 32;
//! else it is freed), and the sender that needs the next block takes a spare before it calls
//! the allocator. In steady use a queue so moves its blocks in a cycle without allocating.
//! Without it, blocks are allocated on one thread (a sender) and freed on another (a receiver),
//! which in glibc's malloc means the two contend on one arena lock: a quarter of the SPSC time
//! went to futex waits and wakes inside `calloc` and `free`.
//!
//! Reuse is safe because retiring comes after the last access by anyone (invariant 5 of
//! `mod.rs`) and a stale block pointer is never dereferenced: only a thread whose CAS on an
//! index won dereferences the block it loaded, and indices never repeat, so the pointer it
//! holds is the block's current life (a reused block is a new lap's block, reached through new
//! indices). Under loom two spare slots are kept, so the models defer and reuse blocks.
//!
//! # Invariants
//!
//! 1. A spare slot is null or holds a retired block that no other thread can reach.
//! 2. A block is on `deferred` only after its last slot is read, and only while some other
//!    slot's `read` flag is unset (or was, when it was pushed).
//! 3. Every block leaves through `Spares::retire` (kept or freed) exactly once, or is freed by
//!    a `Drop` with exclusive access.

use std::ptr;

use crossbeam_utils::CachePadded;

use super::block::Block;
use crate::sync::{AtomicPtr, Ordering};

/// The most spare blocks a queue keeps.
#[cfg(not(loom))]
const SPARES: usize = 32;
/// Under loom two, so that a model can fill one slot and find the next.
#[cfg(loom)]
const SPARES: usize = 2;

/// The most memory a queue keeps in spare blocks (30 blocks of `u64`, one of 1 KiB messages).
const SPARE_BYTES: usize = 16 << 10;

/// Spare blocks: up to [`Spares::LIMIT`] retired blocks (invariant 1).
pub(super) struct Spares<T> {
    pub(super) slots: [AtomicPtr<Block<T>>; SPARES],
}

impl<T> Spares<T> {
    /// Slots in use: as many blocks as fit in [`SPARE_BYTES`], at least one, at most [`SPARES`].
    pub(super) const LIMIT: usize = {
        let fit = SPARE_BYTES / std::mem::size_of::<Block<T>>();
        if fit == 0 {
            1
        } else if fit > SPARES {
            SPARES
        } else {
            fit
        }
    };

    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Takes a spare and resets it, if there is one.
    fn take(&self) -> Option<*mut Block<T>> {
        for slot in &self.slots[..Self::LIMIT] {
            // Relaxed: a peek, so that empty slots (a growing queue) cost no RMW; the swap is
            // what takes the block.
            if slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            // Acquire: pairs with the `Release` of `retire`, so every access of the block's
            // previous life (its receivers' reads, the retiring walk) happens before our reset.
            let block = slot.swap(ptr::null_mut(), Ordering::Acquire);
            if !block.is_null() {
                // SAFETY: a spare is unreachable by every other thread (invariant 1) and our
                // swap took it, so we have exclusive access until we publish it.
                unsafe { (*block).reset() };
                return Some(block);
            }
        }
        None
    }

    /// Keeps `block` as a spare if a slot is free, else frees it.
    ///
    /// # Safety
    /// Nobody will access `block` again (invariant 5 of `mod.rs`), or `block` was never shared.
    unsafe fn retire(&self, block: *mut Block<T>) {
        for slot in &self.slots[..Self::LIMIT] {
            // Relaxed: a peek, as in `take`.
            if !slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            // Release: pairs with the `Acquire` swap in `take` (the block's last accesses come
            // before the reuser's reset). Relaxed failure: we only learn that the slot is taken.
            if slot
                .compare_exchange(ptr::null_mut(), block, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
        // SAFETY: as the contract says; no slot took it, so nobody else can reach it.
        unsafe { Block::free(block) };
    }
}

impl<T> Drop for Spares<T> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            // `&mut self`: no other thread can touch the queue; Relaxed is enough.
            let block = slot.load(Ordering::Relaxed);
            if !block.is_null() {
                // SAFETY: a spare holds no message and nobody else can reach it.
                unsafe { Block::free(block) };
            }
        }
    }
}

/// The spare blocks and the deferred list of one queue.
pub(super) struct Reclaim<T> {
    /// Retired blocks kept for the next boundaries (module docs, "Spare blocks").
    pub(super) spares: CachePadded<Spares<T>>,
    /// Passed blocks that a slow receiver is still reading, linked by `next` (module docs,
    /// "Finishing a block").
    deferred: CachePadded<AtomicPtr<Block<T>>>,
}

impl<T> Reclaim<T> {
    pub(super) fn new() -> Self {
        Self {
            spares: CachePadded::new(Spares::new()),
            deferred: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// An empty block for the next boundary: a spare if there is one, else a new one.
    #[inline]
    pub(super) fn fresh_block(&self) -> *mut Block<T> {
        self.spares.take().unwrap_or_else(Block::alloc)
    }

    /// Gives back a block from [`fresh_block`](Self::fresh_block) that was not used.
    ///
    /// # Safety
    /// `block` came from `fresh_block` and was never shared.
    pub(super) unsafe fn unused(&self, block: *mut Block<T>) {
        // SAFETY: never shared, per the contract.
        unsafe { self.spares.retire(block) };
    }

    /// Called by the receiver of the last slot of `block`, once it has read it: retires the
    /// deferred blocks whose receivers are done by now, then retires `block` or defers it.
    ///
    /// # Safety
    /// The caller has read the last slot of `block` and touches the block no more.
    pub(super) unsafe fn finish_block(&self, block: *mut Block<T>) {
        // Relaxed: a peek; the swap in `retire_deferred` is what takes the list.
        if !self.deferred.load(Ordering::Relaxed).is_null() {
            // SAFETY: only finished blocks are on the list (invariant 2).
            unsafe { self.retire_deferred() };
        }
        // SAFETY: forwarded: head has passed the block, its last slot is read, it is on no list.
        unsafe { self.retire_or_defer(block) };
    }

    /// Retires `block` if every receiver of its slots is done, else pushes it onto `deferred`.
    ///
    /// # Safety
    /// Head has passed `block`, its last slot is read, and it is on no list.
    unsafe fn retire_or_defer(&self, block: *mut Block<T>) {
        // SAFETY: the block is alive: passed but not retired (invariant 5 of `mod.rs`).
        if unsafe { (*block).read_by_all() } {
            // SAFETY: every receiver of the block is done (invariant 5 of `mod.rs`).
            unsafe { self.spares.retire(block) };
            return;
        }
        // Relaxed: the CAS below checks it.
        let mut first = self.deferred.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the `Release` CAS. Nobody reads a passed block's `next`.
            // SAFETY: the block is alive (as above).
            unsafe { (*block).next.store(first, Ordering::Relaxed) };
            // Release: pairs with the `Acquire` swap of `retire_deferred` (the link above, and
            // everything this thread saw of the block). Relaxed failure: we retry from `now`.
            match self.deferred.compare_exchange_weak(
                first,
                block,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => first = now,
            }
        }
    }

    /// Takes the whole `deferred` list and sends each block through `retire_or_defer` again.
    ///
    /// # Safety
    /// Only passed blocks with their last slot read are ever on the list (invariant 2).
    unsafe fn retire_deferred(&self) {
        // Acquire: pairs with the `Release` CAS of every push in `retire_or_defer` (a release
        // sequence of RMWs).
        let mut list = self.deferred.swap(ptr::null_mut(), Ordering::Acquire);
        while !list.is_null() {
            let block = list;
            // Relaxed: the swap made the link visible, and the list is ours now.
            // SAFETY: a deferred block is alive until it is retired (invariant 3).
            list = unsafe { (*block).next.load(Ordering::Relaxed) };
            // SAFETY: taken off the list above, so on none; passed and finished (invariant 2).
            unsafe { self.retire_or_defer(block) };
        }
    }
}

impl<T> Drop for Reclaim<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can touch the queue; Relaxed is enough.
        let mut deferred = self.deferred.load(Ordering::Relaxed);
        while !deferred.is_null() {
            // SAFETY: with exclusive access every receiver is done; a deferred block holds no
            // unread message (its slots were all claimed by receivers) and is on no other list.
            unsafe {
                let next = (*deferred).next.load(Ordering::Relaxed);
                Block::free(deferred);
                deferred = next;
            }
        }
        // The spares free themselves (`Spares::drop`).
    }
}
