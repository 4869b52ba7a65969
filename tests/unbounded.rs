//! `Queue::unbounded()`: behaviour, exactly-once stress tests and drop accounting.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use segmq::{Queue, RecvError, RecvTimeoutError, TryRecvError};

/// Message count for the stress tests (smaller in debug builds, which are ~20x slower).
const STRESS: usize = if cfg!(debug_assertions) {
    200_000
} else {
    2_000_000
};

#[test]
fn smoke() {
    let q = Queue::unbounded();
    q.send(7).unwrap();
    assert_eq!(q.try_recv(), Ok(7));
    assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    q.send(8).unwrap();
    assert_eq!(q.recv(), Ok(8));
}

#[test]
fn len_empty_and_capacity() {
    let q = Queue::unbounded();
    assert!(q.is_empty());
    for i in 0..100 {
        assert_eq!(q.len(), i);
        q.send(i).unwrap();
    }
    assert!(!q.is_empty());
    assert_eq!(q.capacity(), None);
    for i in 0..100 {
        assert_eq!(q.len(), 100 - i);
        assert_eq!(q.recv(), Ok(i));
    }
    assert!(q.is_empty());
}

#[test]
fn close_returns_messages_and_drains() {
    let q = Queue::unbounded();
    for i in 0..50 {
        q.send(i).unwrap();
    }
    assert!(q.close());
    assert!(!q.close());
    assert_eq!(q.send(99).unwrap_err().into_inner(), 99);
    assert_eq!(q.try_send(98).unwrap_err().into_inner(), 98);
    assert_eq!(q.iter().collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
    assert_eq!(q.recv(), Err(RecvError));
    assert_eq!(q.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(
        q.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn recv_timeout_times_out_then_receives() {
    let q = Queue::<u8>::unbounded();
    assert_eq!(
        q.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Timeout)
    );
    q.send(1).unwrap();
    assert_eq!(q.recv_timeout(Duration::from_millis(10)), Ok(1));
    // A timeout too large to represent as a deadline behaves as "no timeout".
    q.send(2).unwrap();
    assert_eq!(q.recv_timeout(Duration::MAX), Ok(2));
}

#[test]
fn close_wakes_every_blocked_receiver() {
    let q = Queue::<u32>::unbounded();
    let ready = Arc::new(Barrier::new(5));
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            let ready = ready.clone();
            thread::spawn(move || {
                ready.wait();
                q.recv()
            })
        })
        .collect();
    ready.wait();
    q.close();
    for r in receivers {
        assert_eq!(r.join().unwrap(), Err(RecvError));
    }
}

#[test]
fn close_wakes_async_receivers() {
    let q = Queue::<u32>::unbounded();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || futures_executor::block_on(q.recv_async()))
        })
        .collect();
    q.close();
    for t in tasks {
        assert_eq!(t.join().unwrap(), Err(RecvError));
    }
}

/// Port of async-channel's `forget_blocked_receiver`: a future that registered and is then
/// abandoned (kept alive, never polled again) must not keep other receivers from waking.
#[test]
fn abandoned_async_receiver_does_not_block_others() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    let q = Queue::<u32>::unbounded();
    let mut abandoned = Box::pin(q.recv_async());
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    assert!(Pin::new(&mut abandoned).poll(&mut cx).is_pending());

    let receiver = {
        let q = q.clone();
        thread::spawn(move || q.recv())
    };
    for i in 0..2 {
        q.send(i).unwrap();
    }
    // Whichever receiver was notified first, the blocking one must get a message.
    assert!(receiver.join().unwrap().is_ok());
    // Dropping the abandoned future after a notification hands it on (nothing else waits now).
    drop(abandoned);
    assert_eq!(q.len(), 1);
}

#[test]
fn stream_ends_on_close() {
    use futures_util::StreamExt;
    let q = Queue::unbounded();
    let consumer = {
        let q = q.clone();
        thread::spawn(move || futures_executor::block_on(q.stream().collect::<Vec<u64>>()))
    };
    for i in 0..10_000u64 {
        q.send(i).unwrap();
    }
    q.close();
    assert_eq!(consumer.join().unwrap(), (0..10_000).collect::<Vec<_>>());
}

/// A payload that counts its drops, to prove each message is dropped exactly once.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn drops_every_message_exactly_once() {
    for (sent, received) in [(0, 0), (1, 0), (31, 5), (32, 31), (100, 62), (1000, 999)] {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Queue::unbounded();
        for _ in 0..sent {
            q.send(Counted(drops.clone())).unwrap();
        }
        for _ in 0..received {
            drop(q.recv().unwrap());
        }
        assert_eq!(drops.load(Ordering::SeqCst), received);
        let clone = q.clone();
        drop(q);
        assert_eq!(drops.load(Ordering::SeqCst), received, "a handle remains");
        drop(clone);
        assert_eq!(drops.load(Ordering::SeqCst), sent, "sent {sent}");
    }
}

#[test]
fn refused_message_is_returned_not_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::unbounded();
    q.close();
    let back = q.send(Counted(drops.clone())).unwrap_err().into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Blocks are built on the heap: a block of 31 64-KiB messages (2 MiB) would overflow this
/// thread's 1-MiB stack if it were ever built there. (Debug builds copy a message through
/// several unoptimised frames, which alone overflows such a stack, so this runs in release:
/// `cargo test --release`, which `.ci/run` does.)
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "needs optimised frames; run with --release"
)]
fn large_messages_do_not_overflow_the_stack() {
    let worker = thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let q = Queue::unbounded();
            for i in 0..40u8 {
                q.send([i; 64 * 1024]).unwrap();
            }
            (0..40u8).all(|i| q.recv().unwrap()[64 * 1024 - 1] == i)
        })
        .unwrap();
    assert!(worker.join().unwrap());
}

#[test]
fn spsc_fifo() {
    let q = Queue::unbounded();
    let producer = {
        let q = q.clone();
        thread::spawn(move || {
            for i in 0..STRESS {
                q.send(i).unwrap();
            }
        })
    };
    for i in 0..STRESS {
        assert_eq!(q.recv(), Ok(i));
    }
    producer.join().unwrap();
    assert!(q.is_empty());
}

/// Which receive call a consumer uses for each message.
#[derive(Clone, Copy)]
enum Mode {
    Blocking,
    Timeout,
    Try,
    Async,
    Batch,
    TryBatch,
    AsyncBatch,
}

/// Many producers and consumers (more threads than cores), each consumer mixing single and
/// batch receive calls and each producer single and batch sends: every message is received
/// exactly once, in per-producer order.
#[test]
fn mpmc_exactly_once_with_mixed_receivers() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    let per_producer = STRESS / PRODUCERS;
    let q = Queue::unbounded();

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = q.clone();
            thread::spawn(move || {
                let modes = [
                    Mode::Blocking,
                    Mode::Timeout,
                    Mode::Try,
                    Mode::Async,
                    Mode::Batch,
                    Mode::TryBatch,
                    Mode::AsyncBatch,
                ];
                let mut got: Vec<(usize, usize)> = Vec::new();
                let mut step = c;
                loop {
                    step += 1;
                    let max = 1 + step % 70;
                    let next = match modes[step % modes.len()] {
                        Mode::Blocking => q.recv().ok(),
                        Mode::Timeout => match q.recv_timeout(Duration::from_micros(50)) {
                            Ok(m) => Some(m),
                            Err(RecvTimeoutError::Timeout) => continue,
                            Err(RecvTimeoutError::Closed) => None,
                        },
                        Mode::Try => match q.try_recv() {
                            Ok(m) => Some(m),
                            Err(TryRecvError::Empty) => continue,
                            Err(TryRecvError::Closed) => None,
                        },
                        Mode::Async => futures_executor::block_on(q.recv_async()).ok(),
                        Mode::Batch => match q.recv_batch(&mut got, max) {
                            Ok(_) => continue,
                            Err(_) => None,
                        },
                        Mode::TryBatch => match q.try_recv_batch(&mut got, max) {
                            Ok(_) | Err(TryRecvError::Empty) => continue,
                            Err(TryRecvError::Closed) => None,
                        },
                        Mode::AsyncBatch => {
                            match futures_executor::block_on(q.recv_batch_async(&mut got, max)) {
                                Ok(_) => continue,
                                Err(_) => None,
                            }
                        }
                    };
                    match next {
                        Some(m) => got.push(m),
                        None => return got,
                    }
                }
            })
        })
        .collect();

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                let mut i = 0;
                while i < per_producer {
                    // Every fourth stretch of 40 goes as one batch (crossing blocks of 31).
                    if (i / 40) % 4 == 3 {
                        let end = (i + 40).min(per_producer);
                        assert_eq!(q.send_batch((i..end).map(|j| (p, j))), Ok(end - i));
                        i = end;
                    } else {
                        q.send((p, i)).unwrap();
                        i += 1;
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();

    let mut seen = HashSet::new();
    for c in consumers {
        let got = c.join().unwrap();
        let mut last = [None; PRODUCERS];
        for (p, i) in got {
            assert!(last[p].map_or(true, |l| l < i), "per-producer FIFO");
            last[p] = Some(i);
            assert!(seen.insert((p, i)), "duplicate {p}/{i}");
        }
    }
    assert_eq!(seen.len(), PRODUCERS * per_producer, "lost messages");
}

/// Closing while producers are still sending: every send that returned `Ok` is received once,
/// every refused message comes back to its producer.
#[test]
fn close_under_load_loses_nothing() {
    let q = Queue::unbounded();
    let accepted = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            let accepted = accepted.clone();
            thread::spawn(move || {
                let mut refused = 0usize;
                for i in 0..STRESS / 4 {
                    match q.send(i) {
                        Ok(()) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert_eq!(e.into_inner(), i);
                            refused += 1;
                        }
                    }
                }
                refused
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || q.iter().count())
        })
        .collect();
    while q.len() < 1000 && !q.is_closed() {
        thread::yield_now();
    }
    q.close();
    let refused: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
    let received: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(received, accepted.load(Ordering::Relaxed));
    assert_eq!(received + refused, 3 * (STRESS / 4));
}

/// Async receivers on a 2-worker executor pool against blocking producers.
#[test]
fn async_receivers_on_a_thread_pool() {
    let pool = futures_executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .unwrap();
    let q = Queue::unbounded();
    let total = STRESS / 4;
    let results = Queue::unbounded();
    for _ in 0..8 {
        let q = q.clone();
        let results = results.clone();
        pool.spawn_ok(async move {
            let mut sum = 0u64;
            let mut n = 0usize;
            while let Ok(v) = q.recv_async().await {
                sum += v;
                n += 1;
            }
            results.send((n, sum)).unwrap();
        });
    }
    for i in 0..total as u64 {
        q.send(i).unwrap();
    }
    q.close();
    let (n, sum) = (0..8)
        .map(|_| results.recv().unwrap())
        .fold((0, 0), |(n, s), (n2, s2)| (n + n2, s + s2));
    assert_eq!(n, total);
    assert_eq!(sum, (total as u64) * (total as u64 - 1) / 2);
}

#[test]
fn handles_are_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Queue<String>>();
    assert_send_sync::<segmq::RecvStream<String>>();
    let q = Queue::<u8>::unbounded();
    q.send(1).unwrap();
    assert_eq!(
        format!("{q:?}"),
        "Queue { len: 1, capacity: None, closed: false }"
    );
}
