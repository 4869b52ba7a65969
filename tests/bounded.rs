//! `Queue::bounded(n)`: behaviour at the bound and exactly-once stress (the `VecDeque` model
//! test of both flavours is `tests/model.rs`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use segmq::{Queue, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

const STRESS: usize = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};

#[test]
#[should_panic(expected = "capacity of at least 1")]
fn capacity_zero_is_refused() {
    let _ = Queue::<u8>::bounded(0);
}

#[test]
fn full_then_room() {
    let q = Queue::bounded(3);
    for i in 0..3 {
        q.try_send(i).unwrap();
    }
    assert_eq!(q.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(
        q.send_timeout(3, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(3))
    );
    assert_eq!(q.len(), 3);
    assert_eq!(q.recv(), Ok(0));
    q.try_send(3).unwrap();
    assert_eq!(q.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn close_wakes_a_blocked_sender_and_returns_its_message() {
    let q = Queue::bounded(1);
    q.send(1).unwrap();
    let sender = {
        let q = q.clone();
        thread::spawn(move || q.send(2))
    };
    // The sender is blocked or about to block; close must release it either way.
    q.close();
    assert_eq!(sender.join().unwrap(), Err(SendError(2)));
    assert_eq!(q.recv(), Ok(1));
    assert_eq!(q.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn dropped_send_future_loses_nothing_and_strands_nothing() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(u32, Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let q = Queue::bounded(1);
    q.send(Counted(0, drops.clone())).unwrap();
    let mut fut = Box::pin(q.send_async(Counted(1, drops.clone())));
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    // A blocking sender waits too; a receive notifies the future first, which is then dropped:
    // the notification must pass to the blocking sender.
    let sender = {
        let q = q.clone();
        let drops = drops.clone();
        thread::spawn(move || q.send(Counted(2, drops)).is_ok())
    };
    assert_eq!(q.recv().unwrap().0, 0);
    drop(fut); // drops message 1 with it
    assert!(sender.join().unwrap());
    assert_eq!(q.recv().unwrap().0, 2);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn drops_queued_messages_with_the_last_handle() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let q = Queue::bounded(4);
    let send = |n| (0..n).for_each(|_| q.try_send(Counted(drops.clone())).unwrap());
    let recv = |n| (0..n).for_each(|_| drop(q.try_recv().unwrap()));
    send(4);
    recv(2);
    send(2);
    recv(3);
    send(3); // the ring has wrapped: 9 sent, 5 received, 4 queued
    assert!(q.try_send(Counted(drops.clone())).is_err()); // full: refused one, dropped here
    assert_eq!(drops.load(Ordering::SeqCst), 6);
    drop(q);
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

/// Which call a thread uses for each message.
fn send_mixed(q: &Queue<(usize, usize)>, p: usize, i: usize) {
    let msg = (p, i);
    match i % 3 {
        0 => q.send(msg).unwrap(),
        1 => {
            let mut msg = msg;
            loop {
                match q.send_timeout(msg, Duration::from_micros(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(m)) => msg = m,
                    Err(SendTimeoutError::Closed(_)) => panic!("closed early"),
                }
            }
        }
        _ => futures_executor::block_on(q.send_async(msg)).unwrap(),
    }
}

/// Sends `per` messages `(p, 0..per)`, in stretches of 8 that go by single calls (blocking,
/// timeout, async in turn) or as one batch (blocking or try).
fn produce(q: &Queue<(usize, usize)>, p: usize, per: usize) {
    let mut i = 0;
    while i < per {
        let end = (i + 8).min(per);
        match (i / 8) % 4 {
            0 => {
                assert_eq!(q.send_batch((i..end).map(|j| (p, j))), Ok(end - i));
                i = end;
            }
            1 => {
                let mut batch: Vec<_> = (i..end).map(|j| (p, j)).collect();
                while let Err(e) = q.try_send_batch(batch) {
                    assert!(e.is_full(), "closed early");
                    batch = e.into_rest();
                    thread::yield_now();
                }
                i = end;
            }
            _ => {
                send_mixed(q, p, i);
                i += 1;
            }
        }
    }
}

/// One receive step, appending to `got`; `false` once the queue is closed and drained.
fn recv_mixed(q: &Queue<(usize, usize)>, step: usize, got: &mut Vec<(usize, usize)>) -> bool {
    let max = 1 + step % 20;
    match step % 5 {
        0 => q.recv().map(|m| got.push(m)).is_ok(),
        1 => match q.recv_timeout(Duration::from_micros(100)) {
            Ok(m) => {
                got.push(m);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Closed) => false,
        },
        2 => futures_executor::block_on(q.recv_async())
            .map(|m| got.push(m))
            .is_ok(),
        3 => q.recv_batch(got, max).is_ok(),
        _ => futures_executor::block_on(q.recv_batch_async(got, max)).is_ok(),
    }
}

/// Capacities 1, 2 and 1024; 3 producers and 3 consumers (more threads than cores) mixing
/// blocking, timeout, async and batch calls: exactly-once, per-producer FIFO.
#[test]
fn mpmc_exactly_once_for_small_and_large_capacities() {
    for cap in [1, 2, 1024] {
        let total = if cap < 1024 { STRESS / 10 } else { STRESS };
        let per = total / 3;
        let q = Queue::bounded(cap);
        let consumers: Vec<_> = (0..3)
            .map(|c| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut step = c;
                    loop {
                        step += 1;
                        if !recv_mixed(&q, step, &mut got) {
                            return got;
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || produce(&q, p, per))
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        q.close();
        let mut seen = HashSet::new();
        for c in consumers {
            let mut last = [None; 3];
            for (p, i) in c.join().unwrap() {
                assert!(
                    last[p].map_or(true, |l| l < i),
                    "FIFO per producer (cap {cap})"
                );
                last[p] = Some(i);
                assert!(seen.insert((p, i)), "duplicate (cap {cap})");
            }
        }
        assert_eq!(seen.len(), 3 * per, "lost messages (cap {cap})");
    }
}

/// `force_send` under contention: two displacing senders and two receivers on a ring of 4.
/// Every message is received, handed back as displaced, or left queued, exactly once; what the
/// receivers and the final drain see of one sender is in its send order (a displaced message
/// is always the oldest, so the rest keep FIFO).
#[test]
fn force_send_stress_exactly_once_and_fifo_per_sender() {
    let per_sender = STRESS / 4;
    let q = Queue::bounded(4);
    let senders: Vec<_> = (0..2u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                let mut displaced = Vec::new();
                for i in 0..per_sender as u64 {
                    if let Some(old) = q.force_send((p << 32) | i).unwrap() {
                        displaced.push(old);
                    }
                }
                displaced
            })
        })
        .collect();
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = q.recv() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    let displaced: Vec<u64> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    q.close();
    let mut seen = HashSet::new();
    for r in receivers {
        let got = r.join().unwrap();
        for p in 0..2u64 {
            let mine: Vec<u64> = got.iter().copied().filter(|v| v >> 32 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO per sender");
        }
        for v in got {
            assert!(seen.insert(v), "received twice: {v:#x}");
        }
    }
    for v in displaced {
        assert!(seen.insert(v), "displaced and also received: {v:#x}");
    }
    assert_eq!(seen.len(), 2 * per_sender, "every message accounted for");
}
