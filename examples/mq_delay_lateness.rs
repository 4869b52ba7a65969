//! Lateness of delayed messages (`Publisher::publish_at`) with many of them pending: how long
//! after its due time each message's handler starts. Issue 17's goal: p99 under 1 ms with
//! 100 000 delayed messages pending.
//!
//! All messages are published first, due at uniformly spread times starting one second later,
//! so that every one of them is pending in the timer (a heap of 100 000) when the first comes
//! due; then the workers handle them as they come due, and each handler records
//! `Instant::now() - due` in a histogram (and counts any message started early: must be 0).
//!
//! ```text
//! cargo run --release --example mq_delay_lateness            # 100 000 messages over 5 s
//! cargo run --release --example mq_delay_lateness -- --quick # 2 000 over 100 ms, a smoke run
//! ```
//!
//! Timing numbers are only meaningful on a quiet machine; `tests/examples.rs` runs the quick
//! mode and checks only the counts.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use segmq::{Mq, Msg, QueueOptions};

/// What a run measured.
#[derive(Debug)]
pub struct Lateness {
    /// Messages handled (each once).
    pub handled: u64,
    /// Messages whose handler started before their due time (must be 0).
    pub early: u64,
    /// Most messages pending in the timer at once (as the stats saw it after publishing).
    pub pending_peak: u64,
    /// Lateness in microseconds.
    pub histogram: Histogram<u64>,
}

/// Publishes `messages` delayed messages due over `spread` (starting `lead` from now), handles
/// them on `workers` threads and returns the lateness.
pub fn run(messages: u64, lead: Duration, spread: Duration, workers: usize) -> Lateness {
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let early = Arc::new(AtomicU64::new(0));
    let (h2, e2) = (histogram.clone(), early.clone());
    let mq = Mq::new();
    let p = mq
        .register_with(
            "delayed",
            QueueOptions::new(workers),
            move |m: &Msg<Instant>| {
                let now = Instant::now();
                match now.checked_duration_since(m.data) {
                    Some(late) => {
                        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX).max(1);
                        h2.lock().unwrap().saturating_record(us);
                    }
                    None => {
                        e2.fetch_add(1, Relaxed);
                    }
                }
                Ok::<_, std::io::Error>(())
            },
        )
        .unwrap();
    mq.start().unwrap();
    let start = Instant::now() + lead;
    let step = spread.as_nanos() as u64 / messages.max(1);
    // A fixed permutation of due times (so the heap sees them out of order).
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..messages {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let due = start + Duration::from_nanos((x % messages) * step);
        p.publish_at(due, due).unwrap();
    }
    let pending_peak = p.stats().delayed;
    let deadline = start + spread + Duration::from_secs(30);
    while p.stats().handled_ok < messages {
        assert!(Instant::now() < deadline, "delayed messages did not arrive");
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
    let histogram = histogram.lock().unwrap().clone();
    Lateness {
        handled: report.handled(),
        early: early.load(Relaxed),
        pending_peak,
        histogram,
    }
}

#[allow(dead_code)] // `tests/examples.rs` calls `run` only
pub fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (messages, spread) = if quick {
        (2_000, Duration::from_millis(100))
    } else {
        (100_000, Duration::from_secs(5))
    };
    let r = run(messages, Duration::from_secs(1), spread, 4);
    let h = &r.histogram;
    println!(
        "{} delayed messages over {spread:?} ({} pending at the start): handled {}, early {}",
        messages, r.pending_peak, r.handled, r.early
    );
    println!(
        "lateness: p50 {} us, p99 {} us, p99.9 {} us, max {} us (goal: p99 < 1000 us)",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
    assert_eq!((r.handled, r.early), (messages, 0));
}
