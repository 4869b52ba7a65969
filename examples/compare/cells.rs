//! The catalogue: every cell of the report (a row, i.e. a workload, and a column, i.e. an
//! implementation) and how one run of it is measured. The workloads themselves live in
//! `benches/support` (shared with the criterion benches); a cell turns one [`Run`] or
//! [`Paced`] into a [`Sample`] of named metrics.
//!
//! To add a comparator to a row, add one line to that row's list; to add an opt-in segmq wait
//! strategy to the latency table, add a `SegmqWait` variant in `benches/support/paced.rs` and
//! one line in [`latency_cells`].

use crate::child::Sample;
use crate::mode::Sizes;
use crate::support::*;

/// Metric names in a [`Sample`].
pub mod metric {
    /// Throughput, million messages per second.
    pub const MPS: &str = "mps";
    /// Process CPU (user + sys) per message (or per round trip), nanoseconds.
    pub const CPU_NS: &str = "cpu_ns";
    /// Wall time per message (burst) or per round trip (ping-pong), nanoseconds.
    pub const NS: &str = "ns";
    /// Resident memory with the empty queue, bytes.
    pub const RSS_EMPTY: &str = "rss_empty";
    /// Resident memory after the burst is drained (queue still alive), bytes.
    pub const RSS_DRAINED: &str = "rss_drained";
    /// Resident bytes after the drain and `malloc_trim(0)` (glibc only): what the queue itself
    /// still holds.
    pub const RSS_TRIMMED: &str = "rss_trimmed";
    /// Latency percentiles, nanoseconds.
    pub const P50: &str = "p50";
    /// 99th percentile.
    pub const P99: &str = "p99";
    /// 99.9th percentile.
    pub const P999: &str = "p999";
    /// The paced receiver's CPU time over its wall time, percent.
    pub const RECV_CPU_PCT: &str = "recv_cpu_pct";
}

/// Which table a cell belongs to (and so which metrics it reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// M msg/s and CPU ns per message.
    Throughput,
    /// segmq batch-vs-single (M msg/s, CPU ns per message).
    Batch,
    /// `Mq` dispatch vs the bare queue (M msg/s, CPU ns per message).
    Mq,
    /// ns per message and resident memory.
    Burst,
    /// ns and CPU ns per round trip.
    PingPong,
    /// p50/p99/p99.9 and the receiver's CPU use.
    Paced,
}

/// Column names (implementations).
pub mod col {
    pub const SEGMQ: &str = "segmq";
    pub const SEGMQ_B: &str = "segmq bounded(1024)";
    pub const CB: &str = "crossbeam";
    pub const CB_B: &str = "crossbeam bounded(1024)";
    pub const KANAL: &str = "kanal";
    pub const KANAL_B: &str = "kanal bounded(1024)";
    pub const FLUME: &str = "flume";
    pub const RTRB: &str = "rtrb";
    pub const VECDEQUE: &str = "VecDeque";
    pub const DISRUPTOR: &str = "disruptor (BusySpin)";
    pub const MQ: &str = "segmq Mq";
    pub const BARE: &str = "bare segmq Queue";
    pub const ACTOR_MQ: &str = "actor MQ (article)";
    pub const SINGLE: &str = "one call per message";
    pub const BATCH64: &str = "send_batch + recv_batch of 64";
}

/// Row names of the throughput table, in order.
pub mod row {
    pub const SPSC: &str = "SPSC";
    pub const MPSC: &str = "MPSC 4:1";
    pub const MPMC22: &str = "MPMC 2:2";
    pub const MPMC44: &str = "MPMC 4:4 (oversubscribed)";
    pub const ASYNC_SPSC: &str = "async SPSC";
    pub const ASYNC_MPSC: &str = "async MPSC 4:1";
    pub const ASYNC_MPMC22: &str = "async MPMC 2:2";
    pub const BURST: &str = "burst";
    pub const PINGPONG: &str = "ping-pong";
    pub const PACED: &str = "paced latency";
    pub const MQ1: &str = "Mq dispatch, 1 thread";
    pub const MQ4: &str = "Mq dispatch, 4 threads";
    pub const BATCH_SPSC: &str = "batch SPSC";
    pub const BATCH_SPSC_B: &str = "batch SPSC bounded(1024)";
    pub const BATCH_MPMC22: &str = "batch MPMC 2:2";
    pub const BATCH_MPMC22_B: &str = "batch MPMC 2:2 bounded(1024)";
}

/// One cell: a row (workload), a column (implementation) and one run of it.
pub struct Cell {
    pub group: Group,
    pub row: &'static str,
    pub column: &'static str,
    pub run: fn(&Sizes) -> Sample,
}

impl Cell {
    /// `row/column`: the child's argument and what filters match.
    pub fn id(&self) -> String {
        format!("{}/{}", self.row, self.column)
    }
}

/// Every cell, rows in report order, columns in table order within a row.
pub fn all() -> Vec<Cell> {
    let mut cells = Vec::new();
    throughput_cells(&mut cells);
    asynchronous_cells(&mut cells);
    burst_cells(&mut cells);
    pingpong_cells(&mut cells);
    latency_cells(&mut cells);
    mq_cells(&mut cells);
    batch_cells(&mut cells);
    cells
}

/// Two-party workloads run pinned (sender CPU 0, receiver CPU 1), the others unpinned.
fn placement(producers: usize, consumers: usize) -> Placement {
    if producers == 1 && consumers == 1 {
        Placement::Pinned
    } else {
        Placement::Free
    }
}

/// M msg/s and CPU ns per message of a run of `n` messages.
fn throughput_sample(n: u64, run: Run) -> Sample {
    Sample::of(&[
        (metric::MPS, n as f64 / run.elapsed.as_secs_f64() / 1e6),
        (metric::CPU_NS, run.cpu.as_nanos() as f64 / n as f64),
    ])
}

/// Pushes one cell per `column => run` pair of a row.
macro_rules! row {
    ($cells:ident, $group:expr, $row:expr; $($column:expr => $run:expr),+ $(,)?) => {
        $( $cells.push(Cell { group: $group, row: $row, column: $column, run: $run }); )+
    };
}

/// One sync throughput row of `$p` producers and `$c` consumers over the listed `Chan`s.
macro_rules! sync_row {
    ($cells:ident, $row:expr, $p:literal, $c:literal; $($column:expr => $chan:ty),+ $(,)?) => {
        row!($cells, Group::Throughput, $row; $(
            $column => |s| throughput_sample(s.n, mpmc::<$chan>($p, $c, s.n, placement($p, $c)))
        ),+)
    };
}

fn throughput_cells(cells: &mut Vec<Cell>) {
    use col::*;
    sync_row!(cells, row::SPSC, 1, 1;
        SEGMQ => Segmq, SEGMQ_B => SegmqBounded, CB => CbUnbounded, CB_B => CbBounded,
        KANAL => Kanal, KANAL_B => KanalBounded, FLUME => Flume);
    row!(cells, Group::Throughput, row::SPSC;
        RTRB => |s| throughput_sample(s.n, rtrb_spsc(s.n, placement(1, 1))));
    sync_row!(cells, row::MPSC, 4, 1;
        SEGMQ => Segmq, SEGMQ_B => SegmqBounded, CB => CbUnbounded, CB_B => CbBounded,
        KANAL => Kanal, KANAL_B => KanalBounded, FLUME => Flume);
    sync_row!(cells, row::MPMC22, 2, 2;
        SEGMQ => Segmq, SEGMQ_B => SegmqBounded, CB => CbUnbounded, CB_B => CbBounded,
        KANAL => Kanal, KANAL_B => KanalBounded, FLUME => Flume);
    sync_row!(cells, row::MPMC44, 4, 4;
        SEGMQ => Segmq, SEGMQ_B => SegmqBounded, CB => CbUnbounded, CB_B => CbBounded,
        KANAL => Kanal, KANAL_B => KanalBounded, FLUME => Flume);
}

/// One async row (tokio, 2 workers, a runtime per run) over the listed `AsyncChan`s.
macro_rules! async_row {
    ($cells:ident, $row:expr, $p:literal, $c:literal; $($column:expr => $chan:ty),+ $(,)?) => {
        row!($cells, Group::Throughput, $row; $(
            $column => |s| throughput_sample(s.n, async_mpmc::<$chan>(&runtime(), $p, $c, s.n))
        ),+)
    };
}

fn asynchronous_cells(cells: &mut Vec<Cell>) {
    use col::*;
    async_row!(cells, row::ASYNC_SPSC, 1, 1;
        SEGMQ => SegmqAsync, SEGMQ_B => SegmqBoundedAsync, KANAL => KanalAsync,
        KANAL_B => KanalBoundedAsync, FLUME => FlumeAsync);
    async_row!(cells, row::ASYNC_MPSC, 4, 1;
        SEGMQ => SegmqAsync, SEGMQ_B => SegmqBoundedAsync, KANAL => KanalAsync,
        KANAL_B => KanalBoundedAsync, FLUME => FlumeAsync);
    async_row!(cells, row::ASYNC_MPMC22, 2, 2;
        SEGMQ => SegmqAsync, SEGMQ_B => SegmqBoundedAsync, KANAL => KanalAsync,
        KANAL_B => KanalBoundedAsync, FLUME => FlumeAsync);
}

/// A burst of `C` with the resident memory read around it (outside the timed part).
fn burst_sample<C: Chan>(s: &Sizes) -> Sample {
    let n = s.burst_n;
    let rss = || os::resident_bytes().unwrap_or(0) as f64;
    let (mut empty, mut drained, mut trimmed) = (0.0, 0.0, None);
    let elapsed = burst_probed::<C>(
        n,
        || empty = rss(),
        || (),
        || {
            drained = rss();
            trimmed = os::release_free_heap().then(rss);
        },
    );
    let mut sample = vec![
        (metric::NS, elapsed.as_nanos() as f64 / n as f64),
        (metric::RSS_EMPTY, empty),
        (metric::RSS_DRAINED, drained),
    ];
    sample.extend(trimmed.map(|t| (metric::RSS_TRIMMED, t)));
    Sample::of(&sample)
}

fn burst_cells(cells: &mut Vec<Cell>) {
    use col::*;
    row!(cells, Group::Burst, row::BURST;
    SEGMQ => burst_sample::<Segmq>,
    CB => burst_sample::<CbUnbounded>,
    KANAL => burst_sample::<Kanal>,
    FLUME => burst_sample::<Flume>,
    VECDEQUE => |s| Sample::of(&[(
        metric::NS,
        burst_vecdeque(s.burst_n).as_nanos() as f64 / s.burst_n as f64,
    )]));
}

/// ns and CPU ns per round trip of `C`, pinned.
fn pingpong_sample<C: Chan>(s: &Sizes) -> Sample {
    let run = pingpong::<C>(s.rounds, Placement::Pinned);
    let per = |d: std::time::Duration| d.as_nanos() as f64 / s.rounds as f64;
    Sample::of(&[
        (metric::NS, per(run.elapsed)),
        (metric::CPU_NS, per(run.cpu)),
    ])
}

fn pingpong_cells(cells: &mut Vec<Cell>) {
    use col::*;
    row!(cells, Group::PingPong, row::PINGPONG;
        SEGMQ => pingpong_sample::<Segmq>,
        SEGMQ_B => pingpong_sample::<SegmqBounded>,
        CB => pingpong_sample::<CbUnbounded>,
        CB_B => pingpong_sample::<CbBounded>,
        KANAL => pingpong_sample::<Kanal>);
}

/// Percentiles and receiver CPU of a paced run.
fn paced_sample(p: Paced) -> Sample {
    let q = |x: f64| p.hist.value_at_quantile(x) as f64;
    Sample::of(&[
        (metric::P50, q(0.50)),
        (metric::P99, q(0.99)),
        (metric::P999, q(0.999)),
        (metric::RECV_CPU_PCT, p.receiver_cpu_share() * 100.0),
    ])
}

/// The column name of segmq's paced row with a wait strategy.
pub fn segmq_wait_column(wait: SegmqWait) -> &'static str {
    match wait {
        SegmqWait::Default => "segmq (default wait)",
        SegmqWait::BusySpin => "segmq (busy spin)",
    }
}

fn latency_cells(cells: &mut Vec<Cell>) {
    use col::*;
    row!(cells, Group::Paced, row::PACED;
        // The segmq wait strategies: one line per strategy (see `SegmqWait`).
        segmq_wait_column(SegmqWait::Default) =>
            |s| paced_sample(segmq_paced(SegmqWait::Default, false, s.paced_n, Placement::Pinned)),
        segmq_wait_column(SegmqWait::BusySpin) =>
            |s| paced_sample(segmq_paced(SegmqWait::BusySpin, false, s.paced_n, Placement::Pinned)),
        CB => |s| paced_sample(paced_latency::<CbUnbounded>(s.paced_n, Placement::Pinned)),
        KANAL => |s| paced_sample(paced_latency::<Kanal>(s.paced_n, Placement::Pinned)),
        DISRUPTOR => |s| paced_sample(disruptor_paced(s.paced_n, Placement::Pinned)));
}

fn mq_cells(cells: &mut Vec<Cell>) {
    use col::*;
    row!(cells, Group::Mq, row::MQ1;
        MQ => |s| throughput_sample(s.n, segmq_mq(1, s.n)),
        BARE => |s| throughput_sample(s.n, segmq_pool(1, s.n)),
        ACTOR_MQ => |s| throughput_sample(slow_n(s.n), actor_mq(1, slow_n(s.n))));
    row!(cells, Group::Mq, row::MQ4;
        MQ => |s| throughput_sample(s.n, segmq_mq(4, s.n)),
        BARE => |s| throughput_sample(s.n, segmq_pool(4, s.n)),
        ACTOR_MQ => |s| throughput_sample(slow_n(s.n), actor_mq(4, slow_n(s.n))));
}

/// One batch row: segmq `flavour`, `$p`:`$c`, one call per message against batches of 64.
macro_rules! batch_row {
    ($cells:ident, $row:expr, $flavour:expr, $p:literal, $c:literal) => {
        row!($cells, Group::Batch, $row;
            col::SINGLE => |s| throughput_sample(
                s.batch_n, segmq_single($flavour, $p, $c, s.batch_n, placement($p, $c))),
            col::BATCH64 => |s| throughput_sample(
                s.batch_n, segmq_batch($flavour, $p, $c, BATCH, s.batch_n, placement($p, $c))))
    };
}

fn batch_cells(cells: &mut Vec<Cell>) {
    batch_row!(cells, row::BATCH_SPSC, Flavour::Unbounded, 1, 1);
    batch_row!(cells, row::BATCH_SPSC_B, Flavour::Bounded, 1, 1);
    batch_row!(cells, row::BATCH_MPMC22, Flavour::Unbounded, 2, 2);
    batch_row!(cells, row::BATCH_MPMC22_B, Flavour::Bounded, 2, 2);
}
