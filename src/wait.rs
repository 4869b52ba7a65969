//! The waiting layer: a flavour plus two wake-up events, and the one poll loop that serves
//! blocking, deadline and async operations alike.
//!
//! # Design
//!
//! The flavours never park. An operation that cannot complete (empty queue, full bounded queue)
//! goes through a [`Waiter`]:
//!
//! 1. try the operation;
//! 2. if it would wait: register a listener on the matching event, then add one to the
//!    flavour's waiter count (once per operation), then go to 1 (the re-check);
//! 3. if it still would wait: park on the listener (blocking) or return `Pending` (async); when
//!    woken, go to 1.
//!
//! An async operation that is polled again looks at its listener first and goes to 1 only if
//! the listener was notified. A poll without a wake-up (a `select!` or `join!` polling every
//! branch, a stream combinator) touches no queue word; and a woken task consumes its own
//! wake-up before it takes a message, instead of taking the message and then passing the
//! unused wake-up on (`Waiter::finish`), which would wake one more task for nothing: under
//! contention, a chain of such hand-offs cost the async MPMC rows 3-4x the CPU per message.
//! Nothing is lost by not looking: the waiter is counted while its listener is registered,
//! so every push or pop that could let it finish notifies it (or a waiter that passes the
//! wake-up on), and close notifies everyone.
//!
//! The counterpart notifies only when the waiter count it read in its own CAS is non-zero (see
//! `flavor/mod.rs` for why that loses no wake-up), with `notify_more`, so that `n` messages
//! wake `n` distinct receivers.
//!
//! # Waking
//!
//! The claim CAS that finds waiters counted takes the ones it will wake out of the count
//! (`flavor/mod.rs`, "Waking takes the woken out of the count"); the waiting layer then
//! notifies that many. A woken waiter is not counted, so the sends that follow while it is on
//! its way skip the notification (one lock per wait, not one per message), and a woken waiter
//! that finds nothing joins the count again in its next round. A waiter that ends holding a
//! wake-up it did not use passes it on (`Waiter::finish`). Closing notifies everyone and takes
//! nobody out (the count may stay too high after a close, which only costs spare
//! notifications).

//! # Async: yield before listening
//!
//! An async operation that finds nothing to do yields once (`ASYNC_YIELDS`: it wakes its own
//! task and returns `Pending`) before it listens. tokio runs a task woken from one of its
//! workers in that worker's LIFO slot, which other workers cannot steal (tokio 1.54
//! `schedule_local`): a receiver woken by a producer task that does not yield (an unbounded
//! `send` is synchronous) waits there until that task yields or ends, while its own worker
//! idles. A yielding receiver stays on its own worker's run queue and finds the next messages
//! a scheduler round later, without a listener (no allocation, no lock, no notification for
//! the sender to make). The same holds for a sender on a full ring. An operation that still
//! finds nothing after its yield listens. Measured: ties on the unbounded async rows, up to
//! 1.3x on the ring's, at more CPU per message on the ring's SPSC row (`CHANGELOG.md`).
//!
//! # Cancel safety
//!
//! A waiter holds no message and no slot while it waits: only a listener and its place in the
//! waiter count. Ending it (a dropped future, a timed-out blocking call) passes on a
//! notification its listener received but did not use, or else leaves the waiter count.
//! So a dropped `recv_async` future never loses a message nor strands a wake-up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::{
    RecvError, RecvTimeoutError, SendBatchError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::flavor::{Flavor, PopError, PushError, Side};
use crate::sync::event::{Event, Listener};
use crate::sync::{spin_before_park, AtomicUsize, Ordering};
use crate::wait_strategy::SpinBudget;

/// The shared state behind every handle of one queue.
pub(crate) struct Channel<T> {
    pub(crate) flavor: Flavor<T>,
    /// Receivers waiting for a message (or close).
    recv_ops: Event,
    /// Senders waiting for room (or close). Unused by the unbounded flavour.
    send_ops: Event,
    /// Live `Sender` handles (`crate::handles`); unused by `Queue`.
    pub(crate) senders: AtomicUsize,
    /// Live `Receiver` handles (`crate::handles`); unused by `Queue`.
    pub(crate) receivers: AtomicUsize,
    /// Live `WeakSender` handles (`crate::weak`): a count for users only, nothing waits on it.
    pub(crate) weak_senders: AtomicUsize,
    /// Waiters for the close itself (`Sender::closed`, `crate::closed`); notified once, by the
    /// call that closes. Separate from `send_ops`/`recv_ops` so that a close-waiter never takes
    /// a counted waiter's notification.
    pub(crate) close_ops: Event,
    /// How blocking calls wait (`crate::wait_strategy`).
    pub(crate) wait: SpinBudget,
}

impl<T> Channel<T> {
    pub(crate) fn new(flavor: Flavor<T>) -> Self {
        Self {
            flavor,
            recv_ops: Event::new(),
            send_ops: Event::new(),
            senders: AtomicUsize::new(0),
            receivers: AtomicUsize::new(0),
            weak_senders: AtomicUsize::new(0),
            close_ops: Event::new(),
            wait: SpinBudget::new(),
        }
    }

    /// Pushes without waiting; wakes one parked receiver if the flavour says one may wait.
    /// Returns the message's sequence number.
    #[inline]
    pub(crate) fn try_send(&self, msg: T) -> Result<u64, TrySendError<T>> {
        match self.flavor.push(msg) {
            Ok(pushed) => {
                if pushed.wake_receiver {
                    self.wake(Side::Recv, 1);
                }
                Ok(pushed.seq)
            }
            Err(PushError::Full(msg)) => Err(TrySendError::Full(msg)),
            Err(PushError::Closed(msg)) => Err(TrySendError::Closed(msg)),
        }
    }

    /// Pushes without waiting; on a full bounded queue the oldest message is displaced and
    /// returned instead (with its sequence number). Returns the message's sequence number.
    /// Fails (giving the message back) only when closed.
    #[allow(clippy::type_complexity)]
    pub(crate) fn force_send(&self, msg: T) -> Result<(u64, Option<(u64, T)>), T> {
        match self.flavor.force_push(msg) {
            Ok((pushed, displaced)) => {
                if pushed.wake_receiver {
                    self.wake(Side::Recv, 1);
                }
                Ok((pushed.seq, displaced))
            }
            Err(PushError::Closed(msg) | PushError::Full(msg)) => Err(msg),
        }
    }

    /// Pops without waiting; wakes one parked sender if the flavour says one may wait.
    /// Returns the message and its sequence number.
    #[inline]
    pub(crate) fn try_recv(&self) -> Result<(u64, T), TryRecvError> {
        match self.flavor.pop() {
            Ok(popped) => {
                if popped.wake_sender {
                    self.wake(Side::Send, 1);
                }
                Ok((popped.seq, popped.value))
            }
            Err(PopError::Empty) => Err(TryRecvError::Empty),
            Err(PopError::Closed) => Err(TryRecvError::Closed),
        }
    }

    /// Closes the queue and wakes every waiter; `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let closed_now = self.flavor.close();
        if closed_now {
            self.recv_ops.notify_all();
            self.send_ops.notify_all();
            self.close_ops.notify_all();
        }
        closed_now
    }

    /// The event the waiters of `side` listen on.
    #[inline]
    fn event(&self, side: Side) -> &Event {
        match side {
            Side::Recv => &self.recv_ops,
            Side::Send => &self.send_ops,
        }
    }

    /// Wakes `n` waiters of `side` whose claim CAS took them out of the count (see "Waking").
    #[cold]
    fn wake(&self, side: Side, n: usize) {
        self.event(side).notify_more(n);
    }

    /// Pushes all of `src` without waiting, a run of slots per claim; stops on full or closed
    /// with the rest still in `src`. Wakes as many parked receivers as messages went in (at
    /// most as many as are parked).
    pub(crate) fn try_send_batch(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<(), PushError<()>> {
        while src.len() > 0 {
            let pushed = self.flavor.push_some(src)?;
            if pushed.wake_receivers > 0 {
                self.wake(Side::Recv, pushed.wake_receivers);
            }
        }
        Ok(())
    }

    /// [`try_send_batch`](Self::try_send_batch) (`wait == false`) or
    /// [`send_batch_blocking`](Self::send_batch_blocking) over any batch, with the public error:
    /// the batch is collected into a `Vec` first (no copy when it is one), so no user code runs
    /// while slots are claimed.
    pub(crate) fn send_batch_iter<I: IntoIterator<Item = T>>(
        &self,
        msgs: I,
        wait: bool,
    ) -> Result<usize, SendBatchError<T>> {
        let mut src = msgs.into_iter().collect::<Vec<T>>().into_iter();
        let total = src.len();
        let result = if wait {
            self.send_batch_blocking(&mut src)
        } else {
            self.try_send_batch(&mut src)
        };
        result.map(|()| total).map_err(|e| {
            let full = matches!(e, PushError::Full(()));
            SendBatchError::new(total - src.len(), src.collect(), full)
        })
    }

    /// Pops up to `max` messages without waiting, appending them to `out`; `Ok(0)` only when
    /// `max == 0`. Wakes as many parked senders as slots were freed (at most as many as are
    /// parked).
    pub(crate) fn try_recv_batch(
        &self,
        out: &mut Vec<T>,
        max: usize,
    ) -> Result<usize, TryRecvError> {
        let mut taken = 0;
        while taken < max {
            match self.flavor.pop_some(max - taken, out) {
                Ok(popped) => {
                    taken += popped.count;
                    if popped.wake_senders > 0 {
                        self.wake(Side::Send, popped.wake_senders);
                    }
                }
                Err(_) if taken > 0 => break,
                Err(PopError::Empty) => return Err(TryRecvError::Empty),
                Err(PopError::Closed) => return Err(TryRecvError::Closed),
            }
        }
        Ok(taken)
    }

    /// Closes the queue and drops every message in it now (the last receiver is gone: nobody
    /// will take them). A sender that claimed a slot before the close finishes its write and
    /// `pop` waits for it, so the drain ends with an empty queue.
    ///
    /// A message whose `Drop` panics does not stop the drain: the rest are still dropped while
    /// the panic unwinds (see `crate::drop_all`).
    pub(crate) fn discard_all(&self) {
        self.close();
        crate::drop_all::drop_all(|| self.flavor.pop().ok());
    }

    /// Counts one more handle in `count`.
    pub(crate) fn acquire_handle(count: &AtomicUsize) {
        // Relaxed: a new handle is made from an existing one, which keeps the count above 0
        // meanwhile; nothing is published through the count (as `Arc::clone`).
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one more handle in `count` unless it is 0 (every handle is gone, which is final):
    /// `WeakSender::upgrade`. A CAS from the value read, never an increment from 0, so an
    /// upgrade racing the last `release_handle` either lands first (and that release is not the
    /// last) or sees 0 and fails: it never revives a count whose release already closed the
    /// queue (`loom-tests/weak.rs`).
    pub(crate) fn try_acquire_handle(count: &AtomicUsize) -> bool {
        // Relaxed load and failure: only the value matters, nothing is read through it.
        let mut n = count.load(Ordering::Relaxed);
        while n != 0 {
            // Acquire on success: the new handle's owner sees what the releases before it did
            // (as `Arc::upgrade`); its partner is the `AcqRel` of `release_handle`.
            match count.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }

    /// Counts one handle less in `count`; `true` if it was the last one.
    pub(crate) fn release_handle(count: &AtomicUsize) -> bool {
        // AcqRel: the last handle's owner sees every other handle's operations as done before
        // it closes the queue (as `Arc::drop`).
        count.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// One `try_recv` as a poll-loop step: `Some` when the operation is over.
    fn recv_step(&self) -> Option<Result<(u64, T), RecvError>> {
        finished_recv(self.try_recv())
    }

    /// One `try_recv_batch` as a poll-loop step.
    fn recv_batch_step(&self, out: &mut Vec<T>, max: usize) -> Option<Result<usize, RecvError>> {
        finished_recv(self.try_recv_batch(out, max))
    }

    /// Blocking receive, until a message, closed-and-empty, or `deadline`. The common case, a
    /// message ready, is one `try_recv` inlined into the caller; only an empty queue takes the
    /// waiting path.
    #[inline]
    pub(crate) fn recv_blocking(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(u64, T), RecvTimeoutError> {
        match self.try_recv() {
            Ok(done) => Ok(done),
            Err(TryRecvError::Closed) => Err(RecvTimeoutError::Closed),
            Err(TryRecvError::Empty) => self.recv_blocking_slow(deadline),
        }
    }

    #[inline(never)]
    fn recv_blocking_slow(&self, deadline: Option<Instant>) -> Result<(u64, T), RecvTimeoutError> {
        self.wait_recv(deadline, || self.recv_step())
    }

    /// Blocking batch receive: waits for at least one message (or closed-and-empty, or
    /// `deadline`), then takes up to `max` without waiting.
    pub(crate) fn recv_batch_blocking(
        &self,
        out: &mut Vec<T>,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<usize, RecvTimeoutError> {
        if max == 0 {
            return Ok(0);
        }
        self.wait_recv(deadline, || self.recv_batch_step(out, max))
    }

    /// The receive side of the poll loop for blocking calls: spin briefly, then park.
    fn wait_recv<R>(
        &self,
        deadline: Option<Instant>,
        mut step: impl FnMut() -> Option<Result<R, RecvError>>,
    ) -> Result<R, RecvTimeoutError> {
        if let Some(done) = step() {
            return done.map_err(RecvTimeoutError::from);
        }
        // A message is often only a few hundred nanoseconds away: spin briefly before parking
        // (hints, then yields, bounded by the queue's `WaitStrategy`: `sync::spin_before_park`).
        if let Some(done) = spin_before_park(self.wait.budget(), deadline, &mut step) {
            return done.map_err(RecvTimeoutError::from);
        }
        let mut waiter = Waiter::new();
        let result = loop {
            if let Some(done) = waiter.attempt(&self.recv_ops, &self.flavor, Side::Recv, &mut step)
            {
                break done.map_err(RecvTimeoutError::from);
            }
            if !waiter.wait_blocking(deadline) {
                // Timed out: one last look, so a message that arrived at the deadline is taken.
                break match step() {
                    Some(done) => done.map_err(RecvTimeoutError::from),
                    None => Err(RecvTimeoutError::Timeout),
                };
            }
        };
        waiter.finish(&self.recv_ops, &self.flavor, Side::Recv);
        result
    }

    /// Async receive step for a future or stream that owns `waiter`. The common case, a
    /// message ready at the first poll, is one `try_recv` inlined into the future's `poll`
    /// (as `recv_blocking`); a waiter that is already waiting goes to its listener first.
    #[inline]
    pub(crate) fn poll_recv(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(u64, T), RecvError>> {
        if waiter.is_idle() {
            if let Some(done) = self.recv_step() {
                waiter.yields = 0;
                return Poll::Ready(done);
            }
        }
        self.poll_recv_slow(waiter, cx)
    }

    #[inline(never)]
    fn poll_recv_slow(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(u64, T), RecvError>> {
        self.poll_recv_with(waiter, cx, || self.recv_step())
    }

    /// One step of a receive [`Stream`](futures_core::Stream) that owns `waiter` and its `ended`
    /// flag: the next message, or `None` (for good) once the queue is closed and drained.
    pub(crate) fn poll_next_message(
        &self,
        waiter: &mut Waiter,
        ended: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        if *ended {
            return Poll::Ready(None);
        }
        match std::task::ready!(self.poll_recv(waiter, cx)) {
            Ok((_, msg)) => Poll::Ready(Some(msg)),
            Err(RecvError) => {
                *ended = true;
                Poll::Ready(None)
            }
        }
    }

    /// Async batch receive step (see [`recv_batch_blocking`](Self::recv_batch_blocking)).
    pub(crate) fn poll_recv_batch(
        &self,
        out: &mut Vec<T>,
        max: usize,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<usize, RecvError>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        self.poll_recv_with(waiter, cx, || self.recv_batch_step(out, max))
    }

    fn poll_recv_with<R>(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
        mut step: impl FnMut() -> Option<Result<R, RecvError>>,
    ) -> Poll<Result<R, RecvError>> {
        loop {
            if waiter.poll_listener(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(poll) = waiter.yield_before_listening(cx, &mut step) {
                return poll;
            }
            if let Some(done) = waiter.attempt(&self.recv_ops, &self.flavor, Side::Recv, &mut step)
            {
                waiter.finish(&self.recv_ops, &self.flavor, Side::Recv);
                return Poll::Ready(done);
            }
        }
    }

    /// One `try_send` as a poll-loop step: `Some` when the operation is over; on "full" the
    /// message goes back into `slot` for the next attempt.
    fn send_step(&self, slot: &mut Option<T>) -> Option<Result<u64, SendTimeoutError<T>>> {
        let msg = slot.take().expect("send_step called after completion");
        match self.try_send(msg) {
            Ok(seq) => Some(Ok(seq)),
            Err(TrySendError::Closed(msg)) => Some(Err(SendTimeoutError::Closed(msg))),
            Err(TrySendError::Full(msg)) => {
                *slot = Some(msg);
                None
            }
        }
    }

    /// Blocking send: waits for room (bounded flavour) until `deadline`, or close. The common
    /// case, room available, is one `try_send` inlined into the caller.
    #[inline]
    pub(crate) fn send_blocking(
        &self,
        msg: T,
        deadline: Option<Instant>,
    ) -> Result<u64, SendTimeoutError<T>> {
        match self.try_send(msg) {
            Ok(seq) => Ok(seq),
            Err(TrySendError::Closed(msg)) => Err(SendTimeoutError::Closed(msg)),
            Err(TrySendError::Full(msg)) => self.send_blocking_slow(msg, deadline),
        }
    }

    #[inline(never)]
    fn send_blocking_slow(
        &self,
        msg: T,
        deadline: Option<Instant>,
    ) -> Result<u64, SendTimeoutError<T>> {
        let mut slot = Some(msg);
        match self.wait_send(deadline, || self.send_step(&mut slot)) {
            Some(done) => done,
            None => Err(SendTimeoutError::Timeout(
                slot.take().expect("message kept while waiting"),
            )),
        }
    }

    /// Blocking batch send: pushes all of `src`, waiting for room as needed (bounded flavour);
    /// stops on close with the rest in `src`.
    pub(crate) fn send_batch_blocking(
        &self,
        src: &mut std::vec::IntoIter<T>,
    ) -> Result<(), PushError<()>> {
        let done = self.wait_send(None, || match self.try_send_batch(src) {
            Ok(()) => Some(Ok(())),
            Err(PushError::Closed(())) => Some(Err(PushError::Closed(()))),
            Err(PushError::Full(())) => None,
        });
        done.expect("no deadline")
    }

    /// The send side of the poll loop for blocking calls; `None` if `deadline` passed.
    fn wait_send<R>(
        &self,
        deadline: Option<Instant>,
        mut step: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(done) = step() {
            return Some(done);
        }
        // Room is often only a receive away: spin briefly before parking (as `wait_recv`).
        if let Some(done) = spin_before_park(self.wait.budget(), deadline, &mut step) {
            return Some(done);
        }
        let mut waiter = Waiter::new();
        let result = loop {
            if let Some(done) = waiter.attempt(&self.send_ops, &self.flavor, Side::Send, &mut step)
            {
                break Some(done);
            }
            if !waiter.wait_blocking(deadline) {
                break step();
            }
        };
        waiter.finish(&self.send_ops, &self.flavor, Side::Send);
        result
    }

    /// Async send step for a future that owns `waiter` and the message in `slot`. The common
    /// case, room at the first poll, is one `try_send` inlined into the future's `poll`.
    #[inline]
    pub(crate) fn poll_send(
        &self,
        slot: &mut Option<T>,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<u64, SendTimeoutError<T>>> {
        if waiter.is_idle() {
            if let Some(done) = self.send_step(slot) {
                waiter.yields = 0;
                return Poll::Ready(done);
            }
        }
        self.poll_send_slow(slot, waiter, cx)
    }

    #[inline(never)]
    fn poll_send_slow(
        &self,
        slot: &mut Option<T>,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<u64, SendTimeoutError<T>>> {
        loop {
            if waiter.poll_listener(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(poll) = waiter.yield_before_listening(cx, || self.send_step(slot)) {
                return poll;
            }
            if let Some(done) = waiter.attempt(&self.send_ops, &self.flavor, Side::Send, || {
                self.send_step(slot)
            }) {
                waiter.finish(&self.send_ops, &self.flavor, Side::Send);
                return Poll::Ready(done);
            }
        }
    }

    /// Leaves the send waiter count if `waiter` joined it (for `Drop` of send futures).
    #[inline]
    pub(crate) fn cancel_send(&self, waiter: &mut Waiter) {
        waiter.finish(&self.send_ops, &self.flavor, Side::Send);
    }

    /// Leaves the receive waiter count if `waiter` joined it (for `Drop` of futures/streams).
    #[inline]
    pub(crate) fn cancel_recv(&self, waiter: &mut Waiter) {
        waiter.finish(&self.recv_ops, &self.flavor, Side::Recv);
    }
}

/// Maps a non-waiting receive to a poll-loop step: `None` means "empty, wait".
fn finished_recv<R>(result: Result<R, TryRecvError>) -> Option<Result<R, RecvError>> {
    match result {
        Ok(r) => Some(Ok(r)),
        Err(TryRecvError::Closed) => Some(Err(RecvError)),
        Err(TryRecvError::Empty) => None,
    }
}

/// Cooperative yields an async operation makes before it listens ("Async: yield before
/// listening" in the module docs). One: two measured the same in `compare` (async rows, 7
/// interleaved runs each) and doubles the states the loom models explore; 64 tied on all six
/// async cells (21 interleaved runs, `examples/async_overlap.rs` says what those rows measure).
const ASYNC_YIELDS: u8 = 1;

/// State of one waiting operation: its listener and whether it is in the waiter count.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    listener: Option<Listener>,
    /// In the waiter count: joined in this round and not woken since (the waker took it out).
    counted: bool,
    /// Yields made since the operation (or a stream's last item) last completed.
    yields: u8,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Neither listening nor counted: the operation has not started waiting (or was woken and
    /// has consumed its wake-up), so trying it touches no waiting state.
    #[inline]
    fn is_idle(&self) -> bool {
        self.listener.is_none() && !self.counted
    }

    /// Before an idle async operation listens, it tries `op` once more and, failing, yields:
    /// it wakes its own task and the caller returns `Pending`, at most [`ASYNC_YIELDS`] times
    /// per operation. `Some(Ready)` if `op` completed; `None` once the yields are spent (or
    /// the waiter is already listening or counted): go on to listen. A yielding waiter holds
    /// no listener and is not counted, so dropping it then needs nothing.
    fn yield_before_listening<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> Option<R>,
    ) -> Option<Poll<R>> {
        if !self.is_idle() || self.yields >= ASYNC_YIELDS {
            return None;
        }
        if let Some(done) = op() {
            self.yields = 0;
            return Some(Poll::Ready(done));
        }
        self.yields += 1;
        cx.waker().wake_by_ref();
        Some(Poll::Pending)
    }

    /// Runs `op` until it completes (`Some`) or a listener is registered and the re-check after
    /// registering failed too (`None`: the caller must wait on the listener).
    fn attempt<T, R>(
        &mut self,
        event: &Event,
        flavor: &Flavor<T>,
        side: Side,
        mut op: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        loop {
            if let Some(done) = op() {
                return Some(done);
            }
            if self.listener.is_some() {
                return None;
            }
            // Listen first, then join the count (an RMW on the waiter word), then the re-check
            // (`op` above): a counterpart that sees the count finds the listener registered
            // (flavor/mod.rs, "Waiter counts"). Every round joins: a woken waiter was taken out
            // of the count by whoever woke it.
            self.listener = Some(event.listen());
            if !self.counted {
                flavor.join_waiters(side);
                self.counted = true;
            }
        }
    }

    /// Parks the thread on the registered listener; `false` if `deadline` passed first.
    fn wait_blocking(&mut self, deadline: Option<Instant>) -> bool {
        let listener = self
            .listener
            .take()
            .expect("attempt() registered a listener");
        let woken = match deadline {
            None => {
                listener.wait();
                true
            }
            Some(deadline) => listener.wait_deadline(deadline),
        };
        if woken {
            // The notifier took us out of the count.
            self.counted = false;
        }
        woken
    }

    /// Polls the registered listener, if any; on `Ready` the listener is used up. Without a
    /// listener (the operation's first poll, or the one after a wake-up) it is `Ready`: the
    /// caller attempts the operation.
    fn poll_listener(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(listener) = self.listener.as_mut() else {
            return Poll::Ready(());
        };
        let poll = Pin::new(listener).poll(cx);
        if poll.is_ready() {
            self.listener = None;
            // The notifier took us out of the count.
            self.counted = false;
        }
        poll
    }

    /// Ends the operation (done, cancelled or timed out). A wake-up that reached the listener
    /// but was not used goes to another waiter (the notifier already took this one out of the
    /// count); otherwise the operation leaves the count if it is in it.
    #[inline]
    fn finish<T>(&mut self, event: &Event, flavor: &Flavor<T>, side: Side) {
        self.yields = 0;
        if !self.is_idle() {
            self.finish_waiting(event, flavor, side);
        }
    }

    #[inline(never)]
    fn finish_waiting<T>(&mut self, event: &Event, flavor: &Flavor<T>, side: Side) {
        if let Some(listener) = self.listener.take() {
            if listener.discard() {
                // Woken, so already out of the count (the waker's claim took us out). Pass the
                // wake-up on, and take the waiter it reaches out of the count in turn.
                self.counted = false;
                if event.notify_more(1) > 0 {
                    flavor.release_waiters(side, 1);
                }
            }
        }
        if std::mem::take(&mut self.counted) {
            flavor.release_waiters(side, 1);
        }
    }
}
