//! Shared pieces of the fuzz checks: a message type that records its own drops, a waker that
//! counts wake-ups, single polls of futures and streams, and a panic hook that silences the
//! panics the checks plant on purpose (handler panics in `mq_ops`).
//!
//! This file is compiled twice: as a module of the `segmq-fuzz` crate (for the fuzz targets) and
//! as a module of the root crate's `tests/fuzz_replay.rs` (for the corpus replay), so it only
//! uses `segmq`, `arbitrary`, `futures-core` and `std`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use futures_core::Stream;

/// Per-input record of which messages were dropped, and how often.
#[derive(Debug, Default)]
pub struct DropLog {
    counts: Mutex<Vec<u32>>,
}

impl DropLog {
    /// A fresh, shared log.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, id: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let i = usize::try_from(id).expect("message id fits usize");
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
    }

    /// How many times message `id` was dropped.
    pub fn count(&self, id: u64) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        usize::try_from(id)
            .ok()
            .and_then(|i| counts.get(i).copied())
            .unwrap_or(0)
    }

    /// Panics unless message `id` was dropped exactly `expected` times.
    pub fn assert_count(&self, id: u64, expected: u32, context: &str) {
        let got = self.count(id);
        assert_eq!(
            got, expected,
            "message {id} dropped {got} times, expected {expected} ({context})"
        );
    }

    /// Panics unless each of the first `n` messages was dropped exactly once.
    pub fn assert_all_dropped_once(&self, n: u64, context: &str) {
        for id in 0..n {
            self.assert_count(id, 1, context);
        }
    }
}

/// A message: a unique id, the thread that sent it and its position in that thread's sends,
/// and the drop log it reports to when dropped.
#[derive(Debug)]
pub struct Tracked {
    /// Unique per input: 0, 1, 2, ... in creation order.
    pub id: u64,
    /// Which producer made it (0 in single-threaded checks).
    pub producer: u8,
    /// Position in its producer's sequence.
    pub seq: u64,
    log: Arc<DropLog>,
}

impl Tracked {
    /// A message that will report its drop to `log`.
    pub fn new(id: u64, producer: u8, seq: u64, log: &Arc<DropLog>) -> Self {
        Self {
            id,
            producer,
            seq,
            log: log.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log.record(self.id);
    }
}

/// A waker that counts its wake-ups.
#[derive(Debug, Default)]
pub struct WakeCounter {
    wakes: AtomicUsize,
}

impl WakeCounter {
    /// Wake-ups so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    /// A waker that bumps this counter.
    pub fn waker(self: &Arc<Self>) -> Waker {
        let ptr = Arc::into_raw(self.clone()).cast::<()>();
        // SAFETY: `ptr` comes from `Arc::into_raw` of a `WakeCounter`, and the vtable functions
        // treat it as such, keeping the reference count balanced.
        unsafe { Waker::from_raw(RawWaker::new(ptr, &VTABLE)) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(wc_clone, wc_wake, wc_wake_by_ref, wc_drop);

unsafe fn wc_clone(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is a live `Arc<WakeCounter>` (see `WakeCounter::waker`).
    unsafe { Arc::increment_strong_count(ptr.cast::<WakeCounter>()) };
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wc_wake(ptr: *const ()) {
    // SAFETY: as in `wc_clone`; `wake` consumes the waker's reference.
    unsafe {
        wc_wake_by_ref(ptr);
        wc_drop(ptr);
    }
}

unsafe fn wc_wake_by_ref(ptr: *const ()) {
    // SAFETY: as in `wc_clone`.
    let counter = unsafe { &*ptr.cast::<WakeCounter>() };
    counter.wakes.fetch_add(1, Ordering::SeqCst);
}

unsafe fn wc_drop(ptr: *const ()) {
    // SAFETY: as in `wc_clone`; gives back the reference this waker held.
    unsafe { drop(Arc::from_raw(ptr.cast::<WakeCounter>())) };
}

/// Most polls in a row that [`poll_settled`] makes while the future keeps waking itself.
const MAX_SELF_WAKES: usize = 8;

/// Polls `fut` with `wake`'s waker as an executor would: again while a poll woke its own waker
/// before returning `Pending` (a cooperative yield: segmq's async operations yield once before
/// they listen, `src/wait.rs`), so a `Pending` it returns is a future that waits for someone
/// else's wake-up. A future that still wakes itself after [`MAX_SELF_WAKES`] polls is a bug.
pub fn poll_settled<F: Future>(mut fut: Pin<&mut F>, wake: &Arc<WakeCounter>) -> Poll<F::Output> {
    let waker = wake.waker();
    for _ in 0..MAX_SELF_WAKES {
        let before = wake.wakes();
        match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Pending if wake.wakes() > before => continue,
            polled => return polled,
        }
    }
    panic!("a future woke itself on each of {MAX_SELF_WAKES} polls in a row");
}

/// [`poll_settled`] for a stream's next item.
pub fn poll_next_settled<S: Stream>(
    mut stream: Pin<&mut S>,
    wake: &Arc<WakeCounter>,
) -> Poll<Option<S::Item>> {
    let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx));
    poll_settled(std::pin::pin!(next), wake)
}

/// The payload of the panics the checks plant (a handler told to panic): the panic hook
/// installed by [`silence_planted_panics`] ignores exactly these.
#[derive(Debug)]
pub struct Planted;

/// Panics with the [`Planted`] payload, silently.
pub fn planted_panic() -> ! {
    std::panic::panic_any(Planted)
}

/// Installs (once per process) a panic hook that ignores [`Planted`] panics and passes every
/// other panic to the hook that was there before (libFuzzer's, which aborts, or the test
/// harness's), so a real panic is still a crash.
pub fn silence_planted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Planted>().is_none() {
                previous(info);
            }
        }));
    });
}
