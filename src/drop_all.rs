//! Dropping every message of a queue even when one message's `Drop` panics.
//!
//! A queue that is torn down (its last handle dropped, or its last receiver gone) drops each
//! message it still holds. If one of those drops panics, the remaining messages must still be
//! dropped and their memory freed, as `Vec` and `VecDeque` do: the unwinding passes through a
//! guard that keeps dropping. A second panicking `Drop` during that unwinding aborts the
//! process, exactly as it does for `Vec` (Rust aborts on a panic while panicking).

/// Calls `next` until it returns `None`, dropping each value it yields. If a value's `Drop`
/// panics, the rest are still taken and dropped while the panic unwinds, then the panic goes on.
///
/// `next` must keep returning `None` once it has (the guard calls it again after a normal end).
pub(crate) fn drop_all<T>(next: impl FnMut() -> Option<T>) {
    /// Owns the source during the loop; if a drop in the loop panics, its own `Drop` takes and
    /// drops the rest.
    struct KeepDropping<T, F: FnMut() -> Option<T>>(F);

    impl<T, F: FnMut() -> Option<T>> Drop for KeepDropping<T, F> {
        fn drop(&mut self) {
            while let Some(value) = (self.0)() {
                drop(value);
            }
        }
    }

    let mut rest = KeepDropping(next);
    while let Some(value) = (rest.0)() {
        drop(value);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::drop_all;
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    struct Noisy<'a> {
        dropped: &'a Cell<usize>,
        panics: bool,
    }

    impl Drop for Noisy<'_> {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
            if self.panics {
                panic!("message drop panics");
            }
        }
    }

    #[test]
    fn a_panicking_drop_does_not_stop_the_rest() {
        let dropped = Cell::new(0);
        let mut left = 0..10;
        let result = catch_unwind(AssertUnwindSafe(|| {
            drop_all(|| {
                left.next().map(|i| Noisy {
                    dropped: &dropped,
                    panics: i == 3,
                })
            })
        }));
        assert!(
            result.is_err(),
            "the panic goes on after the rest is dropped"
        );
        assert_eq!(dropped.get(), 10);
        assert_eq!(left.next(), None);
    }

    #[test]
    fn without_panics_every_value_is_dropped_once() {
        let dropped = Cell::new(0);
        let mut left = 0..5;
        drop_all(|| {
            left.next().map(|_| Noisy {
                dropped: &dropped,
                panics: false,
            })
        });
        assert_eq!(dropped.get(), 5);
    }
}
