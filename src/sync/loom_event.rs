//! A loom-backed stand-in for `event-listener`, with the contract segmq relies on:
//!
//! 1. a listener registered (by `listen`) before a notification is issued receives it;
//! 2. `notify_one_more` notifies one listener that was not notified yet, in FIFO order;
//! 3. `notify_all` notifies every registered listener;
//! 4. a listener dropped after being notified, without having consumed the notification,
//!    passes it on to one more listener.
//!
//! It is deliberately simple (a `Mutex<Vec<_>>`); loom explores its interleavings like the rest.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use loom::sync::{Arc, Mutex};
use loom::thread::Thread;

#[derive(Debug)]
struct Entry {
    id: u64,
    notified: bool,
    waker: Option<Waker>,
    thread: Option<Thread>,
}

impl Entry {
    fn notify(&mut self) {
        self.notified = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        if let Some(t) = self.thread.take() {
            t.unpark();
        }
    }
}

#[derive(Debug, Default)]
struct List {
    next_id: u64,
    entries: Vec<Entry>,
}

impl List {
    fn notify_additional(&mut self, mut n: usize) {
        for e in self.entries.iter_mut().filter(|e| !e.notified) {
            if n == 0 {
                break;
            }
            e.notify();
            n -= 1;
        }
    }
}

/// Loom stand-in for `event_listener::Event`.
#[derive(Debug, Default)]
pub(crate) struct Event {
    list: Arc<Mutex<List>>,
}

impl Event {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn listen(&self) -> Listener {
        let mut list = self.list.lock().unwrap();
        let id = list.next_id;
        list.next_id += 1;
        list.entries.push(Entry {
            id,
            notified: false,
            waker: None,
            thread: None,
        });
        Listener {
            list: self.list.clone(),
            id,
            done: false,
        }
    }

    pub(crate) fn notify_one_more(&self) {
        self.list.lock().unwrap().notify_additional(1);
    }

    pub(crate) fn notify_more(&self, n: usize) {
        self.list.lock().unwrap().notify_additional(n);
    }

    pub(crate) fn notify_all(&self) {
        self.list.lock().unwrap().notify_additional(usize::MAX);
    }
}

/// Loom stand-in for `event_listener::EventListener`.
#[derive(Debug)]
pub(crate) struct Listener {
    list: Arc<Mutex<List>>,
    id: u64,
    done: bool,
}

impl Listener {
    /// Takes the notification if it arrived (removing the entry); otherwise stores the waiter.
    fn take_or_register(&mut self, waker: Option<&Waker>) -> bool {
        let mut list = self.list.lock().unwrap();
        let pos = list
            .entries
            .iter()
            .position(|e| e.id == self.id)
            .expect("listener entry present until consumed");
        if list.entries[pos].notified {
            list.entries.remove(pos);
            self.done = true;
            return true;
        }
        let entry = &mut list.entries[pos];
        match waker {
            Some(w) => entry.waker = Some(w.clone()),
            None => entry.thread = Some(loom::thread::current()),
        }
        false
    }

    pub(crate) fn wait(mut self) {
        while !self.take_or_register(None) {
            loom::thread::park();
        }
    }

    /// Timeouts are not modelled: models must not use deadlines.
    pub(crate) fn wait_deadline(self, _deadline: Instant) -> bool {
        unimplemented!("deadlines are not modelled under loom")
    }
}

impl Future for Listener {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.take_or_register(Some(cx.waker())) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut list = self.list.lock().unwrap();
        if let Some(pos) = list.entries.iter().position(|e| e.id == self.id) {
            let entry = list.entries.remove(pos);
            if entry.notified {
                // Contract 4: pass an unconsumed notification on.
                list.notify_additional(1);
            }
        }
    }
}
