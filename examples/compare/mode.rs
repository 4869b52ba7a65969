//! The three modes of the compare: how many runs per cell and how big each run is.

/// Message counts of one run of each kind of workload.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Messages per throughput run (sync, async, MQ dispatch).
    pub n: u64,
    /// Messages per burst (pushed, then popped).
    pub burst_n: u64,
    /// Messages per batch-vs-single run.
    pub batch_n: u64,
    /// Round trips per ping-pong run.
    pub rounds: u64,
    /// Messages per paced-latency run.
    pub paced_n: u64,
}

/// A mode: its name (also its flag), the runs per cell and the sizes.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// `quick`, `default` or `full`.
    pub name: &'static str,
    /// Counted runs per cell (the median is reported).
    pub runs: usize,
    /// Uncounted rounds before them (each cell of a row once).
    pub warmup_rounds: usize,
    /// Sizes of one run.
    pub sizes: Sizes,
}

/// A smoke test: tiny sizes, two runs; checks that everything runs, measures nothing.
pub const QUICK: Mode = Mode {
    name: "quick",
    runs: 2,
    warmup_rounds: 0,
    sizes: Sizes {
        n: 20_000,
        burst_n: 100_000,
        batch_n: 50_000,
        rounds: 1_000,
        paced_n: 300,
    },
};

/// The default: under a minute on 2 cores (about 35 s with two builds running beside it), a
/// fresh process per run, 7 runs per cell.
pub const DEFAULT: Mode = Mode {
    name: "default",
    runs: 7,
    warmup_rounds: 1,
    sizes: Sizes {
        n: 500_000,
        burst_n: 1_000_000,
        batch_n: 500_000,
        rounds: 10_000,
        paced_n: 2_000,
    },
};

/// The issue-14 measurement: 2,000,000 messages per throughput run, 30 runs per cell.
pub const FULL: Mode = Mode {
    name: "full",
    runs: 30,
    warmup_rounds: 1,
    sizes: Sizes {
        n: 2_000_000,
        burst_n: 1_000_000,
        batch_n: 2_000_000,
        rounds: 50_000,
        paced_n: 20_000,
    },
};

impl Mode {
    /// The mode called `name`.
    pub fn by_name(name: &str) -> Option<Mode> {
        [QUICK, DEFAULT, FULL].into_iter().find(|m| m.name == name)
    }
}
