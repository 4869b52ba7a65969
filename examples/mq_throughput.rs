//! MQ dispatch throughput: `segmq::Mq` beside a faithful port of the Go article's MQ, same run.
//!
//! `cargo run --release --example mq_throughput [messages]`
//!
//! No-op handler; 1 and 4 publisher threads; concurrency 1 and 4. Time is from the first publish
//! until `stop()` returns (every message handled). The article's MQ is ported as written: a
//! `Queue` of two bounded channels (`in`, `out`, capacity = concurrency) and a forwarding thread
//! that moves messages through a growable buffer with `select`; `Publish` takes the MQ mutex to
//! find the queue, then the queue's mutex to number the message (held across the enqueue);
//! `Data` is `any` (a `Box<dyn Any>`). One liberty: `enqueue` reads `in` under a mutex where Go
//! reads the field bare; that mutex is never contended (it nests in the queue mutex).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Select, Sender};

/// The article's `Msg`.
#[allow(dead_code)]
struct GoMsg {
    id: u64,
    data: Box<dyn Any + Send>,
}

/// The article's `Queue`: `in`, `out`, and a forwarding goroutine (here a thread).
struct GoQueue {
    input: Mutex<Option<Sender<GoMsg>>>,
    out: Receiver<GoMsg>,
    forwarder: Mutex<Option<JoinHandle<()>>>,
}

impl GoQueue {
    fn new(in_buf: usize, out_buf: usize) -> (Self, Receiver<GoMsg>, Sender<GoMsg>) {
        let (in_tx, in_rx) = bounded(in_buf.max(1));
        let (out_tx, out_rx) = bounded(out_buf.max(1));
        let q = Self {
            input: Mutex::new(Some(in_tx)),
            out: out_rx,
            forwarder: Mutex::new(None),
        };
        (q, in_rx, out_tx)
    }

    fn enqueue(&self, msg: GoMsg) -> Result<(), &'static str> {
        let input = self.input.lock().unwrap().clone();
        match input {
            None => Err("queue: queue is closed"),
            Some(tx) => tx.send(msg).map_err(|_| "queue: queue is closed"),
        }
    }

    fn start(&self, in_rx: Receiver<GoMsg>, out_tx: Sender<GoMsg>) {
        *self.forwarder.lock().unwrap() = Some(thread::spawn(move || run(in_rx, out_tx)));
    }

    fn close(&self) {
        self.input.lock().unwrap().take();
    }
}

/// The article's `run`: select between receiving into `msgs` and sending its head to `out`.
fn run(input: Receiver<GoMsg>, out: Sender<GoMsg>) {
    let mut msgs: VecDeque<GoMsg> = VecDeque::with_capacity(1024);
    let mut in_open = true;
    loop {
        let mut sel = Select::new();
        let in_op = in_open.then(|| sel.recv(&input));
        let out_op = (!msgs.is_empty()).then(|| sel.send(&out));
        let op = sel.select();
        if Some(op.index()) == in_op {
            match op.recv(&input) {
                Ok(m) => msgs.push_back(m),
                Err(_) => in_open = false,
            }
        } else if Some(op.index()) == out_op {
            let m = msgs.pop_front().expect("non-empty");
            if op.send(&out, m).is_err() {
                return;
            }
        }
        if !in_open && msgs.is_empty() {
            return; // drops `out`: close(q.out)
        }
    }
}

type Consumer = Arc<dyn Fn(&GoMsg) -> Result<(), String> + Send + Sync>;

/// The article's `Q`.
struct GoQ {
    queue: GoQueue,
    pending_start: Mutex<Option<(Receiver<GoMsg>, Sender<GoMsg>)>>,
    consumer: Consumer,
    concurrency: usize,
    seq: Mutex<u64>,
}

/// The article's `MQ`.
struct GoMq {
    queues: Mutex<HashMap<String, Arc<GoQ>>>,
    running: Mutex<bool>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl GoMq {
    fn new() -> Self {
        Self {
            queues: Mutex::new(HashMap::new()),
            running: Mutex::new(false),
            workers: Mutex::new(Vec::new()),
        }
    }

    fn register_queue(&self, name: &str, consumer: Consumer, concurrency: usize) {
        let (queue, in_rx, out_tx) = GoQueue::new(concurrency, concurrency);
        self.queues.lock().unwrap().insert(
            name.into(),
            Arc::new(GoQ {
                queue,
                pending_start: Mutex::new(Some((in_rx, out_tx))),
                consumer,
                concurrency,
                seq: Mutex::new(0),
            }),
        );
    }

    fn publish(&self, name: &str, data: Box<dyn Any + Send>) -> Result<(), &'static str> {
        let q = self.queues.lock().unwrap().get(name).cloned();
        let q = q.ok_or("mq: queue not found")?;
        let mut seq = q.seq.lock().unwrap(); // held across the enqueue, as in the article
        let msg = GoMsg { id: *seq, data };
        *seq += 1;
        q.queue.enqueue(msg)
    }

    fn start(&self) {
        *self.running.lock().unwrap() = true;
        for q in self.queues.lock().unwrap().values() {
            let (in_rx, out_tx) = q.pending_start.lock().unwrap().take().unwrap();
            q.queue.start(in_rx, out_tx);
            for _ in 0..q.concurrency {
                let q = q.clone();
                self.workers.lock().unwrap().push(thread::spawn(move || {
                    while let Ok(msg) = q.queue.out.recv() {
                        let _ = (q.consumer)(&msg);
                    }
                }));
            }
        }
    }

    fn stop(&self) {
        for q in self.queues.lock().unwrap().values() {
            q.queue.close();
        }
        for w in self.workers.lock().unwrap().drain(..) {
            w.join().unwrap();
        }
        for q in self.queues.lock().unwrap().values() {
            if let Some(f) = q.queue.forwarder.lock().unwrap().take() {
                f.join().unwrap();
            }
        }
    }
}

fn bench_go(n: u64, publishers: u64, concurrency: usize) -> Duration {
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let mq = Arc::new(GoMq::new());
    mq.register_queue(
        "q",
        Arc::new(move |_m: &GoMsg| {
            h.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }),
        concurrency,
    );
    mq.start();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..publishers {
            let mq = mq.clone();
            s.spawn(move || {
                for i in 0..n / publishers {
                    mq.publish("q", Box::new(i)).unwrap();
                }
            });
        }
    });
    mq.stop();
    let t = start.elapsed();
    assert_eq!(handled.load(Ordering::Relaxed), n / publishers * publishers);
    t
}

fn bench_segmq(n: u64, publishers: u64, concurrency: usize, by_name: bool) -> Duration {
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    let mq = segmq::Mq::new();
    let p = mq
        .register("q", concurrency, move |_m: &segmq::Msg<u64>| {
            h.fetch_add(1, Ordering::Relaxed);
            Ok::<_, String>(())
        })
        .unwrap();
    mq.start().unwrap();
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..publishers {
            let (p, mq) = (p.clone(), &mq);
            s.spawn(move || {
                for i in 0..n / publishers {
                    if by_name {
                        mq.publish("q", i).unwrap();
                    } else {
                        p.publish(i).unwrap();
                    }
                }
            });
        }
    });
    mq.stop();
    let t = start.elapsed();
    assert_eq!(handled.load(Ordering::Relaxed), n / publishers * publishers);
    t
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cores = thread::available_parallelism().map_or(1, |c| c.get());
    println!("{n} messages, no-op handler, {cores} cores; million messages per second (best of 3)");
    println!("publishers concurrency | article MQ | segmq Mq::publish | segmq Publisher");
    let rate = |f: &dyn Fn() -> Duration| {
        let best = (0..3).map(|_| f()).min().unwrap();
        n as f64 / best.as_secs_f64() / 1e6
    };
    for publishers in [1, 4] {
        for concurrency in [1, 4] {
            let go = rate(&|| bench_go(n, publishers, concurrency));
            let by_name = rate(&|| bench_segmq(n, publishers, concurrency, true));
            let typed = rate(&|| bench_segmq(n, publishers, concurrency, false));
            println!(
                "{publishers:>10} {concurrency:>11} | {go:>10.2} | {by_name:>17.2} | {typed:>15.2}"
            );
        }
    }
}
