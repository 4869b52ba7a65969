//! Throughput: every workload of `support` over every implementation that fits it.
//!
//! `cargo bench --bench throughput [filter]`; in test mode (`cargo test --benches`,
//! `cargo bench -- --test`) each benchmark runs once on a small message count.
//! Each iteration is one whole run (threads started, `n` messages moved, checked), timed with
//! `iter_custom` from the first producer's start to the last receive; the reported throughput
//! is in messages. The actor design moves `slow_n(n)` messages per run (it is ~1000x slower).

mod support;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

use support::*;

/// Messages per iteration.
fn n() -> u64 {
    if criterion_test_mode() {
        10_000
    } else {
        200_000
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

/// One benchmark whose iteration is one run of `f`, moving `n` messages.
fn run(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, n: u64, f: impl Fn(u64) -> Duration) {
    g.throughput(Throughput::Elements(n));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| f(n)).sum())
    });
}

/// Adds `mpmc::<C>(p, c, n)` for each listed implementation.
macro_rules! mpmc_group {
    ($c:expr, $name:literal, $p:expr, $cons:expr; $($chan:ty),+ $(,)?) => {{
        let mut g = group($c, $name);
        $( run(&mut g, <$chan as Chan>::NAME, n_for::<$chan>(n()), |n| mpmc::<$chan>($p, $cons, n, Placement::Free).elapsed); )+
        g.finish();
    }};
}

fn unbounded(c: &mut Criterion) {
    mpmc_group!(c, "spsc", 1, 1;
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, StdMpsc, Actor);
    mpmc_group!(c, "mpsc_4x1", 4, 1;
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, StdMpsc, Actor);
    mpmc_group!(c, "mpmc_2x2", 2, 2;
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, Actor);
    mpmc_group!(c, "mpmc_4x4", 4, 4;
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, Actor);
}

fn bounded(c: &mut Criterion) {
    mpmc_group!(c, "bounded1024_spsc", 1, 1;
        SegmqBounded, CbBounded, KanalBounded, FlumeBounded, AsyncChannelBounded, StdSync, Actor);
    mpmc_group!(c, "bounded1024_mpmc_2x2", 2, 2;
        SegmqBounded, CbBounded, KanalBounded, FlumeBounded, AsyncChannelBounded, Actor);
}

/// Adds `burst::<C>(n)` for each listed implementation.
macro_rules! burst_runs {
    ($g:expr; $($chan:ty),+ $(,)?) => {
        $( run($g, <$chan as Chan>::NAME, n_for::<$chan>(n()), burst::<$chan>); )+
    };
}

fn burst_group(c: &mut Criterion) {
    let mut g = group(c, "burst");
    run(&mut g, "VecDeque", n(), burst_vecdeque);
    burst_runs!(&mut g; Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, StdMpsc, Actor);
    g.finish();
}

/// Adds `async_mpmc::<C>(rt, p, c, n)` for each listed implementation.
macro_rules! async_group {
    ($c:expr, $rt:expr, $name:literal, $p:expr, $cons:expr; $($chan:ty),+ $(,)?) => {{
        let mut g = group($c, $name);
        $( run(&mut g, <$chan as AsyncChan>::NAME, n(), |n| async_mpmc::<$chan>($rt, $p, $cons, n).elapsed); )+
        g.finish();
    }};
}

fn async_groups(c: &mut Criterion) {
    let rt = runtime();
    async_group!(c, &rt, "async_spsc", 1, 1;
        SegmqAsync, KanalAsync, AsyncChannelAsync, FlumeAsync, TokioMpsc);
    async_group!(c, &rt, "async_mpsc_4x1", 4, 1;
        SegmqAsync, KanalAsync, AsyncChannelAsync, FlumeAsync, TokioMpsc);
    async_group!(c, &rt, "async_mpmc_2x2", 2, 2;
        SegmqAsync, KanalAsync, AsyncChannelAsync, FlumeAsync);
}

fn mq(c: &mut Criterion) {
    let mut g = group(c, "mq_dispatch");
    for conc in [1, 4] {
        run(&mut g, &format!("actor MQ c{conc}"), slow_n(n()), |n| {
            actor_mq(conc, n).elapsed
        });
        run(&mut g, &format!("segmq Queue + {conc} threads"), n(), |n| {
            segmq_pool(conc, n).elapsed
        });
        run(&mut g, &format!("segmq Mq c{conc}"), n(), |n| {
            segmq_mq(conc, n).elapsed
        });
    }
    g.finish();
}

/// `send_batch`/`recv_batch` of [`BATCH`] (64) against one `send`/`recv` per message, on the
/// same queue flavour with the same message count and harness: 1:1 and 2:2, unbounded and
/// bounded(1024). Names: `<flavour> <p>x<c> <single|batch64>`.
fn batch(c: &mut Criterion) {
    let mut g = group(c, "batch64");
    for (p, cons) in [(1, 1), (2, 2)] {
        for flavour in Flavour::ALL {
            let name = format!("{} {p}x{cons}", flavour.name());
            run(&mut g, &format!("{name} single"), n(), |n| {
                segmq_single(flavour, p, cons, n, Placement::Free).elapsed
            });
            run(&mut g, &format!("{name} batch{BATCH}"), n(), |n| {
                segmq_batch(flavour, p, cons, BATCH, n, Placement::Free).elapsed
            });
        }
    }
    g.finish();
}

/// The checks must bite: a run that loses or duplicates a message must panic.
fn checks_bite() {
    let lost = Tally::of_range(9);
    // 4 received twice and 3 never: the count is right, the checksum is not.
    let mut duplicated = Tally::of_range(10);
    duplicated.sum = duplicated.sum.wrapping_sub(mix(3)).wrapping_add(mix(4));
    for bad in [lost, duplicated] {
        let caught = std::panic::catch_unwind(|| bad.check(10, "deliberately wrong"));
        assert!(caught.is_err(), "Tally::check accepted a wrong tally");
    }
}

fn main() {
    if criterion_test_mode() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        checks_bite();
        std::panic::set_hook(hook);
    }
    let mut c = Criterion::default().configure_from_args();
    unbounded(&mut c);
    bounded(&mut c);
    batch(&mut c);
    burst_group(&mut c);
    async_groups(&mut c);
    mq(&mut c);
    c.final_summary();
}
