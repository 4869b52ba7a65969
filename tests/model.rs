//! Random single-thread operation sequences on both flavours (`Queue::unbounded()` and
//! `Queue::bounded(1..=5)`), checked step by step against a `VecDeque` model with a capacity:
//! FIFO, lengths, errors, batches (accepted prefix, rejected rest in order), messages returned
//! on close or full, and drop counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use segmq::{Queue, RecvError, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};

#[derive(Debug, Clone)]
enum Op {
    Send,
    TrySend,
    SendTimeout,
    SendBatch(usize),
    TrySendBatch(usize),
    TryRecv,
    Recv,
    RecvTimeout,
    RecvAsync,
    RecvBatch(usize),
    TryRecvBatch(usize),
    RecvBatchAsync(usize),
    TryIter(usize),
    Close,
    CloneHandle,
    DropHandle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Send),
        4 => Just(Op::TrySend),
        1 => Just(Op::SendTimeout),
        3 => (0usize..70).prop_map(Op::SendBatch),
        3 => (0usize..70).prop_map(Op::TrySendBatch),
        4 => Just(Op::TryRecv),
        2 => Just(Op::Recv),
        1 => Just(Op::RecvTimeout),
        2 => Just(Op::RecvAsync),
        2 => (0usize..70).prop_map(Op::RecvBatch),
        2 => (0usize..70).prop_map(Op::TryRecvBatch),
        1 => (0usize..70).prop_map(Op::RecvBatchAsync),
        1 => (0usize..40).prop_map(Op::TryIter),
        1 => Just(Op::Close),
        1 => Just(Op::CloneHandle),
        1 => Just(Op::DropHandle),
    ]
}

/// A message that counts its drops.
#[derive(Debug)]
struct Tracked {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The model: what the queue must hold.
struct Model {
    queue: VecDeque<u64>,
    cap: Option<usize>,
    closed: bool,
}

impl Model {
    fn room(&self) -> usize {
        self.cap.map_or(usize::MAX, |c| c - self.queue.len())
    }
    /// A blocking receive can only block for ever on an open empty queue.
    fn recv_would_block(&self) -> bool {
        self.queue.is_empty() && !self.closed
    }
}

fn check_received(model: &mut Model, got: &[Tracked]) -> Result<(), TestCaseError> {
    for m in got {
        prop_assert_eq!(Some(m.id), model.queue.pop_front());
    }
    Ok(())
}

fn run(cap: Option<usize>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let drops = Arc::new(AtomicUsize::new(0));
    let first = match cap {
        None => Queue::unbounded(),
        Some(c) => Queue::bounded(c),
    };
    let mut handles = vec![first];
    let mut model = Model {
        queue: VecDeque::new(),
        cap,
        closed: false,
    };
    let mut next = 0u64;
    let fresh = |next: &mut u64, n: usize| -> Vec<Tracked> {
        (0..n)
            .map(|_| {
                *next += 1;
                Tracked {
                    id: *next - 1,
                    drops: drops.clone(),
                }
            })
            .collect()
    };
    let mut buf: Vec<Tracked> = Vec::new();

    for op in ops {
        let q = handles.last().unwrap().clone();
        match op {
            Op::Send | Op::TrySend | Op::SendTimeout => {
                let msg = fresh(&mut next, 1).pop().unwrap();
                let id = msg.id;
                // A blocking send on a full queue would block for ever: try instead.
                let blocking = matches!(op, Op::Send) && model.room() > 0;
                let result = if blocking {
                    q.send(msg)
                        .map_err(|e| TrySendError::Closed(e.into_inner()))
                } else if matches!(op, Op::SendTimeout) {
                    q.send_timeout(msg, Duration::from_micros(50))
                        .map_err(|e| match e {
                            SendTimeoutError::Timeout(m) => TrySendError::Full(m),
                            SendTimeoutError::Closed(m) => TrySendError::Closed(m),
                        })
                } else {
                    q.try_send(msg)
                };
                match result {
                    Ok(()) => {
                        prop_assert!(!model.closed && model.room() > 0);
                        model.queue.push_back(id);
                    }
                    Err(TrySendError::Closed(back)) => {
                        prop_assert!(model.closed);
                        prop_assert_eq!(back.id, id);
                    }
                    Err(TrySendError::Full(back)) => {
                        prop_assert!(!model.closed && model.room() == 0);
                        prop_assert_eq!(back.id, id);
                    }
                }
            }
            Op::SendBatch(n) | Op::TrySendBatch(n) => {
                let batch = fresh(&mut next, n);
                let ids: Vec<u64> = batch.iter().map(|m| m.id).collect();
                // A blocking batch larger than the room would block for ever: try instead.
                let blocking =
                    matches!(op, Op::SendBatch(_)) && (model.closed || n <= model.room());
                let result = if blocking {
                    q.send_batch(batch)
                } else {
                    q.try_send_batch(batch)
                };
                let accepted = match result {
                    Ok(k) => {
                        prop_assert!(!model.closed || n == 0);
                        prop_assert_eq!(k, n);
                        n
                    }
                    Err(e) => {
                        let k = e.accepted();
                        if model.closed {
                            prop_assert!(e.is_closed());
                            prop_assert_eq!(k, 0);
                        } else {
                            prop_assert!(e.is_full() && !blocking);
                            prop_assert_eq!(k, model.room());
                        }
                        let rest: Vec<u64> = e.into_rest().iter().map(|m| m.id).collect();
                        prop_assert_eq!(&rest[..], &ids[k..]);
                        k
                    }
                };
                model.queue.extend(&ids[..accepted]);
            }
            Op::TryRecv => match q.try_recv() {
                Ok(m) => check_received(&mut model, &[m])?,
                Err(TryRecvError::Empty) => prop_assert!(model.recv_would_block()),
                Err(TryRecvError::Closed) => prop_assert!(model.queue.is_empty() && model.closed),
            },
            Op::Recv | Op::RecvAsync if !model.recv_would_block() => {
                let got = if matches!(op, Op::Recv) {
                    q.recv()
                } else {
                    futures_executor::block_on(q.recv_async())
                };
                match got {
                    Ok(m) => check_received(&mut model, &[m])?,
                    Err(RecvError) => prop_assert!(model.queue.is_empty() && model.closed),
                }
            }
            Op::RecvTimeout => match q.recv_timeout(Duration::from_micros(50)) {
                Ok(m) => check_received(&mut model, &[m])?,
                Err(RecvTimeoutError::Timeout) => prop_assert!(model.recv_would_block()),
                Err(RecvTimeoutError::Closed) => {
                    prop_assert!(model.queue.is_empty() && model.closed)
                }
            },
            Op::RecvBatch(max) | Op::RecvBatchAsync(max)
                if !model.recv_would_block() || max == 0 =>
            {
                let got = if matches!(op, Op::RecvBatch(_)) {
                    q.recv_batch(&mut buf, max)
                } else {
                    futures_executor::block_on(q.recv_batch_async(&mut buf, max))
                };
                match got {
                    Ok(k) => {
                        prop_assert_eq!(k, max.min(model.queue.len()));
                        prop_assert_eq!(buf.len(), k);
                        check_received(&mut model, &buf)?;
                    }
                    Err(RecvError) => {
                        prop_assert!(model.queue.is_empty() && model.closed && max > 0)
                    }
                }
                buf.clear();
            }
            Op::TryRecvBatch(max) => {
                match q.try_recv_batch(&mut buf, max) {
                    Ok(k) => {
                        prop_assert_eq!(k, max.min(model.queue.len()));
                        prop_assert!(k > 0 || max == 0);
                        check_received(&mut model, &buf)?;
                    }
                    Err(TryRecvError::Empty) => prop_assert!(model.recv_would_block() && max > 0),
                    Err(TryRecvError::Closed) => {
                        prop_assert!(model.queue.is_empty() && model.closed && max > 0)
                    }
                }
                buf.clear();
            }
            Op::Recv | Op::RecvAsync | Op::RecvBatch(_) | Op::RecvBatchAsync(_) => {}
            Op::TryIter(n) => {
                let got: Vec<Tracked> = q.try_iter().take(n).collect();
                check_received(&mut model, &got)?;
            }
            Op::Close => {
                prop_assert_eq!(q.close(), !model.closed);
                model.closed = true;
            }
            Op::CloneHandle => handles.push(q.clone()),
            Op::DropHandle => {
                if handles.len() > 1 {
                    handles.remove(0);
                }
            }
        }
        drop(q);
        let q = handles.last().unwrap();
        prop_assert_eq!(q.len(), model.queue.len());
        prop_assert_eq!(q.is_empty(), model.queue.is_empty());
        prop_assert_eq!(q.is_closed(), model.closed);
        prop_assert_eq!(q.capacity(), cap);
        // Every message that is not queued (received, or refused and given back) has been
        // dropped exactly once; queued ones not at all.
        prop_assert_eq!(
            drops.load(Ordering::SeqCst),
            next as usize - model.queue.len()
        );
    }
    drop(handles);
    // Dropping the last handle drops every message still queued, exactly once.
    prop_assert_eq!(drops.load(Ordering::SeqCst), next as usize);
    Ok(())
}

const CASES: u32 = if cfg!(debug_assertions) { 256 } else { 2048 };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn unbounded_matches_a_vecdeque(ops in proptest::collection::vec(op(), 0..400)) {
        run(None, ops)?;
    }

    #[test]
    fn bounded_matches_a_vecdeque_with_a_capacity(
        cap in 1usize..6,
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        run(Some(cap), ops)?;
    }
}
