//! Side-by-side comparison of segmq with the article's actor design and the best Rust channels.
//!
//! ```sh
//! cargo run --release --example compare [--quick|--full] [filter...]
//! ```
//!
//! Runs the main workloads of `benches/support` (shared with the criterion benches), takes the
//! median of several short runs per cell, prints one table per workload with ratios against the
//! baselines (the actor design, crossbeam-channel, kanal; `x2.0` = twice as fast as that
//! baseline, for throughput and latency alike), and writes `target/segmq-compare/report.md` and
//! `target/segmq-compare/throughput.svg`. Each `filter` keeps the workloads (or `workload/impl`
//! cells) whose name contains it, e.g. `spsc burst/segmq`. The default mode takes well under a minute on 2 cores.
//!
//! Every run checks count and checksum of what was received and panics on a mismatch.
//! A counting global allocator (switched on only around the burst memory probes) reports the
//! memory an unbounded queue holds at the peak of a burst and keeps after draining it.

#[path = "../benches/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

/// Forwards to `System`; while `COUNTING` is on, tracks live bytes and their high-water mark.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

impl CountingAlloc {
    #[inline]
    fn grew(delta: isize) {
        if COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call forwards to `System` with the same arguments; the counters have no effect
// on the memory returned.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        Self::grew(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Memory held by one unbounded queue around a burst, in bytes.
#[derive(Debug, Clone, Copy)]
struct BurstMemory {
    empty: isize,
    peak: isize,
    after_drain: isize,
}

fn burst_memory<C: Chan>(n: u64) -> BurstMemory {
    let base = LIVE.load(Ordering::Relaxed);
    let mut empty = 0;
    let mut after_drain = 0;
    COUNTING.store(true, Ordering::Relaxed);
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    burst_probed::<C>(
        n,
        || empty = LIVE.load(Ordering::Relaxed),
        || (),
        || after_drain = LIVE.load(Ordering::Relaxed),
    );
    let peak = PEAK.load(Ordering::Relaxed);
    COUNTING.store(false, Ordering::Relaxed);
    LIVE.store(base, Ordering::Relaxed);
    BurstMemory {
        empty,
        peak,
        after_drain,
    }
}

// ---------------------------------------------------------------------------------------------
// Modes and results
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    /// Runs per cell (the median is reported).
    runs: usize,
    /// Messages per throughput run.
    n: u64,
    /// Messages per burst.
    burst_n: u64,
    /// Messages per batch64 run (more than `n`: batched runs are short, and noisy when short).
    batch_n: u64,
    /// Round trips per ping-pong run.
    rounds: u64,
    /// Messages per paced-latency run.
    paced_n: u64,
}

const QUICK: Mode = Mode {
    name: "quick",
    runs: 3,
    n: 20_000,
    burst_n: 100_000,
    batch_n: 100_000,
    rounds: 2_000,
    paced_n: 2_000,
};
const DEFAULT: Mode = Mode {
    name: "default",
    runs: 5,
    n: 100_000,
    burst_n: 1_000_000,
    batch_n: 500_000,
    rounds: 10_000,
    paced_n: 5_000,
};
const FULL: Mode = Mode {
    name: "full",
    runs: 9,
    n: 1_000_000,
    burst_n: 1_000_000,
    batch_n: 2_000_000,
    rounds: 50_000,
    paced_n: 50_000,
};

/// Time between paced sends.
const PACE: Duration = Duration::from_micros(50);

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Million messages per second (higher is better).
    Mps,
    /// Nanoseconds per message (lower is better).
    NsPerMsg,
    /// Microseconds per round trip (lower is better).
    UsPerRoundTrip,
    /// p99 latency in microseconds (lower is better).
    UsP99,
}

impl Unit {
    fn header(self) -> &'static str {
        match self {
            Unit::Mps => "M msg/s",
            Unit::NsPerMsg => "ns/msg",
            Unit::UsPerRoundTrip => "us/round trip",
            Unit::UsP99 => "p99 us",
        }
    }
    /// How many times better `value` is than `base`.
    fn ratio(self, value: f64, base: f64) -> f64 {
        match self {
            Unit::Mps => value / base,
            Unit::NsPerMsg | Unit::UsPerRoundTrip | Unit::UsP99 => base / value,
        }
    }
}

struct Row {
    name: String,
    value: f64,
    /// Free-form extra columns (memory, percentiles).
    extra: Vec<String>,
}

struct Section {
    title: String,
    unit: Unit,
    baselines: Vec<&'static str>,
    extra_headers: Vec<&'static str>,
    rows: Vec<Row>,
}

impl Section {
    fn new(title: &str, unit: Unit, baselines: &[&'static str]) -> Self {
        Self {
            title: title.to_owned(),
            unit,
            baselines: baselines.to_vec(),
            extra_headers: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn base_value(&self, name: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.name == name).map(|r| r.value)
    }

    /// Markdown table (also printed to the terminal).
    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {}\n", self.title);
        let mut header = format!("| implementation | {} |", self.unit.header());
        let mut rule = String::from("|---|---:|");
        for b in &self.baselines {
            let _ = write!(header, " vs {b} |");
            rule.push_str("---:|");
        }
        for e in &self.extra_headers {
            let _ = write!(header, " {e} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        for r in &self.rows {
            let name = if r.name.starts_with("segmq") {
                format!("**{}**", r.name)
            } else {
                r.name.clone()
            };
            let value = match self.unit {
                Unit::Mps => format!("{:.2}", r.value),
                Unit::NsPerMsg => format!("{:.1}", r.value),
                Unit::UsPerRoundTrip | Unit::UsP99 => format!("{:.2}", r.value),
            };
            let _ = write!(s, "| {name} | {value} |");
            for b in &self.baselines {
                match self.base_value(b) {
                    Some(base) => {
                        let _ = write!(s, " x{:.2} |", self.unit.ratio(r.value, base));
                    }
                    None => s.push_str(" - |"),
                }
            }
            for e in &r.extra {
                let _ = write!(s, " {e} |");
            }
            s.push('\n');
        }
        s
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Runner {
    mode: Mode,
    /// Keep what matches any of these (all if empty).
    filters: Vec<String>,
    sections: Vec<Section>,
    started: Instant,
}

impl Runner {
    fn wants_section(&self, title: &str) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| title.contains(f.as_str()) || f.starts_with(&format!("{title}/")))
    }

    fn wants_cell(&self, title: &str, name: &str) -> bool {
        let cell = format!("{title}/{name}");
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| title.contains(f.as_str()) || cell.contains(f.as_str()))
    }

    /// Median of `runs` calls of `f`, or `None` if filtered out.
    fn measure(
        &self,
        title: &str,
        name: &str,
        mut f: impl FnMut() -> Duration,
    ) -> Option<Duration> {
        if !self.wants_cell(title, name) {
            return None;
        }
        f(); // warm-up run, not counted (also checked)
        let d = median((0..self.mode.runs).map(|_| f()).collect());
        eprintln!(
            "  [{:>5.1}s] {title}/{name}: {:?}",
            self.started.elapsed().as_secs_f64(),
            d
        );
        Some(d)
    }

    fn push(&mut self, section: Section) {
        if !section.rows.is_empty() {
            println!("{}", section.markdown());
            self.sections.push(section);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workload sections
// ---------------------------------------------------------------------------------------------

/// Adds one throughput row for `mpmc::<C>`.
fn mpmc_row<C: Chan>(r: &Runner, s: &mut Section, p: usize, c: usize) {
    let n = n_for::<C>(r.mode.n);
    if let Some(d) = r.measure(&s.title, C::NAME, || mpmc::<C>(p, c, n)) {
        s.rows.push(Row {
            name: C::NAME.to_owned(),
            value: n as f64 / d.as_secs_f64() / 1e6,
            extra: Vec::new(),
        });
    }
}

macro_rules! mpmc_section {
    ($r:expr, $title:expr, $p:expr, $c:expr, [$($base:ty),*]; $($chan:ty),+ $(,)?) => {{
        let title = $title;
        if $r.wants_section(title) {
            let mut s = Section::new(title, Unit::Mps, &[$(<$base as Chan>::NAME),*]);
            $( mpmc_row::<$chan>(&$r, &mut s, $p, $c); )+
            $r.push(s);
        }
    }};
}

fn throughput(r: &mut Runner) {
    mpmc_section!(r, "spsc", 1, 1, [Actor, CbUnbounded, Kanal];
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, StdMpsc, Actor);
    mpmc_section!(r, "mpsc_4x1", 4, 1, [Actor, CbUnbounded, Kanal];
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, StdMpsc, Actor);
    mpmc_section!(r, "mpmc_2x2", 2, 2, [Actor, CbUnbounded, Kanal];
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, Actor);
    mpmc_section!(r, "mpmc_4x4", 4, 4, [Actor, CbUnbounded, Kanal];
        Segmq, CbUnbounded, Kanal, Flume, AsyncChannel, Actor);
    mpmc_section!(r, "bounded1024_spsc", 1, 1, [Actor, CbBounded, KanalBounded];
        SegmqBounded, CbBounded, KanalBounded, FlumeBounded, AsyncChannelBounded, StdSync, Actor);
    mpmc_section!(r, "bounded1024_mpmc_2x2", 2, 2, [Actor, CbBounded, KanalBounded];
        SegmqBounded, CbBounded, KanalBounded, FlumeBounded, AsyncChannelBounded, Actor);
}

/// A ratio of `value` to the row `name` of the (earlier) table `title`, or "-" if that table or
/// row was not run (filtered out).
fn ratio_to(r: &Runner, title: &str, name: &str, value: f64) -> String {
    r.sections
        .iter()
        .find(|s| s.title == title)
        .and_then(|s| s.base_value(name).map(|base| s.unit.ratio(value, base)))
        .map_or_else(|| "-".to_owned(), |x| format!("x{x:.2}"))
}

/// segmq `send_batch`/`recv_batch` of [`BATCH`] against one call per message, same flavour,
/// same message count, same harness; the ratios to the actor and crossbeam-channel come from
/// the matching single-call table above (same workload, run earlier).
fn batch_section(r: &mut Runner) {
    let title = "batch64";
    if !r.wants_section(title) {
        return;
    }
    let n = r.mode.batch_n;
    let mut s = Section::new(title, Unit::Mps, &[]);
    s.extra_headers = vec![
        "batch vs single",
        "vs actor (same workload)",
        "vs crossbeam (same workload)",
    ];
    for (p, c, workload) in [(1, 1, "spsc"), (2, 2, "mpmc_2x2")] {
        for flavour in Flavour::ALL {
            let (peers, cb) = match flavour {
                Flavour::Unbounded => (workload.to_owned(), CbUnbounded::NAME),
                Flavour::Bounded => (format!("bounded1024_{workload}"), CbBounded::NAME),
            };
            let stem = format!("{} {p}x{c}", flavour.name());
            let single_name = format!("{stem} single");
            let batch_name = format!("{stem} batch{BATCH}");
            let single = r
                .measure(title, &single_name, || segmq_single(flavour, p, c, n))
                .map(|d| n as f64 / d.as_secs_f64() / 1e6);
            let batch = r
                .measure(title, &batch_name, || segmq_batch(flavour, p, c, BATCH, n))
                .map(|d| n as f64 / d.as_secs_f64() / 1e6);
            let peer_ratios = |v: f64| {
                [
                    ratio_to(r, &peers, Actor::NAME, v),
                    ratio_to(r, &peers, cb, v),
                ]
            };
            if let Some(v) = single {
                let [actor, cb] = peer_ratios(v);
                s.rows.push(Row {
                    name: single_name,
                    value: v,
                    extra: vec!["-".into(), actor, cb],
                });
            }
            if let Some(v) = batch {
                let speedup = single.map_or_else(|| "-".to_owned(), |b| format!("x{:.2}", v / b));
                let [actor, cb] = peer_ratios(v);
                s.rows.push(Row {
                    name: batch_name,
                    value: v,
                    extra: vec![speedup, actor, cb],
                });
            }
        }
    }
    s.title = format!(
        "batch64 (segmq send_batch/recv_batch of {BATCH} vs one call per message, {n} messages)"
    );
    r.push(s);
}

fn async_row<C: AsyncChan>(
    r: &Runner,
    s: &mut Section,
    rt: &tokio::runtime::Runtime,
    p: usize,
    c: usize,
) {
    let n = r.mode.n;
    if let Some(d) = r.measure(&s.title, C::NAME, || async_mpmc::<C>(rt, p, c, n)) {
        s.rows.push(Row {
            name: C::NAME.to_owned(),
            value: n as f64 / d.as_secs_f64() / 1e6,
            extra: Vec::new(),
        });
    }
}

fn asynchronous(r: &mut Runner) {
    let bases = [KanalAsync::NAME, AsyncChannelAsync::NAME];
    let want_spsc = r.wants_section("async_spsc");
    let want_mpmc = r.wants_section("async_mpmc_2x2");
    if !want_spsc && !want_mpmc {
        return;
    }
    let rt = runtime();
    if want_spsc {
        let mut s = Section::new("async_spsc", Unit::Mps, &bases);
        async_row::<SegmqAsync>(r, &mut s, &rt, 1, 1);
        async_row::<KanalAsync>(r, &mut s, &rt, 1, 1);
        async_row::<AsyncChannelAsync>(r, &mut s, &rt, 1, 1);
        async_row::<FlumeAsync>(r, &mut s, &rt, 1, 1);
        async_row::<TokioMpsc>(r, &mut s, &rt, 1, 1);
        r.push(s);
    }
    if want_mpmc {
        let mut s = Section::new("async_mpmc_2x2", Unit::Mps, &bases);
        async_row::<SegmqAsync>(r, &mut s, &rt, 2, 2);
        async_row::<KanalAsync>(r, &mut s, &rt, 2, 2);
        async_row::<AsyncChannelAsync>(r, &mut s, &rt, 2, 2);
        async_row::<FlumeAsync>(r, &mut s, &rt, 2, 2);
        r.push(s);
    }
}

fn kib(bytes: isize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn burst_row<C: Chan>(r: &Runner, s: &mut Section) {
    let n = n_for::<C>(r.mode.burst_n);
    if let Some(d) = r.measure(&s.title, C::NAME, || burst::<C>(n)) {
        let m = burst_memory::<C>(n);
        s.rows.push(Row {
            name: C::NAME.to_owned(),
            value: d.as_nanos() as f64 / n as f64,
            extra: vec![
                kib(m.empty),
                format!("{:.1} MiB", m.peak as f64 / (1024.0 * 1024.0)),
                kib(m.after_drain),
            ],
        });
    }
}

fn burst_section(r: &mut Runner) {
    let title = "burst";
    if !r.wants_section(title) {
        return;
    }
    let mut s = Section::new(
        title,
        Unit::NsPerMsg,
        &["VecDeque", CbUnbounded::NAME, Kanal::NAME],
    );
    s.extra_headers = vec!["empty queue", "peak", "after drain"];
    let n = r.mode.burst_n;
    if let Some(d) = r.measure(title, "VecDeque", || burst_vecdeque(n)) {
        s.rows.push(Row {
            name: "VecDeque".to_owned(),
            value: d.as_nanos() as f64 / n as f64,
            extra: vec!["-".into(), "-".into(), "-".into()],
        });
    }
    burst_row::<Segmq>(r, &mut s);
    burst_row::<CbUnbounded>(r, &mut s);
    burst_row::<Kanal>(r, &mut s);
    burst_row::<Flume>(r, &mut s);
    burst_row::<AsyncChannel>(r, &mut s);
    burst_row::<StdMpsc>(r, &mut s);
    burst_row::<Actor>(r, &mut s);
    s.title = format!("burst (1 thread: push {n}, pop {n})");
    r.push(s);
}

/// A workload taking (concurrency, messages).
type Workload = fn(usize, u64) -> Duration;

fn mq_section(r: &mut Runner) {
    let title = "mq_dispatch";
    if !r.wants_section(title) {
        return;
    }
    let n = r.mode.n;
    let mut s = Section::new(title, Unit::Mps, &["actor MQ c1", "actor MQ c4"]);
    for conc in [1, 4] {
        let cells: [(String, Workload); 3] = [
            (format!("actor MQ c{conc}"), actor_mq),
            (format!("segmq Queue + {conc} threads"), segmq_pool),
            (format!("segmq Mq c{conc}"), segmq_mq),
        ];
        for (name, f) in cells {
            let n = if name.starts_with("actor") {
                slow_n(n)
            } else {
                n
            };
            if let Some(d) = r.measure(title, &name, || f(conc, n)) {
                s.rows.push(Row {
                    name,
                    value: n as f64 / d.as_secs_f64() / 1e6,
                    extra: Vec::new(),
                });
            }
        }
    }
    r.push(s);
}

fn pingpong_row<C: Chan>(r: &Runner, s: &mut Section) {
    let rounds = r.mode.rounds;
    if let Some(d) = r.measure(&s.title, C::NAME, || pingpong::<C>(rounds)) {
        s.rows.push(Row {
            name: C::NAME.to_owned(),
            value: d.as_nanos() as f64 / rounds as f64 / 1e3,
            extra: Vec::new(),
        });
    }
}

fn latency(r: &mut Runner) {
    let title = "pingpong";
    if r.wants_section(title) {
        let mut s = Section::new(
            title,
            Unit::UsPerRoundTrip,
            &[Actor::NAME, CbUnbounded::NAME, CbBounded::NAME, Kanal::NAME],
        );
        pingpong_row::<Segmq>(r, &mut s);
        pingpong_row::<SegmqBounded>(r, &mut s);
        pingpong_row::<CbUnbounded>(r, &mut s);
        pingpong_row::<CbBounded>(r, &mut s);
        pingpong_row::<Kanal>(r, &mut s);
        pingpong_row::<Flume>(r, &mut s);
        pingpong_row::<AsyncChannel>(r, &mut s);
        pingpong_row::<StdMpsc>(r, &mut s);
        pingpong_row::<Actor>(r, &mut s);
        r.push(s);
    }
    let title = "paced";
    if r.wants_section(title) {
        let mut s = Section::new(
            &format!("paced send-to-receive (sender sleeps {PACE:?} between sends, receiver blocked), p99"),
            Unit::UsP99,
            &[Actor::NAME, CbUnbounded::NAME],
        );
        s.extra_headers = vec!["p50", "p99.9", "max"];
        paced_row::<Segmq>(r, &mut s);
        paced_row::<SegmqBounded>(r, &mut s);
        paced_row::<CbUnbounded>(r, &mut s);
        paced_row::<CbBounded>(r, &mut s);
        paced_row::<Kanal>(r, &mut s);
        paced_row::<Actor>(r, &mut s);
        r.push(s);
    }
}

/// One paced run (long enough by itself: thousands of samples); value = p99 in us.
fn paced_row<C: Chan>(r: &Runner, s: &mut Section) {
    if !r.wants_cell("paced", C::NAME) {
        return;
    }
    let h = paced_latency::<C>(r.mode.paced_n, PACE);
    let us = |v: u64| v as f64 / 1e3;
    eprintln!(
        "  [{:>5.1}s] paced/{}: p99 {:.2} us",
        r.started.elapsed().as_secs_f64(),
        C::NAME,
        us(h.value_at_quantile(0.99))
    );
    s.rows.push(Row {
        name: C::NAME.to_owned(),
        value: us(h.value_at_quantile(0.99)),
        extra: vec![
            format!("{:.2}", us(h.value_at_quantile(0.5))),
            format!("{:.2}", us(h.value_at_quantile(0.999))),
            format!("{:.2}", us(h.max())),
        ],
    });
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn write_report(r: &Runner, dir: &std::path::Path) -> std::io::Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# segmq comparison report\n");
    let _ = writeln!(
        md,
        "Mode `{}` (median of {} runs per cell after one warm-up run, {} messages per \
         throughput run, {} per burst; the actor design moves 1/20 of that, at least 1000, as it \
         is ~1000x slower). Machine: {}.\n",
        r.mode.name,
        r.mode.runs,
        r.mode.n,
        r.mode.burst_n,
        machine()
    );
    let _ = writeln!(
        md,
        "Ratios are \"times better than the baseline\" (x2.00 = twice the throughput, or half the \
         time). Reproduce with `cargo run --release --example compare -- --{}`.\n",
        r.mode.name
    );
    for s in &r.sections {
        md.push_str(&s.markdown());
        md.push('\n');
    }
    std::fs::write(dir.join("report.md"), md)
}

fn write_svg(r: &Runner, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let sections: Vec<&Section> = r.sections.iter().filter(|s| s.unit == Unit::Mps).collect();
    if sections.is_empty() {
        return Ok(());
    }
    const W: u32 = 900;
    const ROW: u32 = 22;
    const LABEL: i32 = 260;
    let heights: Vec<u32> = sections
        .iter()
        .map(|s| 40 + ROW * s.rows.len() as u32 + 10)
        .collect();
    let total: u32 = heights.iter().sum::<u32>() + 40;
    let root = SVGBackend::new(path, (W, total)).into_drawing_area();
    root.fill(&WHITE)?;
    let title_style = ("sans-serif", 18).into_font().style(FontStyle::Bold);
    root.draw(&Text::new(
        format!(
            "segmq vs peers: throughput, M msg/s (mode {}, {})",
            r.mode.name,
            machine()
        ),
        (10, 10),
        ("sans-serif", 14).into_font(),
    ))?;
    let mut y = 40i32;
    for (s, h) in sections.iter().zip(heights) {
        root.draw(&Text::new(
            s.title.clone(),
            (10, y + 5),
            title_style.clone(),
        ))?;
        let max = s
            .rows
            .iter()
            .map(|r| r.value)
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let bar_w = (W as i32 - LABEL - 90) as f64;
        for (i, row) in s.rows.iter().enumerate() {
            let top = y + 32 + i as i32 * ROW as i32;
            let color = if row.name.starts_with("segmq") {
                RGBColor(214, 84, 38)
            } else if row.name.starts_with("actor") {
                RGBColor(140, 140, 140)
            } else {
                RGBColor(66, 118, 180)
            };
            root.draw(&Text::new(
                row.name.clone(),
                (10, top + 3),
                ("sans-serif", 13).into_font(),
            ))?;
            let len = (row.value / max * bar_w).round().max(1.0) as i32;
            root.draw(&Rectangle::new(
                [(LABEL, top), (LABEL + len, top + ROW as i32 - 6)],
                color.filled(),
            ))?;
            root.draw(&Text::new(
                format!("{:.2}", row.value),
                (LABEL + len + 6, top + 3),
                ("sans-serif", 12).into_font(),
            ))?;
        }
        y += h as i32;
    }
    root.present()?;
    Ok(())
}

fn main() {
    let mut mode = DEFAULT;
    let mut filters = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => mode = QUICK,
            "--full" => mode = FULL,
            "-h" | "--help" => {
                println!("usage: compare [--quick|--full] [filter...]");
                return;
            }
            a if a.starts_with('-') => {
                eprintln!("unknown option {a}; usage: compare [--quick|--full] [filter...]");
                std::process::exit(2);
            }
            a => filters.push(a.to_owned()),
        }
    }
    let mut r = Runner {
        mode,
        filters,
        sections: Vec::new(),
        started: Instant::now(),
    };
    println!("segmq compare, mode {}: {}\n", mode.name, machine());
    throughput(&mut r);
    batch_section(&mut r);
    asynchronous(&mut r);
    burst_section(&mut r);
    mq_section(&mut r);
    latency(&mut r);

    let target = option_env!("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("segmq-compare");
    std::fs::create_dir_all(&dir).expect("create target/segmq-compare");
    write_report(&r, &dir).expect("write report.md");
    if let Err(e) = write_svg(&r, &dir.join("throughput.svg")) {
        eprintln!("could not write the SVG chart: {e}");
    }
    println!(
        "wrote {} and throughput.svg in {:.1}s",
        dir.join("report.md").display(),
        r.started.elapsed().as_secs_f64()
    );
}
