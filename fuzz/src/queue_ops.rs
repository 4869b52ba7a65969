//! Target `queue_ops`: one thread, one queue (unbounded or bounded 1..=4), driven through
//! `Queue<T>` handles or through the `Sender<T>`/`Receiver<T>` channel halves, by an arbitrary
//! sequence of operations checked against a `VecDeque` model after every step.
//!
//! Checked after every operation:
//! * the result: FIFO order of received messages (single and batch receives), `Full`/`Closed`/
//!   `Empty`/`Timeout` exactly when the model says so, refused messages given back (the same
//!   ones, in order, with the right `accepted()` count for a batch);
//! * `len`, `is_empty`, `is_closed`, `capacity` and, for channels, `sender_count` and
//!   `receiver_count` against the model;
//! * drops: every message still queued (or held by a pending `send_async`) is alive, every other
//!   message was dropped exactly once, so dropping the last `Receiver` drops the queued messages
//!   at once and dropping the last `Sender` closes the queue;
//! * wake-ups: a pending stream is woken by the next accepted send or by the close, and a pending
//!   `send_async` when a receive makes room or by the close.
//!
//! At the end every handle is dropped: each message must then have been dropped exactly once.
//!
//! Blocking operations never block: where the model says a `send`/`recv` (or batch) would wait
//! forever (full or empty open queue), the step becomes the `try_`, zero-timeout or past-deadline
//! form, whose result is checked all the same.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use segmq::{
    Queue, Receiver, RecvError, RecvStream, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};

use crate::api::{Rx, Tx};
use crate::common::{poll_next_settled, poll_settled, DropLog, Tracked, WakeCounter};

/// Most operations run per input.
pub const MAX_OPS: usize = 256;
/// Most handles of one kind alive at once.
const MAX_HANDLES: usize = 4;
/// A wait that must not be reached (the model says the operation completes at once).
const LONG: Duration = Duration::from_secs(10);

/// Which queue the input runs on.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Unbounded.
    Unbounded,
    /// Bounded, capacity `1 + n % 4`.
    Bounded(u8),
}

impl Flavor {
    /// The capacity the queue gets (`None` for unbounded).
    pub fn capacity(self) -> Option<usize> {
        match self {
            Flavor::Unbounded => None,
            Flavor::Bounded(n) => Some(1 + usize::from(n % 4)),
        }
    }

    /// A `Queue` of this flavour.
    pub fn queue<T>(self) -> Queue<T> {
        match self.capacity() {
            None => Queue::unbounded(),
            Some(n) => Queue::bounded(n),
        }
    }

    /// A channel of this flavour.
    pub fn channel<T>(self) -> (Sender<T>, Receiver<T>) {
        match self.capacity() {
            None => segmq::unbounded(),
            Some(n) => segmq::bounded(n),
        }
    }
}

/// Which handles the input uses.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `Queue<T>` handles (clones are equal; the queue lives while one does).
    Queue,
    /// `Sender<T>`/`Receiver<T>` from `segmq::unbounded()`/`bounded(n)`.
    Channel,
}

/// One step. `h` picks a handle: `h % count` among the handles that can do the operation; for
/// `Close`, `Clone` and `Drop` on a channel, `h % 2 == 0` picks a sender, else a receiver.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `send` (becomes `try_send` where it would block forever).
    Send(u8),
    /// `try_send`.
    TrySend(u8),
    /// `send_timeout` (zero timeout where it would block forever).
    SendTimeout(u8),
    /// `send_deadline` (a past deadline where it would block forever).
    SendDeadline(u8),
    /// `send_async`, polled once, dropped if pending.
    SendAsync(u8),
    /// `send_async` kept across steps if pending (one at a time; `Queue` API only).
    HoldSendAsync,
    /// Poll the held `send_async` again.
    PollHeldSend,
    /// Drop the held `send_async` (its message is dropped with it).
    DropHeldSend,
    /// `recv` (becomes `try_recv` where it would block forever).
    Recv(u8),
    /// `try_recv`.
    TryRecv(u8),
    /// `recv_timeout` (zero timeout where it would block forever).
    RecvTimeout(u8),
    /// `recv_deadline` (a past deadline where it would block forever).
    RecvDeadline(u8),
    /// `recv_async`, polled once, dropped if pending.
    RecvAsync(u8),
    /// `try_iter().take(max % 8)`.
    TryIter {
        /// Handle.
        h: u8,
        /// How many to take at most.
        max: u8,
    },
    /// `iter()` to the end on a closed queue (`try_iter()` on an open one).
    Iter(u8),
    /// Poll the stream once (`Queue::stream()`, made on first use, or the first `Receiver`).
    StreamPoll,
    /// Drop the `Queue::stream()` (forget the pending state of a `Receiver` stream).
    StreamDrop,
    /// `close`.
    Close(u8),
    /// Clone a handle.
    Clone(u8),
    /// Drop a handle (on a `Queue`, the last one only when nothing else holds the queue: that
    /// ends the input).
    Drop(u8),
    /// `try_send_batch` of `n % 6` messages.
    TrySendBatch {
        /// Handle.
        h: u8,
        /// Batch size.
        n: u8,
    },
    /// `send_batch` of `n % 6` messages (becomes `try_send_batch` where it would block forever).
    SendBatch {
        /// Handle.
        h: u8,
        /// Batch size.
        n: u8,
    },
    /// `try_recv_batch` of at most `max % 6`.
    TryRecvBatch {
        /// Handle.
        h: u8,
        /// Most messages.
        max: u8,
    },
    /// `recv_batch` of at most `max % 6` (becomes `try_recv_batch` where it would block).
    RecvBatch {
        /// Handle.
        h: u8,
        /// Most messages.
        max: u8,
    },
    /// `recv_batch_async` of at most `max % 6`, polled once, dropped if pending.
    RecvBatchAsync {
        /// Handle.
        h: u8,
        /// Most messages.
        max: u8,
    },
}

/// A decoded input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The queue.
    pub flavor: Flavor,
    /// The handles.
    pub api: Api,
    /// The steps (only the first [`MAX_OPS`] run).
    pub ops: Vec<Op>,
}

/// Decodes `data` and runs it; panics on a broken invariant.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

/// The model: what the queue must hold.
#[derive(Debug)]
struct Model {
    queue: VecDeque<u64>,
    closed: bool,
    cap: Option<usize>,
}

impl Model {
    fn full(&self) -> bool {
        self.cap.is_some_and(|c| self.queue.len() >= c)
    }
    /// Free slots (`usize::MAX` when unbounded).
    fn room(&self) -> usize {
        self.cap.map_or(usize::MAX, |c| c - self.queue.len())
    }
    /// Whether a blocking send would wait forever (nobody else will receive or close).
    fn send_would_block(&self) -> bool {
        !self.closed && self.full()
    }
    /// Whether a blocking receive would wait forever.
    fn recv_would_block(&self) -> bool {
        !self.closed && self.queue.is_empty()
    }
}

/// The handles alive.
enum Handles {
    Queue(Vec<Queue<Tracked>>),
    Channel {
        tx: Vec<Sender<Tracked>>,
        rx: Vec<Receiver<Tracked>>,
    },
}

impl Handles {
    fn tx(&self, h: u8) -> Option<&dyn Tx> {
        match self {
            Handles::Queue(qs) => pick(qs, h).map(|q| q as &dyn Tx),
            Handles::Channel { tx, .. } => pick(tx, h).map(|s| s as &dyn Tx),
        }
    }
    fn rx(&self, h: u8) -> Option<&dyn Rx> {
        match self {
            Handles::Queue(qs) => pick(qs, h).map(|q| q as &dyn Rx),
            Handles::Channel { rx, .. } => pick(rx, h).map(|r| r as &dyn Rx),
        }
    }
    /// `close` through a handle (`None` if there is none).
    fn close(&self, h: u8) -> Option<bool> {
        match self {
            Handles::Queue(qs) => pick(qs, h).map(Queue::close),
            Handles::Channel { tx, .. } if h % 2 == 0 => pick(tx, h / 2).map(Sender::close),
            Handles::Channel { rx, .. } => pick(rx, h / 2).map(Receiver::close),
        }
    }
    fn is_empty(&self) -> bool {
        match self {
            Handles::Queue(qs) => qs.is_empty(),
            Handles::Channel { tx, rx } => tx.is_empty() && rx.is_empty(),
        }
    }
}

fn pick<T>(v: &[T], h: u8) -> Option<&T> {
    (!v.is_empty()).then(|| &v[usize::from(h) % v.len()])
}

/// A `send_async` future kept across steps.
struct HeldSend<'a> {
    fut: Pin<Box<segmq::SendFut<'a, Tracked>>>,
    id: u64,
    wake: Arc<WakeCounter>,
    /// Wake count when the last poll was pending; `None` once a wake-up came (the future must
    /// be polled again to wait again).
    wakes_at_pending: Option<usize>,
}

/// The checker's state for one input.
struct Checker<'k> {
    model: Model,
    log: Arc<DropLog>,
    next_id: u64,
    /// A `Queue` handle that lives for the whole run (`Queue` API): the held `send_async`
    /// borrows it.
    keeper: Option<&'k Queue<Tracked>>,
    handles: Handles,
    held_send: Option<HeldSend<'k>>,
    /// `Queue::stream()` (the `Receiver` is its own stream).
    queue_stream: Option<RecvStream<Tracked>>,
    stream_wake: Arc<WakeCounter>,
    /// Wake count when the last stream poll was pending.
    stream_pending: Option<usize>,
    /// Set when the input must end (the last handles are gone).
    over: bool,
}

/// Runs one input against the model.
pub fn check(input: &Input) {
    let keeper: Option<Queue<Tracked>> = match input.api {
        Api::Queue => Some(input.flavor.queue()),
        Api::Channel => None,
    };
    let handles = match &keeper {
        Some(q) => Handles::Queue(vec![q.clone()]),
        None => {
            let (tx, rx) = input.flavor.channel();
            Handles::Channel {
                tx: vec![tx],
                rx: vec![rx],
            }
        }
    };
    let mut c = Checker {
        model: Model {
            queue: VecDeque::new(),
            closed: false,
            cap: input.flavor.capacity(),
        },
        log: DropLog::new(),
        next_id: 0,
        keeper: keeper.as_ref(),
        handles,
        held_send: None,
        queue_stream: None,
        stream_wake: Arc::default(),
        stream_pending: None,
        over: false,
    };
    for (step, &op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let ctx = format!(
            "step {step}: {op:?}, model len {} closed {}",
            c.model.queue.len(),
            c.model.closed
        );
        c.step(op, &ctx);
        if c.over {
            break;
        }
        c.check_state(&ctx);
    }
    let log = c.log.clone();
    let created = c.next_id;
    let held_id = c.held_send.as_ref().map(|h| h.id);
    drop(c.held_send.take());
    if let Some(id) = held_id {
        log.assert_count(id, 1, "dropping the held send_async");
    }
    let queued: Vec<u64> = c.model.queue.iter().copied().collect();
    drop(c);
    if keeper.is_some() {
        for &id in &queued {
            log.assert_count(id, 0, "queued message dropped while a handle is alive");
        }
    }
    drop(keeper);
    log.assert_all_dropped_once(created, "after the last handle was dropped");
}

impl Checker<'_> {
    fn msg(&mut self) -> Tracked {
        let m = Tracked::new(self.next_id, 0, self.next_id, &self.log);
        self.next_id += 1;
        m
    }

    fn msgs(&mut self, n: u8) -> Vec<Tracked> {
        (0..n % 6).map(|_| self.msg()).collect()
    }

    fn step(&mut self, op: Op, ctx: &str) {
        let was_full = self.model.full();
        let accepted = match op {
            Op::Send(h) | Op::TrySend(h) | Op::SendTimeout(h) | Op::SendDeadline(h) => {
                self.send(op, h, ctx)
            }
            Op::SendAsync(h) => self.send_async(h, ctx),
            Op::HoldSendAsync => self.hold_send(ctx),
            Op::PollHeldSend => self.poll_held_send(ctx),
            Op::DropHeldSend => {
                self.held_send = None;
                false
            }
            Op::TrySendBatch { h, n } | Op::SendBatch { h, n } => self.send_batch(op, h, n, ctx),
            Op::Recv(h)
            | Op::TryRecv(h)
            | Op::RecvTimeout(h)
            | Op::RecvDeadline(h)
            | Op::RecvAsync(h) => {
                self.recv(op, h, ctx);
                false
            }
            Op::TryIter { h, max } => {
                if let Some(rx) = self.handles.rx(h) {
                    let got: Vec<Tracked> = rx.try_iter().take(usize::from(max % 8)).collect();
                    for m in got {
                        expect_front(m, &mut self.model, ctx);
                    }
                }
                false
            }
            Op::Iter(h) => {
                if let Some(rx) = self.handles.rx(h) {
                    let got: Vec<Tracked> = if self.model.closed {
                        rx.iter_all()
                    } else {
                        rx.try_iter().collect()
                    };
                    let n = got.len();
                    for m in got {
                        expect_front(m, &mut self.model, ctx);
                    }
                    assert!(
                        self.model.queue.is_empty(),
                        "iter stopped after {n} ({ctx})"
                    );
                }
                false
            }
            Op::TryRecvBatch { h, max }
            | Op::RecvBatch { h, max }
            | Op::RecvBatchAsync { h, max } => {
                self.recv_batch(op, h, max, ctx);
                false
            }
            Op::StreamPoll => {
                self.stream_poll(ctx);
                false
            }
            Op::StreamDrop => {
                self.queue_stream = None;
                self.stream_pending = None;
                false
            }
            Op::Close(h) => {
                if let Some(closed_now) = self.handles.close(h) {
                    assert_eq!(closed_now, !self.model.closed, "close() result ({ctx})");
                    self.closed(ctx);
                }
                false
            }
            Op::Clone(h) => {
                self.clone_handle(h);
                false
            }
            Op::Drop(h) => {
                self.drop_handle(h, ctx);
                false
            }
        };
        if accepted {
            if let Some(at) = self.stream_pending.take() {
                let woken = self.stream_wake.wakes() > at;
                assert!(woken, "an accepted send did not wake the stream ({ctx})");
            }
        }
        if was_full && !self.model.full() {
            if let Some(held) = &mut self.held_send {
                if let Some(at) = held.wakes_at_pending.take() {
                    let woken = held.wake.wakes() > at;
                    assert!(woken, "making room did not wake the held send ({ctx})");
                }
            }
        }
    }

    /// The queue was closed by this step: every pending waiter must have been woken.
    fn closed(&mut self, ctx: &str) {
        self.model.closed = true;
        if let Some(at) = self.stream_pending.take() {
            assert!(
                self.stream_wake.wakes() > at,
                "close did not wake the stream ({ctx})"
            );
        }
        if let Some(held) = &mut self.held_send {
            if let Some(at) = held.wakes_at_pending.take() {
                assert!(
                    held.wake.wakes() > at,
                    "close did not wake the held send ({ctx})"
                );
            }
        }
    }

    fn send(&mut self, op: Op, h: u8, ctx: &str) -> bool {
        if self.handles.tx(h).is_none() {
            return false;
        }
        let m = self.msg();
        let id = m.id;
        let block = self.model.send_would_block();
        let tx = self.handles.tx(h).expect("checked above");
        let result: Result<(), SendTimeoutError<Tracked>> = match (op, block) {
            (Op::Send(_), false) => tx
                .send(m)
                .map_err(|SendError(m)| SendTimeoutError::Closed(m)),
            (Op::Send(_) | Op::TrySend(_), _) => tx.try_send(m).map_err(|e| match e {
                TrySendError::Full(m) => SendTimeoutError::Timeout(m),
                TrySendError::Closed(m) => SendTimeoutError::Closed(m),
            }),
            (Op::SendTimeout(_), true) => tx.send_timeout(m, Duration::ZERO),
            (Op::SendTimeout(_), false) => tx.send_timeout(m, LONG),
            (_, true) => tx.send_deadline(m, Instant::now()),
            (_, false) => tx.send_deadline(m, Instant::now() + LONG),
        };
        let model = &mut self.model;
        match result {
            Ok(()) => {
                assert!(!model.closed, "accepted on a closed queue ({ctx})");
                assert!(!model.full(), "accepted on a full queue ({ctx})");
                model.queue.push_back(id);
                true
            }
            Err(SendTimeoutError::Closed(back)) => {
                assert!(model.closed, "Closed on an open queue ({ctx})");
                assert_eq!(back.id, id, "gave back another message ({ctx})");
                false
            }
            Err(SendTimeoutError::Timeout(back)) => {
                assert!(model.send_would_block(), "Full/Timeout with room ({ctx})");
                assert_eq!(back.id, id, "gave back another message ({ctx})");
                false
            }
        }
    }

    fn send_async(&mut self, h: u8, ctx: &str) -> bool {
        if self.handles.tx(h).is_none() {
            return false;
        }
        let m = self.msg();
        let id = m.id;
        let wake = Arc::new(WakeCounter::default());
        let tx = self.handles.tx(h).expect("checked above");
        let mut fut = Box::pin(tx.send_async(m));
        match poll_settled(fut.as_mut(), &wake) {
            Poll::Ready(r) => expect_send_done(r, id, &mut self.model, ctx),
            Poll::Pending => {
                assert!(self.model.send_would_block(), "send_async pending ({ctx})");
                false
            }
        }
    }

    fn hold_send(&mut self, ctx: &str) -> bool {
        let Some(keeper) = self.keeper else {
            return false;
        };
        if self.held_send.is_some() {
            return false;
        }
        let m = self.msg();
        let id = m.id;
        let wake = Arc::new(WakeCounter::default());
        let mut fut = Box::pin(keeper.send_async(m));
        match poll_settled(fut.as_mut(), &wake) {
            Poll::Ready(r) => expect_send_done(r, id, &mut self.model, ctx),
            Poll::Pending => {
                assert!(self.model.send_would_block(), "send_async pending ({ctx})");
                let wakes_at_pending = Some(wake.wakes());
                self.held_send = Some(HeldSend {
                    fut,
                    id,
                    wake,
                    wakes_at_pending,
                });
                false
            }
        }
    }

    fn poll_held_send(&mut self, ctx: &str) -> bool {
        let Some(mut held) = self.held_send.take() else {
            return false;
        };
        match poll_settled(held.fut.as_mut(), &held.wake) {
            Poll::Ready(r) => expect_send_done(r, held.id, &mut self.model, ctx),
            Poll::Pending => {
                assert!(self.model.send_would_block(), "held send pending ({ctx})");
                held.wakes_at_pending = Some(held.wake.wakes());
                self.held_send = Some(held);
                false
            }
        }
    }

    fn send_batch(&mut self, op: Op, h: u8, n: u8, ctx: &str) -> bool {
        if self.handles.tx(h).is_none() {
            return false;
        }
        let batch = self.msgs(n);
        let ids: Vec<u64> = batch.iter().map(|m| m.id).collect();
        let room = self.model.room();
        let would_block = !self.model.closed && ids.len() > room;
        let tx = self.handles.tx(h).expect("checked above");
        let result = if matches!(op, Op::SendBatch { .. }) && !would_block {
            tx.send_batch(batch)
        } else {
            tx.try_send_batch(batch)
        };
        let model = &mut self.model;
        let accepted = match result {
            Ok(k) => {
                assert_eq!(k, ids.len(), "batch count ({ctx})");
                assert!(
                    k == 0 || !model.closed,
                    "batch accepted on a closed queue ({ctx})"
                );
                assert!(k <= room, "batch accepted beyond capacity ({ctx})");
                k
            }
            Err(e) => {
                let (k, full) = (e.accepted(), e.is_full());
                assert_ne!(full, e.is_closed(), "is_full xor is_closed ({ctx})");
                let rest: Vec<u64> = e.into_rest().iter().map(|m| m.id).collect();
                assert_eq!(rest, ids[k.min(ids.len())..], "batch rest ({ctx})");
                if full {
                    assert!(!model.closed, "batch Full on a closed queue ({ctx})");
                    assert_eq!(k, room, "batch Full with room left ({ctx})");
                    assert!(k < ids.len(), "batch Full with everything accepted ({ctx})");
                } else {
                    assert!(model.closed, "batch Closed on an open queue ({ctx})");
                    assert_eq!(k, 0, "batch accepted on a closed queue ({ctx})");
                }
                k
            }
        };
        model.queue.extend(&ids[..accepted]);
        accepted > 0
    }

    fn recv(&mut self, op: Op, h: u8, ctx: &str) {
        let Some(rx) = self.handles.rx(h) else {
            return;
        };
        let block = self.model.recv_would_block();
        let result = match (op, block) {
            (Op::Recv(_), false) => rx.recv().map_err(|RecvError| TryRecvError::Closed),
            (Op::Recv(_) | Op::TryRecv(_), _) => rx.try_recv(),
            (Op::RecvAsync(_), _) => {
                let wake = Arc::new(WakeCounter::default());
                let mut fut = Box::pin(rx.recv_async());
                match poll_settled(fut.as_mut(), &wake) {
                    Poll::Ready(r) => r.map_err(|RecvError| TryRecvError::Closed),
                    Poll::Pending => {
                        assert!(block, "recv_async pending ({ctx})");
                        return;
                    }
                }
            }
            _ => {
                let r = match (op, block) {
                    (Op::RecvTimeout(_), true) => rx.recv_timeout(Duration::ZERO),
                    (Op::RecvTimeout(_), false) => rx.recv_timeout(LONG),
                    (_, true) => rx.recv_deadline(Instant::now()),
                    (_, false) => rx.recv_deadline(Instant::now() + LONG),
                };
                r.map_err(|e| match e {
                    RecvTimeoutError::Closed => TryRecvError::Closed,
                    RecvTimeoutError::Timeout => {
                        assert!(block, "Timeout where the model has a message ({ctx})");
                        TryRecvError::Empty
                    }
                })
            }
        };
        expect_try_recv(result, &mut self.model, ctx);
    }

    fn recv_batch(&mut self, op: Op, h: u8, max: u8, ctx: &str) {
        let Some(rx) = self.handles.rx(h) else {
            return;
        };
        let max = usize::from(max % 6);
        let block = self.model.recv_would_block();
        let mut buf = Vec::new();
        let result = match op {
            Op::RecvBatch { .. } if !block => rx
                .recv_batch(&mut buf, max)
                .map_err(|RecvError| TryRecvError::Closed),
            Op::RecvBatchAsync { .. } => {
                let wake = Arc::new(WakeCounter::default());
                let mut fut = Box::pin(rx.recv_batch_async(&mut buf, max));
                let polled = poll_settled(fut.as_mut(), &wake);
                drop(fut);
                match polled {
                    Poll::Ready(r) => r.map_err(|RecvError| TryRecvError::Closed),
                    Poll::Pending => {
                        assert!(block, "recv_batch_async pending ({ctx})");
                        assert!(buf.is_empty(), "pending but moved messages ({ctx})");
                        return;
                    }
                }
            }
            _ => rx.try_recv_batch(&mut buf, max),
        };
        let model = &mut self.model;
        match result {
            Ok(k) => {
                assert_eq!(k, buf.len(), "count vs buffer ({ctx})");
                let want = max.min(model.queue.len());
                assert_eq!(k, want, "batch took {k}, expected {want} ({ctx})");
                for m in buf {
                    expect_front(m, model, ctx);
                }
            }
            Err(e) => {
                assert!(buf.is_empty(), "error but moved messages ({ctx})");
                expect_try_recv(Err(e), model, ctx);
            }
        }
    }

    fn stream_poll(&mut self, ctx: &str) {
        let wake = Arc::clone(&self.stream_wake);
        let polled = match (&mut self.handles, self.keeper) {
            (Handles::Queue(_), Some(keeper)) => {
                let stream = self.queue_stream.get_or_insert_with(|| keeper.stream());
                poll_next_settled(Pin::new(stream), &wake)
            }
            (Handles::Channel { rx, .. }, _) if !rx.is_empty() => {
                poll_next_settled(Pin::new(&mut rx[0]), &wake)
            }
            _ => return,
        };
        match polled {
            Poll::Ready(Some(m)) => {
                self.stream_pending = None;
                expect_front(m, &mut self.model, ctx);
            }
            Poll::Ready(None) => {
                self.stream_pending = None;
                let ended = self.model.closed && self.model.queue.is_empty();
                assert!(ended, "stream ended early ({ctx})");
            }
            Poll::Pending => {
                assert!(self.model.recv_would_block(), "stream pending ({ctx})");
                self.stream_pending = Some(self.stream_wake.wakes());
            }
        }
    }

    fn clone_handle(&mut self, h: u8) {
        match &mut self.handles {
            Handles::Queue(qs) => {
                if qs.len() < MAX_HANDLES {
                    let q = pick(qs, h).expect("a Queue handle is left").clone();
                    qs.push(q);
                }
            }
            Handles::Channel { tx, .. } if h % 2 == 0 => {
                if let Some(s) = pick(tx, h / 2).filter(|_| tx.len() < MAX_HANDLES) {
                    let s = s.clone();
                    tx.push(s);
                }
            }
            Handles::Channel { rx, .. } => {
                if let Some(r) = pick(rx, h / 2).filter(|_| rx.len() < MAX_HANDLES) {
                    let r = r.clone();
                    rx.push(r);
                }
            }
        }
    }

    fn drop_handle(&mut self, h: u8, ctx: &str) {
        match &mut self.handles {
            Handles::Queue(qs) => {
                if qs.len() > 1 {
                    qs.swap_remove(usize::from(h) % qs.len());
                } else if self.held_send.is_none() && self.queue_stream.is_none() {
                    // Only `keeper` is left: the end of the run drops it, and the queue.
                    qs.clear();
                    self.over = true;
                }
            }
            Handles::Channel { tx, .. } if h % 2 == 0 => {
                if tx.is_empty() {
                    return;
                }
                tx.remove(usize::from(h / 2) % tx.len());
                if tx.is_empty() {
                    // The last sender closes the queue.
                    self.closed(ctx);
                }
            }
            Handles::Channel { rx, .. } => {
                if rx.is_empty() {
                    return;
                }
                let i = usize::from(h / 2) % rx.len();
                rx.remove(i);
                if i == 0 {
                    self.stream_pending = None; // that receiver was the stream
                }
                if rx.is_empty() {
                    // The last receiver closes the queue and drops its messages at once.
                    self.closed(ctx);
                    self.model.queue.clear();
                }
            }
        }
        if self.handles.is_empty() {
            self.over = true;
        }
    }

    /// The queue's observable state and the drop log against the model.
    fn check_state(&self, ctx: &str) {
        let model = &self.model;
        let state = match &self.handles {
            Handles::Queue(_) => {
                let q = self.keeper.expect("a Queue run has a keeper");
                Some((q.len(), q.is_empty(), q.is_closed(), q.capacity()))
            }
            Handles::Channel { tx, rx } => {
                if let Some(s) = tx.first() {
                    assert_eq!(s.sender_count(), tx.len(), "sender_count ({ctx})");
                    assert_eq!(s.receiver_count(), rx.len(), "receiver_count ({ctx})");
                }
                if let Some(r) = rx.first() {
                    assert_eq!(r.sender_count(), tx.len(), "sender_count ({ctx})");
                    assert_eq!(r.receiver_count(), rx.len(), "receiver_count ({ctx})");
                }
                match (tx.first(), rx.first()) {
                    (Some(s), _) => Some((s.len(), s.is_empty(), s.is_closed(), s.capacity())),
                    (_, Some(r)) => Some((r.len(), r.is_empty(), r.is_closed(), r.capacity())),
                    _ => None,
                }
            }
        };
        if let Some((len, is_empty, is_closed, capacity)) = state {
            assert_eq!(len, model.queue.len(), "len ({ctx})");
            assert_eq!(is_empty, model.queue.is_empty(), "is_empty ({ctx})");
            assert_eq!(is_closed, model.closed, "is_closed ({ctx})");
            assert_eq!(capacity, model.cap, "capacity ({ctx})");
        }
        let held = self.held_send.as_ref().map(|h| h.id);
        let mut alive = vec![false; usize::try_from(self.next_id).expect("fits")];
        for id in model.queue.iter().copied().chain(held) {
            alive[usize::try_from(id).expect("fits")] = true;
        }
        for (id, alive) in (0..self.next_id).zip(alive) {
            self.log.assert_count(id, u32::from(!alive), ctx);
        }
    }
}

/// Checks the result of a completed `send_async`; returns whether it was accepted.
fn expect_send_done(
    result: Result<(), SendError<Tracked>>,
    id: u64,
    model: &mut Model,
    ctx: &str,
) -> bool {
    match result {
        Ok(()) => {
            assert!(
                !model.closed && !model.full(),
                "send_async accepted ({ctx})"
            );
            model.queue.push_back(id);
            true
        }
        Err(SendError(back)) => {
            assert!(model.closed, "send_async refused on an open queue ({ctx})");
            assert_eq!(back.id, id, "gave back another message ({ctx})");
            false
        }
    }
}

/// Checks a receive result (`Empty` = would block, `Closed` = closed and drained).
fn expect_try_recv(result: Result<Tracked, TryRecvError>, model: &mut Model, ctx: &str) {
    match result {
        Ok(m) => expect_front(m, model, ctx),
        Err(TryRecvError::Empty) => {
            assert!(
                model.recv_would_block(),
                "Empty with messages or closed ({ctx})"
            );
        }
        Err(TryRecvError::Closed) => {
            assert!(
                model.closed && model.queue.is_empty(),
                "Closed with messages left or open ({ctx})"
            );
        }
    }
}

/// A received message must be the model's oldest; it is dropped here.
fn expect_front(m: Tracked, model: &mut Model, ctx: &str) {
    let front = model.queue.pop_front();
    assert_eq!(Some(m.id), front, "received out of FIFO order ({ctx})");
}
