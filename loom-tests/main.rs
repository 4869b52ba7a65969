//! Loom models of segmq's queues: every interleaving (up to a preemption bound) of the real code,
//! with blocks of 3 slots so that block boundaries and reclamation are explored.
//!
//! Run with `cargo test --features loom`: built without `--cfg loom`, this target is a driver
//! (`driver.rs`) that builds and runs the models below under `--cfg loom`. `cargo loom` is the
//! shortcut that does the same. `LOOM_MAX_PREEMPTIONS` overrides each model's preemption bound.
//!
//! The wake-up primitive in these models is the real event-listener, built on loom's primitives
//! (`src/sync.rs`). Each model names, in its doc comment, the planted one-line change that made
//! it fail ("Fails if: ...").

#[cfg(not(loom))]
mod driver;

#[cfg(loom)]
mod batch;
#[cfg(loom)]
mod bounded;
#[cfg(loom)]
mod context;
#[cfg(loom)]
mod handles;
#[cfg(loom)]
mod mq;
#[cfg(loom)]
mod owned;
#[cfg(loom)]
mod select;
#[cfg(loom)]
mod sink;
#[cfg(loom)]
mod streams;
#[cfg(loom)]
mod unbounded;
#[cfg(loom)]
mod waiting;
#[cfg(loom)]
mod weak;

/// Runs `f` under loom with the project's preemption bound (2).
#[cfg(loom)]
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound(2, f)
}

/// Runs `f` under loom with at most `bound` preemptions (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise).
#[cfg(loom)]
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
#[cfg(loom)]
pub fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    std::pin::Pin::new(fut).poll(&mut cx)
}

/// Polls `fut` until it listens: segmq's async operations yield once before they register a
/// listener (`ASYNC_YIELDS`, `src/wait.rs`), so on an empty (or full) queue that is
/// a first poll that yields and a second one that listens; a `Ready` ends it early.
#[cfg(loom)]
pub fn poll_until_listening<F: std::future::Future + Unpin>(
    fut: &mut F,
) -> std::task::Poll<F::Output> {
    match poll_once(fut) {
        std::task::Poll::Pending => poll_once(fut),
        ready => ready,
    }
}
