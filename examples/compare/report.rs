//! The markdown report: one table per idea, with the tables' cells as the issue lays them out
//! (`M msg/s / CPU ns per message`), ratios of segmq against each comparator from the same run
//! (plain quotients `segmq ÷ peer`; a quotient within 15% of 1 is marked a tie), and the method
//! and machine, so the tables can be pasted into the README as they are.

use std::fmt::Write as _;

use crate::cells::{col, metric, row, segmq_wait_column, Group};
use crate::machine::Machine;
use crate::mode::Mode;
use crate::schedule::Results;
use crate::support::{SegmqWait, BATCH, PACE_MAX, PACE_MIN};

/// Differences under this are ties (`benchmarking.md`: ratios move about 12% between runs).
const TIE: f64 = 0.15;

/// What the report says about how it was made.
pub struct Context<'a> {
    pub command: String,
    pub mode: &'a Mode,
    pub machine: &'a Machine,
    pub seconds: f64,
}

/// The whole report.
pub fn markdown(r: &Results, cx: &Context) -> String {
    let mut md = String::new();
    header(&mut md, cx);
    throughput(&mut md, r);
    throughput_ratios(&mut md, r);
    burst(&mut md, r);
    pingpong(&mut md, r);
    paced(&mut md, r);
    mq(&mut md, r);
    batch(&mut md, r);
    spreads(&mut md, r);
    md
}

fn header(md: &mut String, cx: &Context) {
    let m = cx.mode;
    let s = &m.sizes;
    let _ = writeln!(md, "# segmq comparison\n");
    let _ = writeln!(md, "- Command: `{}`", cx.command);
    let _ = writeln!(
        md,
        "- Machine: {}, `nproc` {}, {}; load average when the compare started: {} (the \
         numbers are only worth quoting if nothing else was running).",
        cx.machine.cpu_model, cx.machine.nproc, cx.machine.kernel, cx.machine.load_at_start
    );
    let _ = writeln!(
        md,
        "- Mode `{}`: median of {} runs per cell, each run a fresh process (the compare \
         re-executes itself per run); {} uncounted warm-up round(s) per row. Took {:.0} s.",
        m.name, m.runs, m.warmup_rounds, cx.seconds
    );
    let _ = writeln!(
        md,
        "- Sizes: {} `u64` per throughput run, {} per burst, {} per batch run, {} ping-pong \
         round trips, {} paced messages (the article's actor MQ moves 1/20 of `n`, at least \
         1000).",
        s.n, s.burst_n, s.batch_n, s.rounds, s.paced_n
    );
    let _ = writeln!(
        md,
        "- Method: implementations interleaved round by round within each row (one run of each \
         per round, the first rotating). SPSC, ping-pong and paced latency threads pinned \
         (sender CPU 0, receiver CPU 1) for every implementation; the other rows unpinned. \
         CPU = user + sys of the whole process (`getrusage(RUSAGE_SELF)`) from the threads' \
         release to the last join, divided by the messages. Every run checks count and \
         checksum of what was received and fails the compare on a mismatch.",
    );
    let _ = writeln!(
        md,
        "- Ratios are `segmq ÷ peer` of medians from this run: above 1 is better for \
         throughput, below 1 is better for times and CPU. Within {:.0}% of 1 is marked a tie.\n",
        TIE * 100.0
    );
}

/// `x` with two decimals, marked a tie when within [`TIE`] of 1.
fn ratio(x: f64) -> String {
    if (x - 1.0).abs() < TIE {
        format!("{x:.2} (tie)")
    } else {
        format!("{x:.2}")
    }
}

/// `segmq ÷ peer` of `metric` in `row`, or `-`.
fn quotient(r: &Results, row: &str, a: &str, b: &str, metric: &str) -> String {
    match (r.median(row, a, metric), r.median(row, b, metric)) {
        (Some(a), Some(b)) if b > 0.0 => ratio(a / b),
        _ => "-".to_owned(),
    }
}

/// `M msg/s / CPU ns` of a throughput cell, or `-`.
fn rate_cpu(r: &Results, row: &str, column: &str) -> String {
    match (
        r.median(row, column, metric::MPS),
        r.median(row, column, metric::CPU_NS),
    ) {
        (Some(mps), Some(cpu)) => format!("{mps:.1} / {cpu:.0}"),
        _ => "-".to_owned(),
    }
}

/// The rows of `group` that ran, in order.
fn rows_of(r: &Results, group: Group) -> Vec<&'static str> {
    let mut rows: Vec<&'static str> = Vec::new();
    for c in r.0.iter().filter(|c| c.cell.group == group) {
        if !rows.contains(&c.cell.row) {
            rows.push(c.cell.row);
        }
    }
    rows
}

fn table_head(md: &mut String, columns: &[&str]) {
    let _ = writeln!(md, "| {} |", columns.join(" | "));
    let rule: Vec<&str> = columns
        .iter()
        .enumerate()
        .map(|(i, _)| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(md, "|{}|", rule.join("|"));
}

fn table_row(md: &mut String, cells: &[String]) {
    let _ = writeln!(md, "| {} |", cells.join(" | "));
}

const THROUGHPUT_COLUMNS: [&str; 8] = [
    col::SEGMQ,
    col::SEGMQ_B,
    col::CB,
    col::CB_B,
    col::KANAL,
    col::KANAL_B,
    col::FLUME,
    col::RTRB,
];

fn throughput(md: &mut String, r: &Results) {
    let rows = rows_of(r, Group::Throughput);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Throughput: M msg/s / CPU ns per message\n");
    let mut head = vec!["row"];
    head.extend(THROUGHPUT_COLUMNS);
    table_head(md, &head);
    for row in rows {
        let mut cells = vec![row.to_owned()];
        cells.extend(THROUGHPUT_COLUMNS.iter().map(|c| rate_cpu(r, row, c)));
        table_row(md, &cells);
    }
    let _ = writeln!(
        md,
        "\nSPSC is pinned (sender CPU 0, receiver CPU 1); MPSC 4:1 and MPMC are not. The async \
         rows run on tokio's multi-thread runtime with 2 workers (crossbeam has no async API; \
         segmq's unbounded send is synchronous, its bounded one `send_async`). rtrb is the \
         SPSC reference: a wait-free ring of 1024 whose `push`/`pop` never block, so its \
         receiver (and its sender, when the ring is full) spins instead of parking; its CPU \
         column counts that spinning.\n"
    );
}

/// (header, segmq column, peer column, metric) of the ratio table.
const RATIOS: [(&str, &str, &str, &str); 9] = [
    ("segmq ÷ crossbeam", col::SEGMQ, col::CB, metric::MPS),
    ("segmq ÷ kanal", col::SEGMQ, col::KANAL, metric::MPS),
    ("segmq ÷ flume", col::SEGMQ, col::FLUME, metric::MPS),
    ("segmq ÷ rtrb", col::SEGMQ, col::RTRB, metric::MPS),
    (
        "bounded ÷ crossbeam bounded",
        col::SEGMQ_B,
        col::CB_B,
        metric::MPS,
    ),
    (
        "bounded ÷ kanal bounded",
        col::SEGMQ_B,
        col::KANAL_B,
        metric::MPS,
    ),
    ("bounded ÷ rtrb", col::SEGMQ_B, col::RTRB, metric::MPS),
    ("CPU: segmq ÷ kanal", col::SEGMQ, col::KANAL, metric::CPU_NS),
    (
        "CPU: bounded ÷ kanal bounded",
        col::SEGMQ_B,
        col::KANAL_B,
        metric::CPU_NS,
    ),
];

fn throughput_ratios(md: &mut String, r: &Results) {
    let rows = rows_of(r, Group::Throughput);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Throughput ratios (same flavour against same flavour; CPU: below 1 is less CPU \
         per message)\n"
    );
    let mut head = vec!["row"];
    head.extend(RATIOS.iter().map(|(h, ..)| *h));
    table_head(md, &head);
    for row in rows {
        let mut cells = vec![row.to_owned()];
        cells.extend(RATIOS.iter().map(|(_, a, b, m)| quotient(r, row, a, b, m)));
        table_row(md, &cells);
    }
    md.push('\n');
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

fn burst(md: &mut String, r: &Results) {
    let Some(vecdeque_or_any) = r.0.iter().find(|c| c.cell.group == Group::Burst) else {
        return;
    };
    let row = vecdeque_or_any.cell.row;
    let _ = writeln!(
        md,
        "## Burst: one thread pushes, then pops, every message\n\nResident memory (`VmRSS`) \
         is read in the run's own fresh process with the queue created and empty, and again \
         after the drain with the queue still alive; \"held\" is the difference. The last \
         column reads it once more after glibc's `malloc_trim(0)`: what is still held then is \
         the queue's own (live blocks, a buffer's capacity); the rest was freed by the queue \
         and kept by the allocator for reuse.\n"
    );
    table_head(
        md,
        &[
            "implementation",
            "ns/msg",
            "÷ kanal",
            "÷ VecDeque",
            "RSS, empty queue",
            "RSS after drain",
            "held after drain",
            "held after malloc_trim",
        ],
    );
    for c in r.0.iter().filter(|c| c.cell.group == Group::Burst) {
        let name = c.cell.column;
        let ns = c.median(metric::NS);
        let (empty, drained) = (c.median(metric::RSS_EMPTY), c.median(metric::RSS_DRAINED));
        let trimmed = c.median(metric::RSS_TRIMMED);
        let is_segmq = name.starts_with("segmq");
        table_row(
            md,
            &[
                name.to_owned(),
                ns.map_or("-".into(), |v| format!("{v:.1}")),
                if is_segmq {
                    quotient(r, row, name, col::KANAL, metric::NS)
                } else {
                    "-".into()
                },
                if is_segmq {
                    quotient(r, row, name, col::VECDEQUE, metric::NS)
                } else {
                    "-".into()
                },
                empty.map_or("-".into(), mib),
                drained.map_or("-".into(), mib),
                match (empty, drained) {
                    (Some(e), Some(d)) => mib(d - e),
                    _ => "-".into(),
                },
                match (empty, trimmed) {
                    (Some(e), Some(t)) => mib(t - e),
                    _ => "-".into(),
                },
            ],
        );
    }
    md.push('\n');
}

fn pingpong(md: &mut String, r: &Results) {
    let row = row::PINGPONG;
    if rows_of(r, Group::PingPong).is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Ping-pong round trip (pinned: ping CPU 0, echo CPU 1)\n\nCPU = process CPU per \
         round trip (both threads).\n"
    );
    table_head(
        md,
        &[
            "implementation",
            "ns per round trip",
            "CPU ns per round trip",
            "÷ crossbeam, same flavour",
            "÷ kanal",
        ],
    );
    for c in r.0.iter().filter(|c| c.cell.group == Group::PingPong) {
        let name = c.cell.column;
        let same = match name {
            col::SEGMQ => Some(col::CB),
            col::SEGMQ_B => Some(col::CB_B),
            _ => None,
        };
        let fmt = |m: &str| c.median(m).map_or("-".into(), |v| format!("{v:.0}"));
        table_row(
            md,
            &[
                name.to_owned(),
                fmt(metric::NS),
                fmt(metric::CPU_NS),
                same.map_or("-".into(), |cb| quotient(r, row, name, cb, metric::NS)),
                same.map_or("-".into(), |_| {
                    quotient(r, row, name, col::KANAL, metric::NS)
                }),
            ],
        );
    }
    md.push('\n');
}

/// How the receiver of a paced column waits.
fn waits_by(column: &str) -> &'static str {
    match column {
        col::DISRUPTOR => "busy poll (`EventPoller`, BusySpin ring)",
        c if c == segmq_wait_column(SegmqWait::Default) => SegmqWait::Default.name(),
        c if c == segmq_wait_column(SegmqWait::BusySpin) => SegmqWait::BusySpin.name(),
        _ => "blocking `recv`",
    }
}

fn paced(md: &mut String, r: &Results) {
    let row = row::PACED;
    if rows_of(r, Group::Paced).is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Paced latency: one send every {}-{} us, receiver waiting in its receive call \
         (pinned: sender CPU 0, receiver CPU 1)\n\nSend-to-receive time in us; receiver CPU = \
         the receiving thread's CPU time (`RUSAGE_THREAD`) over its wall time. The sender \
         waits out each gap on the clock, yielding its CPU (`yield_now`) in the loop.\n",
        PACE_MIN.as_micros(),
        PACE_MAX.as_micros()
    );
    table_head(
        md,
        &[
            "implementation",
            "receiver waits by",
            "p50",
            "p99",
            "p99.9",
            "receiver CPU",
            "p99 ÷ best blocking peer",
            "p99 ÷ disruptor",
            "p99.9 ÷ disruptor",
        ],
    );
    let blocking_peers = [col::CB, col::KANAL];
    let best_peer = blocking_peers
        .iter()
        .filter_map(|c| r.median(row, c, metric::P99).map(|v| (*c, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    for c in r.0.iter().filter(|c| c.cell.group == Group::Paced) {
        let name = c.cell.column;
        let us = |m: &str| {
            c.median(m)
                .map_or("-".into(), |v| format!("{:.2}", v / 1e3))
        };
        let is_segmq = name.starts_with("segmq");
        let vs = |peer: &str, m: &str| {
            if is_segmq {
                quotient(r, row, name, peer, m)
            } else {
                "-".into()
            }
        };
        table_row(
            md,
            &[
                name.to_owned(),
                waits_by(name).to_owned(),
                us(metric::P50),
                us(metric::P99),
                us(metric::P999),
                c.median(metric::RECV_CPU_PCT)
                    .map_or("-".into(), |v| format!("{v:.0}%")),
                best_peer.map_or("-".into(), |(peer, _)| {
                    if is_segmq {
                        format!("{} (vs {peer})", quotient(r, row, name, peer, metric::P99))
                    } else {
                        "-".into()
                    }
                }),
                vs(col::DISRUPTOR, metric::P99),
                vs(col::DISRUPTOR, metric::P999),
            ],
        );
    }
    md.push('\n');
}

fn mq(md: &mut String, r: &Results) {
    let rows = rows_of(r, Group::Mq);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## `Mq` dispatch to a no-op handler: M msg/s / CPU ns per message\n\nPublish `0..n` \
         to one queue, then stop (which waits for the drain). \"bare segmq Queue\" is a \
         `Queue` with the same number of hand-written worker threads.\n"
    );
    table_head(
        md,
        &["row", col::MQ, col::BARE, col::ACTOR_MQ, "Mq ÷ bare queue"],
    );
    for row in rows {
        table_row(
            md,
            &[
                row.to_owned(),
                rate_cpu(r, row, col::MQ),
                rate_cpu(r, row, col::BARE),
                rate_cpu(r, row, col::ACTOR_MQ),
                quotient(r, row, col::MQ, col::BARE, metric::MPS),
            ],
        );
    }
    md.push('\n');
}

fn batch(md: &mut String, r: &Results) {
    let rows = rows_of(r, Group::Batch);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## segmq `send_batch` + `recv_batch` of {BATCH} against one call per message: M \
         msg/s / CPU ns per message\n\nSame queue flavour, same thread driver, same message \
         count; SPSC pinned.\n"
    );
    table_head(md, &["row", col::SINGLE, col::BATCH64, "batch ÷ single"]);
    for row in rows {
        table_row(
            md,
            &[
                row.to_owned(),
                rate_cpu(r, row, col::SINGLE),
                rate_cpu(r, row, col::BATCH64),
                quotient(r, row, col::BATCH64, col::SINGLE, metric::MPS),
            ],
        );
    }
    md.push('\n');
}

/// The main metric of a cell of `group`.
fn main_metric(group: Group) -> &'static str {
    match group {
        Group::Throughput | Group::Batch | Group::Mq => metric::MPS,
        Group::Burst | Group::PingPong => metric::NS,
        Group::Paced => metric::P99,
    }
}

fn spreads(md: &mut String, r: &Results) {
    if r.0.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Spread per cell\n\n(max - min) / median of each cell's main metric over its runs.\n"
    );
    table_head(md, &["cell", "metric", "median", "spread", "runs"]);
    for c in &r.0 {
        let m = main_metric(c.cell.group);
        table_row(
            md,
            &[
                c.cell.id(),
                m.to_owned(),
                c.median(m).map_or("-".into(), |v| format!("{v:.2}")),
                c.spread(m)
                    .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
                c.samples.len().to_string(),
            ],
        );
    }
    md.push('\n');
}
