//! Fuzz checks for segmq. Each module is one target: it decodes its input with `arbitrary`,
//! runs it against segmq and panics on a broken invariant. The libFuzzer entry points in
//! `fuzz_targets/` only call `run`; the root crate's `tests/fuzz_replay.rs` includes the same
//! modules (by `#[path]`) and runs every committed corpus file through them.

pub mod api;
pub mod common;
pub mod mq_ops;
pub mod queue_ops;
pub mod queue_threads;
