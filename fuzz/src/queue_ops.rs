//! Target `queue_ops`: one thread, one queue (`Queue::unbounded()` or `Queue::bounded(1..=4)`),
//! an arbitrary sequence of operations checked against a `VecDeque` model after every step.
//!
//! Checked after every operation:
//! * the result of the operation: FIFO order of received messages, `Full`/`Closed`/`Empty`/
//!   `Timeout` exactly when the model says so, and a refused message given back (the same one);
//! * `len`, `is_empty`, `is_closed`, `capacity` against the model;
//! * drops: every message still queued (or held by a pending `send_async`) is not dropped yet,
//!   every other message was dropped exactly once;
//! * wake-ups: a pending `stream()` poll is woken by the next accepted send or by `close`, and a
//!   pending `send_async` is woken when a receive makes room or by `close`.
//!
//! At the end every handle is dropped: each message must then have been dropped exactly once.
//!
//! Blocking operations never block here: where the model says `send`/`recv` would wait forever
//! (full or empty open queue), the step becomes the `try_`, zero-timeout or past-deadline form,
//! whose result is checked all the same.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use segmq::{
    Queue, RecvError, RecvStream, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};

use crate::common::{poll_next_once, poll_once, DropLog, Tracked, WakeCounter};

/// Most operations run per input.
pub const MAX_OPS: usize = 256;
/// Most handles (clones) alive at once.
const MAX_HANDLES: usize = 4;
/// A wait that must not be reached (the model says the operation completes at once).
const LONG: Duration = Duration::from_secs(10);

/// Which queue the input runs on.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `Queue::unbounded()`.
    Unbounded,
    /// `Queue::bounded(1 + n % 4)`.
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

    fn make<T>(self) -> Queue<T> {
        match self.capacity() {
            None => Queue::unbounded(),
            Some(n) => Queue::bounded(n),
        }
    }
}

/// One step. `h` picks a handle (`h % handles`).
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
    /// `send_async` kept across steps if pending (at most one held at a time).
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
    /// Poll the (one) `stream()` once, creating it if needed; it stays registered if pending.
    StreamPoll,
    /// Drop the stream.
    StreamDrop,
    /// `close`.
    Close(u8),
    /// Clone a handle.
    Clone(u8),
    /// Drop a handle (the last one only when nothing else holds the queue: that ends the input).
    Drop(u8),
    // TODO(batch): `try_send_batch`, `send_batch`, `try_recv_batch`, `recv_batch`,
    // `recv_batch_async` and the `Sender`/`Receiver` channel handles, once they land on main.
}

/// A decoded input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The queue.
    pub flavor: Flavor,
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
    /// Whether a blocking send would wait forever (nobody else will receive or close).
    fn send_would_block(&self) -> bool {
        !self.closed && self.full()
    }
    /// Whether a blocking receive would wait forever.
    fn recv_would_block(&self) -> bool {
        !self.closed && self.queue.is_empty()
    }
}

/// A `send_async` future kept across steps.
struct HeldSend<'a> {
    fut: Pin<Box<segmq::Send<'a, Tracked>>>,
    id: u64,
    wake: Arc<WakeCounter>,
    /// Wake count when the last poll was pending; `None` once a wake-up came (the future must
    /// be polled again to wait again).
    wakes_at_pending: Option<usize>,
}

/// The stream, with the wake count seen when its last poll was pending.
struct HeldStream {
    stream: RecvStream<Tracked>,
    wake: Arc<WakeCounter>,
    wakes_at_pending: Option<usize>,
}

/// Runs one input against the model.
pub fn check(input: &Input) {
    let log = DropLog::new();
    let mut next_id = 0u64;
    let msg = |next_id: &mut u64| {
        let m = Tracked::new(*next_id, 0, *next_id, &log);
        *next_id += 1;
        m
    };
    let mut model = Model {
        queue: VecDeque::new(),
        closed: false,
        cap: input.flavor.capacity(),
    };
    // `keeper` lives for the whole run: the held `send_async` borrows it.
    let keeper: Queue<Tracked> = input.flavor.make();
    let mut handles = vec![keeper.clone()];
    let mut held_send: Option<HeldSend<'_>> = None;
    let mut stream: Option<HeldStream> = None;
    let mut keeper_only = false;

    for (step, &op) in input.ops.iter().take(MAX_OPS).enumerate() {
        if keeper_only {
            break;
        }
        let ctx = format!(
            "step {step}: {op:?}, model len {} closed {}",
            model.queue.len(),
            model.closed
        );
        let pick = |h: u8| usize::from(h) % handles.len();
        let q = handles[pick(op_handle(op))].clone();
        let was_full = model.full();
        let mut accepted = false;
        match op {
            Op::Send(_) => {
                let m = msg(&mut next_id);
                let id = m.id;
                if model.send_would_block() {
                    expect_try_send(q.try_send(m), id, &mut model, &ctx);
                } else {
                    match q.send(m) {
                        Ok(()) => {
                            assert!(!model.closed, "send accepted on a closed queue ({ctx})");
                            model.queue.push_back(id);
                            accepted = true;
                        }
                        Err(SendError(back)) => {
                            assert!(model.closed, "send refused on an open queue ({ctx})");
                            assert_eq!(back.id, id, "send gave back another message ({ctx})");
                        }
                    }
                }
            }
            Op::TrySend(_) => {
                let m = msg(&mut next_id);
                let id = m.id;
                accepted = expect_try_send(q.try_send(m), id, &mut model, &ctx);
            }
            Op::SendTimeout(_) | Op::SendDeadline(_) => {
                let m = msg(&mut next_id);
                let id = m.id;
                let block = model.send_would_block();
                let result = match (op, block) {
                    (Op::SendTimeout(_), true) => q.send_timeout(m, Duration::ZERO),
                    (Op::SendTimeout(_), false) => q.send_timeout(m, LONG),
                    (_, true) => q.send_deadline(m, Instant::now()),
                    (_, false) => q.send_deadline(m, Instant::now() + LONG),
                };
                match result {
                    Ok(()) => {
                        assert!(!model.closed && !model.full(), "accepted wrongly ({ctx})");
                        model.queue.push_back(id);
                        accepted = true;
                    }
                    Err(SendTimeoutError::Closed(back)) => {
                        assert!(model.closed, "Closed on an open queue ({ctx})");
                        assert_eq!(back.id, id, "gave back another message ({ctx})");
                    }
                    Err(SendTimeoutError::Timeout(back)) => {
                        assert!(block, "Timeout where the model has room ({ctx})");
                        assert_eq!(back.id, id, "gave back another message ({ctx})");
                    }
                }
            }
            Op::SendAsync(_) => {
                let m = msg(&mut next_id);
                let id = m.id;
                let wake = Arc::new(WakeCounter::default());
                let mut fut = Box::pin(q.send_async(m));
                match poll_once(fut.as_mut(), &wake.waker()) {
                    Poll::Ready(r) => accepted = expect_send_done(r, id, &mut model, &ctx),
                    Poll::Pending => {
                        assert!(model.send_would_block(), "send_async pending ({ctx})");
                    }
                }
                drop(fut);
            }
            Op::HoldSendAsync => {
                if held_send.is_none() {
                    let m = msg(&mut next_id);
                    let id = m.id;
                    let wake = Arc::new(WakeCounter::default());
                    let mut fut = Box::pin(keeper.send_async(m));
                    match poll_once(fut.as_mut(), &wake.waker()) {
                        Poll::Ready(r) => accepted = expect_send_done(r, id, &mut model, &ctx),
                        Poll::Pending => {
                            assert!(model.send_would_block(), "send_async pending ({ctx})");
                            let wakes_at_pending = Some(wake.wakes());
                            held_send = Some(HeldSend {
                                fut,
                                id,
                                wake,
                                wakes_at_pending,
                            });
                        }
                    }
                }
            }
            Op::PollHeldSend => {
                if let Some(mut held) = held_send.take() {
                    let waker = held.wake.waker();
                    match poll_once(held.fut.as_mut(), &waker) {
                        Poll::Ready(r) => {
                            accepted = expect_send_done(r, held.id, &mut model, &ctx);
                        }
                        Poll::Pending => {
                            assert!(model.send_would_block(), "held send pending ({ctx})");
                            held.wakes_at_pending = Some(held.wake.wakes());
                            held_send = Some(held);
                        }
                    }
                }
            }
            Op::DropHeldSend => held_send = None,
            Op::Recv(_) => {
                if model.recv_would_block() {
                    expect_try_recv(q.try_recv(), &mut model, &ctx);
                } else {
                    let got = q.recv().map_err(|RecvError| TryRecvError::Closed);
                    expect_try_recv(got, &mut model, &ctx);
                }
            }
            Op::TryRecv(_) => expect_try_recv(q.try_recv(), &mut model, &ctx),
            Op::RecvTimeout(_) | Op::RecvDeadline(_) => {
                let block = model.recv_would_block();
                let result = match (op, block) {
                    (Op::RecvTimeout(_), true) => q.recv_timeout(Duration::ZERO),
                    (Op::RecvTimeout(_), false) => q.recv_timeout(LONG),
                    (_, true) => q.recv_deadline(Instant::now()),
                    (_, false) => q.recv_deadline(Instant::now() + LONG),
                };
                let result = result.map_err(|e| match e {
                    RecvTimeoutError::Closed => TryRecvError::Closed,
                    RecvTimeoutError::Timeout => {
                        assert!(block, "Timeout where the model has a message ({ctx})");
                        TryRecvError::Empty
                    }
                });
                expect_try_recv(result, &mut model, &ctx);
            }
            Op::RecvAsync(_) => {
                let wake = Arc::new(WakeCounter::default());
                let mut fut = Box::pin(q.recv_async());
                match poll_once(fut.as_mut(), &wake.waker()) {
                    Poll::Ready(r) => {
                        expect_try_recv(r.map_err(|_| TryRecvError::Closed), &mut model, &ctx)
                    }
                    Poll::Pending => {
                        assert!(model.recv_would_block(), "recv_async pending ({ctx})");
                    }
                }
            }
            Op::TryIter { max, .. } => {
                let got: Vec<Tracked> = q.try_iter().take(usize::from(max % 8)).collect();
                for m in got {
                    expect_front(m, &mut model, &ctx);
                }
            }
            Op::Iter(_) => {
                let got: Vec<Tracked> = if model.closed {
                    q.iter().collect()
                } else {
                    q.try_iter().collect()
                };
                let n = got.len();
                for m in got {
                    expect_front(m, &mut model, &ctx);
                }
                assert!(
                    model.queue.is_empty(),
                    "iter stopped early after {n} ({ctx})"
                );
            }
            Op::StreamPoll => {
                let held = stream.get_or_insert_with(|| HeldStream {
                    stream: keeper.stream(),
                    wake: Arc::new(WakeCounter::default()),
                    wakes_at_pending: None,
                });
                let waker = held.wake.waker();
                match poll_next_once(Pin::new(&mut held.stream), &waker) {
                    Poll::Ready(Some(m)) => {
                        held.wakes_at_pending = None;
                        expect_front(m, &mut model, &ctx);
                    }
                    Poll::Ready(None) => {
                        held.wakes_at_pending = None;
                        assert!(
                            model.closed && model.queue.is_empty(),
                            "stream ended early ({ctx})"
                        );
                    }
                    Poll::Pending => {
                        assert!(model.recv_would_block(), "stream pending ({ctx})");
                        held.wakes_at_pending = Some(held.wake.wakes());
                    }
                }
            }
            Op::StreamDrop => stream = None,
            Op::Close(_) => {
                let closed_now = q.close();
                assert_eq!(closed_now, !model.closed, "close() result ({ctx})");
                model.closed = true;
                if let Some(held) = &mut stream {
                    if let Some(at) = held.wakes_at_pending.take() {
                        assert!(
                            held.wake.wakes() > at,
                            "close did not wake the stream ({ctx})"
                        );
                    }
                }
                if let Some(held) = &mut held_send {
                    if let Some(at) = held.wakes_at_pending.take() {
                        let woken = held.wake.wakes() > at;
                        assert!(woken, "close did not wake the held send ({ctx})");
                    }
                }
            }
            Op::Clone(h) => {
                if handles.len() < MAX_HANDLES {
                    handles.push(handles[pick(h)].clone());
                }
            }
            Op::Drop(h) => {
                if handles.len() > 1 {
                    handles.swap_remove(pick(h));
                } else if held_send.is_none() && stream.is_none() {
                    // Only `keeper` is left: dropping it (after the loop) drops the queue.
                    handles.clear();
                    keeper_only = true;
                }
            }
        }
        if accepted {
            if let Some(held) = &mut stream {
                if let Some(at) = held.wakes_at_pending.take() {
                    assert!(
                        held.wake.wakes() > at,
                        "send did not wake the stream ({ctx})"
                    );
                }
            }
        }
        if was_full && !model.full() {
            if let Some(held) = &mut held_send {
                if let Some(at) = held.wakes_at_pending.take() {
                    let woken = held.wake.wakes() > at;
                    assert!(woken, "making room did not wake the held send ({ctx})");
                }
            }
        }
        check_state(
            &keeper,
            &model,
            &log,
            next_id,
            held_send.as_ref().map(|h| h.id),
            &ctx,
        );
    }

    let held_id = held_send.as_ref().map(|h| h.id);
    drop(held_send);
    if let Some(id) = held_id {
        log.assert_count(id, 1, "dropping the held send_async");
    }
    drop(stream);
    drop(handles);
    let queued: Vec<u64> = model.queue.iter().copied().collect();
    for &id in &queued {
        log.assert_count(id, 0, "queued message dropped while a handle is alive");
    }
    drop(keeper);
    log.assert_all_dropped_once(next_id, "after the last handle was dropped");
}

/// The handle index an operation names (0 for those that name none).
fn op_handle(op: Op) -> u8 {
    match op {
        Op::Send(h)
        | Op::TrySend(h)
        | Op::SendTimeout(h)
        | Op::SendDeadline(h)
        | Op::SendAsync(h)
        | Op::Recv(h)
        | Op::TryRecv(h)
        | Op::RecvTimeout(h)
        | Op::RecvDeadline(h)
        | Op::RecvAsync(h)
        | Op::TryIter { h, .. }
        | Op::Iter(h)
        | Op::Close(h)
        | Op::Clone(h)
        | Op::Drop(h) => h,
        Op::HoldSendAsync
        | Op::PollHeldSend
        | Op::DropHeldSend
        | Op::StreamPoll
        | Op::StreamDrop => 0,
    }
}

/// Checks a `try_send` result against the model; returns whether it was accepted.
fn expect_try_send(
    result: Result<(), TrySendError<Tracked>>,
    id: u64,
    model: &mut Model,
    ctx: &str,
) -> bool {
    match result {
        Ok(()) => {
            assert!(!model.closed, "accepted on a closed queue ({ctx})");
            assert!(!model.full(), "accepted on a full queue ({ctx})");
            model.queue.push_back(id);
            true
        }
        Err(TrySendError::Full(back)) => {
            assert!(!model.closed && model.full(), "Full wrongly ({ctx})");
            assert_eq!(back.id, id, "gave back another message ({ctx})");
            false
        }
        Err(TrySendError::Closed(back)) => {
            assert!(model.closed, "Closed on an open queue ({ctx})");
            assert_eq!(back.id, id, "gave back another message ({ctx})");
            false
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

/// The queue's observable state and the drop log against the model.
fn check_state(
    q: &Queue<Tracked>,
    model: &Model,
    log: &DropLog,
    created: u64,
    held: Option<u64>,
    ctx: &str,
) {
    assert_eq!(q.len(), model.queue.len(), "len ({ctx})");
    assert_eq!(q.is_empty(), model.queue.is_empty(), "is_empty ({ctx})");
    assert_eq!(q.is_closed(), model.closed, "is_closed ({ctx})");
    assert_eq!(q.capacity(), model.cap, "capacity ({ctx})");
    let mut alive = vec![false; usize::try_from(created).expect("fits")];
    for id in model.queue.iter().copied().chain(held) {
        alive[usize::try_from(id).expect("fits")] = true;
    }
    for (id, alive) in (0..created).zip(alive) {
        log.assert_count(id, u32::from(!alive), ctx);
    }
}
