//! Durable publish throughput: `Publisher::publish` on a durable `Mq` queue for each
//! `SyncPolicy`, with 1 and 8 publisher threads, beside the in-memory queue, in one run; then
//! the disk bytes per message.
//!
//! ```sh
//! cargo run --release --features durable --example durable_throughput
//! ```
//!
//! Each cell publishes for `SEGMQ_SECS` seconds (default 2) with the queue's workers running
//! (2 workers, a trivial handler, so "done" records are written too). The payload is a
//! `(u64, String)` of about 24 encoded bytes. The log goes to a temporary directory under
//! `SEGMQ_BENCH_DIR` (default `target/`), on the disk the build is on: a RAM disk would make
//! `fsync` free.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use segmq::{Mq, MqError, Msg, QueueOptions, SyncPolicy};

type Payload = (u64, String);

fn payload(i: u64) -> Payload {
    (i, format!("serendipity-{i:010}"))
}

/// Messages per second accepted by `publishers` threads publishing for `secs`.
fn measure(opts: QueueOptions<Payload>, publishers: usize, secs: f64) -> f64 {
    let mq = Mq::new();
    let p = mq
        .register_with("bench", opts, |_: &Msg<Payload>| Ok::<_, MqError>(()))
        .expect("register");
    mq.start().expect("start");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..publishers)
        .map(|t| {
            let p = p.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Check the clock rarely enough not to cost, often enough to stop on time.
                    for _ in 0..16 {
                        p.publish(payload((t as u64) << 40 | n)).expect("publish");
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads.into_iter().map(|t| t.join().expect("join")).sum();
    let elapsed = start.elapsed().as_secs_f64();
    mq.stop();
    total as f64 / elapsed
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

fn main() {
    let secs: f64 = std::env::var("SEGMQ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let base = std::env::var("SEGMQ_BENCH_DIR").unwrap_or_else(|_| "target".into());
    std::fs::create_dir_all(&base).expect("bench dir");
    let policies: [(&str, Option<SyncPolicy>); 4] = [
        ("in-memory (not durable)", None),
        ("durable, Always (group commit)", Some(SyncPolicy::Always)),
        (
            "durable, Interval(10 ms)",
            Some(SyncPolicy::Interval(Duration::from_millis(10))),
        ),
        ("durable, OsBuffered", Some(SyncPolicy::OsBuffered)),
    ];
    println!(
        "publish throughput, {secs} s per cell, {} cores, payload {} bytes encoded\n",
        thread::available_parallelism().map_or(0, |n| n.get()),
        postcard_len()
    );
    println!("| queue | 1 publisher | 8 publishers |");
    println!("|---|---:|---:|");
    for (name, policy) in policies {
        let mut cells = Vec::new();
        for publishers in [1, 8] {
            let tmp = tempfile::tempdir_in(&base).expect("temp dir");
            let opts = QueueOptions::new(2);
            let opts = match policy {
                Some(p) => opts.durable(tmp.path(), p),
                None => opts,
            };
            cells.push(fmt_rate(measure(opts, publishers, secs)));
        }
        println!("| {name} | {} | {} |", cells[0], cells[1]);
    }

    // Disk bytes per message: publish N without consumers, measure the directory.
    let tmp = tempfile::tempdir_in(&base).expect("temp dir");
    let n = 100_000u64;
    let mq = Mq::new();
    let p = mq
        .register_with(
            "bytes",
            QueueOptions::new(1).durable(tmp.path(), SyncPolicy::OsBuffered),
            |_: &Msg<Payload>| Ok::<_, MqError>(()),
        )
        .expect("register");
    let empty = dir_bytes(tmp.path());
    for i in 0..n {
        p.publish(payload(i)).expect("publish");
    }
    let published = dir_bytes(tmp.path()) - empty;
    mq.start().expect("start");
    mq.stop();
    let total = dir_bytes(tmp.path()) - empty;
    println!(
        "\ndisk bytes per message: {:.1} while unhandled (\"published\" record: 17 + payload), \
         {:.1} written in all once handled (+ 17-byte \"done\" record); a segment's bytes are \
         freed when all its messages are done",
        published as f64 / n as f64,
        total as f64 / n as f64
    );
}

fn postcard_len() -> usize {
    // 17 bytes of framing, kind and ID, then the payload: measure through the log itself.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mq = Mq::new();
    let p = mq
        .register_with(
            "len",
            QueueOptions::new(1).durable(tmp.path(), SyncPolicy::OsBuffered),
            |_: &Msg<Payload>| Ok::<_, MqError>(()),
        )
        .expect("register");
    let before = dir_bytes(tmp.path());
    p.publish(payload(1 << 20)).expect("publish");
    (dir_bytes(tmp.path()) - before) as usize - 17
}
