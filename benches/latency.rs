//! Latency: the wake-up path.
//!
//! * `pingpong` (criterion): round trips between two threads over two queues; each iteration is
//!   one round trip, so criterion's time per iteration is the round-trip time.
//! * `paced` (printed after criterion): one sender sends a timestamp every 5-50 us; one receiver
//!   blocked in `recv` (parked between messages) records send-to-receive time in an
//!   hdrhistogram; p50/p99/p99.9/max and the receiver's CPU use per implementation (see
//!   `support/paced.rs`). Skipped if a filter is given that does not contain "paced".
//!
//! `cargo bench --bench latency [filter]`; test mode (`cargo test --benches`) runs each once.

mod support;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

use support::*;

fn pingpong_one<C: Chan>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(C::NAME, |b| {
        b.iter_custom(|rounds| pingpong::<C>(rounds, Placement::Free).elapsed)
    });
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

fn paced_one<C: Chan>(n: u64) {
    let paced = paced_latency::<C>(n, Placement::Free);
    let h = &paced.hist;
    println!(
        "paced/{:<20} n={:<6} p50 {:>7.2} us  p99 {:>7.2} us  p99.9 {:>8.2} us  max {:>9.2} us  receiver CPU {:>5.1}%",
        C::NAME,
        h.len(),
        h.value_at_quantile(0.50) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
        h.max() as f64 / 1e3,
        paced.receiver_cpu_share() * 100.0,
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
        println!("paced send-to-receive latency, one send every {PACE_MIN:?}-{PACE_MAX:?}:");
        paced_one::<Segmq>(n);
        paced_one::<SegmqBounded>(n);
        paced_one::<CbUnbounded>(n);
        paced_one::<CbBounded>(n);
        paced_one::<Kanal>(n);
        paced_one::<Actor>(n);
    }
}
