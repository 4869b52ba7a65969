//! One run in a fresh process: the compare re-executes itself (`current_exe`) with a hidden
//! argument naming the mode and the cell; the child runs that cell once and prints one line,
//! the sample, which the parent parses. A child that panics (a count or checksum mismatch) or
//! prints no sample stops the whole compare with the child's stderr.

use std::collections::BTreeMap;
use std::process::Command;

use crate::cells::Cell;
use crate::mode::Mode;

/// The hidden argument: `compare --child-run <mode> <cell id>`.
pub const CHILD_FLAG: &str = "--child-run";

/// Prefix of the sample line on the child's stdout.
const SAMPLE_PREFIX: &str = "segmq-compare-sample";

/// What one run measured: named metrics (see `cells::metric`).
#[derive(Debug, Clone, Default)]
pub struct Sample(pub BTreeMap<String, f64>);

impl Sample {
    /// A sample of these metrics.
    pub fn of(metrics: &[(&str, f64)]) -> Sample {
        Sample(metrics.iter().map(|&(k, v)| (k.to_owned(), v)).collect())
    }

    /// The line a child prints: `segmq-compare-sample name=value ...`.
    fn encode(&self) -> String {
        let mut line = SAMPLE_PREFIX.to_owned();
        for (k, v) in &self.0 {
            line.push_str(&format!(" {k}={v:e}"));
        }
        line
    }

    /// Parses [`Sample::encode`]'s line.
    fn decode(line: &str) -> Option<Sample> {
        let rest = line.strip_prefix(SAMPLE_PREFIX)?;
        let mut metrics = BTreeMap::new();
        for token in rest.split_whitespace() {
            let (k, v) = token.split_once('=')?;
            metrics.insert(k.to_owned(), v.parse().ok()?);
        }
        Some(Sample(metrics))
    }
}

/// Runs `cell` once in a fresh process of this executable, in `mode`.
pub fn run_in_child(cell: &Cell, mode: &Mode) -> Sample {
    let exe = std::env::current_exe().expect("the compare's own path (current_exe)");
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(mode.name)
        .arg(cell.id())
        .output()
        .expect("start a child run of the compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sample = stdout.lines().rev().find_map(Sample::decode);
    match (out.status.success(), sample) {
        (true, Some(sample)) => sample,
        _ => panic!(
            "{}: the child run failed ({}):\n{}{}",
            cell.id(),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The child's side: runs the cell `id` once in `mode` and prints its sample.
pub fn child_main(mode_name: &str, id: &str) {
    let mode =
        Mode::by_name(mode_name).unwrap_or_else(|| panic!("child run: unknown mode {mode_name:?}"));
    let cells = crate::cells::all();
    let cell = cells
        .iter()
        .find(|c| c.id() == id)
        .unwrap_or_else(|| panic!("child run: unknown cell {id:?}"));
    let sample = (cell.run)(&mode.sizes);
    println!("{}", sample.encode());
}
