//! Counters and the latency histogram, cheap enough to stay on.
//!
//! Each worker owns a [`WorkerStats`] (on its own cache lines) and is its only writer, so the
//! hot path does uncontended relaxed increments and no lock. [`QueueStats`] sums them on read.
//! `published` is not counted at all on the publish path: it is derived as
//! `popped + depth - requeued` (every slot a publish claims is either still in the queue or was
//! popped once; retries are the other pushes), exact whenever the queue is quiet, a snapshot
//! otherwise. The two latency histograms (queue wait, handler duration) have 4 sub-buckets per
//! power of two of nanoseconds (at most 25 % error), one atomic per bucket; both are fed by the
//! same sampled messages and the same two clock reads (`observe.rs`).
//!
//! These counters are std atomics, not `crate::sync` ones, on purpose: they are observations
//! that order nothing (every synchronising step of the MQ is a lock, a flag or the queue), and
//! as loom atomics each relaxed increment would multiply the states the models explore.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_utils::CachePadded;

/// A snapshot of one queue's counters (see [`Mq::stats`](crate::Mq::stats)).
///
/// Every message accepted by a publish ends up counted exactly once in `handled_ok`,
/// `dead_lettered` or `left` (or is still in `depth`, `in_flight` or waiting for a retry).
///
/// ```
/// use segmq::{Mq, Msg};
/// let mq = Mq::new();
/// let p = mq.register("q", 2, |_: &Msg<u32>| Ok::<_, std::io::Error>(())).unwrap();
/// for i in 0..10 {
///     p.publish(i).unwrap();
/// }
/// mq.start().unwrap();
/// mq.stop();
/// let s = mq.stats("q").unwrap();
/// assert_eq!((s.published, s.handled_ok, s.depth, s.workers), (10, 10, 0, 0));
/// assert!(s.latency_p50.is_some());
/// assert!(s.handler_p50.is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages accepted by a publish (derived from the queue's counters, not counted on the
    /// publish path: exact when the queue is quiet, a snapshot otherwise).
    pub published: u64,
    /// Messages whose handler returned `Ok`.
    pub handled_ok: u64,
    /// Handler calls that returned `Err`.
    pub failed: u64,
    /// Handler calls that panicked.
    pub panicked: u64,
    /// Attempts that ran past their timeout ([`QueueOptions::timeout`](crate::QueueOptions::timeout),
    /// [`PublishOptions::timeout`](crate::PublishOptions::timeout)): an async handler dropped
    /// at its deadline, or a thread handler that returned after it. Not counted in `failed`
    /// or `panicked`: each attempt that did not succeed is in exactly one of the three.
    pub timed_out: u64,
    /// Failed attempts whose error asked not to be retried ([`SkipRetry`](crate::SkipRetry)):
    /// dead-lettered at once. Also counted in `failed`.
    pub skipped_retry: u64,
    /// Retries scheduled (a failed or panicked call with attempts left).
    pub retried: u64,
    /// Messages that exhausted their attempts and went to the dead-letter handler.
    pub dead_lettered: u64,
    /// Messages the drop-oldest overflow policy pushed out of the full queue
    /// ([`QueueOptions::drop_oldest`](crate::QueueOptions::drop_oldest)); each also went to the
    /// dead-letter handler, if any, but is not counted in `dead_lettered`.
    pub displaced: u64,
    /// Messages left over by [`Mq::stop_timeout`](crate::Mq::stop_timeout) (see
    /// [`Publisher::drain_left`](crate::Publisher::drain_left)).
    pub left: u64,
    /// Messages in the queue now.
    pub depth: u64,
    /// Delayed messages ([`Publisher::publish_in`](crate::Publisher::publish_in),
    /// [`publish_at`](crate::Publisher::publish_at)) waiting for their time now; each moves
    /// to `depth` when it is due.
    pub delayed: u64,
    /// Messages a worker has taken and not finished with.
    pub in_flight: u64,
    /// Worker threads or tasks alive now.
    pub workers: usize,
    /// A remote (NATS) queue's counts on the server, shared by every process (messages held,
    /// pending, in flight, redelivered): read by [`Mq::stats`](crate::Mq::stats) and
    /// [`Publisher::stats`](crate::Publisher::stats) with two requests to the server, `None`
    /// for a local queue or when the server did not answer. The other fields are this
    /// process's own.
    #[cfg(feature = "nats")]
    #[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
    pub remote: Option<super::RemoteStats>,
    /// Median time from publish to handler start (first attempts), if any message started.
    ///
    /// Sampled: each worker measures its first message and then one in
    /// [`LATENCY_SAMPLE`](Self::LATENCY_SAMPLE) (a clock read costs as much as a tenth of a
    /// whole dispatch on some VMs; the percentiles of a uniform sample are the same).
    pub latency_p50: Option<Duration>,
    /// 99th percentile of the same.
    pub latency_p99: Option<Duration>,
    /// Median time a handler call ran (every attempt of the sampled messages: the same one in
    /// [`LATENCY_SAMPLE`](Self::LATENCY_SAMPLE) as `latency_p50`), if any call ended. For an
    /// async handler, the whole future, from the call to its last poll.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register("slow", 1, |_: &Msg<u8>| {
    ///         std::thread::sleep(Duration::from_millis(2));
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// p.publish(1).unwrap();
    /// mq.start().unwrap();
    /// mq.stop();
    /// // At least the sleep, within the histogram's 25 % bucket error.
    /// assert!(mq.stats("slow").unwrap().handler_p50.unwrap() >= Duration::from_micros(1500));
    /// ```
    pub handler_p50: Option<Duration>,
    /// 99th percentile of the same.
    pub handler_p99: Option<Duration>,
}

impl QueueStats {
    /// One message in this many (per worker, counted by pops) has its queue wait measured.
    pub const LATENCY_SAMPLE: u64 = 16;
}

const BUCKETS: usize = 4 + 62 * 4;

/// Bucket of a latency in nanoseconds: exact below 4, then 4 per power of two.
fn bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros() as usize; // >= 2
    let sub = ((ns >> (exp - 2)) & 3) as usize;
    4 + (exp - 2) * 4 + sub
}

/// Middle of a bucket, in nanoseconds.
fn bucket_mid(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let exp = (b - 4) / 4 + 2;
    let sub = ((b - 4) % 4) as u64;
    let low = (4 + sub) << (exp - 2);
    low + (1u64 << (exp - 2)) / 2
}

/// One worker's counters; only that worker writes them.
pub(crate) struct WorkerStats {
    pub(crate) popped: CachePadded<AtomicU64>,
    pub(crate) finished: AtomicU64,
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) skipped_retry: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    latency: Box<[AtomicU64]>,
    handler: Box<[AtomicU64]>,
}

impl WorkerStats {
    pub(crate) fn new() -> Self {
        Self {
            popped: CachePadded::new(AtomicU64::new(0)),
            finished: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            skipped_retry: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            handler: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds one to a counter this worker owns.
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        // A load and a store, not `fetch_add`: this worker is the only writer (struct docs), so
        // no increment can be lost, and the store needs no locked instruction on the
        // per-message path. Relaxed: readers (`snapshot`) only want a recent value.
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }

    /// Whether the message just popped is one of the sampled ones (the first, then one in
    /// [`QueueStats::LATENCY_SAMPLE`]); call after bumping `popped`.
    #[inline]
    pub(crate) fn samples_latency(&self) -> bool {
        // Relaxed: this worker wrote the counter (single writer).
        self.popped.load(Relaxed) % QueueStats::LATENCY_SAMPLE == 1
    }

    /// Records a queue wait (publish to handler start).
    #[inline]
    pub(crate) fn record_latency(&self, d: Duration) {
        Self::bump(&self.latency[bucket(nanos(d))]);
    }

    /// Records how long a handler call ran.
    #[inline]
    pub(crate) fn record_handler(&self, d: Duration) {
        Self::bump(&self.handler[bucket(nanos(d))]);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The median and 99th percentile of a histogram (bucket middles), if it counted anything.
fn percentiles(hist: &[u64]) -> (Option<Duration>, Option<Duration>) {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return (None, None);
    }
    let quantile = |q: f64| {
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        hist.iter()
            .position(|&n| {
                seen += n;
                seen >= rank
            })
            .map(|b| Duration::from_nanos(bucket_mid(b)))
    };
    (quantile(0.50), quantile(0.99))
}

/// Queue-level counters, written off the hot path (retry timer, stop).
#[derive(Default)]
pub(crate) struct CoreStats {
    /// Pushes that were not fresh publishes (retries put back into the queue).
    pub(crate) requeued: AtomicU64,
    /// Pops done by `stop_timeout` itself while collecting leftovers.
    pub(crate) drained: AtomicU64,
    /// Messages put into the leftover store.
    pub(crate) left: AtomicU64,
    /// Messages displaced by the drop-oldest overflow policy.
    pub(crate) displaced: AtomicU64,
    /// Messages lost with a panic that escaped every guard (a bug in segmq; see `core.rs`).
    pub(crate) lost: AtomicU64,
    /// Workers alive.
    pub(crate) workers: AtomicUsize,
}

/// Sums the workers' counters into a snapshot.
pub(crate) fn snapshot(
    workers: &[std::sync::Arc<WorkerStats>],
    core: &CoreStats,
    depth: usize,
) -> QueueStats {
    let mut s = QueueStats::default();
    let mut popped = 0u64;
    let mut finished = 0u64;
    let mut hist = vec![0u64; BUCKETS];
    let mut handler = vec![0u64; BUCKETS];
    for w in workers {
        popped += w.popped.load(Relaxed);
        finished += w.finished.load(Relaxed);
        s.handled_ok += w.ok.load(Relaxed);
        s.failed += w.failed.load(Relaxed);
        s.panicked += w.panicked.load(Relaxed);
        s.timed_out += w.timed_out.load(Relaxed);
        s.skipped_retry += w.skipped_retry.load(Relaxed);
        s.retried += w.retried.load(Relaxed);
        s.dead_lettered += w.dead_lettered.load(Relaxed);
        for (h, b) in hist.iter_mut().zip(w.latency.iter()) {
            *h += b.load(Relaxed);
        }
        for (h, b) in handler.iter_mut().zip(w.handler.iter()) {
            *h += b.load(Relaxed);
        }
    }
    s.depth = depth as u64;
    s.in_flight = popped.saturating_sub(finished);
    s.left = core.left.load(Relaxed);
    s.displaced = core.displaced.load(Relaxed);
    s.workers = core.workers.load(Relaxed);
    s.published = (popped + core.drained.load(Relaxed) + s.displaced + s.depth)
        .saturating_sub(core.requeued.load(Relaxed));
    (s.latency_p50, s.latency_p99) = percentiles(&hist);
    (s.handler_p50, s.handler_p99) = percentiles(&handler);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each histogram feeds its own percentiles: a slow handler does not show up as a long
    /// queue wait, nor the other way round.
    #[test]
    fn handler_and_queue_wait_percentiles_are_kept_apart() {
        let w = std::sync::Arc::new(WorkerStats::new());
        for _ in 0..99 {
            w.record_latency(Duration::from_micros(10));
            w.record_handler(Duration::from_millis(20));
        }
        w.record_handler(Duration::from_secs(2));
        let s = snapshot(&[w], &CoreStats::default(), 0);
        let near = |d: Option<Duration>, want: Duration| {
            let d = d.expect("recorded").as_secs_f64();
            (d - want.as_secs_f64()).abs() <= want.as_secs_f64() * 0.25
        };
        assert!(near(s.latency_p50, Duration::from_micros(10)), "{s:?}");
        assert!(near(s.latency_p99, Duration::from_micros(10)), "{s:?}");
        assert!(near(s.handler_p50, Duration::from_millis(20)), "{s:?}");
        assert!(near(s.handler_p99, Duration::from_millis(20)), "{s:?}");
        let empty = snapshot(&[], &CoreStats::default(), 0);
        assert_eq!((empty.handler_p50, empty.handler_p99), (None, None));
    }

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            3,
            4,
            5,
            7,
            8,
            100,
            1_000,
            65_535,
            1 << 40,
            u64::MAX,
        ] {
            let b = bucket(ns);
            assert!(b >= last && b < BUCKETS, "{ns}");
            last = b;
            if (4..1 << 62).contains(&ns) {
                let mid = bucket_mid(b) as f64;
                assert!((mid - ns as f64).abs() <= ns as f64 * 0.25, "{ns} -> {mid}");
            }
        }
    }
}
