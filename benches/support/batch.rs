//! segmq `send_batch`/`recv_batch` against one call per message, same flavour, same driver.

use super::workloads::{clones, drive};
use super::{mpmc, Chan, Msg, Placement, Run, Segmq, SegmqBounded, BOUNDED_CAP};

/// Batch size of the `batch64` workloads.
pub const BATCH: usize = 64;

/// Which segmq queue a batch workload runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `Queue::unbounded()` ([`Segmq`]).
    Unbounded,
    /// `Queue::bounded(BOUNDED_CAP)` ([`SegmqBounded`]).
    Bounded,
}

impl Flavour {
    /// Both flavours, unbounded first.
    pub const ALL: [Flavour; 2] = [Flavour::Unbounded, Flavour::Bounded];

    /// Name in reports (the [`Chan::NAME`] of the single-call twin).
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Unbounded => Segmq::NAME,
            Flavour::Bounded => SegmqBounded::NAME,
        }
    }

    fn queue(self) -> segmq::Queue<Msg> {
        match self {
            Flavour::Unbounded => segmq::Queue::unbounded(),
            Flavour::Bounded => segmq::Queue::bounded(BOUNDED_CAP),
        }
    }
}

/// [`mpmc`] with `send_batch`/`recv_batch`: each producer sends its range in slices of `batch`
/// consecutive values (`send_batch`, which waits for room on a full bounded queue), each
/// consumer takes up to `batch` per `recv_batch` into a reused buffer. Same threads, barrier,
/// timing and check as [`mpmc`]. `send_batch` takes an iterator and collects it into a `Vec`,
/// so every batch costs one allocation: that is part of what is measured.
pub fn segmq_batch(
    flavour: Flavour,
    producers: usize,
    consumers: usize,
    batch: usize,
    n: u64,
    placement: Placement,
) -> Run {
    assert!(batch > 0, "batch size 0");
    let q = flavour.queue();
    let rxs: Vec<segmq::Queue<Msg>> = (0..consumers).map(|_| q.clone()).collect();
    let (run, total) = drive(
        clones(q, producers),
        rxs,
        n,
        placement,
        move |q, lo, hi| {
            let mut v = lo;
            while v < hi {
                let end = (v + batch as u64).min(hi);
                let sent = q.send_batch(v..end).expect("segmq send_batch: closed");
                assert_eq!(sent as u64, end - v, "segmq send_batch: short count");
                v = end;
            }
        },
        move |q, t| {
            let mut buf = Vec::with_capacity(batch);
            while let Ok(got) = q.recv_batch(&mut buf, batch) {
                assert!(
                    got == buf.len() && (1..=batch).contains(&got),
                    "segmq recv_batch: returned {got} for {} moved",
                    buf.len()
                );
                buf.drain(..).for_each(|v| t.add(v));
            }
        },
        |q: segmq::Queue<Msg>| {
            q.close();
        },
    );
    total.check(n, &format!("{} batch{batch}", flavour.name()));
    run
}

/// The single-call twin of [`segmq_batch`] on the same flavour: [`mpmc`] of [`Segmq`] or
/// [`SegmqBounded`] (one `send`/`recv` per message).
pub fn segmq_single(
    flavour: Flavour,
    producers: usize,
    consumers: usize,
    n: u64,
    placement: Placement,
) -> Run {
    match flavour {
        Flavour::Unbounded => mpmc::<Segmq>(producers, consumers, n, placement),
        Flavour::Bounded => mpmc::<SegmqBounded>(producers, consumers, n, placement),
    }
}
