//! A block of the unbounded list: [`BLOCK_CAP`] message slots, the link to the next block and
//! the receivers' `read` flags.
//!
//! # Slot states
//!
//! * `Slot::written` (its own word, beside the message, set by a plain `Release` store): the
//!   sender has written the message. Only the slot's sender writes it, so the send path has one
//!   locked instruction (the claim CAS in `mod.rs`).
//! * `Block::read[i]` (one byte per slot, together after the slots, set by a plain `Release`
//!   store): slot `i`'s receiver has moved the message out. Only that receiver writes it, so the
//!   receive path has one locked instruction too (the claim CAS), and a receiver never writes a
//!   line its senders are writing. The last slot has no flag: its receiver finishes the block
//!   (`reclaim.rs`).
//!
//! A block is all zeros when empty, so a new one comes from `alloc_zeroed` and a reused one is
//! reset to zeros (`Block::reset`).

#[cfg(not(loom))]
use std::alloc::{self, Layout};
use std::mem::MaybeUninit;
use std::ptr;

use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, Backoff, Ordering, UnsafeCell};

/// Indices per lap: one per slot plus the "moving to the next block" offset.
#[cfg(not(loom))]
pub(crate) const LAP: u64 = 32;
/// Under loom a block holds 3 slots, so models cross block boundaries and reclamation.
#[cfg(loom)]
pub(crate) const LAP: u64 = 4;

/// Slots per block.
pub(crate) const BLOCK_CAP: u64 = LAP - 1;

/// One message cell.
pub(super) struct Slot<T> {
    msg: UnsafeCell<MaybeUninit<T>>,
    /// Non-zero once the sender has written `msg` (module docs, "Slot states").
    written: AtomicU32,
}

impl<T> Slot<T> {
    /// Moves `value` in and publishes it to the slot's receiver.
    ///
    /// # Safety
    /// The caller claimed this slot as its sender (invariant 2 of `mod.rs`) and has not written
    /// it yet.
    #[inline(always)]
    pub(super) unsafe fn write(&self, value: T) {
        self.msg.with_mut(|p| {
            // SAFETY: the claim gives exclusive access to `msg` until `written` is set.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        // Release: publishes the message to the receiver's `wait_write` (its `Acquire`). A
        // store, not an RMW: nobody else writes `written`.
        self.written.store(1, Ordering::Release);
    }

    /// Waits until the slot's sender has written it, then moves the message out.
    ///
    /// # Safety
    /// The caller claimed this slot as its receiver (invariant 2 of `mod.rs`) and has not read
    /// it yet.
    #[inline(always)]
    pub(super) unsafe fn read(&self) -> T {
        let backoff = Backoff::new();
        // Acquire: pairs with the `Release` store of `written` in `write`, after `msg`.
        while self.written.load(Ordering::Acquire) == 0 {
            backoff.snooze();
        }
        // SAFETY: written (above) and ours alone to read (the caller's claim).
        self.msg.with(|p| unsafe { p.read().assume_init() })
    }
}

/// A block of slots and the link to the next block.
///
/// `repr(C)` with the slots first, then `next`, which only the block's last receiver and sender
/// touch, and the receivers' `read` flags. (A 128-byte alignment, so that no 16-byte slot
/// straddles two lines, was tried and measured worse: the aligned allocations cost more in the
/// burst row and glibc held 22 MiB instead of 16 after a 1M burst.)
#[repr(C)]
pub(super) struct Block<T> {
    pub(super) slots: [Slot<T>; BLOCK_CAP as usize],
    /// The next block of the queue; once the block is retired or deferred, the next block of
    /// the deferred list (`reclaim.rs`).
    pub(super) next: AtomicPtr<Block<T>>,
    /// `read[i]`: slot `i`'s receiver is done with it (module docs, "Slot states").
    read: [AtomicBool; BLOCK_CAP as usize - 1],
    /// Under loom, a leaked block fails the model (loom reports a `Track` never dropped).
    #[cfg(loom)]
    _track: loom::alloc::Track<()>,
}

impl<T> Block<T> {
    /// Allocates an empty block on the heap (never on the stack: `T` may be large).
    #[cfg(not(loom))]
    pub(super) fn alloc() -> *mut Block<T> {
        let layout = Layout::new::<Block<T>>();
        // SAFETY: `Block<T>` has a non-zero size (it holds an `AtomicPtr`). The all-zero bit
        // pattern is a valid empty block: [1] `next`: a null `AtomicPtr`; [2] `written`:
        // `AtomicU32` 0 (not written); [3] `read`: `AtomicBool` false; [4] `msg`: `MaybeUninit`
        // accepts any bytes.
        let block = unsafe { alloc::alloc_zeroed(layout) }.cast::<Block<T>>();
        if block.is_null() {
            alloc::handle_alloc_error(layout);
        }
        block
    }

    /// Under loom atomics must be built by their constructors.
    #[cfg(loom)]
    pub(super) fn alloc() -> *mut Block<T> {
        Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: std::array::from_fn(|_| Slot {
                msg: UnsafeCell::new(MaybeUninit::uninit()),
                written: AtomicU32::new(0),
            }),
            read: std::array::from_fn(|_| AtomicBool::new(false)),
            _track: loom::alloc::Track::new(()),
        }))
    }

    /// Frees a block allocated by [`Block::alloc`] without touching its messages.
    ///
    /// # Safety
    /// `block` came from `alloc`, is not freed yet, and no thread will access it again.
    pub(super) unsafe fn free(block: *mut Block<T>) {
        #[cfg(not(loom))]
        // SAFETY: per the contract, `block` was allocated with this layout and is unreachable.
        // `Block` has no drop glue that matters: slots hold `MaybeUninit`.
        unsafe {
            alloc::dealloc(block.cast(), Layout::new::<Block<T>>())
        };
        #[cfg(loom)]
        // SAFETY: under loom `alloc` used `Box::into_raw`; dropping the box drops the loom
        // atomics (which loom tracks) but no message (`MaybeUninit`).
        drop(unsafe { Box::from_raw(block) });
    }

    /// Makes a retired block empty again, as [`Block::alloc`] makes it.
    pub(super) fn reset(&self) {
        // Relaxed (all): the block is not shared yet; `link_next_block`'s `Release` stores
        // (`mod.rs`) publish the reset together with the block.
        for slot in &self.slots {
            slot.written.store(0, Ordering::Relaxed);
        }
        for read in &self.read {
            read.store(false, Ordering::Relaxed);
        }
        self.next.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// Waits until the sender that claimed the last slot has linked the next block.
    pub(super) fn wait_next(&self) -> *mut Block<T> {
        let backoff = Backoff::new();
        loop {
            // Acquire: pairs with the `Release` store of `next` in `link_next_block`
            // (`mod.rs`), so the new block's initialisation is visible.
            let next = self.next.load(Ordering::Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }

    /// Marks slot `i` (not the last) done: its receiver has moved the message out.
    ///
    /// # Safety
    /// The caller is slot `i`'s receiver, has read it, and will not touch the block again.
    #[inline(always)]
    pub(super) unsafe fn mark_read(this: *const Block<T>, i: usize) {
        // Release: pairs with the `Acquire` loads of `read_by_all`, so our read of the message
        // happens before the block is retired (reset for reuse, or freed).
        // SAFETY: the block is alive until this store (invariant 5 of `mod.rs`);
        // `i < BLOCK_CAP - 1`.
        unsafe { (*this).read.get_unchecked(i).store(true, Ordering::Release) };
    }

    /// Whether every receiver of a slot but the last is done with it.
    pub(super) fn read_by_all(&self) -> bool {
        // Acquire: pairs with the `Release` store of `mark_read`.
        self.read.iter().all(|read| read.load(Ordering::Acquire))
    }
}
