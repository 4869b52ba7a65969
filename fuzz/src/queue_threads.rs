//! Target `queue_threads`: the queue operations split over 2-3 threads sharing one queue
//! (unbounded or bounded 1..=4), with fuzzer-chosen yields between them.
//!
//! The interleaving is not deterministic, so the checks are the ones that hold for every
//! interleaving:
//! * conservation: every message a send accepted is received exactly once (by a worker thread
//!   or by the final drain) or, if the input skips the drain, dropped exactly once with the queue;
//!   a refused message comes back (the same one) and is never received; in the end every message
//!   created was dropped exactly once;
//! * per-producer FIFO: each receiver sees each producer's messages in send order, and the final
//!   drain (after every thread ended) sees none older than one a thread already received;
//! * `close` returns `true` exactly once; after a thread's own `close` its sends fail;
//! * `len()` equals accepted minus received once the threads are joined.
//!
//! No input can hang: a thread announces each blocking `send`/`recv` before it waits, and the
//! main thread closes the queue once every worker is finished or waiting (closing earlier is
//! legal, so a race there only changes the schedule). After the close nothing blocks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use segmq::{Queue, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};

use crate::common::{poll_once, DropLog, Tracked, WakeCounter};
use crate::queue_ops::Flavor;

/// Most operations per thread.
pub const MAX_OPS_PER_THREAD: usize = 48;
/// Most worker threads.
pub const MAX_THREADS: usize = 3;
/// The one short timeout used (`send_timeout`, `recv_timeout`).
const SHORT: Duration = Duration::from_micros(100);

/// One step of one thread.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadOp {
    /// `1 + n % 4` blocking `send`s.
    Send(u8),
    /// `try_send`.
    TrySend,
    /// `send_timeout` (100 µs).
    SendTimeout,
    /// `send_async` polled once, dropped if pending.
    SendAsync,
    /// Blocking `recv`.
    Recv,
    /// `try_recv`.
    TryRecv,
    /// `recv_timeout` (100 µs).
    RecvTimeout,
    /// `recv_async` polled once, dropped if pending.
    RecvAsync,
    /// `try_iter().take(n % 8)`.
    TryIter(u8),
    /// `n % 16` calls to `thread::yield_now`.
    Yield(u8),
    /// `close`.
    Close,
    /// Replace this thread's handle by a clone of it (clone, then drop the old one).
    Reclone,
    // TODO(batch): `try_send_batch`, `send_batch`, `try_recv_batch`, `recv_batch` and the
    // `Sender`/`Receiver` handles (clone/drop), once they land on main.
}

/// A decoded input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The queue.
    pub flavor: Flavor,
    /// Whether the main thread drains the queue after the join (else it drops it full).
    pub drain: bool,
    /// Each worker's operations (the first [`MAX_THREADS`]; at least 2 threads run).
    pub threads: Vec<Vec<ThreadOp>>,
}

/// Decodes `data` and runs it; panics on a broken invariant.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

/// What one worker saw.
#[derive(Debug, Default)]
struct Outcome {
    /// `(id, producer, seq)` of each received message, in order.
    received: Vec<(u64, u8, u64)>,
    /// Ids its sends got accepted.
    accepted: Vec<u64>,
    /// Ids its sends got back.
    refused: Vec<u64>,
    /// How many of its `close` calls returned `true`.
    closed_it: usize,
}

/// Shared by the workers and the main thread.
struct Shared {
    queue: Queue<Tracked>,
    log: Arc<DropLog>,
    /// Workers finished or inside a blocking call.
    idle: AtomicUsize,
    /// The next message id.
    next_id: AtomicU64,
}

/// Runs one input.
pub fn check(input: &Input) {
    let mut programs: Vec<&[ThreadOp]> = input
        .threads
        .iter()
        .take(MAX_THREADS)
        .map(|ops| &ops[..ops.len().min(MAX_OPS_PER_THREAD)])
        .collect();
    while programs.len() < 2 {
        programs.push(&[]);
    }
    let n = programs.len();
    let shared = Arc::new(Shared {
        queue: match input.flavor.capacity() {
            None => Queue::unbounded(),
            Some(c) => Queue::bounded(c),
        },
        log: DropLog::new(),
        idle: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
    });
    let start = Arc::new(Barrier::new(n));
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let workers: Vec<_> = programs
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let shared = shared.clone();
                let start = start.clone();
                s.spawn(move || {
                    start.wait();
                    let out = worker(&shared, t as u8, ops);
                    shared.idle.fetch_add(1, Ordering::SeqCst);
                    out
                })
            })
            .collect();
        // Close once every worker is finished or waiting: then nothing can block any more.
        while shared.idle.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        let main_closed = shared.queue.close();
        let mut outcomes: Vec<Outcome> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        outcomes.push(Outcome {
            closed_it: usize::from(main_closed),
            ..Outcome::default()
        });
        outcomes
    });
    verify(input, shared, outcomes, n);
}

/// One worker's program.
fn worker(shared: &Shared, me: u8, ops: &[ThreadOp]) -> Outcome {
    let mut out = Outcome::default();
    let mut q = shared.queue.clone();
    let mut seq = 0u64;
    let mut closed_by_me = false;
    let wake = Arc::new(WakeCounter::default());
    let waker = wake.waker();
    let next = |seq: &mut u64| {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let m = Tracked::new(id, me, *seq, &shared.log);
        *seq += 1;
        m
    };
    // Announces a call that may wait, so that the main thread knows when to close.
    let blocking = |f: &mut dyn FnMut()| {
        shared.idle.fetch_add(1, Ordering::SeqCst);
        f();
        shared.idle.fetch_sub(1, Ordering::SeqCst);
    };
    for &op in ops {
        match op {
            ThreadOp::Send(k) => {
                for _ in 0..=(k % 4) {
                    let mut m = Some(next(&mut seq));
                    let id = m.as_ref().map_or(0, |m| m.id);
                    let mut result = Ok(());
                    blocking(&mut || result = q.send(m.take().expect("one send")));
                    match result {
                        Ok(()) => {
                            assert!(!closed_by_me, "send accepted after my close");
                            out.accepted.push(id);
                        }
                        Err(e) => {
                            assert_eq!(e.into_inner().id, id, "send gave back another");
                            out.refused.push(id);
                        }
                    }
                }
            }
            ThreadOp::TrySend | ThreadOp::SendTimeout => {
                let m = next(&mut seq);
                let id = m.id;
                let result = if op == ThreadOp::TrySend {
                    q.try_send(m)
                } else {
                    q.send_timeout(m, SHORT).map_err(|e| match e {
                        SendTimeoutError::Timeout(m) => TrySendError::Full(m),
                        SendTimeoutError::Closed(m) => TrySendError::Closed(m),
                    })
                };
                match result {
                    Ok(()) => {
                        assert!(!closed_by_me, "send accepted after my close");
                        out.accepted.push(id);
                    }
                    Err(TrySendError::Full(m)) => {
                        assert!(q.capacity().is_some(), "Full on an unbounded queue");
                        assert_eq!(m.id, id, "gave back another message");
                        out.refused.push(id);
                    }
                    Err(TrySendError::Closed(m)) => {
                        assert_eq!(m.id, id, "gave back another message");
                        out.refused.push(id);
                    }
                }
            }
            ThreadOp::SendAsync => {
                let m = next(&mut seq);
                let id = m.id;
                let mut fut = Box::pin(q.send_async(m));
                match poll_once(fut.as_mut(), &waker) {
                    Poll::Ready(Ok(())) => {
                        assert!(!closed_by_me, "send accepted after my close");
                        out.accepted.push(id);
                    }
                    Poll::Ready(Err(e)) => {
                        assert_eq!(e.into_inner().id, id, "gave back another message");
                        out.refused.push(id);
                    }
                    // Dropped with the future below.
                    Poll::Pending => out.refused.push(id),
                }
            }
            ThreadOp::Recv => {
                let mut result = Err(segmq::RecvError);
                blocking(&mut || result = q.recv());
                if let Ok(m) = result {
                    receive(&mut out, m);
                }
            }
            ThreadOp::TryRecv => match q.try_recv() {
                Ok(m) => receive(&mut out, m),
                Err(TryRecvError::Empty) => assert!(!closed_by_me, "Empty after my close"),
                Err(TryRecvError::Closed) => {}
            },
            ThreadOp::RecvTimeout => match q.recv_timeout(SHORT) {
                Ok(m) => receive(&mut out, m),
                Err(RecvTimeoutError::Timeout) => assert!(!closed_by_me, "Timeout after close"),
                Err(RecvTimeoutError::Closed) => {}
            },
            ThreadOp::RecvAsync => {
                let mut fut = Box::pin(q.recv_async());
                if let Poll::Ready(Ok(m)) = poll_once(fut.as_mut(), &waker) {
                    receive(&mut out, m);
                }
            }
            ThreadOp::TryIter(k) => {
                for m in q.try_iter().take(usize::from(k % 8)) {
                    receive(&mut out, m);
                }
            }
            ThreadOp::Yield(k) => {
                for _ in 0..(k % 16) {
                    std::thread::yield_now();
                }
            }
            ThreadOp::Close => {
                if q.close() {
                    out.closed_it += 1;
                }
                closed_by_me = true;
            }
            ThreadOp::Reclone => {
                let fresh = q.clone();
                drop(std::mem::replace(&mut q, fresh));
            }
        }
    }
    out
}

fn receive(out: &mut Outcome, m: Tracked) {
    out.received.push((m.id, m.producer, m.seq));
}

/// The checks after the join.
fn verify(input: &Input, shared: Arc<Shared>, mut outcomes: Vec<Outcome>, n: usize) {
    let closes: usize = outcomes.iter().map(|o| o.closed_it).sum();
    assert_eq!(closes, 1, "close() returned true {closes} times");

    let accepted: usize = outcomes.iter().map(|o| o.accepted.len()).sum();
    let received: usize = outcomes.iter().map(|o| o.received.len()).sum();
    assert!(
        received <= accepted,
        "received {received} > accepted {accepted}"
    );
    assert_eq!(
        shared.queue.len(),
        accepted - received,
        "len after the join"
    );

    // The last outcome is the main thread's: the final drain goes there.
    if input.drain {
        let main = outcomes.last_mut().expect("main outcome");
        while let Ok(m) = shared.queue.try_recv() {
            receive(main, m);
        }
        assert_eq!(shared.queue.try_recv().unwrap_err(), TryRecvError::Closed);
    }
    let left = shared.queue.len();

    // Per-producer FIFO within each receiver, and the drain after everything threads saw.
    let mut newest_seen = vec![None::<u64>; n];
    for (r, o) in outcomes.iter().enumerate() {
        let mut last = vec![None::<u64>; n];
        for &(id, p, seq) in &o.received {
            let p = usize::from(p);
            assert!(
                last[p].map_or(true, |l| l < seq),
                "receiver {r}: producer {p}'s message {seq} after {:?} (id {id})",
                last[p]
            );
            last[p] = Some(seq);
        }
        if r == n {
            for (p, first) in drained_firsts(&o.received, n).into_iter().enumerate() {
                if let (Some(first), Some(newest)) = (first, newest_seen[p]) {
                    assert!(
                        first > newest,
                        "drain: producer {p}'s {first} after a thread got {newest}"
                    );
                }
            }
        } else {
            for (p, l) in last.into_iter().enumerate() {
                newest_seen[p] = newest_seen[p].max(l);
            }
        }
    }

    // Conservation: each accepted id received at most once, refused ids never.
    let mut state = std::collections::HashMap::new();
    for o in &outcomes {
        for &id in &o.accepted {
            assert!(state.insert(id, 'a').is_none(), "id {id} accepted twice");
        }
        for &id in &o.refused {
            assert!(
                state.insert(id, 'r').is_none(),
                "id {id} both sent and refused"
            );
        }
    }
    for o in &outcomes {
        for &(id, ..) in &o.received {
            match state.insert(id, 'R') {
                Some('a') => {}
                Some('R') => panic!("id {id} received twice"),
                Some(_) => panic!("refused id {id} was received"),
                None => panic!("id {id} received but never sent"),
            }
        }
    }
    let in_queue: Vec<u64> = state
        .iter()
        .filter(|(_, s)| **s == 'a')
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        in_queue.len(),
        left,
        "messages neither received nor in the queue"
    );

    // Drops: received and refused messages were dropped once already; queued ones go with the
    // queue.
    let log = shared.log.clone();
    for (&id, s) in &state {
        log.assert_count(id, u32::from(*s != 'a'), "before the queue is dropped");
    }
    drop(shared);
    for &id in state.keys() {
        log.assert_count(id, 1, "after the queue was dropped");
    }
}

/// The first seq of each producer in `received`.
fn drained_firsts(received: &[(u64, u8, u64)], n: usize) -> Vec<Option<u64>> {
    let mut first = vec![None; n];
    for &(_, p, seq) in received {
        first[usize::from(p)].get_or_insert(seq);
    }
    first
}
