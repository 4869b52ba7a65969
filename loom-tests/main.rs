//! Loom models of segmq's queues: every interleaving (up to a preemption bound) of the real code,
//! with blocks of 3 slots so that block boundaries and reclamation are explored.
//!
//! Run with `cargo loom` (= `cargo test --release --features loom --test loom`).
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 2 preemptions per model.
#![cfg(feature = "loom")]

mod batch;
mod bounded;
mod handles;
mod unbounded;

/// Runs `f` under loom with the project's preemption bound (2).
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound(2, f)
}

/// Runs `f` under loom with at most `bound` preemptions (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise).
pub fn model_with_bound<F>(bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Spin-waits (a receiver waiting for a slot's write) yield once per branch.
    builder.max_branches = builder.max_branches.max(
        std::env::var("SEGMQ_LOOM_BRANCHES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
    );
    builder.check(f);
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    std::pin::Pin::new(fut).poll(&mut cx)
}
