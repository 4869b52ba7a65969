//! The order of the runs: row by row; within a row, round by round, one run of each cell per
//! round, the round's first cell rotating (A B C, B C A, C A B, ...), so every implementation
//! meets the host's faster and slower stretches alike. Each run is a fresh process. Then the
//! medians.

use std::time::Instant;

use crate::cells::Cell;
use crate::child::{run_in_child, Sample};
use crate::mode::Mode;

/// The samples of one cell, in run order.
pub struct CellResult {
    pub cell: Cell,
    pub samples: Vec<Sample>,
}

impl CellResult {
    /// Median of `metric` over the runs, if the cell reports it.
    pub fn median(&self, metric: &str) -> Option<f64> {
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.0.get(metric).copied())
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        })
    }

    /// (max - min) / median of `metric`.
    pub fn spread(&self, metric: &str) -> Option<f64> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.0.get(metric).copied())
            .collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let m = self.median(metric)?;
        (m > 0.0).then(|| (hi - lo) / m)
    }
}

/// Every result, in catalogue order.
pub struct Results(pub Vec<CellResult>);

impl Results {
    /// The result of `row`/`column`, if it ran.
    pub fn get(&self, row: &str, column: &str) -> Option<&CellResult> {
        self.0
            .iter()
            .find(|r| r.cell.row == row && r.cell.column == column)
    }

    /// Median of `metric` of `row`/`column`.
    pub fn median(&self, row: &str, column: &str, metric: &str) -> Option<f64> {
        self.get(row, column)?.median(metric)
    }
}

/// Runs `cells` in `mode`: rows in order, each row's cells interleaved over the rounds.
pub fn run_all(cells: Vec<Cell>, mode: &Mode, started: Instant) -> Results {
    let mut results: Vec<CellResult> = cells
        .into_iter()
        .map(|cell| CellResult {
            cell,
            samples: Vec::new(),
        })
        .collect();
    let mut first = 0;
    while first < results.len() {
        let row = results[first].cell.row;
        let len = results[first..]
            .iter()
            .take_while(|r| r.cell.row == row)
            .count();
        let group = &mut results[first..first + len];
        let rounds = mode.warmup_rounds + mode.runs;
        for round in 0..rounds {
            for k in 0..len {
                let result = &mut group[(round + k) % len];
                let sample = run_in_child(&result.cell, mode);
                if round >= mode.warmup_rounds {
                    result.samples.push(sample);
                }
            }
        }
        eprintln!(
            "  [{:>6.1}s] {row}: {len} implementations x {} runs (+{} warm-up)",
            started.elapsed().as_secs_f64(),
            mode.runs,
            mode.warmup_rounds
        );
        first += len;
    }
    Results(results)
}
