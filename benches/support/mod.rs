//! Shared benchmark code: one trait over every queue implementation (flume's benchmark style)
//! and the workloads, used by `benches/throughput.rs`, `benches/latency.rs` and
//! `examples/compare.rs` (through `#[path]`).
//!
//! Every workload checks what was received against what was sent (count, and a wrapping sum of
//! a mixed hash of each value, so a lost-plus-duplicated pair does not cancel out) and panics on
//! a mismatch: a queue that loses or duplicates messages fails the run instead of reporting a
//! number. The check runs after the clock stops.
//!
//! Messages are `u64` for every implementation, so the workloads compare the hand-off alone.
#![allow(dead_code)]

pub mod actor;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The message of every workload.
pub type Msg = u64;

/// Capacity of the bounded flavours.
pub const BOUNDED_CAP: usize = 1024;

/// Whether criterion runs in test mode (`cargo test --benches`, `cargo bench -- --test`): then
/// every workload shrinks, so CI stays quick.
pub fn criterion_test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

/// A cheap bijective mix of a value, summed so that lost and duplicated messages show.
#[inline]
pub fn mix(v: u64) -> u64 {
    (v ^ (v >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Count and checksum of received messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub count: u64,
    /// Wrapping sum of `mix(value)`.
    pub sum: u64,
}

impl Tally {
    /// Records one message.
    #[inline]
    pub fn add(&mut self, v: Msg) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(mix(v));
    }

    /// Adds another tally (another consumer's).
    pub fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The tally of the values `0..n`, each once.
    pub fn of_range(n: u64) -> Tally {
        let mut t = Tally::default();
        (0..n).for_each(|v| t.add(v));
        t
    }

    /// Panics unless this is exactly the values `0..n`, each once.
    pub fn check(self, n: u64, what: &str) {
        let want = Tally::of_range(n);
        assert_eq!(
            self, want,
            "{what}: received messages do not match the sent ones (count/checksum)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The blocking trait and its implementations
// ---------------------------------------------------------------------------------------------

/// A queue implementation, seen through blocking calls.
pub trait Chan: 'static {
    /// Name in reports.
    const NAME: &'static str;
    /// Whether several threads may receive from one queue (false for `std::sync::mpsc`).
    const MPMC: bool = true;
    /// Whether `send` never blocks (burst workloads need that).
    const UNBOUNDED: bool = true;
    /// Orders of magnitude slower than the rest (the actor): runs move [`slow_n`] messages.
    const SLOW: bool = false;
    /// Producer handle.
    type Tx: Clone + Send + 'static;
    /// Consumer handle.
    type Rx: Send + 'static;
    /// A new queue for `consumers` receiving threads (the actor sizes its channels with it,
    /// as the article's `NewQueue(concurrency, concurrency)`; the others ignore it).
    fn new(consumers: usize) -> (Self::Tx, Self::Rx);
    /// Sends, blocking if the queue is bounded and full. Panics if the queue is closed.
    fn send(tx: &Self::Tx, msg: Msg);
    /// Receives, blocking; `None` once the queue is closed and drained.
    fn recv(rx: &Self::Rx) -> Option<Msg>;
    /// Another consumer handle (only called when `MPMC`).
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    /// Closes the queue, given the last producer handle once every other producer is done
    /// (for channels that close when the last sender drops, dropping it is the close).
    fn close(tx: Self::Tx) {
        drop(tx);
    }
}

/// `segmq::Queue::unbounded()`.
pub struct Segmq;
impl Chan for Segmq {
    const NAME: &'static str = "segmq";
    type Tx = segmq::Queue<Msg>;
    type Rx = segmq::Queue<Msg>;
    fn new(_: usize) -> (Self::Tx, Self::Rx) {
        let q = segmq::Queue::unbounded();
        (q.clone(), q)
    }
    #[inline]
    fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).expect("segmq closed");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> Option<Msg> {
        rx.recv().ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn close(tx: Self::Tx) {
        tx.close();
    }
}

/// `segmq::Queue::bounded(BOUNDED_CAP)`: the ring flavour, `send` blocks while it is full.
pub struct SegmqBounded;
impl Chan for SegmqBounded {
    const NAME: &'static str = "segmq bounded";
    const UNBOUNDED: bool = false;
    type Tx = segmq::Queue<Msg>;
    type Rx = segmq::Queue<Msg>;
    fn new(_: usize) -> (Self::Tx, Self::Rx) {
        let q = segmq::Queue::bounded(BOUNDED_CAP);
        (q.clone(), q)
    }
    #[inline]
    fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).expect("segmq bounded closed");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> Option<Msg> {
        rx.recv().ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn close(tx: Self::Tx) {
        tx.close();
    }
}

/// Implements [`Chan`] for a channel crate with clonable `Sender`/`Receiver`, `send`/`recv`
/// returning `Result`, closed when the last sender drops.
macro_rules! sender_receiver_chan {
    ($ty:ident, $name:literal, $unbounded:literal, $tx:ty, $rx:ty, $new:expr,
     send: $send:ident, recv: $recv:ident) => {
        #[doc = concat!("`", $name, "`")]
        pub struct $ty;
        impl Chan for $ty {
            const NAME: &'static str = $name;
            const UNBOUNDED: bool = $unbounded;
            type Tx = $tx;
            type Rx = $rx;
            fn new(_: usize) -> (Self::Tx, Self::Rx) {
                $new
            }
            #[inline]
            fn send(tx: &Self::Tx, msg: Msg) {
                tx.$send(msg).expect(concat!($name, ": closed"));
            }
            #[inline]
            fn recv(rx: &Self::Rx) -> Option<Msg> {
                rx.$recv().ok()
            }
            fn clone_rx(rx: &Self::Rx) -> Self::Rx {
                rx.clone()
            }
        }
    };
}

sender_receiver_chan!(CbUnbounded, "crossbeam unbounded", true,
    crossbeam_channel::Sender<Msg>, crossbeam_channel::Receiver<Msg>,
    crossbeam_channel::unbounded(), send: send, recv: recv);
sender_receiver_chan!(CbBounded, "crossbeam bounded", false,
    crossbeam_channel::Sender<Msg>, crossbeam_channel::Receiver<Msg>,
    crossbeam_channel::bounded(BOUNDED_CAP), send: send, recv: recv);
sender_receiver_chan!(Flume, "flume", true,
    flume::Sender<Msg>, flume::Receiver<Msg>, flume::unbounded(), send: send, recv: recv);
sender_receiver_chan!(FlumeBounded, "flume bounded", false,
    flume::Sender<Msg>, flume::Receiver<Msg>, flume::bounded(BOUNDED_CAP), send: send, recv: recv);
sender_receiver_chan!(Kanal, "kanal", true,
    kanal::Sender<Msg>, kanal::Receiver<Msg>, kanal::unbounded(), send: send, recv: recv);
sender_receiver_chan!(KanalBounded, "kanal bounded", false,
    kanal::Sender<Msg>, kanal::Receiver<Msg>, kanal::bounded(BOUNDED_CAP), send: send, recv: recv);
sender_receiver_chan!(AsyncChannel, "async-channel", true,
    async_channel::Sender<Msg>, async_channel::Receiver<Msg>, async_channel::unbounded(),
    send: send_blocking, recv: recv_blocking);
sender_receiver_chan!(AsyncChannelBounded, "async-channel bounded", false,
    async_channel::Sender<Msg>, async_channel::Receiver<Msg>,
    async_channel::bounded(BOUNDED_CAP), send: send_blocking, recv: recv_blocking);

/// `std::sync::mpsc::channel()` (single consumer).
pub struct StdMpsc;
impl Chan for StdMpsc {
    const NAME: &'static str = "std mpsc";
    const MPMC: bool = false;
    type Tx = std::sync::mpsc::Sender<Msg>;
    type Rx = std::sync::mpsc::Receiver<Msg>;
    fn new(_: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::channel()
    }
    #[inline]
    fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).expect("std mpsc: closed");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> Option<Msg> {
        rx.recv().ok()
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("std::sync::mpsc has a single receiver")
    }
}

/// `std::sync::mpsc::sync_channel(BOUNDED_CAP)` (single consumer).
pub struct StdSync;
impl Chan for StdSync {
    const NAME: &'static str = "std sync_channel";
    const MPMC: bool = false;
    const UNBOUNDED: bool = false;
    type Tx = std::sync::mpsc::SyncSender<Msg>;
    type Rx = std::sync::mpsc::Receiver<Msg>;
    fn new(_: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(BOUNDED_CAP)
    }
    #[inline]
    fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).expect("std sync_channel: closed");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> Option<Msg> {
        rx.recv().ok()
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("std::sync::mpsc has a single receiver")
    }
}

/// The article's design ([`actor::ActorQueue`]): `in` channel, forwarding thread with a
/// `VecDeque`, `out` channel, both sized by the consumer count (`NewQueue(c, c)`).
pub struct Actor;

/// A producer handle of the actor queue: a clone of `in`, plus the queue for `Close()` + `Wait()`.
#[derive(Clone)]
pub struct ActorTx {
    tx: crossbeam_channel::Sender<Msg>,
    queue: Arc<std::sync::Mutex<actor::ActorQueue<Msg>>>,
}

impl Chan for Actor {
    const NAME: &'static str = "actor (Go port)";
    const SLOW: bool = true;
    type Tx = ActorTx;
    type Rx = crossbeam_channel::Receiver<Msg>;
    fn new(consumers: usize) -> (Self::Tx, Self::Rx) {
        let mut q = actor::ActorQueue::new(consumers, consumers);
        q.start();
        let tx = q.sender().expect("fresh queue is open");
        let rx = q.dequeue().clone();
        // `in` now closes when the last producer handle is dropped (see `close`).
        q.close();
        let queue = Arc::new(std::sync::Mutex::new(q));
        (ActorTx { tx, queue }, rx)
    }
    #[inline]
    fn send(tx: &Self::Tx, msg: Msg) {
        tx.tx.send(msg).expect("actor: closed");
    }
    #[inline]
    fn recv(rx: &Self::Rx) -> Option<Msg> {
        rx.recv().ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    /// `Close()` then `Wait()`: drops the last `in` sender and joins the forwarder once it has
    /// handed over its backlog (so no forwarder outlives its run). The consumers must be
    /// draining `out` (they are, in every workload).
    fn close(tx: Self::Tx) {
        let ActorTx { tx, queue } = tx;
        drop(tx);
        queue.lock().expect("actor queue lock").wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking workloads
// ---------------------------------------------------------------------------------------------

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
fn span(
    starts: impl IntoIterator<Item = Instant>,
    ends: impl IntoIterator<Item = Instant>,
) -> Duration {
    let start = starts.into_iter().min().expect("no producer");
    let end = ends.into_iter().max().expect("no consumer");
    end.saturating_duration_since(start)
}

/// Splits `0..n` into `producers` ranges, each with its own producer handle (the original
/// handle goes to the last one, so no handle stays behind to keep the queue open).
fn producer_ranges<Tx: Clone>(tx: Tx, producers: usize, n: u64) -> Vec<(Tx, u64, u64)> {
    let per = n / producers as u64;
    let mut txs: Vec<Tx> = (1..producers).map(|_| tx.clone()).collect();
    txs.push(tx);
    txs.into_iter()
        .enumerate()
        .map(|(p, tx)| {
            let lo = p as u64 * per;
            let hi = if p + 1 == producers { n } else { lo + per };
            (tx, lo, hi)
        })
        .collect()
}

/// `producers` threads send `0..n` between them (the last one to finish closes the queue),
/// `consumers` threads receive until the queue is closed. Returns the time from the first
/// producer's start to the last consumer's end.
pub fn mpmc<C: Chan>(producers: usize, consumers: usize, n: u64) -> Duration {
    assert!(consumers == 1 || C::MPMC, "{} is single-consumer", C::NAME);
    let (tx, rx) = C::new(consumers);
    let mut rxs: Vec<C::Rx> = (1..consumers).map(|_| C::clone_rx(&rx)).collect();
    rxs.push(rx);
    let (elapsed, total) = drive(
        tx,
        producers,
        rxs,
        n,
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
    elapsed
}

/// The body of every threaded workload: one producer thread per `producers` range of `0..n`
/// (`send_range(tx, lo, hi)`; the last producer to finish calls `close`), one consumer thread
/// per handle in `rxs` (`drain(rx, tally)` until the queue is closed and empty), all released
/// by one barrier. Returns the [`span`] and the sum of the consumers' tallies (for the caller
/// to check against `0..n`).
fn drive<Tx: Clone + Send + 'static, Rx: Send + 'static>(
    tx: Tx,
    producers: usize,
    rxs: Vec<Rx>,
    n: u64,
    send_range: impl Fn(&Tx, u64, u64) + Copy + Send + 'static,
    drain: impl Fn(&Rx, &mut Tally) + Copy + Send + 'static,
    close: impl Fn(Tx) + Copy + Send + 'static,
) -> (Duration, Tally) {
    let consumers = rxs.len();
    let start = Arc::new(Barrier::new(producers + consumers + 1));
    let consumer_threads: Vec<_> = rxs
        .into_iter()
        .map(|rx| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut t = Tally::default();
                drain(&rx, &mut t);
                (t, Instant::now())
            })
        })
        .collect();
    let remaining = Arc::new(AtomicUsize::new(producers));
    let producer_threads: Vec<_> = producer_ranges(tx, producers, n)
        .into_iter()
        .map(|(tx, lo, hi)| {
            let start = Arc::clone(&start);
            let remaining = Arc::clone(&remaining);
            thread::spawn(move || {
                start.wait();
                let t0 = Instant::now();
                send_range(&tx, lo, hi);
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    close(tx);
                } else {
                    drop(tx);
                }
                t0
            })
        })
        .collect();
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
    (span(starts, ends), total)
}

/// Round trips: the caller sends `i`, an echo thread sends it back on a second queue. Returns
/// the total time of `rounds` round trips (two wake-ups each when the threads park).
pub fn pingpong<C: Chan>(rounds: u64) -> Duration {
    let (ping_tx, ping_rx) = C::new(1);
    let (pong_tx, pong_rx) = C::new(1);
    let echo = thread::spawn(move || {
        let mut n = 0u64;
        while let Some(v) = C::recv(&ping_rx) {
            C::send(&pong_tx, v);
            n += 1;
        }
        C::close(pong_tx);
        n
    });
    // One round first, so the echo thread is up before the clock starts.
    C::send(&ping_tx, u64::MAX);
    assert_eq!(C::recv(&pong_rx), Some(u64::MAX), "{}: ping-pong", C::NAME);
    let t0 = Instant::now();
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
    let elapsed = t0.elapsed();
    C::close(ping_tx);
    assert_eq!(echo.join().expect("echo panicked"), rounds + 1);
    assert_eq!(
        C::recv(&pong_rx),
        None,
        "{}: ping-pong extra message",
        C::NAME
    );
    elapsed
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

/// Paced send-to-receive latency: one thread sends a timestamp, then sleeps `interval` (so it
/// leaves the CPU to the receiver, and the spacing is `interval` plus timer slack), the receiver
/// blocks in `recv` (it parks between messages) and records `now - timestamp` in nanoseconds.
pub fn paced_latency<C: Chan>(n: u64, interval: Duration) -> Histogram<u64> {
    let (tx, rx) = C::new(1);
    let epoch = Instant::now();
    let receiver = thread::spawn(move || {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
        let mut t = Tally::default();
        let mut last = 0;
        while let Some(sent) = C::recv(&rx) {
            let now = epoch.elapsed().as_nanos() as u64;
            assert!(sent >= last, "{}: paced messages out of order", C::NAME);
            last = sent;
            hist.saturating_record(now.saturating_sub(sent).max(1));
            t.add(sent);
        }
        (hist, t)
    });
    let mut sent = Tally::default();
    for _ in 0..n {
        thread::sleep(interval);
        let ts = epoch.elapsed().as_nanos() as u64;
        C::send(&tx, ts);
        sent.add(ts);
    }
    C::close(tx);
    let (hist, got) = receiver.join().expect("receiver panicked");
    assert_eq!(got, sent, "{}: paced latency lost messages", C::NAME);
    hist
}

// ---------------------------------------------------------------------------------------------
// MQ dispatch
// ---------------------------------------------------------------------------------------------

/// The check of a no-op handler: two relaxed atomic adds per message, the same in every design.
#[derive(Default)]
pub struct SharedTally {
    count: AtomicU64,
    sum: AtomicU64,
}

impl SharedTally {
    /// Records one message.
    #[inline]
    pub fn add(&self, v: Msg) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(mix(v), Ordering::Relaxed);
    }

    /// The tally so far.
    pub fn get(&self) -> Tally {
        Tally {
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// The article's MQ: publish `0..n` to one queue with `concurrency` workers running a no-op
/// handler, then `Stop()` (which waits for the workers to drain). Time: first publish to the
/// end of `Stop()`.
pub fn actor_mq(concurrency: usize, n: u64) -> Duration {
    let tally = Arc::new(SharedTally::default());
    let mq = actor::ActorMq::<Msg>::new();
    let handler_tally = Arc::clone(&tally);
    mq.register_queue(
        "bench",
        Arc::new(move |m: &actor::Msg<Msg>| {
            handler_tally.add(m.data);
            Ok(())
        }),
        concurrency,
    )
    .expect("register");
    mq.start().expect("start");
    let t0 = Instant::now();
    for v in 0..n {
        mq.publish("bench", v).expect("publish");
    }
    mq.stop();
    let elapsed = t0.elapsed();
    tally.get().check(n, "actor MQ");
    elapsed
}

/// The same dispatch with a `segmq::Queue` and `concurrency` hand-rolled worker threads (what a
/// user of the queue alone writes; not `segmq::Mq`).
pub fn segmq_pool(concurrency: usize, n: u64) -> Duration {
    let tally = Arc::new(SharedTally::default());
    let q = segmq::Queue::<Msg>::unbounded();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let q = q.clone();
            let tally = Arc::clone(&tally);
            thread::spawn(move || q.iter().for_each(|v| tally.add(v)))
        })
        .collect();
    let t0 = Instant::now();
    for v in 0..n {
        q.send(v).expect("send");
    }
    q.close();
    for w in workers {
        w.join().expect("worker panicked");
    }
    let elapsed = t0.elapsed();
    tally.get().check(n, "segmq pool");
    elapsed
}

/// The same dispatch on `segmq::Mq`, the twin of [`actor_mq`]: one queue registered with
/// `concurrency` workers running a no-op handler, `0..n` published through its `Publisher`,
/// then `stop()` (which waits for the workers to drain). Time: first publish to the end of
/// `stop()`. Also checks the queue's own counters (every message handled once, none failed).
pub fn segmq_mq(concurrency: usize, n: u64) -> Duration {
    let tally = Arc::new(SharedTally::default());
    let mq = segmq::Mq::new();
    let handler_tally = Arc::clone(&tally);
    let publisher = mq
        .register("bench", concurrency, move |m: &segmq::Msg<Msg>| {
            handler_tally.add(m.data);
            Ok::<(), std::convert::Infallible>(())
        })
        .expect("register");
    mq.start().expect("start");
    let t0 = Instant::now();
    for v in 0..n {
        publisher.publish(v).expect("publish");
    }
    mq.stop();
    let elapsed = t0.elapsed();
    tally.get().check(n, "segmq Mq");
    let stats = mq.stats("bench").expect("stats of the bench queue");
    assert_eq!(
        (stats.handled_ok, stats.failed, stats.panicked, stats.depth),
        (n, 0, 0, 0),
        "segmq Mq: queue counters"
    );
    elapsed
}

// ---------------------------------------------------------------------------------------------
// Async
// ---------------------------------------------------------------------------------------------

/// A queue implementation seen through async calls (run on a tokio runtime).
pub trait AsyncChan: 'static {
    /// Name in reports.
    const NAME: &'static str;
    /// Whether several tasks may receive from one queue (false for tokio mpsc).
    const MPMC: bool = true;
    /// Producer handle.
    type Tx: Clone + Send + Sync + 'static;
    /// Consumer handle.
    type Rx: Send + 'static;
    /// A new unbounded queue.
    fn new() -> (Self::Tx, Self::Rx);
    /// Sends. Panics if the queue is closed.
    fn send(tx: &Self::Tx, msg: Msg) -> impl Future<Output = ()> + Send + '_;
    /// Receives; `None` once the queue is closed and drained.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Option<Msg>> + Send + '_;
    /// Another consumer handle (only called when `MPMC`).
    fn clone_rx(rx: &Self::Rx) -> Self::Rx;
    /// Closes the queue (see [`Chan::close`]).
    fn close(tx: Self::Tx) {
        drop(tx);
    }
}

/// `segmq::Queue::unbounded()`: synchronous `send`, `recv_async`.
pub struct SegmqAsync;
impl AsyncChan for SegmqAsync {
    const NAME: &'static str = "segmq";
    type Tx = segmq::Queue<Msg>;
    type Rx = segmq::Queue<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        let q = segmq::Queue::unbounded();
        (q.clone(), q)
    }
    fn send(tx: &Self::Tx, msg: Msg) -> impl Future<Output = ()> + Send + '_ {
        tx.send(msg).expect("segmq closed");
        std::future::ready(())
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv_async().await.ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
    fn close(tx: Self::Tx) {
        tx.close();
    }
}

/// `kanal::unbounded_async()`.
pub struct KanalAsync;
impl AsyncChan for KanalAsync {
    const NAME: &'static str = "kanal async";
    type Tx = kanal::AsyncSender<Msg>;
    type Rx = kanal::AsyncReceiver<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        kanal::unbounded_async()
    }
    async fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).await.expect("kanal closed");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv().await.ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
}

/// `async_channel::unbounded()`.
pub struct AsyncChannelAsync;
impl AsyncChan for AsyncChannelAsync {
    const NAME: &'static str = "async-channel";
    type Tx = async_channel::Sender<Msg>;
    type Rx = async_channel::Receiver<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        async_channel::unbounded()
    }
    async fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).await.expect("async-channel closed");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv().await.ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
}

/// `flume::unbounded()` with `send_async`/`recv_async`.
pub struct FlumeAsync;
impl AsyncChan for FlumeAsync {
    const NAME: &'static str = "flume async";
    type Tx = flume::Sender<Msg>;
    type Rx = flume::Receiver<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        flume::unbounded()
    }
    async fn send(tx: &Self::Tx, msg: Msg) {
        tx.send_async(msg).await.expect("flume closed");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv_async().await.ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
    }
}

/// `tokio::sync::mpsc::unbounded_channel()` (single consumer).
pub struct TokioMpsc;
impl AsyncChan for TokioMpsc {
    const NAME: &'static str = "tokio mpsc";
    const MPMC: bool = false;
    type Tx = tokio::sync::mpsc::UnboundedSender<Msg>;
    type Rx = tokio::sync::mpsc::UnboundedReceiver<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::unbounded_channel()
    }
    fn send(tx: &Self::Tx, msg: Msg) -> impl Future<Output = ()> + Send + '_ {
        tx.send(msg).expect("tokio mpsc closed");
        std::future::ready(())
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv().await
    }
    fn clone_rx(_: &Self::Rx) -> Self::Rx {
        unreachable!("tokio mpsc has a single receiver")
    }
}

/// The runtime of the async workloads: tokio multi-thread with 2 workers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

/// Async MPMC: `producers` tasks send `0..n` (the last one to finish closes the queue),
/// `consumers` tasks receive until closed; timed as [`mpmc`].
pub fn async_mpmc<C: AsyncChan>(
    rt: &tokio::runtime::Runtime,
    producers: usize,
    consumers: usize,
    n: u64,
) -> Duration {
    assert!(consumers == 1 || C::MPMC, "{} is single-consumer", C::NAME);
    let (elapsed, total) = rt.block_on(async move {
        let (tx, rx) = C::new();
        let mut rxs: Vec<C::Rx> = (1..consumers).map(|_| C::clone_rx(&rx)).collect();
        rxs.push(rx);
        let consumer_tasks: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                tokio::spawn(async move {
                    let mut t = Tally::default();
                    while let Some(v) = C::recv(&mut rx).await {
                        t.add(v);
                    }
                    (t, Instant::now())
                })
            })
            .collect();
        let remaining = Arc::new(AtomicUsize::new(producers));
        let producer_tasks: Vec<_> = producer_ranges(tx, producers, n)
            .into_iter()
            .map(|(tx, lo, hi)| {
                let remaining = Arc::clone(&remaining);
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    for v in lo..hi {
                        C::send(&tx, v).await;
                    }
                    if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                        C::close(tx);
                    } else {
                        drop(tx);
                    }
                    t0
                })
            })
            .collect();
        let mut starts = Vec::with_capacity(producers);
        for p in producer_tasks {
            starts.push(p.await.expect("producer task panicked"));
        }
        let mut total = Tally::default();
        let mut ends = Vec::with_capacity(consumers);
        for c in consumer_tasks {
            let (t, end) = c.await.expect("consumer task panicked");
            total.merge(t);
            ends.push(end);
        }
        (span(starts, ends), total)
    });
    total.check(n, C::NAME);
    elapsed
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// Batch size of the `batch64` workloads.
pub const BATCH: usize = 64;

/// Which segmq queue a batch workload runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `Queue::unbounded()` ([`Segmq`]).
    Unbounded,
    /// `Queue::bounded(BOUNDED_CAP)` ([`SegmqBounded`]).
    Bounded,
}

impl Flavour {
    /// Both flavours, unbounded first.
    pub const ALL: [Flavour; 2] = [Flavour::Unbounded, Flavour::Bounded];

    /// Name in reports (the [`Chan::NAME`] of the single-call twin).
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Unbounded => Segmq::NAME,
            Flavour::Bounded => SegmqBounded::NAME,
        }
    }

    fn queue(self) -> segmq::Queue<Msg> {
        match self {
            Flavour::Unbounded => segmq::Queue::unbounded(),
            Flavour::Bounded => segmq::Queue::bounded(BOUNDED_CAP),
        }
    }
}

/// [`mpmc`] with `send_batch`/`recv_batch`: each producer sends its range in slices of `batch`
/// consecutive values (`send_batch`, which waits for room on a full bounded queue), each
/// consumer takes up to `batch` per `recv_batch` into a reused buffer. Same threads, barrier,
/// timing and check as [`mpmc`]. `send_batch` takes an iterator and collects it into a `Vec`,
/// so every batch costs one allocation: that is part of what is measured.
pub fn segmq_batch(
    flavour: Flavour,
    producers: usize,
    consumers: usize,
    batch: usize,
    n: u64,
) -> Duration {
    assert!(batch > 0, "batch size 0");
    let q = flavour.queue();
    let rxs: Vec<segmq::Queue<Msg>> = (0..consumers).map(|_| q.clone()).collect();
    let (elapsed, total) = drive(
        q,
        producers,
        rxs,
        n,
        move |q, lo, hi| {
            let mut v = lo;
            while v < hi {
                let end = (v + batch as u64).min(hi);
                let sent = q.send_batch(v..end).expect("segmq send_batch: closed");
                assert_eq!(sent as u64, end - v, "segmq send_batch: short count");
                v = end;
            }
        },
        move |q, t| {
            let mut buf = Vec::with_capacity(batch);
            while let Ok(got) = q.recv_batch(&mut buf, batch) {
                assert!(
                    got == buf.len() && (1..=batch).contains(&got),
                    "segmq recv_batch: returned {got} for {} moved",
                    buf.len()
                );
                buf.drain(..).for_each(|v| t.add(v));
            }
        },
        |q: segmq::Queue<Msg>| {
            q.close();
        },
    );
    total.check(n, &format!("{} batch{batch}", flavour.name()));
    elapsed
}

/// The single-call twin of [`segmq_batch`] on the same flavour: [`mpmc`] of [`Segmq`] or
/// [`SegmqBounded`] (one `send`/`recv` per message).
pub fn segmq_single(flavour: Flavour, producers: usize, consumers: usize, n: u64) -> Duration {
    match flavour {
        Flavour::Unbounded => mpmc::<Segmq>(producers, consumers, n),
        Flavour::Bounded => mpmc::<SegmqBounded>(producers, consumers, n),
    }
}

/// SPSC on an unbounded queue, the producer sending slices of `batch`, the consumer receiving
/// up to `batch` at a time.
pub fn segmq_batch_spsc(batch: usize, n: u64) -> Duration {
    segmq_batch(Flavour::Unbounded, 1, 1, batch, n)
}
