//! Quick core numbers (issue 4): single-thread push+pop cost, and SPSC throughput of
//! `Queue::unbounded` beside crossbeam-channel's unbounded channel, in one run.
//!
//! `cargo bench --bench core`

use std::collections::VecDeque;
use std::hint::black_box;
use std::thread;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BURST: u64 = 10_000;
const SPSC: u64 = 200_000;

fn burst(c: &mut Criterion) {
    let mut g = c.benchmark_group("burst_push_then_pop");
    g.throughput(Throughput::Elements(BURST));
    g.bench_function("segmq", |b| {
        let q = segmq::Queue::unbounded();
        b.iter(|| {
            for i in 0..BURST {
                q.send(i).unwrap();
            }
            let mut sum = 0;
            for _ in 0..BURST {
                sum += q.try_recv().unwrap();
            }
            assert_eq!(black_box(sum), BURST * (BURST - 1) / 2);
        })
    });
    g.bench_function("crossbeam-channel", |b| {
        let (tx, rx) = crossbeam_channel::unbounded();
        b.iter(|| {
            for i in 0..BURST {
                tx.send(i).unwrap();
            }
            let mut sum = 0;
            for _ in 0..BURST {
                sum += rx.try_recv().unwrap();
            }
            assert_eq!(black_box(sum), BURST * (BURST - 1) / 2);
        })
    });
    g.bench_function("VecDeque", |b| {
        let mut q = VecDeque::new();
        b.iter(|| {
            for i in 0..BURST {
                q.push_back(black_box(i));
            }
            let mut sum = 0;
            for _ in 0..BURST {
                sum += q.pop_front().unwrap();
            }
            assert_eq!(black_box(sum), BURST * (BURST - 1) / 2);
        })
    });
    g.finish();
}

fn spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_unbounded");
    g.throughput(Throughput::Elements(SPSC));
    g.sample_size(20);
    g.bench_function(BenchmarkId::from_parameter("segmq"), |b| {
        b.iter(|| {
            let q = segmq::Queue::unbounded();
            let consumer = {
                let q = q.clone();
                thread::spawn(move || q.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)))
            };
            for i in 0..SPSC {
                q.send(i).unwrap();
            }
            q.close();
            assert_eq!(consumer.join().unwrap(), (SPSC, SPSC * (SPSC - 1) / 2));
        })
    });
    g.bench_function(BenchmarkId::from_parameter("crossbeam-channel"), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            let consumer =
                thread::spawn(move || rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)));
            for i in 0..SPSC {
                tx.send(i).unwrap();
            }
            drop(tx);
            assert_eq!(consumer.join().unwrap(), (SPSC, SPSC * (SPSC - 1) / 2));
        })
    });
    g.finish();
}

criterion_group!(benches, burst, spsc);
criterion_main!(benches);
