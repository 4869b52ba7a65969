//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) through the same checking code
//! the fuzz targets run, so `cargo test` on stable exercises the fuzz logic without libFuzzer.
//! See `fuzz/README.md`.

#[path = "../fuzz/src/api.rs"]
mod api;
#[path = "../fuzz/src/common.rs"]
mod common;
#[path = "../fuzz/src/mq_ops.rs"]
mod mq_ops;
#[path = "../fuzz/src/queue_ops.rs"]
mod queue_ops;
#[path = "../fuzz/src/queue_threads.rs"]
mod queue_threads;

use std::path::{Path, PathBuf};

/// Every file of one target's corpus, sorted (at least one: an empty corpus is a mistake).
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// Runs `run` on every corpus file of `target`, naming the file that fails.
fn replay(target: &str, run: fn(&[u8])) {
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("corpus file");
        let result = std::panic::catch_unwind(|| run(&data));
        if let Err(panic) = result {
            eprintln!("fuzz_replay: {target}: {} failed", path.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn queue_ops_corpus() {
    replay("queue_ops", queue_ops::run);
}

#[test]
fn queue_threads_corpus() {
    replay("queue_threads", queue_threads::run);
}

#[test]
fn mq_ops_corpus() {
    replay("mq_ops", mq_ops::run);
}
