//! [`WeakSender`]: a sender handle that does not keep the queue open.
//!
//! # Design
//!
//! A `WeakSender` holds the channel's memory (an `Arc`) but is not counted in `senders`, so the
//! last `Sender`'s drop still closes the queue; it is counted in `weak_senders`, a count for
//! users only. [`WeakSender::upgrade`] takes a place in `senders` with a CAS from the value it
//! read and refuses at 0 (`Channel::try_acquire_handle`): 0 is final, because the release that
//! reached it closes the queue, so an upgrade can never hand out a sender of a queue whose last
//! sender already decided to close it. The race of an upgrade with the last drop is modelled in
//! `loom-tests/weak.rs`.

use std::fmt;

use crate::handles::{Receiver, Sender};
use crate::sync::{Arc, Ordering};
use crate::wait::Channel;

/// A sender that does not keep the queue open: made by [`Sender::downgrade`], turned back into
/// a [`Sender`] by [`upgrade`](WeakSender::upgrade) while another sender is alive.
///
/// Useful for a component that must be able to send while the queue is in use but must not
/// hold it open by itself (a supervisor, a callback registry).
///
/// ```
/// let (tx, rx) = segmq::unbounded();
/// let weak = tx.downgrade();
/// weak.upgrade().unwrap().send(1).unwrap();
/// drop(tx); // the last (strong) sender: the queue closes, the weak one does not hold it
/// assert!(weak.upgrade().is_none());
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
/// ```
pub struct WeakSender<T> {
    chan: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    /// A [`WeakSender`] of this channel: it can become a sender again while some sender is
    /// alive, and does not keep the queue open.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let weak = tx.downgrade();
    /// assert_eq!((tx.sender_count(), tx.weak_sender_count()), (1, 1));
    /// drop(weak);
    /// assert_eq!(tx.weak_sender_count(), 0);
    /// ```
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender::new(self.chan.clone())
    }

    /// Number of live [`WeakSender`]s (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let _w = (tx.downgrade(), tx.downgrade());
    /// assert_eq!(tx.weak_sender_count(), 2);
    /// ```
    pub fn weak_sender_count(&self) -> usize {
        self.chan.weak_senders.load(Ordering::Relaxed)
    }
}

impl<T> Receiver<T> {
    /// Number of live [`WeakSender`]s (a snapshot).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// let _weak = tx.downgrade();
    /// assert_eq!(rx.weak_sender_count(), 1);
    /// ```
    pub fn weak_sender_count(&self) -> usize {
        self.chan.weak_senders.load(Ordering::Relaxed)
    }
}

impl<T> WeakSender<T> {
    fn new(chan: Arc<Channel<T>>) -> Self {
        // Relaxed: a count for users only, made from a live handle (as `acquire_handle`).
        chan.weak_senders.fetch_add(1, Ordering::Relaxed);
        Self { chan }
    }

    /// A [`Sender`] again, if some sender is still alive; `None` once the last one was
    /// dropped (the queue is then closed, or being closed by that drop, for good).
    ///
    /// A queue closed by hand ([`Sender::close`]) while senders live still upgrades; the
    /// sender's sends fail as every other's.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// let weak = tx.downgrade();
    /// let tx2 = weak.upgrade().expect("tx is alive");
    /// drop(tx);
    /// tx2.send("still open").unwrap();
    /// drop(tx2);
    /// assert!(weak.upgrade().is_none());
    /// assert_eq!(rx.recv(), Ok("still open"));
    /// ```
    pub fn upgrade(&self) -> Option<Sender<T>> {
        if Channel::<T>::try_acquire_handle(&self.chan.senders) {
            Some(Sender::adopt(self.chan.clone()))
        } else {
            None
        }
    }

    /// Number of live (strong) senders (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let weak = tx.downgrade();
    /// assert_eq!(weak.sender_count(), 1);
    /// drop(tx);
    /// assert_eq!(weak.sender_count(), 0);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(Ordering::Relaxed)
    }

    /// Number of live weak senders, this one included (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let weak = tx.downgrade();
    /// assert_eq!(weak.clone().weak_sender_count(), 2);
    /// ```
    pub fn weak_sender_count(&self) -> usize {
        self.chan.weak_senders.load(Ordering::Relaxed)
    }

    /// Whether the queue is closed.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let weak = tx.downgrade();
    /// drop(tx);
    /// assert!(weak.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.flavor.is_closed()
    }

    /// Whether this weak sender and `other` belong to the same channel.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// assert!(tx.downgrade().same_channel(&tx));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for WeakSender<T> {
    /// Another weak sender of the same channel.
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for WeakSender<T> {
    fn drop(&mut self) {
        // Relaxed: a count for users only; nothing is decided on it.
        self.chan.weak_senders.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSender")
            .field("senders", &self.sender_count())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// As the strong handles (handles.rs): a weak sender only reads counts and upgrades.
impl<T> std::panic::UnwindSafe for WeakSender<T> {}
impl<T> std::panic::RefUnwindSafe for WeakSender<T> {}
