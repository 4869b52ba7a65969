//! The blocking workloads: the thread driver, MPMC throughput (and rtrb as the SPSC reference),
//! ping-pong round trips, and the single-thread burst.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::{os, Chan, Msg, Placement, Run, Tally, BOUNDED_CAP};

/// The message count for `C` in a run sized `n`: `n`, or [`slow_n`] for a slow implementation.
pub fn n_for<C: Chan>(n: u64) -> u64 {
    if C::SLOW {
        slow_n(n)
    } else {
        n
    }
}

/// Message count for the actor design (about a thousand times slower): `n / 20`, at least 1000.
pub fn slow_n(n: u64) -> u64 {
    (n / 20).max(1000).min(n)
}

/// The measured span of a run: from the earliest producer start to the latest consumer end.
///
/// Taken by the threads themselves, not by a coordinator: on an oversubscribed machine a
/// coordinator may wake from the start barrier after the work is done, or close the queue late.
/// So the last producer to finish closes the queue, and each consumer reads the clock once,
/// when its receive loop ends (a clock read per message would cost about as much as a
/// hand-off and flatten every difference).
pub(crate) fn span(
    starts: impl IntoIterator<Item = Instant>,
    ends: impl IntoIterator<Item = Instant>,
) -> Duration {
    let start = starts.into_iter().min().expect("no producer");
    let end = ends.into_iter().max().expect("no consumer");
    end.saturating_duration_since(start)
}

/// Pairs each producer handle of `txs` with its share of `0..n` (the last one takes the rest).
pub(crate) fn producer_ranges<Tx>(txs: Vec<Tx>, n: u64) -> Vec<(Tx, u64, u64)> {
    let producers = txs.len() as u64;
    let per = n / producers;
    txs.into_iter()
        .enumerate()
        .map(|(p, tx)| {
            let lo = p as u64 * per;
            let hi = if p as u64 + 1 == producers {
                n
            } else {
                lo + per
            };
            (tx, lo, hi)
        })
        .collect()
}

/// `producers` handles: clones of `tx`, the original last (so no handle stays behind to keep
/// the queue open).
pub(crate) fn clones<T: Clone>(tx: T, producers: usize) -> Vec<T> {
    let mut txs: Vec<T> = (1..producers).map(|_| tx.clone()).collect();
    txs.push(tx);
    txs
}

/// `producers` threads send `0..n` between them (the last one to finish closes the queue),
/// `consumers` threads receive until the queue is closed. The span runs from the first
/// producer's start to the last consumer's end.
pub fn mpmc<C: Chan>(producers: usize, consumers: usize, n: u64, placement: Placement) -> Run {
    assert!(consumers == 1 || C::MPMC, "{} is single-consumer", C::NAME);
    let (tx, rx) = C::new(consumers);
    let mut rxs: Vec<C::Rx> = (1..consumers).map(|_| C::clone_rx(&rx)).collect();
    rxs.push(rx);
    let (run, total) = drive(
        clones(tx, producers),
        rxs,
        n,
        placement,
        |tx, lo, hi| {
            for v in lo..hi {
                C::send(tx, v);
            }
        },
        |rx, t| {
            while let Some(v) = C::recv(rx) {
                t.add(v);
            }
        },
        C::close,
    );
    total.check(n, C::NAME);
    run
}

/// SPSC on an `rtrb` ring of [`BOUNDED_CAP`], the reference for a single-producer
/// single-consumer ring: `push` and `pop` never block, so the producer spins while the ring is
/// full and the consumer spins while it is empty (it burns its CPU while it waits, which the
/// CPU column shows). The consumer stops once the producer is gone and the ring is drained.
pub fn rtrb_spsc(n: u64, placement: Placement) -> Run {
    let (producer, consumer) = rtrb::RingBuffer::<Msg>::new(BOUNDED_CAP);
    let (run, total) = drive(
        vec![producer],
        vec![consumer],
        n,
        placement,
        |tx, lo, hi| {
            for v in lo..hi {
                while tx.push(v).is_err() {
                    std::hint::spin_loop();
                }
            }
        },
        |rx, t| loop {
            match rx.pop() {
                Ok(v) => t.add(v),
                Err(_) if rx.is_abandoned() => {
                    // The producer dropped its end after its last push: what is left is all.
                    while let Ok(v) = rx.pop() {
                        t.add(v);
                    }
                    break;
                }
                Err(_) => std::hint::spin_loop(),
            }
        },
        drop,
    );
    total.check(n, "rtrb");
    run
}

/// The body of every threaded workload: one producer thread per handle of `txs`, sending its
/// share of `0..n` (`send_range(tx, lo, hi)`; the last producer to finish calls `close`), one
/// consumer thread per handle in `rxs` (`drain(rx, tally)` until the queue is closed and
/// empty), all released by one barrier; producers and consumers enter `placement` first.
/// Returns the [`span`], the process CPU time from the release to the last join, and the sum of
/// the consumers' tallies (for the caller to check against `0..n`).
pub(crate) fn drive<Tx: Send + 'static, Rx: Send + 'static>(
    txs: Vec<Tx>,
    rxs: Vec<Rx>,
    n: u64,
    placement: Placement,
    send_range: impl Fn(&mut Tx, u64, u64) + Copy + Send + 'static,
    drain: impl Fn(&mut Rx, &mut Tally) + Copy + Send + 'static,
    close: impl Fn(Tx) + Copy + Send + 'static,
) -> (Run, Tally) {
    let producers = txs.len();
    let consumers = rxs.len();
    let start = Arc::new(Barrier::new(producers + consumers + 1));
    let consumer_threads: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                placement.enter_receiver();
                start.wait();
                let mut t = Tally::default();
                drain(&mut rx, &mut t);
                (t, Instant::now())
            })
        })
        .collect();
    let remaining = Arc::new(AtomicUsize::new(producers));
    let producer_threads: Vec<_> = producer_ranges(txs, n)
        .into_iter()
        .map(|(mut tx, lo, hi)| {
            let start = Arc::clone(&start);
            let remaining = Arc::clone(&remaining);
            thread::spawn(move || {
                placement.enter_sender();
                start.wait();
                let t0 = Instant::now();
                send_range(&mut tx, lo, hi);
                // AcqRel: the last producer's decrement sees every other producer's sends
                // (their decrements, Release) before it closes the queue.
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    close(tx);
                } else {
                    drop(tx);
                }
                t0
            })
        })
        .collect();
    let cpu0 = os::process_cpu();
    start.wait();
    let starts: Vec<Instant> = producer_threads
        .into_iter()
        .map(|p| p.join().expect("producer panicked"))
        .collect();
    let mut total = Tally::default();
    let mut ends = Vec::with_capacity(consumers);
    for c in consumer_threads {
        let (t, end) = c.join().expect("consumer panicked");
        total.merge(t);
        ends.push(end);
    }
    let cpu = os::process_cpu().saturating_sub(cpu0);
    (
        Run {
            elapsed: span(starts, ends),
            cpu,
        },
        total,
    )
}

/// Round trips: a ping thread sends `i`, an echo thread sends it back on a second queue. The
/// run is `rounds` round trips (two wake-ups each when the threads park); the ping thread is
/// placed as a sender, the echo thread as a receiver.
pub fn pingpong<C: Chan>(rounds: u64, placement: Placement) -> Run {
    let (ping_tx, ping_rx) = C::new(1);
    let (pong_tx, pong_rx) = C::new(1);
    let echo = thread::spawn(move || {
        placement.enter_receiver();
        let mut n = 0u64;
        while let Some(v) = C::recv(&ping_rx) {
            C::send(&pong_tx, v);
            n += 1;
        }
        C::close(pong_tx);
        n
    });
    let ping = thread::spawn(move || {
        placement.enter_sender();
        // One round first, so the echo thread is up before the clock starts.
        C::send(&ping_tx, u64::MAX);
        assert_eq!(C::recv(&pong_rx), Some(u64::MAX), "{}: ping-pong", C::NAME);
        let run = Run::measure(|| {
            for i in 0..rounds {
                C::send(&ping_tx, i);
                let back = C::recv(&pong_rx);
                assert_eq!(
                    back,
                    Some(i),
                    "{}: ping-pong returned the wrong message",
                    C::NAME
                );
            }
        });
        C::close(ping_tx);
        (run, pong_rx)
    });
    let (run, pong_rx) = ping.join().expect("ping thread panicked");
    assert_eq!(echo.join().expect("echo panicked"), rounds + 1);
    assert_eq!(
        C::recv(&pong_rx),
        None,
        "{}: ping-pong extra message",
        C::NAME
    );
    run
}

/// One thread sends `0..n`, then receives all `n` (cost per message of an unbounded queue, and
/// its memory high-water mark). For the actor, the forwarding thread moves each message.
pub fn burst<C: Chan>(n: u64) -> Duration {
    burst_probed::<C>(n, || (), || (), || ())
}

/// [`burst`] with probes (e.g. memory readings; their time is not counted) after the queue is
/// created, after the pushes and after the pops, while the queue is still alive.
pub fn burst_probed<C: Chan>(
    n: u64,
    mut created: impl FnMut(),
    mut pushed: impl FnMut(),
    mut drained: impl FnMut(),
) -> Duration {
    assert!(C::UNBOUNDED, "{}: burst needs an unbounded queue", C::NAME);
    let (tx, rx) = C::new(1);
    created();
    let t0 = Instant::now();
    for v in 0..n {
        C::send(&tx, v);
    }
    let t_push = t0.elapsed();
    pushed();
    let t1 = Instant::now();
    let mut t = Tally::default();
    for _ in 0..n {
        t.add(C::recv(&rx).expect("burst: queue closed early"));
    }
    let elapsed = t_push + t1.elapsed();
    drained();
    t.check(n, C::NAME);
    C::close(tx);
    elapsed
}

/// The same burst on a plain `VecDeque` (no synchronisation at all): the floor.
pub fn burst_vecdeque(n: u64) -> Duration {
    let mut q = VecDeque::new();
    let t0 = Instant::now();
    for v in 0..n {
        q.push_back(std::hint::black_box(v));
    }
    let mut t = Tally::default();
    for _ in 0..n {
        t.add(q.pop_front().expect("burst: VecDeque empty"));
    }
    let elapsed = t0.elapsed();
    t.check(n, "VecDeque");
    elapsed
}
