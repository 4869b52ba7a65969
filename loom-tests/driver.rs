//! Without `--cfg loom`, this target is a driver: it runs the loom models in a second build
//! with `RUSTFLAGS="--cfg loom"`, so `cargo test --features loom` runs them as typed (the
//! primitives switch on the cfg, not on the feature; `src/sync.rs` says why).
//!
//! The second build has its own target directory (`<target>/loom`), so it never invalidates
//! the normal build, and always runs in release mode (the models explore hundreds of thousands
//! of interleavings). It runs the in-crate models (`--lib`, flavour-level states that the
//! public API cannot reach cheaply) and this target's models. Their output is streamed as it
//! comes. A model that fails fails this test; so does a run that outlives
//! `SEGMQ_LOOM_TIMEOUT_SECS` (default 2700, build included; the models take about 18 minutes on
//! the 2-vCPU CI guest): a model that hangs is a failed model.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the `--cfg loom` build goes: beside the normal profiles, in its own directory.
fn loom_target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("loom")
}

#[test]
fn loom_models_under_cfg_loom() {
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} --cfg loom"),
        _ => "--cfg loom".to_owned(),
    };
    let limit = Duration::from_secs(
        std::env::var("SEGMQ_LOOM_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2700),
    );
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "test",
            "--release",
            "--features",
            "loom",
            "--lib",
            "--test",
            "loom",
        ])
        // Each model is one test: libtest runs them two at a time on this 2-core machine;
        // output of a failing model names its interleaving.
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", loom_target_dir());
    eprintln!("segmq loom driver: running {cmd:?}");
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn cargo for the loom build");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the loom build") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the loom models ran longer than {limit:?}: a model that hangs is a failed model"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "segmq loom driver: models finished in {:.0?} ({status})",
        start.elapsed()
    );
    assert!(status.success(), "a loom model failed (output above)");
}
