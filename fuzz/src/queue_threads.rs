//! Target `queue_threads`: the queue operations (single and batch) split over 2-3 threads
//! sharing one queue (unbounded or bounded 1..=4) through `Queue<T>` handles or through
//! `Sender<T>`/`Receiver<T>` halves that the threads may clone and drop, with fuzzer-chosen
//! yields between the operations.
//!
//! The interleaving is not deterministic, so the checks are the ones that hold for every
//! interleaving:
//! * conservation: every message a send accepted is received exactly once (by a worker thread
//!   or by the final drain), or dropped exactly once with the queue (or by the last `Receiver`'s
//!   drop); a refused message comes back (the same one; a batch gives back exactly the messages
//!   after the accepted ones, in order) and is never received; in the end every message created
//!   was dropped exactly once;
//! * per-producer FIFO: each receiver sees each producer's messages in send order (batch receives
//!   included), and the final drain, after every thread ended, sees none older than one a thread
//!   already received;
//! * `close` returns `true` at most once (exactly once on `Queue` handles, where nothing else
//!   closes); after a thread's own `close` its sends fail and its receives never say `Empty`;
//! * `len()` equals the messages accepted and neither received nor dropped, once the threads are
//!   joined.
//!
//! No input can hang: a thread announces each blocking call before it waits, and the main thread
//! closes the queue once every worker is finished or waiting (closing earlier is legal, so a race
//! there only changes the schedule). After the close nothing blocks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use segmq::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};

use crate::api::{Rx, Tx};
use crate::common::{poll_settled, DropLog, Tracked, WakeCounter};
use crate::queue_ops::{Api, Flavor};

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
    /// `close` (through the sending handle if the thread has one).
    Close,
    /// Replace this thread's handles by clones of them (clone, then drop the old ones).
    Reclone,
    /// Blocking `send_batch` of `n % 6` messages.
    SendBatch(u8),
    /// `try_send_batch` of `n % 6` messages.
    TrySendBatch(u8),
    /// Blocking `recv_batch` of at most `1 + n % 5`.
    RecvBatch(u8),
    /// `try_recv_batch` of at most `n % 6`.
    TryRecvBatch(u8),
    /// Drop this thread's sending handle (a channel's last `Sender` closes the queue).
    DropSender,
    /// Drop this thread's receiving handle (a channel's last `Receiver` closes the queue and
    /// drops its messages).
    DropReceiver,
}

/// A decoded input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The queue.
    pub flavor: Flavor,
    /// The handles. On a channel the main thread keeps a `Receiver` when it drains, else a
    /// `Sender` (so that the threads can drop the last of the other kind).
    pub api: Api,
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
    log: Arc<DropLog>,
    /// Workers finished or inside a blocking call.
    idle: AtomicUsize,
    /// The next message id.
    next_id: AtomicU64,
}

/// One thread's handles.
struct Hands {
    tx: Option<Box<dyn Tx + Send>>,
    rx: Option<Box<dyn Rx + Send>>,
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
    let shared = Shared {
        log: DropLog::new(),
        idle: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
    };
    // Every worker gets both halves; the main thread keeps one half.
    let (main, workers): (Hands, Vec<Hands>) = match input.api {
        Api::Queue => {
            let q = input.flavor.queue::<Tracked>();
            let hands = (0..n)
                .map(|_| Hands {
                    tx: Some(Box::new(q.clone())),
                    rx: Some(Box::new(q.clone())),
                })
                .collect();
            (
                Hands {
                    tx: Some(Box::new(q.clone())),
                    rx: Some(Box::new(q)),
                },
                hands,
            )
        }
        Api::Channel => {
            let (tx, rx) = input.flavor.channel::<Tracked>();
            let hands = (0..n)
                .map(|_| Hands {
                    tx: Some(Box::new(tx.clone())),
                    rx: Some(Box::new(rx.clone())),
                })
                .collect();
            let main = if input.drain {
                Hands {
                    tx: None,
                    rx: Some(Box::new(rx)),
                }
            } else {
                Hands {
                    tx: Some(Box::new(tx)),
                    rx: None,
                }
            };
            (main, hands)
        }
    };
    let start = Barrier::new(n);
    let mut outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let threads: Vec<_> = programs
            .iter()
            .zip(workers)
            .enumerate()
            .map(|(t, (ops, hands))| {
                let (shared, start) = (&shared, &start);
                s.spawn(move || {
                    start.wait();
                    let out = worker(shared, hands, t as u8, ops);
                    shared.idle.fetch_add(1, Ordering::SeqCst);
                    out
                })
            })
            .collect();
        // Close once every worker is finished or waiting: then nothing can block any more.
        while shared.idle.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        let main_closed = match (&main.tx, &main.rx) {
            (Some(tx), _) => tx.close(),
            (_, Some(rx)) => rx.close(),
            _ => unreachable!("the main thread keeps a handle"),
        };
        let mut outcomes: Vec<Outcome> = threads
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        outcomes.push(Outcome {
            closed_it: usize::from(main_closed),
            ..Outcome::default()
        });
        outcomes
    });
    let closes: usize = outcomes.iter().map(|o| o.closed_it).sum();
    match input.api {
        Api::Queue => assert_eq!(closes, 1, "close() returned true {closes} times"),
        Api::Channel => assert!(closes <= 1, "close() returned true {closes} times"),
    }
    // The final drain goes to the main thread's outcome (the last one).
    if let (true, Some(rx)) = (input.drain, &main.rx) {
        let out = outcomes.last_mut().expect("main outcome");
        while let Ok(m) = rx.try_recv() {
            receive(out, m);
        }
        assert_eq!(
            rx.try_recv().unwrap_err(),
            TryRecvError::Closed,
            "after the drain"
        );
        assert!(rx.is_empty(), "is_empty after the drain");
    }
    let len = match (&main.tx, &main.rx) {
        (Some(tx), _) => tx.len(),
        (_, Some(rx)) => rx.len(),
        _ => unreachable!("the main thread keeps a handle"),
    };
    check_fifo(&outcomes, n);
    // Only a channel whose main thread keeps a `Sender` can lose all its receivers.
    let discards = input.api == Api::Channel && main.rx.is_none();
    let state = check_conservation(&outcomes, &shared.log, len, discards);
    drop(main);
    for &id in state.keys() {
        shared
            .log
            .assert_count(id, 1, "after the queue was dropped");
    }
    let created = shared.next_id.load(Ordering::SeqCst);
    assert_eq!(
        state.len() as u64,
        created,
        "every message created was sent"
    );
}

/// One worker's program.
fn worker(shared: &Shared, mut hands: Hands, me: u8, ops: &[ThreadOp]) -> Outcome {
    let mut out = Outcome::default();
    let mut seq = 0u64;
    let mut closed_by_me = false;
    let wake = Arc::new(WakeCounter::default());
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
                let Some(tx) = &hands.tx else { continue };
                for _ in 0..=(k % 4) {
                    let mut m = Some(next(&mut seq));
                    let id = m.as_ref().map_or(0, |m| m.id);
                    let mut result = Ok(());
                    blocking(&mut || result = tx.send(m.take().expect("one send")));
                    sent(&mut out, id, result.map_err(|e| e.0), closed_by_me);
                }
            }
            ThreadOp::TrySend | ThreadOp::SendTimeout => {
                let Some(tx) = &hands.tx else { continue };
                let m = next(&mut seq);
                let id = m.id;
                let result = if op == ThreadOp::TrySend {
                    tx.try_send(m)
                } else {
                    tx.send_timeout(m, SHORT).map_err(|e| match e {
                        SendTimeoutError::Timeout(m) => TrySendError::Full(m),
                        SendTimeoutError::Closed(m) => TrySendError::Closed(m),
                    })
                };
                if let Err(TrySendError::Full(_)) = &result {
                    assert!(tx.capacity().is_some(), "Full on an unbounded queue");
                }
                sent(
                    &mut out,
                    id,
                    result.map_err(TrySendError::into_inner),
                    closed_by_me,
                );
            }
            ThreadOp::SendAsync => {
                let Some(tx) = &hands.tx else { continue };
                let m = next(&mut seq);
                let id = m.id;
                let mut fut = Box::pin(tx.send_async(m));
                match poll_settled(fut.as_mut(), &wake) {
                    Poll::Ready(r) => sent(&mut out, id, r.map_err(|e| e.0), closed_by_me),
                    // Dropped with the future below.
                    Poll::Pending => out.refused.push(id),
                }
            }
            ThreadOp::SendBatch(k) | ThreadOp::TrySendBatch(k) => {
                let Some(tx) = &hands.tx else { continue };
                let batch: Vec<Tracked> = (0..k % 6).map(|_| next(&mut seq)).collect();
                let ids: Vec<u64> = batch.iter().map(|m| m.id).collect();
                let result = if let ThreadOp::SendBatch(_) = op {
                    let mut batch = Some(batch);
                    let mut result = Ok(0);
                    blocking(&mut || result = tx.send_batch(batch.take().expect("one batch")));
                    result
                } else {
                    tx.try_send_batch(batch)
                };
                let accepted = match result {
                    Ok(k) => {
                        assert_eq!(k, ids.len(), "batch count");
                        k
                    }
                    Err(e) => {
                        let k = e.accepted();
                        if e.is_full() {
                            assert!(tx.capacity().is_some(), "batch Full on an unbounded queue");
                            let blocking = matches!(op, ThreadOp::SendBatch(_));
                            assert!(!blocking, "blocking send_batch said Full");
                        }
                        let rest: Vec<u64> = e.into_rest().iter().map(|m| m.id).collect();
                        assert_eq!(rest, ids[k.min(ids.len())..], "batch rest");
                        k
                    }
                };
                assert!(
                    accepted == 0 || !closed_by_me,
                    "batch accepted after my close"
                );
                out.accepted.extend(&ids[..accepted]);
                out.refused.extend(&ids[accepted..]);
            }
            ThreadOp::Recv => {
                let Some(rx) = &hands.rx else { continue };
                let mut result = Err(segmq::RecvError);
                blocking(&mut || result = rx.recv());
                if let Ok(m) = result {
                    receive(&mut out, m);
                }
            }
            ThreadOp::TryRecv => {
                let Some(rx) = &hands.rx else { continue };
                match rx.try_recv() {
                    Ok(m) => receive(&mut out, m),
                    Err(TryRecvError::Empty) => assert!(!closed_by_me, "Empty after my close"),
                    Err(TryRecvError::Closed) => {}
                }
            }
            ThreadOp::RecvTimeout => {
                let Some(rx) = &hands.rx else { continue };
                match rx.recv_timeout(SHORT) {
                    Ok(m) => receive(&mut out, m),
                    Err(RecvTimeoutError::Timeout) => assert!(!closed_by_me, "Timeout after close"),
                    Err(RecvTimeoutError::Closed) => {}
                }
            }
            ThreadOp::RecvAsync => {
                let Some(rx) = &hands.rx else { continue };
                let mut fut = Box::pin(rx.recv_async());
                if let Poll::Ready(Ok(m)) = poll_settled(fut.as_mut(), &wake) {
                    receive(&mut out, m);
                }
            }
            ThreadOp::RecvBatch(k) | ThreadOp::TryRecvBatch(k) => {
                let Some(rx) = &hands.rx else { continue };
                let mut buf = Vec::new();
                let max = match op {
                    ThreadOp::RecvBatch(_) => 1 + usize::from(k % 5),
                    _ => usize::from(k % 6),
                };
                let result = if let ThreadOp::RecvBatch(_) = op {
                    let mut result = Ok(0);
                    blocking(&mut || {
                        result = rx
                            .recv_batch(&mut buf, max)
                            .map_err(|_| TryRecvError::Closed)
                    });
                    if let Ok(got) = result {
                        assert!(got >= 1, "recv_batch returned nothing");
                    }
                    result
                } else {
                    rx.try_recv_batch(&mut buf, max)
                };
                match result {
                    Ok(got) => assert_eq!(got, buf.len(), "batch count vs buffer"),
                    Err(TryRecvError::Empty) => {
                        assert!(!closed_by_me || max == 0, "Empty after my close");
                    }
                    Err(TryRecvError::Closed) => {}
                }
                for m in buf {
                    receive(&mut out, m);
                }
            }
            ThreadOp::TryIter(k) => {
                let Some(rx) = &hands.rx else { continue };
                for m in rx.try_iter().take(usize::from(k % 8)) {
                    receive(&mut out, m);
                }
            }
            ThreadOp::Yield(k) => {
                for _ in 0..(k % 16) {
                    std::thread::yield_now();
                }
            }
            ThreadOp::Close => {
                let closed = match (&hands.tx, &hands.rx) {
                    (Some(tx), _) => tx.close(),
                    (_, Some(rx)) => rx.close(),
                    _ => continue,
                };
                out.closed_it += usize::from(closed);
                closed_by_me = true;
            }
            ThreadOp::Reclone => {
                if let Some(tx) = &mut hands.tx {
                    let fresh = tx.clone_tx();
                    drop(std::mem::replace(tx, fresh));
                }
                if let Some(rx) = &mut hands.rx {
                    let fresh = rx.clone_rx();
                    drop(std::mem::replace(rx, fresh));
                }
            }
            ThreadOp::DropSender => hands.tx = None,
            ThreadOp::DropReceiver => hands.rx = None,
        }
    }
    out
}

/// Records the result of a single send.
fn sent(out: &mut Outcome, id: u64, result: Result<(), Tracked>, closed_by_me: bool) {
    match result {
        Ok(()) => {
            assert!(!closed_by_me, "send accepted after my close");
            out.accepted.push(id);
        }
        Err(back) => {
            assert_eq!(back.id, id, "a send gave back another message");
            out.refused.push(id);
        }
    }
}

fn receive(out: &mut Outcome, m: Tracked) {
    out.received.push((m.id, m.producer, m.seq));
}

/// Per-producer FIFO within each receiver, and the main thread's drain (the last outcome)
/// after everything the threads saw.
fn check_fifo(outcomes: &[Outcome], n: usize) {
    let mut newest_seen = vec![None::<u64>; n];
    for (r, o) in outcomes.iter().enumerate() {
        let mut last = vec![None::<u64>; n];
        let mut first = vec![None::<u64>; n];
        for &(id, p, seq) in &o.received {
            let p = usize::from(p);
            assert!(
                last[p].map_or(true, |l| l < seq),
                "receiver {r}: producer {p}'s message {seq} after {:?} (id {id})",
                last[p]
            );
            last[p] = Some(seq);
            first[p].get_or_insert(seq);
        }
        if r == n {
            for p in 0..n {
                if let (Some(first), Some(newest)) = (first[p], newest_seen[p]) {
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
}

/// Each accepted id received at most once, refused ids never; the accepted ones neither
/// received nor dropped (by the last receiver's drop, if `discards` is possible) are exactly
/// the `len` still queued. Returns each id's state: 'a' (accepted, not received), 'r'
/// (refused), 'R' (received).
fn check_conservation(
    outcomes: &[Outcome],
    log: &DropLog,
    len: usize,
    discards: bool,
) -> HashMap<u64, char> {
    let mut state = HashMap::new();
    for o in outcomes {
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
    for o in outcomes {
        for &(id, ..) in &o.received {
            match state.insert(id, 'R') {
                Some('a') => {}
                Some('R') => panic!("id {id} received twice"),
                Some(_) => panic!("refused id {id} was received"),
                None => panic!("id {id} received but never sent"),
            }
        }
    }
    let mut queued = 0;
    for (&id, &s) in &state {
        if s == 'a' {
            // Still queued, or dropped by the last receiver's drop: at most once either way.
            match log.count(id) {
                0 => queued += 1,
                1 if discards => {}
                c => panic!("unreceived message {id} dropped {c} times"),
            }
        } else {
            log.assert_count(id, 1, "received or refused, before the queue is dropped");
        }
    }
    assert_eq!(
        queued, len,
        "messages neither received nor dropped vs len()"
    );
    state
}
