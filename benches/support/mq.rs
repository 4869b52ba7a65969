//! MQ dispatch to a no-op handler: the article's MQ, `segmq::Mq`, and a bare `segmq::Queue`
//! with hand-rolled worker threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use super::{actor, mix, Msg, Run, Tally};

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
pub fn actor_mq(concurrency: usize, n: u64) -> Run {
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
    let run = Run::measure(|| {
        for v in 0..n {
            mq.publish("bench", v).expect("publish");
        }
        mq.stop();
    });
    tally.get().check(n, "actor MQ");
    run
}

/// The same dispatch with a `segmq::Queue` and `concurrency` hand-rolled worker threads (what a
/// user of the queue alone writes; not `segmq::Mq`).
pub fn segmq_pool(concurrency: usize, n: u64) -> Run {
    let tally = Arc::new(SharedTally::default());
    let q = segmq::Queue::<Msg>::unbounded();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let q = q.clone();
            let tally = Arc::clone(&tally);
            thread::spawn(move || q.iter().for_each(|v| tally.add(v)))
        })
        .collect();
    let run = Run::measure(|| {
        for v in 0..n {
            q.send(v).expect("send");
        }
        q.close();
        for w in workers {
            w.join().expect("worker panicked");
        }
    });
    tally.get().check(n, "segmq pool");
    run
}

/// The same dispatch on `segmq::Mq`, the twin of [`actor_mq`]: one queue registered with
/// `concurrency` workers running a no-op handler, `0..n` published through its `Publisher`,
/// then `stop()` (which waits for the workers to drain). Time: first publish to the end of
/// `stop()`. Also checks the queue's own counters (every message handled once, none failed).
pub fn segmq_mq(concurrency: usize, n: u64) -> Run {
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
    let run = Run::measure(|| {
        for v in 0..n {
            publisher.publish(v).expect("publish");
        }
        mq.stop();
    });
    tally.get().check(n, "segmq Mq");
    let stats = mq.stats("bench").expect("stats of the bench queue");
    assert_eq!(
        (stats.handled_ok, stats.failed, stats.panicked, stats.depth),
        (n, 0, 0, 0),
        "segmq Mq: queue counters"
    );
    run
}
