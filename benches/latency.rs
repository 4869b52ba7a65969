//! Latency: the wake-up path.
//!
//! * `pingpong` (criterion): round trips between two threads over two queues; each iteration is
//!   one round trip, so criterion's time per iteration is the round-trip time.
//! * `paced` (printed after criterion): one sender sends a timestamp, then sleeps `INTERVAL`;
//!   one receiver blocked in `recv` (parked between messages) records send-to-receive time in an
//!   hdrhistogram; p50/p99/p99.9/max per implementation. Skipped if a filter is given that does
//!   not contain "paced".
//!
//! `cargo bench --bench latency [filter]`; test mode (`cargo test --benches`) runs each once.

mod support;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

use support::*;

fn pingpong_one<C: Chan>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(C::NAME, |b| b.iter_custom(pingpong::<C>));
}

fn pingpong_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    pingpong_one::<Segmq>(&mut g);
    pingpong_one::<SegmqBounded>(&mut g);
    pingpong_one::<CbUnbounded>(&mut g);
    pingpong_one::<CbBounded>(&mut g);
    pingpong_one::<Kanal>(&mut g);
    pingpong_one::<Flume>(&mut g);
    pingpong_one::<AsyncChannel>(&mut g);
    pingpong_one::<StdMpsc>(&mut g);
    pingpong_one::<Actor>(&mut g);
    g.finish();
}

/// Time between paced sends: long enough for the receiver to park between messages.
const INTERVAL: Duration = Duration::from_micros(50);

fn paced_one<C: Chan>(n: u64) {
    let h = paced_latency::<C>(n, INTERVAL);
    println!(
        "paced/{:<20} n={:<6} p50 {:>7.2} us  p99 {:>7.2} us  p99.9 {:>8.2} us  max {:>9.2} us",
        C::NAME,
        h.len(),
        h.value_at_quantile(0.50) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
        h.max() as f64 / 1e3,
    );
}

fn paced_wanted() -> bool {
    let positional: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    positional.is_empty() || positional.iter().any(|a| a.contains("paced"))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    pingpong_group(&mut c);
    c.final_summary();
    if paced_wanted() {
        let n = if criterion_test_mode() { 200 } else { 20_000 };
        println!("paced send-to-receive latency, sender sleeping {INTERVAL:?} between sends:");
        paced_one::<Segmq>(n);
        paced_one::<SegmqBounded>(n);
        paced_one::<CbUnbounded>(n);
        paced_one::<CbBounded>(n);
        paced_one::<Kanal>(n);
        paced_one::<Actor>(n);
    }
}
