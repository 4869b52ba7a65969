//! `within`: a test step that must not hang, bounded by a minute on another thread.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `f` on a thread and returns its result, or fails the test if it takes longer than a
/// minute (the bugs tested with it are hangs).
pub fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} hung"))
}
