//! Whether the consumer of the compare's async SPSC row runs beside its producer, or after it.
//!
//! `cargo run --release --example async_overlap [runs]` (default 15 per implementation)
//!
//! The workload is the compare's "async SPSC" row: a tokio runtime with 2 workers, one consumer
//! task spawned first, then one producer task that sends 2,000,000 `u64` without ever yielding
//! (segmq's unbounded `send` is synchronous; kanal's `send().await` on an unbounded channel is
//! ready at once). A consumer that finds the queue empty and waits is woken by the producer's
//! send, from the producer's worker thread, and tokio puts a task woken from a worker into that
//! worker's LIFO slot, which the other worker cannot steal. Such a consumer runs only when the
//! producer's task ends: the run is a burst (push everything, then pop everything on one
//! thread), not a pipeline.
//!
//! Each run is a fresh process (this example re-executes itself), implementations interleaved
//! run by run. A run counts as *serial* when the consumer received the middle message on the
//! producer's thread after the producer's task returned. Printed per implementation: serial
//! runs, and the median throughput of the serial and of the overlapped runs.

#[path = "../benches/support/mod.rs"]
mod support;

use std::process::Command;
use std::thread::{self, ThreadId};
use std::time::Instant;

use support::{runtime, AsyncChan, KanalAsync, SegmqAsync};

const N: u64 = 2_000_000;
const IMPLEMENTATIONS: [&str; 2] = ["segmq", "kanal"];

/// What one run measured.
struct Sample {
    mps: f64,
    serial: bool,
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--child") => {
            let which = args.next().expect("--child needs an implementation");
            let s = child(&which);
            println!("{} {}", s.mps, s.serial);
        }
        runs => {
            let runs: usize = runs.map_or(15, |r| r.parse().expect("runs must be a number"));
            parent(runs);
        }
    }
}

/// Runs `runs` fresh processes per implementation, interleaved, and prints the summary.
fn parent(runs: usize) {
    let exe = std::env::current_exe().expect("path of this example");
    let mut samples: Vec<Vec<Sample>> = IMPLEMENTATIONS.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for (which, out) in IMPLEMENTATIONS.iter().zip(&mut samples) {
            let output = Command::new(&exe)
                .args(["--child", which])
                .output()
                .expect("re-execute this example");
            assert!(output.status.success(), "{which} run failed");
            let text = String::from_utf8(output.stdout).expect("utf-8 output");
            let (mps, serial) = text.trim().split_once(' ').expect("two fields");
            out.push(Sample {
                mps: mps.parse().expect("throughput"),
                serial: serial.parse().expect("serial flag"),
            });
        }
    }
    println!("async SPSC, tokio 2 workers, {N} u64 per run, {runs} fresh processes each");
    println!("| implementation | serial runs | M msg/s, serial (median) | M msg/s, overlapped (median) |");
    println!("|---|---:|---:|---:|");
    for (which, s) in IMPLEMENTATIONS.iter().zip(&samples) {
        let serial: Vec<f64> = s.iter().filter(|s| s.serial).map(|s| s.mps).collect();
        let overlapped: Vec<f64> = s.iter().filter(|s| !s.serial).map(|s| s.mps).collect();
        println!(
            "| {which} | {} of {} | {} | {} |",
            serial.len(),
            s.len(),
            median(serial),
            median(overlapped)
        );
    }
}

/// The median, or "-" for no samples.
fn median(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f64::total_cmp);
    format!("{:.1}", v[v.len() / 2])
}

/// One run of `which`, with the compare's own `AsyncChan` calls.
fn child(which: &str) -> Sample {
    match which {
        "segmq" => spsc::<SegmqAsync>(),
        "kanal" => spsc::<KanalAsync>(),
        other => panic!("unknown implementation {other:?}"),
    }
}

/// The compare's async SPSC run (`benches/support/async_chans.rs`, `async_mpmc` with 1:1), plus
/// where and when the consumer received the middle message.
fn spsc<C: AsyncChan>() -> Sample {
    let runtime = runtime();
    runtime.block_on(async {
        let (tx, mut rx) = C::new();
        let start = Instant::now();
        let consumer = tokio::spawn(async move {
            let (mut sum, mut middle) = (0u64, None);
            while let Some(v) = C::recv(&mut rx).await {
                sum += v;
                if v == N / 2 {
                    middle = Some((Instant::now(), thread::current().id()));
                }
            }
            (sum, middle.expect("the middle message arrived"))
        });
        let producer = tokio::spawn(async move {
            for v in 0..N {
                C::send(&tx, v).await;
            }
            C::close(tx);
            (Instant::now(), thread::current().id())
        });
        let (producer_end, producer_thread): (Instant, ThreadId) =
            producer.await.expect("producer task");
        let (sum, (middle_at, middle_thread)) = consumer.await.expect("consumer task");
        let elapsed = start.elapsed();
        assert_eq!(sum, N * (N - 1) / 2, "every message exactly once");
        Sample {
            mps: N as f64 / elapsed.as_secs_f64() / 1e6,
            serial: middle_thread == producer_thread && middle_at >= producer_end,
        }
    })
}
