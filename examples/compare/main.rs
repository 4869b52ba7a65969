//! Side-by-side comparison of segmq with the fastest Rust channels, measured the way issue 14
//! asks (see `/work/shared/notes/benchmarking.md` for why each rule is there).
//!
//! ```sh
//! cargo run --release --example compare                 # default: under a minute on 2 cores
//! cargo run --release --example compare -- --full       # the measurement: 2M msgs, 30 runs per cell
//! cargo run --release --example compare -- --quick      # smoke test: tiny sizes, measures nothing
//! cargo run --release --example compare -- SPSC burst   # only the cells whose `row/column` contains a filter
//! ```
//!
//! Rows: SPSC, MPSC 4:1, MPMC 2:2 and 4:4 (sync), async SPSC / MPSC 4:1 / MPMC 2:2 (tokio, 2
//! workers), burst (with resident memory), ping-pong, paced latency, `Mq` dispatch, and segmq's
//! batch calls; columns: segmq unbounded and bounded(1024), crossbeam, kanal (both flavours),
//! flume, rtrb (SPSC) and the disruptor (latency). Every run is a fresh process; the
//! implementations of a row are interleaved round by round; two-party workloads are pinned.
//! The report goes to stdout and `target/segmq-compare/report.md`.
//!
//! | module | what |
//! |---|---|
//! | `mode` | quick / default / full: runs per cell and sizes |
//! | `cells` | the catalogue of cells and how one run of each becomes a sample |
//! | `child` | one run in a fresh process (re-exec with a hidden argument) |
//! | `schedule` | rows, interleaved rounds, medians |
//! | `machine` | CPU model, CPUs, kernel, load average |
//! | `report` | the markdown tables |
//!
//! The workloads, the pinning and the CPU/memory readings are in `benches/support` (shared with
//! the criterion benches).

#[path = "../../benches/support/mod.rs"]
mod support;

mod cells;
mod child;
mod machine;
mod mode;
mod report;
mod schedule;

use std::time::Instant;

use mode::Mode;

const USAGE: &str = "usage: compare [--quick|--full] [filter...]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(child::CHILD_FLAG) {
        match &args[1..] {
            [mode, cell] => child::child_main(mode, cell),
            _ => panic!("{}: expected <mode> <cell id>", child::CHILD_FLAG),
        }
        return;
    }
    let mut mode = mode::DEFAULT;
    let mut filters = Vec::new();
    for arg in &args {
        match arg.as_str() {
            "--quick" => mode = mode::QUICK,
            "--full" => mode = mode::FULL,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            a if a.starts_with('-') => {
                eprintln!("unknown option {a}; {USAGE}");
                std::process::exit(2);
            }
            a => filters.push(a.to_lowercase()),
        }
    }
    compare(&mode, &filters, &args);
}

fn compare(mode: &Mode, filters: &[String], args: &[String]) {
    let started = Instant::now();
    let machine = machine::Machine::read();
    let cells: Vec<cells::Cell> = cells::all()
        .into_iter()
        .filter(|c| {
            let id = c.id().to_lowercase();
            filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
        })
        .collect();
    if cells.is_empty() {
        eprintln!("no cell matches {filters:?}");
        std::process::exit(2);
    }
    eprintln!(
        "segmq compare, mode {}: {} cells x {} runs, a fresh process each ({}, load {})",
        mode.name,
        cells.len(),
        mode.runs,
        machine.cpu_model,
        machine.load_at_start
    );
    let results = schedule::run_all(cells, mode, started);
    let command = std::iter::once("cargo run --release --example compare".to_owned())
        .chain((!args.is_empty()).then(|| format!("-- {}", args.join(" "))))
        .collect::<Vec<_>>()
        .join(" ");
    let md = report::markdown(
        &results,
        &report::Context {
            command,
            mode,
            machine: &machine,
            seconds: started.elapsed().as_secs_f64(),
        },
    );
    println!("{md}");
    let target = option_env!("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("segmq-compare");
    std::fs::create_dir_all(&dir).expect("create target/segmq-compare");
    let path = dir.join("report.md");
    std::fs::write(&path, md).expect("write report.md");
    eprintln!(
        "wrote {} in {:.1}s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
