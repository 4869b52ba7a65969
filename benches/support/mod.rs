//! Shared benchmark code: one trait over every queue implementation (flume's benchmark style)
//! and the workloads, used by `benches/throughput.rs`, `benches/latency.rs` and
//! `examples/compare` (through `#[path]`).
//!
//! Every workload checks what was received against what was sent (count, and a wrapping sum of
//! a mixed hash of each value, so a lost-plus-duplicated pair does not cancel out) and panics on
//! a mismatch: a queue that loses or duplicates messages fails the run instead of reporting a
//! number. The check runs after the clock stops.
//!
//! Every threaded workload returns a [`Run`]: its wall time and the CPU time (user + sys of the
//! whole process, [`os::process_cpu`]) spent over the same section, read before the threads are
//! released and after the last one is joined, so a queue that wins by spinning shows it.
//!
//! Messages are `u64` for every implementation, so the workloads compare the hand-off alone.
//!
//! | module | what |
//! |---|---|
//! | [`chans`] | the blocking [`Chan`] trait and its implementations |
//! | [`workloads`] | the thread driver, MPMC throughput, rtrb SPSC, ping-pong, burst |
//! | [`paced`] | paced send-to-receive latency (every `Chan`, and the `disruptor` crate) |
//! | [`async_chans`] | the [`AsyncChan`] trait, its implementations and the async MPMC workload |
//! | [`batch`] | segmq `send_batch`/`recv_batch` against one call per message |
//! | [`mq`] | MQ dispatch to a no-op handler: the article's MQ, `segmq::Mq`, a bare queue |
//! | [`os`] | process CPU time, thread CPU time, pinning, resident memory |
#![allow(dead_code)]

pub mod actor;
pub mod async_chans;
pub mod batch;
pub mod chans;
pub mod mq;
pub mod os;
pub mod paced;
pub mod workloads;

// Each bench uses some of these; the glob re-exports are the support's one namespace.
#[allow(unused_imports)]
pub use async_chans::*;
#[allow(unused_imports)]
pub use batch::*;
#[allow(unused_imports)]
pub use chans::*;
#[allow(unused_imports)]
pub use mq::*;
#[allow(unused_imports)]
pub use os::Placement;
#[allow(unused_imports)]
pub use paced::*;
#[allow(unused_imports)]
pub use workloads::*;

use std::time::Duration;

/// The message of every workload.
pub type Msg = u64;

/// Capacity of the bounded flavours (and of the rtrb and disruptor rings).
pub const BOUNDED_CAP: usize = 1024;

/// Whether criterion runs in test mode (`cargo test --benches`, `cargo bench -- --test`): then
/// every workload shrinks, so CI stays quick.
pub fn criterion_test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

/// What one run of a workload cost: wall time of the measured section and the CPU time (user +
/// sys, every thread of the process) spent over the same section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    /// Wall time of the measured section.
    pub elapsed: Duration,
    /// Process CPU time (user + sys) over the section.
    pub cpu: Duration,
}

impl Run {
    /// Runs `f` as the measured section: wall and process CPU time around it.
    pub fn measure(f: impl FnOnce()) -> Run {
        let cpu0 = os::process_cpu();
        let t0 = std::time::Instant::now();
        f();
        let elapsed = t0.elapsed();
        Run {
            elapsed,
            cpu: os::process_cpu().saturating_sub(cpu0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------

/// A cheap bijective mix of a value, summed so that lost and duplicated messages show.
#[inline]
pub fn mix(v: u64) -> u64 {
    (v ^ (v >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Count and checksum of received messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub count: u64,
    /// Wrapping sum of `mix(value)`.
    pub sum: u64,
}

impl Tally {
    /// Records one message.
    #[inline]
    pub fn add(&mut self, v: Msg) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(mix(v));
    }

    /// Adds another tally (another consumer's).
    pub fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The tally of the values `0..n`, each once.
    pub fn of_range(n: u64) -> Tally {
        let mut t = Tally::default();
        (0..n).for_each(|v| t.add(v));
        t
    }

    /// Panics unless this is exactly the values `0..n`, each once.
    pub fn check(self, n: u64, what: &str) {
        let want = Tally::of_range(n);
        assert_eq!(
            self, want,
            "{what}: received messages do not match the sent ones (count/checksum)"
        );
    }
}
