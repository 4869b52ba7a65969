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
