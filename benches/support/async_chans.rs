//! The [`AsyncChan`] trait (a queue seen through async calls, run on tokio), its
//! implementations, and the async MPMC workload.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::workloads::{clones, producer_ranges, span};
use super::{os, Msg, Run, Tally, BOUNDED_CAP};

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
    /// A new queue.
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

/// `segmq::Queue::bounded(BOUNDED_CAP)`: `send_async` (waits while full), `recv_async`.
pub struct SegmqBoundedAsync;
impl AsyncChan for SegmqBoundedAsync {
    const NAME: &'static str = "segmq bounded";
    type Tx = segmq::Queue<Msg>;
    type Rx = segmq::Queue<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        let q = segmq::Queue::bounded(BOUNDED_CAP);
        (q.clone(), q)
    }
    async fn send(tx: &Self::Tx, msg: Msg) {
        tx.send_async(msg).await.expect("segmq bounded closed");
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

/// `kanal::bounded_async(BOUNDED_CAP)`.
pub struct KanalBoundedAsync;
impl AsyncChan for KanalBoundedAsync {
    const NAME: &'static str = "kanal bounded async";
    type Tx = kanal::AsyncSender<Msg>;
    type Rx = kanal::AsyncReceiver<Msg>;
    fn new() -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(BOUNDED_CAP)
    }
    async fn send(tx: &Self::Tx, msg: Msg) {
        tx.send(msg).await.expect("kanal bounded closed");
    }
    async fn recv(rx: &mut Self::Rx) -> Option<Msg> {
        rx.recv().await.ok()
    }
    fn clone_rx(rx: &Self::Rx) -> Self::Rx {
        rx.clone()
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
) -> Run {
    assert!(consumers == 1 || C::MPMC, "{} is single-consumer", C::NAME);
    let (run, total) = rt.block_on(async move {
        let (tx, rx) = C::new();
        let cpu0 = os::process_cpu();
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
        let producer_tasks: Vec<_> = producer_ranges(clones(tx, producers), n)
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
        let cpu = os::process_cpu().saturating_sub(cpu0);
        let elapsed = span(starts, ends);
        (Run { elapsed, cpu }, total)
    });
    total.check(n, C::NAME);
    run
}
