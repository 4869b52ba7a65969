//! The unbounded flavour: a lock-free MPMC linked list of fixed-size blocks.
//!
//! # Layout
//!
//! Messages live in [`Block`]s of [`BLOCK_CAP`] slots, linked by `next`. Positions are counted in
//! *laps* of [`LAP`] = `BLOCK_CAP + 1` indices: offset `0..BLOCK_CAP` of a lap names a slot of one
//! block, and the extra offset `BLOCK_CAP` is never a slot: an index parked there means "a thread
//! is moving this end to the next block, wait". `head` and `tail` are [`Position`]s (index word +
//! block pointer), each on its own cache line. The index words follow `flavor/mod.rs`: `tail`
//! carries [`CLOSED`] and the receiver waiter count, `head` carries [`NOT_LAST`].
//!
//! # Slot states
//!
//! * `Slot::written` (its own word, beside the message, set by a plain `Release` store): the
//!   sender has written the message. Only the slot's sender writes it, so the send path has one
//!   locked instruction (the claim CAS).
//! * `Block::read[i]` (one byte per slot, together after the slots, set by a plain `Release`
//!   store): slot `i`'s receiver has moved the message out. Only that receiver writes it, so the
//!   receive path has one locked instruction too (the claim CAS), and a receiver never writes a
//!   line its senders are writing. The last slot has no flag: its receiver retires the block.
//!
//! # Invariants
//!
//! 1. `index(head) <= index(tail)` (modulo 2^43), and the slots in `[head, tail)` are claimed by
//!    senders; a claimed slot is written (`written`) in a bounded number of the sender's steps.
//! 2. A slot is claimed by exactly one sender (a successful CAS on `tail`) and one receiver (a
//!    successful CAS on `head`), so a message is moved in once and out once.
//! 3. `tail.block` is the block that holds index `tail` (or, while `tail` is parked at offset
//!    `BLOCK_CAP`, the block being replaced); the same for `head`. There is always a block: the
//!    first one is allocated by `new`, and the sender that claims the last slot of a block
//!    installs the next one before any other index of the next lap can be claimed.
//! 4. `NOT_LAST` set in `head` implies the head block has a successor, so every one of its
//!    remaining slots is claimed and `tail` need not be read.
//! 5. A block is retired (kept as a spare or freed) exactly once, and only after every receiver
//!    that claimed one of its slots has set its `read` flag (or is the last slot's receiver,
//!    which retires it). Until then it is reachable from `head` or from `deferred`, never both.
//!
//! # Reclamation (why a slow reader is safe)
//!
//! Blocks are retired as soon as the head passes them and their readers are done, so memory
//! returns after a burst is drained: an idle queue holds one block (two while a sender is
//! crossing a boundary) plus at most 16 KiB of spares (30 blocks of `u64`). Only a thread that
//! won a CAS on `head`/`tail` ever dereferences a block, and a winning CAS proves the index, and
//! so the block it had loaded, is still current (indices never repeat within 2^43).
//!
//! The receiver that reads the *last* slot of a block retires it if every other slot's `read`
//! flag is set. If one is not, a slower receiver is still moving that message out: the block
//! goes onto `deferred`, a list linked through the blocks' `next` words (nobody reads a passed
//! block's `next` any more). The next receiver that finishes a block takes the whole list
//! (`swap`), retires the blocks whose readers are done and pushes the others back. The list is
//! only ever pushed onto (CAS) and taken whole (swap), so it has no ABA problem, and it holds at
//! most one block per stalled receiver. No receiver ever waits for another.
//!
//! # Spare blocks
//!
//! A retired block goes into a free slot of `spares` (as many as fit in 16 KiB, at most 32;
//! else it is freed), and the sender that needs the next block takes a spare before it calls
//! the allocator. In steady use a queue so moves its blocks in a cycle without allocating.
//! Without it, blocks are allocated on one thread (a sender) and freed on another (a receiver),
//! which in glibc's malloc means the two contend on one arena lock: a quarter of the SPSC time
//! went to futex waits and wakes inside `calloc` and `free`. Reuse is safe because retiring
//! comes after the last access by anyone (invariant 5) and a stale block pointer is never
//! dereferenced: only a thread whose CAS on an index won dereferences the block it loaded, and
//! indices never repeat, so the pointer it holds is the block's current life (a reused block is
//! a new lap's block, reached through new indices). Under loom `LAP` is 4 and two spare slots
//! are kept, so the models cross blocks, defer and reuse them.
//!
//! # Orderings
//!
//! Each atomic access names its partner in a comment. The waiter protocol (no lost wake-up) is
//! argued in `flavor/mod.rs` and needs only that the CAS on `tail` acquire.

#[cfg(not(loom))]
use std::alloc::{self, Layout};
use std::mem::MaybeUninit;
use std::ptr;

use crossbeam_utils::CachePadded;

use super::{
    index, less_waiters, waking, PopError, Popped, PoppedMany, PushError, Pushed, PushedMany,
    CLOSED, INDEX_MASK, ONE,
};
use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Backoff, Ordering, UnsafeCell};

/// Indices per lap: one per slot plus the "moving to the next block" offset.
#[cfg(not(loom))]
pub(crate) const LAP: u64 = 32;
/// Under loom a block holds 3 slots, so models cross block boundaries and reclamation.
#[cfg(loom)]
pub(crate) const LAP: u64 = 4;

/// Slots per block.
pub(crate) const BLOCK_CAP: u64 = LAP - 1;

/// `head` flag: the head block is not the last block.
const NOT_LAST: u64 = 1;

/// One message cell.
struct Slot<T> {
    msg: UnsafeCell<MaybeUninit<T>>,
    /// Non-zero once the sender has written `msg` (module docs, "Slot states").
    written: AtomicU32,
}

impl<T> Slot<T> {
    /// Spins until the sender that claimed this slot has written it.
    fn wait_write(&self) {
        let backoff = Backoff::new();
        // Acquire: pairs with the `Release` store of `written` in `write`, after `msg`.
        while self.written.load(Ordering::Acquire) == 0 {
            backoff.snooze();
        }
    }
}

impl<T> Slot<T> {
    /// Moves `value` in and publishes it to the slot's receiver.
    ///
    /// # Safety
    /// The caller claimed this slot (invariant 2) and has not written it yet.
    #[inline(always)]
    unsafe fn write(&self, value: T) {
        self.msg.with_mut(|p| {
            // SAFETY: the claim gives exclusive access to `msg` until `written` is set.
            unsafe { p.write(MaybeUninit::new(value)) }
        });
        // Release: publishes the message to the receiver's `wait_write` (its `Acquire`). A
        // store, not an RMW: nobody else writes `written`.
        self.written.store(1, Ordering::Release);
    }
}

/// A block of slots and the link to the next block.
///
/// `repr(C)` with the slots first, then `next`, which only the block's last receiver and sender
/// touch, and the receivers' `read` flags. (A 128-byte alignment, so that no 16-byte slot straddles two lines, was
/// tried and measured worse: the aligned allocations cost more in the burst row and glibc held
/// 22 MiB instead of 16 after a 1M burst.)
#[repr(C)]
struct Block<T> {
    slots: [Slot<T>; BLOCK_CAP as usize],
    /// The next block of the queue; once the block is retired or deferred, the next block of
    /// `deferred` (module docs, "Reclamation").
    next: AtomicPtr<Block<T>>,
    /// `read[i]`: slot `i`'s receiver is done with it (module docs, "Slot states").
    read: [AtomicBool; BLOCK_CAP as usize - 1],
    /// Under loom, a leaked block fails the model (loom reports a `Track` never dropped).
    #[cfg(loom)]
    _track: loom::alloc::Track<()>,
}

impl<T> Block<T> {
    /// Allocates an empty block on the heap (never on the stack: `T` may be large).
    #[cfg(not(loom))]
    fn alloc() -> *mut Block<T> {
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
    fn alloc() -> *mut Block<T> {
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
    unsafe fn free(block: *mut Block<T>) {
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
    fn reset(&self) {
        // Relaxed (all): the block is not shared yet; `link_next_block`'s `Release` stores
        // publish the reset together with the block.
        for slot in &self.slots {
            slot.written.store(0, Ordering::Relaxed);
        }
        for read in &self.read {
            read.store(false, Ordering::Relaxed);
        }
        self.next.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// Waits until the sender that claimed the last slot has linked the next block.
    fn wait_next(&self) -> *mut Block<T> {
        let backoff = Backoff::new();
        loop {
            // Acquire: pairs with the `Release` store of `next` in `push`, so the new block's
            // initialisation is visible.
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
    unsafe fn mark_read(this: *const Block<T>, i: usize) {
        // Release: pairs with the `Acquire` loads of `read_by_all`, so our read of the message
        // happens before the block is retired (reset for reuse, or freed).
        // SAFETY: the block is alive until this store (invariant 5); `i < BLOCK_CAP - 1`.
        unsafe { (*this).read.get_unchecked(i).store(true, Ordering::Release) };
    }

    /// Whether every receiver of a slot but the last is done with it.
    fn read_by_all(&self) -> bool {
        // Acquire: pairs with the `Release` store of `mark_read`.
        self.read.iter().all(|read| read.load(Ordering::Acquire))
    }
}

/// Spare blocks: up to [`Spares::LIMIT`] retired blocks, each slot null or a block that nobody
/// else can reach (module docs, "Spare blocks").
struct Spares<T> {
    slots: [AtomicPtr<Block<T>>; SPARES],
}

/// The most spare blocks a queue keeps.
#[cfg(not(loom))]
const SPARES: usize = 32;
/// Under loom two, so that a model can fill one slot and find the next.
#[cfg(loom)]
const SPARES: usize = 2;

/// The most memory a queue keeps in spare blocks (30 blocks of `u64`, one of 1 KiB messages).
const SPARE_BYTES: usize = 16 << 10;

impl<T> Spares<T> {
    /// Slots in use: as many blocks as fit in [`SPARE_BYTES`], at least one, at most [`SPARES`].
    const LIMIT: usize = {
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
                // SAFETY: a spare is unreachable by every other thread (module docs) and our
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
    /// Nobody will access `block` again (invariant 5), or `block` was never shared.
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

/// One end of the queue.
struct Position<T> {
    index: AtomicU64,
    block: AtomicPtr<Block<T>>,
}

/// The unbounded block-list flavour.
pub(crate) struct Unbounded<T> {
    head: CachePadded<Position<T>>,
    tail: CachePadded<Position<T>>,
    /// Retired blocks kept for the next boundaries, or null (module docs, "Spare blocks").
    spares: CachePadded<Spares<T>>,
    /// Passed blocks that a slow receiver is still reading, linked by `next` (module docs,
    /// "Reclamation").
    deferred: CachePadded<AtomicPtr<Block<T>>>,
}

// SAFETY: messages of type `T` move between threads through the queue (so `T: Send`); all shared
// state is atomics and slots whose access is arbitrated by the protocol above.
unsafe impl<T: Send> Send for Unbounded<T> {}
// SAFETY: as above; `&Unbounded<T>` only ever moves `T` values, never shares `&T`.
unsafe impl<T: Send> Sync for Unbounded<T> {}

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
            spares: CachePadded::new(Spares::new()),
            deferred: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Called by the receiver of the last slot of `block`, once it has read it: retires the
    /// block if its other receivers are done, else defers it; and retires the deferred blocks
    /// whose receivers are done by now.
    ///
    /// # Safety
    /// The caller has read the last slot of `block` and touches the block no more.
    unsafe fn finish_block(&self, block: *mut Block<T>) {
        // Relaxed: a peek; the swap in `retire_deferred` is what takes the list.
        if !self.deferred.load(Ordering::Relaxed).is_null() {
            // SAFETY: forwarded contract: only finished blocks are on the list.
            unsafe { self.retire_deferred() };
        }
        // SAFETY: the block is alive: head has passed it but it is not retired (invariant 5).
        if unsafe { (*block).read_by_all() } {
            // SAFETY: every receiver of the block is done (invariant 5).
            unsafe { self.spares.retire(block) };
        } else {
            // SAFETY: as above; a slow receiver still reads one of its slots.
            unsafe { self.defer(block) };
        }
    }

    /// Pushes a passed block whose slow receiver is not done onto `deferred`.
    ///
    /// # Safety
    /// Head has passed `block`, its last slot is read, and it is on no list.
    unsafe fn defer(&self, block: *mut Block<T>) {
        // Relaxed: the CAS below checks it.
        let mut first = self.deferred.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the `Release` CAS. Nobody reads a passed block's `next`.
            // SAFETY: the block is alive (invariant 5).
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

    /// Takes the whole `deferred` list, retires the blocks whose receivers are done and pushes
    /// the others back.
    ///
    /// # Safety
    /// Only passed blocks with their last slot read are ever on the list (`defer`'s contract).
    unsafe fn retire_deferred(&self) {
        // Acquire: pairs with the `Release` CAS of every `defer` (a release sequence of RMWs).
        let mut list = self.deferred.swap(ptr::null_mut(), Ordering::Acquire);
        while !list.is_null() {
            let block = list;
            // Relaxed: the swap made the link visible, and the list is ours now.
            // SAFETY: a deferred block is alive until it is retired here (invariant 5).
            list = unsafe { (*block).next.load(Ordering::Relaxed) };
            // SAFETY: as above.
            if unsafe { (*block).read_by_all() } {
                // SAFETY: every receiver of the block is done; it is on no list any more.
                unsafe { self.spares.retire(block) };
            } else {
                // SAFETY: taken off the list above, so on none.
                unsafe { self.defer(block) };
            }
        }
    }

    /// An empty block for the next boundary: a spare if there is one, else a new one.
    #[inline]
    fn fresh_block(&self) -> *mut Block<T> {
        self.spares.take().unwrap_or_else(Block::alloc)
    }

    /// Pushes `value`, or gives it back if the queue is closed.
    pub(crate) fn push(&self, value: T) -> Result<Pushed, PushError<T>> {
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
                    // SAFETY: taken or allocated above, never shared.
                    unsafe { self.spares.retire(next_block) };
                }
                return Err(PushError::Closed(value));
            }
            let offset = index(tail) % LAP;

            // Another sender is installing the next block: wait for it.
            if offset == BLOCK_CAP {
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }

            // About to claim the last slot: allocate the successor outside the critical step.
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = self.fresh_block();
            }

            let wake = waking(tail, 1);
            let new_tail = less_waiters(tail.wrapping_add(ONE), wake);
            // Success `Acquire`: reads the waiter count that a parking receiver published with
            // `Release` after registering its listener (no lost wake-up, flavor/mod.rs).
            // `Release` is not needed: the message is published by the slot's `written` store.
            // Failure `Acquire`: as the loads above.
            match self.tail.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        // SAFETY: we own the last slot, so no other sender can claim an index
                        // of the next lap until the `fetch_add` below (they wait at offset
                        // `BLOCK_CAP`); `block` is alive because its last slot is unread.
                        unsafe { self.link_next_block(block, next_block) };
                        next_block = ptr::null_mut();
                    }
                    if !next_block.is_null() {
                        // SAFETY: taken or allocated above, never shared.
                        unsafe { self.spares.retire(next_block) };
                    }
                    // SAFETY: the CAS gave us exclusive write access to this slot (invariant 2),
                    // and the block stays alive until its receiver reads it (invariant 5).
                    unsafe {
                        (*block).slots.get_unchecked(offset as usize).write(value);
                    }
                    return Ok(Pushed {
                        seq: seq_of(index(tail)),
                        wake_receiver: wake == 1,
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

    /// Pops the oldest message, if any.
    pub(crate) fn pop(&self) -> Result<Popped<T>, PopError> {
        let backoff = Backoff::new();
        // Acquire (both): pairs with the `Release` stores that end a head block switch below.
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

            let mut new_head = head.wrapping_add(ONE);

            if head & NOT_LAST == 0 {
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
                // Head and tail are in different blocks: the head block is not the last.
                if (index(head) / LAP) != (index(tail) / LAP) {
                    new_head |= NOT_LAST;
                }
            }

            // Success `AcqRel`: `Release` so that a receiver that later acquires this `head`
            // also sees a `tail` at least as new as the one we compared against; without it,
            // that receiver may read a stale `tail` below `head` and claim an unpushed slot
            // (found by loom: `each_send_wakes_a_parked_receiver`). `Acquire` (and on failure)
            // pairs the reloaded block pointer with the index (module docs, reclamation).
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: our CAS claimed this slot (invariant 2), so `block` is alive and
                    // the slot is ours to read once written.
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            self.advance_head_block(block, new_head);
                        }
                        let slot = (*block).slots.get_unchecked(offset as usize);
                        slot.wait_write();
                        let value = slot.msg.with(|p| p.read().assume_init());

                        if offset + 1 == BLOCK_CAP {
                            self.finish_block(block);
                        } else {
                            Block::mark_read(block, offset as usize);
                        }
                        return Ok(Popped {
                            seq: seq_of(index(head)),
                            value,
                            wake_sender: false,
                        });
                    }
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
        // with the `Acquire` loads at the top of `pop`).
        self.head.block.store(next, Ordering::Release);
        self.head.index.store(next_index, Ordering::Release);
    }

    /// Pushes as many messages of `src` as fit in the tail block with one CAS (a batch that
    /// reaches the end of the block stops there; the caller calls again for the rest).
    ///
    /// The same protocol as [`push`](Self::push), with `count` slots claimed at once: the CAS
    /// moves `tail` by `count` within one lap, so invariants 1-3 hold for each claimed slot.
    /// `src` is a `vec::IntoIter`, whose `next` runs no user code and cannot fail, so every
    /// claimed slot is written in a bounded number of steps.
    pub(crate) fn push_some(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<PushedMany, PushError<()>> {
        let backoff = Backoff::new();
        // Acquire (both): as in `push`.
        let mut tail = self.tail.index.load(Ordering::Acquire);
        let mut block = self.tail.block.load(Ordering::Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();

        loop {
            if tail & CLOSED != 0 {
                if !next_block.is_null() {
                    // SAFETY: taken or allocated above, never shared.
                    unsafe { self.spares.retire(next_block) };
                }
                return Err(PushError::Closed(()));
            }
            let offset = index(tail) % LAP;
            if offset == BLOCK_CAP {
                backoff.snooze();
                tail = self.tail.index.load(Ordering::Acquire);
                block = self.tail.block.load(Ordering::Acquire);
                continue;
            }
            let count = (src.len() as u64).min(BLOCK_CAP - offset);
            let fills_block = offset + count == BLOCK_CAP;
            if fills_block && next_block.is_null() {
                next_block = self.fresh_block();
            }
            let wake = waking(tail, count as usize);
            // Orderings: as the CAS in `push`.
            match self.tail.index.compare_exchange_weak(
                tail,
                less_waiters(tail.wrapping_add(count * ONE), wake),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if fills_block {
                        // SAFETY: we own the last slot of `block` (see `push`).
                        unsafe { self.link_next_block(block, next_block) };
                        next_block = ptr::null_mut();
                    }
                    if !next_block.is_null() {
                        // SAFETY: taken or allocated above, never shared.
                        unsafe { self.spares.retire(next_block) };
                    }
                    for i in offset..offset + count {
                        let value = src.next().expect("count <= src.len()");
                        // SAFETY: the CAS gave us these `count` slots (invariant 2); the block
                        // stays alive until each is read (invariant 5).
                        unsafe {
                            (*block).slots.get_unchecked(i as usize).write(value);
                        }
                    }
                    return Ok(PushedMany {
                        wake_receivers: wake,
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

    /// Pops up to `max` messages from the head block with one CAS, appending them to `out`.
    ///
    /// The same protocol as [`pop`](Self::pop) with `count` slots claimed at once; each slot is
    /// then read and marked exactly as `pop` does, in order, so reclamation (module docs) is
    /// unchanged: if we own the last slot, we read it last, after every other slot of ours is
    /// marked read, and finish the block.
    pub(crate) fn pop_some(&self, max: usize, out: &mut Vec<T>) -> Result<PoppedMany, PopError> {
        let backoff = Backoff::new();
        // Acquire (both): as in `pop`.
        let mut head = self.head.index.load(Ordering::Acquire);
        let mut block = self.head.block.load(Ordering::Acquire);

        loop {
            let offset = index(head) % LAP;
            if offset == BLOCK_CAP {
                backoff.snooze();
                head = self.head.index.load(Ordering::Acquire);
                block = self.head.block.load(Ordering::Acquire);
                continue;
            }
            let mut count = (max as u64).min(BLOCK_CAP - offset);
            let mut not_last = head & NOT_LAST;
            if not_last == 0 {
                // Acquire: as in `pop`.
                let tail = self.tail.index.load(Ordering::Acquire);
                if index(head) == index(tail) {
                    return Err(if tail & CLOSED != 0 {
                        PopError::Closed
                    } else {
                        PopError::Empty
                    });
                }
                if (index(head) / LAP) != (index(tail) / LAP) {
                    // Every remaining slot of the head block is claimed by a sender.
                    not_last = NOT_LAST;
                } else {
                    // Same lap: only the slots below `tail` are claimed.
                    count = count.min(index(tail).wrapping_sub(index(head)) & INDEX_MASK);
                }
            }
            // Room first: nothing may allocate (or fail to) between the claim and the reads.
            out.reserve(count as usize);
            let new_head = head.wrapping_add(count * ONE) | not_last;
            // Orderings: as the CAS in `pop`.
            match self.head.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: our CAS claimed slots `offset..offset + count` (invariant 2), so
                    // `block` is alive until we mark them read; each is read once, in order.
                    unsafe {
                        if offset + count == BLOCK_CAP {
                            self.advance_head_block(block, new_head);
                        }
                        for i in offset..offset + count {
                            let slot = (*block).slots.get_unchecked(i as usize);
                            slot.wait_write();
                            out.push(slot.msg.with(|p| p.read().assume_init()));
                            if i + 1 == BLOCK_CAP {
                                self.finish_block(block);
                            } else {
                                Block::mark_read(block, i as usize);
                            }
                        }
                    }
                    return Ok(PoppedMany {
                        count: count as usize,
                        wake_senders: 0,
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
        // `&mut self`: no other thread can touch the queue; Relaxed is enough.
        let mut head = index(self.head.index.load(Ordering::Relaxed));
        let tail = index(self.tail.index.load(Ordering::Relaxed));
        let mut block = self.head.block.load(Ordering::Relaxed);
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
            // (invariant 1; a sender finishes its write before `push` returns), and the blocks
            // from the head block on are alive and linked. `head` has moved past this slot (or
            // block end) before anything can panic, so each message is read out once and each
            // block freed once.
            unsafe {
                if offset < BLOCK_CAP {
                    let slot = (*block).slots.get_unchecked(offset as usize);
                    return Some(slot.msg.with(|p| (*p).assume_init_read()));
                }
                let next = (*block).next.load(Ordering::Relaxed);
                Block::free(block);
                block = next;
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_across_blocks_and_sequence_numbers() {
        let q = Unbounded::new();
        for i in 0..200u64 {
            assert_eq!(q.push(i).unwrap().seq, i);
        }
        assert_eq!(q.len(), 200);
        for i in 0..200u64 {
            let p = q.pop().unwrap();
            assert_eq!((p.seq, p.value), (i, i));
        }
        assert_eq!(q.pop().unwrap_err(), PopError::Empty);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn len_counts_across_partial_blocks() {
        let q = Unbounded::new();
        for n in 0..100 {
            assert_eq!(q.len(), n);
            q.push(n).unwrap();
        }
        for n in (0..100).rev() {
            q.pop().unwrap();
            assert_eq!(q.len(), n);
        }
    }

    #[test]
    fn indices_wrap_around() {
        let laps_to_wrap = (INDEX_MASK + 1) / LAP;
        let q = Unbounded::starting_at_lap(laps_to_wrap - 2);
        for i in 0..500u32 {
            q.push(i).unwrap();
            if i % 3 == 0 {
                assert_eq!(q.pop().unwrap().value, i / 3);
            }
        }
        let mut last = None;
        let len = q.len();
        let mut popped = 0;
        while let Ok(p) = q.pop() {
            if let Some(l) = last {
                assert!(p.value > l);
            }
            last = Some(p.value);
            popped += 1;
        }
        assert_eq!(popped, len);
        assert_eq!(last, Some(499));
    }

    /// Spares are bounded by bytes: 30 blocks of `u64`, one of a large message; a drained
    /// burst leaves at most that many (and every other retired block is freed).
    #[test]
    fn spares_are_bounded_by_bytes() {
        assert_eq!(Spares::<u64>::LIMIT, 30);
        assert_eq!(Spares::<[u8; 4096]>::LIMIT, 1);
        let held = |q: &Unbounded<u64>| {
            q.spares
                .slots
                .iter()
                .filter(|s| !s.load(Ordering::Relaxed).is_null())
                .count()
        };
        let q = Unbounded::new();
        for i in 0..10_000u64 {
            q.push(i).unwrap();
        }
        assert_eq!(held(&q), 0, "a growing queue has nothing to spare");
        for i in 0..10_000u64 {
            assert_eq!(q.pop().unwrap().value, i);
        }
        assert_eq!(held(&q), 30, "the drain keeps 30 blocks and frees the rest");
        for i in 0..100u64 {
            q.push(i).unwrap();
        }
        assert_eq!(held(&q), 30 - 3, "the next blocks come from the spares");
    }

    #[test]
    fn close_refuses_push_and_drains() {
        let q = Unbounded::new();
        q.push(1).unwrap();
        assert!(q.close());
        assert!(!q.close());
        assert!(matches!(q.push(2), Err(PushError::Closed(2))));
        assert_eq!(q.pop().unwrap().value, 1);
        assert_eq!(q.pop().unwrap_err(), PopError::Closed);
    }

    #[test]
    fn waiter_count_is_reported_to_senders_and_taken_out_by_the_claim() {
        let q = Unbounded::new();
        assert!(!q.push(1).unwrap().wake_receiver);
        crate::flavor::join_count(q.tail_word());
        crate::flavor::join_count(q.tail_word());
        // Each claim wakes one counted waiter and takes it out of the count.
        assert!(q.push(2).unwrap().wake_receiver);
        assert!(q.push(3).unwrap().wake_receiver);
        assert!(!q.push(4).unwrap().wake_receiver);
        assert_eq!(
            crate::flavor::release_count(q.tail_word(), 1),
            0,
            "saturates"
        );
        assert_eq!(q.len(), 4);
    }
}
