//! Paced send-to-receive latency: a sender sends a timestamp every 5-50 us (a deterministic
//! pseudo-random gap, waited out on the clock with `yield_now` so the gap is what it says: a
//! `thread::sleep` of 5 us takes ~55 us with Linux's default timer slack); a receiver waits in
//! its implementation's receive call and records `now - timestamp` in an hdrhistogram. The
//! receiver also reports its own CPU time (`RUSAGE_THREAD`) against its wall time: a receiver
//! that parks between messages uses little, one that spins uses its whole CPU.
//!
//! Implementations: every [`Chan`] ([`paced_latency`]), segmq with a chosen wait strategy
//! ([`segmq_paced`], the hook for an opt-in strategy), and the `disruptor` crate with a
//! busy-polling receiver ([`disruptor_paced`]).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{os, Chan, Msg, Placement, Tally, BOUNDED_CAP};

/// Shortest gap between two paced sends.
pub const PACE_MIN: Duration = Duration::from_micros(5);
/// Longest gap between two paced sends.
pub const PACE_MAX: Duration = Duration::from_micros(50);

/// What one paced run measured.
pub struct Paced {
    /// Send-to-receive latency of every message, in nanoseconds.
    pub hist: Histogram<u64>,
    /// CPU time of the receiving thread over its receive loop.
    pub receiver_cpu: Duration,
    /// Wall time of the receiving thread's receive loop.
    pub receiver_wall: Duration,
}

impl Paced {
    /// The receiver's CPU time as a share of its wall time (1.0 = one CPU kept busy).
    pub fn receiver_cpu_share(&self) -> f64 {
        self.receiver_cpu.as_secs_f64() / self.receiver_wall.as_secs_f64().max(1e-9)
    }
}

/// Paced latency of `C`: sender placed as a sender, receiver blocked in [`Chan::recv`].
pub fn paced_latency<C: Chan>(n: u64, placement: Placement) -> Paced {
    let (tx, rx) = C::new(1);
    paced_run(
        C::NAME,
        n,
        placement,
        tx,
        rx,
        |tx, v| C::send(tx, v),
        |rx| C::recv(rx),
        C::close,
    )
}

/// How segmq's receiver waits in the latency row.
///
/// The segmq wait strategies in the latency row (`segmq::WaitStrategy`): one variant each, and
/// one line in the latency cells of `examples/compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmqWait {
    /// What `Queue::unbounded()` / `Queue::bounded(n)` do out of the box.
    Default,
    /// `WaitStrategy::BusySpin` (opt-in): never parks.
    BusySpin,
}

impl SegmqWait {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            SegmqWait::Default => "default (spin, then park)",
            SegmqWait::BusySpin => "opt-in busy spin",
        }
    }

    /// A queue whose receivers wait this way: bounded(`BOUNDED_CAP`) or unbounded.
    pub fn queue(self, bounded: bool) -> segmq::Queue<Msg> {
        let q = if bounded {
            segmq::Queue::bounded(BOUNDED_CAP)
        } else {
            segmq::Queue::unbounded()
        };
        if self == SegmqWait::BusySpin {
            q.set_wait_strategy(segmq::WaitStrategy::BusySpin);
        }
        q
    }
}

/// Paced latency of a segmq queue whose receiver waits as `wait` says.
pub fn segmq_paced(wait: SegmqWait, bounded: bool, n: u64, placement: Placement) -> Paced {
    let q = wait.queue(bounded);
    paced_run(
        "segmq",
        n,
        placement,
        q.clone(),
        q,
        |q, v| q.send(v).expect("segmq closed"),
        |q| q.recv().ok(),
        |q| {
            q.close();
        },
    )
}

/// Paced latency of the `disruptor` crate: a single-producer ring of [`BOUNDED_CAP`] with the
/// `BusySpin` wait strategy, read through its `EventPoller` by a receiver that polls in a busy
/// loop (the disruptor's own processor threads busy-spin the same way; the poller lets the
/// receiver be pinned and measured like the others).
pub fn disruptor_paced(n: u64, placement: Placement) -> Paced {
    use disruptor::{Polling, Producer};
    let builder = disruptor::build_single_producer(BOUNDED_CAP, || 0u64, disruptor::BusySpin);
    let (poller, builder) = builder.event_poller();
    let producer = builder.build();
    paced_run(
        "disruptor",
        n,
        placement,
        producer,
        poller,
        |p, v| p.publish(|slot| *slot = v),
        |poller| loop {
            match poller.poll_take(1) {
                Ok(mut events) => {
                    if let Some(v) = (&mut events).next() {
                        return Some(*v);
                    }
                }
                Err(Polling::NoEvents) => std::hint::spin_loop(),
                Err(Polling::Shutdown) => return None,
            }
        },
        drop,
    )
}

/// The paced workload over any sender/receiver pair: the sender thread sends `n` timestamps
/// (nanoseconds since a shared epoch, so strictly increasing) paced by [`Gaps`], then `close`s;
/// the receiver thread `recv`s until `None`. Both threads enter `placement` first and start
/// together. Checks order, count and checksum.
#[allow(clippy::too_many_arguments)]
fn paced_run<Tx: Send + 'static, Rx: Send + 'static>(
    name: &'static str,
    n: u64,
    placement: Placement,
    mut tx: Tx,
    mut rx: Rx,
    send: impl Fn(&mut Tx, Msg) + Send + 'static,
    recv: impl Fn(&mut Rx) -> Option<Msg> + Send + 'static,
    close: impl FnOnce(Tx) + Send + 'static,
) -> Paced {
    let start = Arc::new(Barrier::new(2));
    let epoch = Instant::now();
    let receiver = {
        let start = Arc::clone(&start);
        thread::spawn(move || {
            placement.enter_receiver();
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
            let mut got = Tally::default();
            let mut last = None;
            start.wait();
            let cpu0 = os::thread_cpu();
            let t0 = Instant::now();
            while let Some(sent) = recv(&mut rx) {
                let now = epoch.elapsed().as_nanos() as u64;
                assert!(
                    last < Some(sent),
                    "{name}: paced messages out of order or duplicated"
                );
                last = Some(sent);
                hist.saturating_record(now.saturating_sub(sent).max(1));
                got.add(sent);
            }
            let receiver_wall = t0.elapsed();
            let receiver_cpu = os::thread_cpu().saturating_sub(cpu0);
            (
                Paced {
                    hist,
                    receiver_cpu,
                    receiver_wall,
                },
                got,
            )
        })
    };
    let sender = thread::spawn(move || {
        placement.enter_sender();
        let mut sent = Tally::default();
        let mut gaps = Gaps::new();
        start.wait();
        let mut next = Instant::now();
        for _ in 0..n {
            next += gaps.next_gap();
            while Instant::now() < next {
                // Yield rather than spin: unpinned, or with anything else runnable, the woken
                // receiver may need this CPU (a spinning sender costs it a scheduler tick).
                thread::yield_now();
            }
            let ts = epoch.elapsed().as_nanos() as u64;
            send(&mut tx, ts);
            sent.add(ts);
        }
        close(tx);
        sent
    });
    let sent = sender.join().expect("paced sender panicked");
    let (paced, got) = receiver.join().expect("paced receiver panicked");
    assert_eq!(
        got, sent,
        "{name}: paced latency: received messages do not match the sent ones (count/checksum)"
    );
    paced
}

/// Gaps between paced sends: uniform in [`PACE_MIN`]..=[`PACE_MAX`], from a fixed-seed
/// xorshift, so every implementation sees the same sequence.
struct Gaps(u64);

impl Gaps {
    fn new() -> Self {
        Gaps(0x2545_F491_4F6C_DD1D)
    }

    fn next_gap(&mut self) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = (PACE_MAX - PACE_MIN).as_nanos() as u64 + 1;
        PACE_MIN + Duration::from_nanos(self.0 % span)
    }
}
