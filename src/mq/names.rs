//! Queue names, interned: each distinct name is stored once for the life of the process, so a
//! message carries a `&'static str` instead of a reference-counted one.
//!
//! Why: every message handed to a handler names its queue (`Msg::queue`). With an `Arc<str>`
//! each dispatch paid an atomic increment and a decrement on a line shared by all the queue's
//! workers, about a tenth of a no-op dispatch here (measured with `perf`). Names are
//! configuration (validated at `register`), so the set is small; a program that registers
//! ever new names keeps each one (a few bytes) until it exits, which the docs of
//! `Mq::register` say.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The one stored copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    // std, not the loom shim: registration-time bookkeeping, never on a path a model explores
    // for ordering; no user code runs under the lock.
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&stored) = names.get(name) {
        return stored;
    }
    let stored: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(stored);
    stored
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn a_name_is_stored_once() {
        let a = super::intern("names-test-queue");
        let b = super::intern(&String::from("names-test-queue"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "names-test-queue");
    }
}
