//! Queue teardown when a message's `Drop` panics: the rest are still dropped (as `Vec` does),
//! both when the last handle goes and when the last receiver goes while senders live on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use segmq::{Queue, SendError};

/// Counts its drops; the one built with `panics` panics in `Drop`.
struct Counted {
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("this message's Drop panics");
        }
    }
}

/// 100 messages (more than three 31-slot blocks), the 40th of which panics when dropped.
const MESSAGES: usize = 100;
const PANICKING: usize = 40;

fn fill(send: impl Fn(Counted), drops: &Arc<AtomicUsize>) {
    for i in 0..MESSAGES {
        send(Counted {
            drops: drops.clone(),
            panics: i == PANICKING,
        });
    }
}

/// A flavour's name and how to make a queue of it.
type Flavour<Q> = (&'static str, fn() -> Q);

fn flavours() -> [Flavour<Queue<Counted>>; 2] {
    [
        ("unbounded", Queue::unbounded),
        ("bounded", || Queue::bounded(128)),
    ]
}

#[test]
fn dropping_the_last_queue_handle_drops_every_message_despite_a_panic() {
    for (flavour, make) in flavours() {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = make();
        fill(|m| q.send(m).map_err(|_| ()).unwrap(), &drops);
        let unwound = catch_unwind(AssertUnwindSafe(move || drop(q)));
        assert!(unwound.is_err(), "{flavour}: the panic reaches the caller");
        assert_eq!(drops.load(Ordering::SeqCst), MESSAGES, "{flavour}");
    }
}

type Handles = (segmq::Sender<Counted>, segmq::Receiver<Counted>);

fn handle_flavours() -> [Flavour<Handles>; 2] {
    [
        ("unbounded", segmq::unbounded),
        ("bounded", || segmq::bounded(128)),
    ]
}

#[test]
fn dropping_the_last_receiver_drops_every_message_at_once_despite_a_panic() {
    for (flavour, make) in handle_flavours() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = make();
        fill(|m| tx.send(m).map_err(|_| ()).unwrap(), &drops);
        let unwound = catch_unwind(AssertUnwindSafe(move || drop(rx)));
        assert!(unwound.is_err(), "{flavour}: the panic reaches the caller");
        // The sender is still alive: nothing may wait for it to go.
        assert_eq!(drops.load(Ordering::SeqCst), MESSAGES, "{flavour}");
        assert!(tx.is_closed(), "{flavour}: the queue is closed");
        let refused = tx.send(Counted {
            drops: drops.clone(),
            panics: false,
        });
        assert!(matches!(refused, Err(SendError(_))), "{flavour}");
        drop(refused);
        assert_eq!(drops.load(Ordering::SeqCst), MESSAGES + 1, "{flavour}");
    }
}
