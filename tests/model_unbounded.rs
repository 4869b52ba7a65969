//! Random single-thread operation sequences on `Queue::unbounded()`, checked step by step
//! against a `VecDeque` model (FIFO, lengths, errors, messages returned after close, drops).
#![cfg(not(feature = "loom"))]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use segmq::{Queue, RecvError, RecvTimeoutError, TryRecvError, TrySendError};

#[derive(Debug, Clone)]
enum Op {
    Send,
    TrySend,
    TryRecv,
    Recv,
    RecvTimeout,
    RecvAsync,
    TryIter(usize),
    Close,
    CloneHandle,
    DropHandle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Send),
        4 => Just(Op::TrySend),
        4 => Just(Op::TryRecv),
        2 => Just(Op::Recv),
        1 => Just(Op::RecvTimeout),
        2 => Just(Op::RecvAsync),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 256 } else { 2048 }))]

    #[test]
    fn matches_a_vecdeque(ops in proptest::collection::vec(op(), 0..400)) {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut handles = vec![Queue::unbounded()];
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut closed = false;
        let mut next = 0u64;
        let mut received = 0usize;
        let msg = |id| Tracked { id, drops: drops.clone() };

        for op in ops {
            let q = handles.last().unwrap().clone();
            match op {
                Op::Send | Op::TrySend => {
                    let id = next;
                    next += 1;
                    let result = match op {
                        Op::Send => q.send(msg(id)).map_err(|e| TrySendError::Closed(e.into_inner())),
                        _ => q.try_send(msg(id)),
                    };
                    match result {
                        Ok(()) => { prop_assert!(!closed); model.push_back(id); }
                        Err(TrySendError::Closed(back)) => { prop_assert!(closed); prop_assert_eq!(back.id, id); }
                        Err(TrySendError::Full(_)) => prop_assert!(false, "unbounded queue reported full"),
                    }
                }
                Op::TryRecv => match q.try_recv() {
                    Ok(m) => { prop_assert_eq!(Some(m.id), model.pop_front()); received += 1; }
                    Err(TryRecvError::Empty) => prop_assert!(model.is_empty() && !closed),
                    Err(TryRecvError::Closed) => prop_assert!(model.is_empty() && closed),
                },
                // Blocking calls only when they cannot block for ever.
                Op::Recv if !model.is_empty() || closed => match q.recv() {
                    Ok(m) => { prop_assert_eq!(Some(m.id), model.pop_front()); received += 1; }
                    Err(RecvError) => prop_assert!(model.is_empty() && closed),
                },
                Op::RecvTimeout => match q.recv_timeout(Duration::from_micros(100)) {
                    Ok(m) => { prop_assert_eq!(Some(m.id), model.pop_front()); received += 1; }
                    Err(RecvTimeoutError::Timeout) => prop_assert!(model.is_empty() && !closed),
                    Err(RecvTimeoutError::Closed) => prop_assert!(model.is_empty() && closed),
                },
                Op::RecvAsync if !model.is_empty() || closed => {
                    match futures_executor::block_on(q.recv_async()) {
                        Ok(m) => { prop_assert_eq!(Some(m.id), model.pop_front()); received += 1; }
                        Err(RecvError) => prop_assert!(model.is_empty() && closed),
                    }
                }
                Op::Recv | Op::RecvAsync => {}
                Op::TryIter(n) => {
                    for m in q.try_iter().take(n) {
                        prop_assert_eq!(Some(m.id), model.pop_front());
                        received += 1;
                    }
                }
                Op::Close => {
                    prop_assert_eq!(q.close(), !closed);
                    closed = true;
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
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.is_empty(), model.is_empty());
            prop_assert_eq!(q.is_closed(), closed);
            // Every message that is not queued (received by us, or refused and given back) has
            // been dropped exactly once; queued ones not at all.
            prop_assert_eq!(drops.load(Ordering::SeqCst), next as usize - model.len());
        }
        prop_assert!(received <= next as usize);
        drop(handles);
        // Dropping the last handle drops every message still queued, exactly once.
        prop_assert_eq!(drops.load(Ordering::SeqCst), next as usize);
    }
}
