//! Models of the handler's cancellation token (`src/mq/context.rs`): a cancel from another
//! thread reaches a waiter blocked on the token or awaiting `cancelled()`, whatever the
//! interleaving (no lost wake-up), and the token stays fired.
//!
//! Under loom there is no clock: these models use tokens without deadlines (a deadline would
//! have passed at its first look, `src/mq/clock.rs`), which is the path of the flags and the
//! event; the deadlines only decide how long a waiter sleeps between two looks.

use loom::thread;
use segmq::CancelToken;

use crate::model;

/// A blocking `wait` racing a `cancel` on another thread returns, and sees the token fired.
///
/// Fails if: `CancelToken::wait_until` looks at the flags only before registering its
/// listener (drop the second `is_cancelled()` check): the cancel lands between the look and the
/// listen, its notification finds no listener, and the waiter sleeps for ever (loom reports the
/// deadlock).
#[test]
fn a_cancel_wakes_a_blocking_waiter() {
    model(|| {
        let token = CancelToken::new();
        let other = token.clone();
        let t = thread::spawn(move || other.cancel());
        token.wait();
        assert!(token.is_cancelled());
        t.join().unwrap();
        assert!(token.is_cancelled(), "fired for good");
    });
}

/// `cancelled().await` racing a `cancel`, and a second cancel racing the first: the future
/// completes and the token stays fired.
///
/// Fails if: `Cancelled::poll` stops at a pending listener without having looked at the flags
/// after creating it (return `Pending` right after `listen()`): a cancel between the first look
/// and the listen is never seen.
#[test]
fn a_cancel_wakes_an_async_waiter() {
    model(|| {
        let token = CancelToken::new();
        let (a, b) = (token.clone(), token.clone());
        let t1 = thread::spawn(move || a.cancel());
        let t2 = thread::spawn(move || b.cancel());
        loom::future::block_on(token.cancelled());
        assert!(token.is_cancelled());
        t1.join().unwrap();
        t2.join().unwrap();
        assert!(token.is_cancelled());
    });
}
