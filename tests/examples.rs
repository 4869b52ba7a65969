//! Runs the channel-handle examples as tests (each asserts that every message arrived once).

#[path = "../examples/sync_pipeline.rs"]
mod sync_pipeline;

#[path = "../examples/async_pipeline.rs"]
mod async_pipeline;

#[test]
fn sync_pipeline_with_select() {
    sync_pipeline::main();
}

#[test]
fn async_pipeline_with_sink_and_stream() {
    async_pipeline::main();
}

#[path = "../examples/mq_delay_lateness.rs"]
mod mq_delay_lateness;

/// The lateness benchmark's quick mode, counts only (no timing is asserted in a test).
#[test]
fn mq_delay_lateness_quick_counts_every_message_once_and_none_early() {
    use std::time::Duration;
    let r = mq_delay_lateness::run(
        2_000,
        Duration::from_millis(200),
        Duration::from_millis(50),
        4,
    );
    assert_eq!((r.handled, r.early), (2_000, 0));
    assert!(r.pending_peak > 1_000, "{}", r.pending_peak);
    assert_eq!(r.histogram.len(), 2_000);
}
