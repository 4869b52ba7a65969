//! The blocking [`Chan`] trait over every queue implementation, and its implementations.

use std::sync::Arc;

use super::{actor, Msg, BOUNDED_CAP};

/// A queue implementation, seen through blocking calls.
pub trait Chan: 'static {
    /// Name in reports.
    const NAME: &'static str;
    /// Whether several threads may receive from one queue (false for `std::sync::mpsc`).
    const MPMC: bool = true;
    /// Whether `send` never blocks (burst workloads need that).
    const UNBOUNDED: bool = true;
    /// Orders of magnitude slower than the rest (the actor): runs move [`slow_n`](super::slow_n) messages.
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
