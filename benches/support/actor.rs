//! The baseline: a faithful Rust port of the Go article "300 行代码实现一个消息队列"
//! (`/work/shared/seed/go-channel-mq-article.txt`), the "actor" design segmq replaces.
//!
//! # The queue (`ActorQueue`)
//!
//! Go keeps a `Queue{in, out chan *Msg; msgs []*Msg}` and one forwarding goroutine, `run()`, that
//! owns `msgs`. The port keeps that shape, with `crossbeam_channel` bounded channels standing in
//! for Go's buffered channels and `crossbeam_channel::select!` for Go's `select`:
//!
//! | Go                                                  | here                                              |
//! |-----------------------------------------------------|---------------------------------------------------|
//! | `NewQueue(in, out)`: sizes `<= 0` become 1          | `ActorQueue::new(in_buf, out_buf)`, same clamp    |
//! | `msgs: make([]*Msg, 0, 1024)`                       | `VecDeque::with_capacity(1024)`, owned by the forwarder |
//! | `Start()`: `wg.Add(1); go q.run()`                  | `start()`: spawns the forwarding thread           |
//! | `Enqueue`: `if q.in == nil {err}; q.in <- msg`      | `enqueue`: error if closed, else blocking `send`  |
//! | `Dequeue() <-chan *Msg { return q.out }`            | `dequeue() -> &Receiver<T>`                       |
//! | `Close()`: `close(q.in)`                            | `close()`: drops the queue's `in` sender (see below) |
//! | `Wait()`: `wg.Wait()`                               | `wait()`: joins the forwarding thread             |
//!
//! `run()` line by line, see [`forward`]: each round, if `msgs` is non-empty the `out <- msgs[0]`
//! case is armed, otherwise `out = nil` disables it (a nil channel never fires in a Go select);
//! Rust has no nil channel, so the disabled case is a separate arm without the `send` case, which
//! is the same select. `msg, ok := <-q.in` with `!ok` sets `q.in = nil` (disabling that case for
//! good): here `in_open = false`. When `in` is closed and `msgs` is empty, `close(q.out)`: here
//! the forwarder drops `out`'s only sender and returns, so receivers see "disconnected" once drained.
//!
//! Go closes a channel explicitly while any number of goroutines share it; crossbeam disconnects
//! a channel when its last `Sender` is dropped. So `close()` drops the queue's own sender, and a
//! producer holding a clone from [`ActorQueue::sender`] (a goroutine holding `q.in`) closes its
//! share by dropping it. In Go, `Enqueue` after `Close` panics ("send on closed channel": the
//! `q.in == nil` check never fires, as `Close` does not nil the field); here it returns an error.
//!
//! # The MQ (`ActorMq`)
//!
//! `MQ{mu; running; queues map[string]*Q}` with `Q{mu; queue; consumer; concurrency; seq}`:
//!
//! * `RegisterQueue` takes `m.mu`, refuses while running or on a duplicate name, and creates the
//!   queue with `NewQueue(concurrency, concurrency)`.
//! * `Publish` takes `m.mu` for the map lookup, releases it, then takes `q.mu` and keeps it while it
//!   builds `&Msg{ID: q.seq, Data: data}` (a heap allocation in Go: `Box` here), bumps `seq` and
//!   enqueues: **two mutexes per publish**, and the enqueue happens under `q.mu`, as in the article.
//! * `Start` starts every queue's forwarder and `concurrency` worker goroutines (threads here).
//! * `Stop` closes every queue under `m.mu` and waits for the workers (`wg.Wait()`). Rust needs the
//!   `in` sender to be dropped under a lock, so `close` takes `q.mu` (Go's `Close` reads `q.in`
//!   unsynchronised); it is off the publish path.
//! * `consume`: `for { defer recover(); select { <-ctx.Done(): ...; msg, ok := <-q.queue.Dequeue(): ... } }`.
//!   The `defer` inside the loop runs only when `consume` returns, so a panicking consumer is
//!   recovered **and its worker goroutine ends**; the port does the same: one `catch_unwind`
//!   around the loop, the worker logs nothing (the bench logger is a no-op) and exits.
//!   The article's callers pass `context.TODO()`, which is never done, so the `ctx.Done()` case is
//!   left out. A consumer error is "logged" (ignored), as with the article's logger.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, select, Receiver, Sender};

/// The error of `Enqueue` on a closed queue ("queue: queue is closed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueClosed;

/// Go's `Queue`: two channels and a forwarding goroutine that owns the backlog.
pub struct ActorQueue<T> {
    /// `q.in` (producer side); `None` once closed.
    in_tx: Option<Sender<T>>,
    /// `q.in` (forwarder side), until `start` hands it to the forwarder.
    in_rx: Option<Receiver<T>>,
    /// `q.out` (forwarder side), until `start`.
    out_tx: Option<Sender<T>>,
    /// `q.out` (consumer side).
    out_rx: Receiver<T>,
    /// `q.wg`: the forwarding thread.
    forwarder: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> ActorQueue<T> {
    /// `NewQueue(inBufSize, outBufSize)`.
    pub fn new(in_buf: usize, out_buf: usize) -> Self {
        // if inBufSize <= 0 { inBufSize = 1 } (and the same for out)
        let (in_tx, in_rx) = bounded(in_buf.max(1));
        let (out_tx, out_rx) = bounded(out_buf.max(1));
        Self {
            in_tx: Some(in_tx),
            in_rx: Some(in_rx),
            out_tx: Some(out_tx),
            out_rx,
            forwarder: None,
        }
    }

    /// `Start()`: `wg.Add(1); go q.run()`.
    pub fn start(&mut self) {
        let in_rx = self.in_rx.take().expect("queue started twice");
        let out_tx = self.out_tx.take().expect("queue started twice");
        // msgs: make([]*Msg, 0, 1024)
        let msgs = VecDeque::with_capacity(1024);
        self.forwarder = Some(
            thread::Builder::new()
                .name("actor-forwarder".into())
                .spawn(move || forward(in_rx, out_tx, msgs))
                .expect("spawn forwarder"),
        );
    }

    /// `Enqueue(msg)`: blocks while `in` is full, as `q.in <- msg` does.
    pub fn enqueue(&self, msg: T) -> Result<(), QueueClosed> {
        match &self.in_tx {
            None => Err(QueueClosed),
            Some(tx) => tx.send(msg).map_err(|_| QueueClosed),
        }
    }

    /// Another producer's view of `q.in` (a goroutine sharing the channel).
    pub fn sender(&self) -> Option<Sender<T>> {
        self.in_tx.clone()
    }

    /// `Dequeue() <-chan *Msg`.
    pub fn dequeue(&self) -> &Receiver<T> {
        &self.out_rx
    }

    /// `Close()`: "only dequeue, no more enqueue".
    pub fn close(&mut self) {
        self.in_tx = None;
    }

    /// `Wait()`: waits for the forwarder to drain and close `out`.
    pub fn wait(&mut self) {
        if let Some(f) = self.forwarder.take() {
            f.join().expect("forwarder panicked");
        }
    }
}

/// `func (q *Queue) run()`, the forwarding goroutine.
fn forward<T>(in_rx: Receiver<T>, out_tx: Sender<T>, mut msgs: VecDeque<T>) {
    // `q.in != nil`
    let mut in_open = true;
    loop {
        // if len(q.msgs) > 0 { nextMsg = q.msgs[0]; out = q.out } else { out = nil }
        // select { case msg, ok := <-q.in: ...; case out <- nextMsg: q.msgs = q.msgs[1:] }
        match (in_open, msgs.is_empty()) {
            // `out` is nil: the select waits on `in` alone.
            (true, true) => match in_rx.recv() {
                Ok(msg) => msgs.push_back(msg), // q.msgs = append(q.msgs, msg)
                Err(_) => in_open = false,      // !ok: q.in = nil
            },
            // Both cases armed. The message expression of `send` is evaluated only if that
            // case is selected, so `pop_front` is `out <- q.msgs[0]; q.msgs = q.msgs[1:]`.
            (true, false) => select! {
                recv(in_rx) -> msg => match msg {
                    Ok(msg) => msgs.push_back(msg),
                    Err(_) => in_open = false,
                },
                send(out_tx, msgs.pop_front().expect("non-empty")) -> res => {
                    if res.is_err() {
                        return; // every consumer is gone (Go would block forever)
                    }
                }
            },
            // `q.in` is nil: a select on `out` alone.
            (false, false) => {
                let msg = msgs.pop_front().expect("non-empty");
                if out_tx.send(msg).is_err() {
                    return;
                }
            }
            // if q.in == nil && len(q.msgs) == 0 { close(q.out); return }
            (false, true) => {
                drop(out_tx);
                return;
            }
        }
    }
}

/// Go's `Msg{ID uint64; Data any}`.
#[derive(Debug)]
pub struct Msg<D> {
    /// The per-queue sequence number.
    pub id: u64,
    /// The payload.
    pub data: D,
}

/// Go's `ConsumerFunc func(ctx, msg *Msg) error` (the context is never done, so it is left out).
pub type ConsumerFunc<D> = Arc<dyn Fn(&Msg<D>) -> Result<(), String> + Send + Sync>;

/// The part of `Q` that `q.mu` guards on the publish path: `seq`, and `queue` for the enqueue.
struct QState<D> {
    seq: u64,
    queue: ActorQueue<Box<Msg<D>>>,
}

/// Go's `Q{mu; queue; consumer; concurrency; seq}`.
struct Q<D> {
    mu: Mutex<QState<D>>,
    /// `q.queue.Dequeue()`, readable by the workers without `q.mu` (as in Go).
    out: Receiver<Box<Msg<D>>>,
    consumer: ConsumerFunc<D>,
    concurrency: usize,
}

struct MqState<D> {
    running: bool,
    queues: HashMap<String, Arc<Q<D>>>,
}

/// Go's `MQ`: named queues under a mutex, each with a pool of worker threads.
pub struct ActorMq<D> {
    mu: Mutex<MqState<D>>,
    /// `wg`: the worker threads.
    wg: Mutex<Vec<JoinHandle<()>>>,
}

impl<D: Send + 'static> Default for ActorMq<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Send + 'static> ActorMq<D> {
    /// `NewMQ(log)`.
    pub fn new() -> Self {
        Self {
            mu: Mutex::new(MqState {
                running: false,
                queues: HashMap::new(),
            }),
            wg: Mutex::new(Vec::new()),
        }
    }

    /// `RegisterQueue(name, consumer, concurrency)`.
    pub fn register_queue(
        &self,
        name: &str,
        consumer: ConsumerFunc<D>,
        concurrency: usize,
    ) -> Result<(), &'static str> {
        let mut m = self.mu.lock().unwrap();
        if m.running {
            return Err("mq: cannot register queue while MQ is running");
        }
        if m.queues.contains_key(name) {
            return Err("mq: queue already registered");
        }
        // NewQueue(concurrency, concurrency)
        let queue = ActorQueue::new(concurrency, concurrency);
        let out = queue.dequeue().clone();
        m.queues.insert(
            name.to_owned(),
            Arc::new(Q {
                mu: Mutex::new(QState { seq: 0, queue }),
                out,
                consumer,
                concurrency,
            }),
        );
        Ok(())
    }

    /// `Publish(queueName, data)`: two mutexes per message, the enqueue under `q.mu`.
    pub fn publish(&self, queue_name: &str, data: D) -> Result<(), &'static str> {
        let q = {
            let m = self.mu.lock().unwrap();
            m.queues.get(queue_name).cloned()
        };
        let Some(q) = q else {
            return Err("mq: queue not found");
        };
        let mut q_state = q.mu.lock().unwrap();
        let msg = Box::new(Msg {
            id: q_state.seq,
            data,
        });
        q_state.seq += 1;
        q_state
            .queue
            .enqueue(msg)
            .map_err(|_| "queue: queue is closed")
    }

    /// `Start(ctx)`: every queue's forwarder plus `concurrency` workers per queue.
    pub fn start(&self) -> Result<(), &'static str> {
        let mut m = self.mu.lock().unwrap();
        if m.running {
            return Err("mq: MQ is already running");
        }
        m.running = true;
        let mut wg = self.wg.lock().unwrap();
        for q in m.queues.values() {
            q.mu.lock().unwrap().queue.start();
            for _worker_id in 0..q.concurrency {
                let q = Arc::clone(q);
                wg.push(thread::spawn(move || consume(&q)));
            }
        }
        Ok(())
    }

    /// `Stop()`: closes every queue, then waits for the workers to drain them.
    pub fn stop(&self) {
        {
            let mut m = self.mu.lock().unwrap();
            if !m.running {
                return;
            }
            m.running = false;
            for q in m.queues.values() {
                q.mu.lock().unwrap().queue.close();
            }
        }
        let workers = std::mem::take(&mut *self.wg.lock().unwrap());
        for w in workers {
            w.join().expect("worker panicked outside catch_unwind");
        }
        // Not in the article (its forwarders end on their own): join them too, so no thread
        // outlives the benchmark iteration.
        let m = self.mu.lock().unwrap();
        for q in m.queues.values() {
            q.mu.lock().unwrap().queue.wait();
        }
    }
}

/// `consume(ctx, queueName, workerID, q)`.
fn consume<D>(q: &Q<D>) {
    // defer func() { if r := recover(); r != nil { log } }(): the worker ends after a panic.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // msg, ok := <-q.queue.Dequeue(); if !ok { return }
        while let Ok(msg) = q.out.recv() {
            if let Err(_err) = (q.consumer)(&msg) {
                // s.log.Errorf("Failed to process message ...")
            }
        }
    }));
}
