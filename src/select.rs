//! [`Select`]: block on several receivers (and senders) at once, taking one message from the
//! first receiver that has one, or sending into the first bounded queue with room, with an
//! optional timeout.
//!
//! # Design
//!
//! An arm never looks before it takes: every try is the receiver's own `try_recv` (or, when
//! waiting, its `poll_recv` step), which takes the message in one atomic step or takes
//! nothing. The first arm whose try succeeds is the chosen one and the round stops there, so a
//! message is only ever taken by the arm that returns it (exactly once, even when several arms
//! are ready). Rounds start at the arm after the previous round's start, so a busy first arm
//! cannot starve the others.
//!
//! Waiting reuses the async receive step: each arm polls its channel with one shared waker,
//! which registers it as a counted receive waiter there (`wait.rs`; `flavor/mod.rs`, "Waiter counts"); the
//! waker notifies the select's own event, on which the thread parks. Each round listens on that
//! event *before* it polls the arms, so a wake-up that comes after the poll finds the listener
//! and one that came before it is seen by the poll. When the select returns, every arm leaves
//! its channel's waiter count and drops its listener, passing on a notification it did not use
//! (the cancel safety of `Recv`). `loom-tests/select.rs` models it.
//!
//! A send arm is the mirror image: its try is `try_send`, which either moves the message into
//! the queue in one atomic step or gives it back (full), and the message lives in the caller's
//! `Option` between tries, so an arm that is not chosen leaves it there, unsent.

use std::fmt;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::{RecvError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use crate::handles::{Receiver, Sender};
use crate::sync::event::Event;
use crate::wait::{Channel, Waiter};
use crate::Queue;

/// A blocking select over several receivers and senders (of any message types): each receive
/// arm maps what its receiver gives (a message, or [`RecvError`] once that queue is closed and
/// drained) to the select's output `R`; each send arm ([`send`](Select::send)) maps the outcome
/// of its send.
///
/// Exactly once: [`wait`](Select::wait) completes exactly one arm, the one it returns: at most
/// one message is taken or sent; the other receivers keep theirs and the other send arms'
/// messages stay, unsent, in their `Option`s. A closed and drained receiver is always ready (with
/// `Err(RecvError)`), as in crossbeam-channel: drop its arm, or stop, when it reports closed.
///
/// ```
/// use segmq::{RecvError, Select};
///
/// let (nums_tx, nums) = segmq::unbounded::<u32>();
/// let (words_tx, words) = segmq::unbounded::<&str>();
/// let producer = std::thread::spawn(move || {
///     nums_tx.send_batch([1, 2, 3]).unwrap();
///     words_tx.send("four").unwrap();
/// }); // both senders are dropped here: both queues close
/// let (mut nums_open, mut words_open) = (true, true);
/// let mut seen = Vec::new();
/// while nums_open || words_open {
///     let mut sel = Select::new();
///     if nums_open {
///         sel = sel.recv(&nums, |m: Result<u32, RecvError>| m.map(|n| n.to_string()).map_err(|_| 0));
///     }
///     if words_open {
///         sel = sel.recv(&words, |m: Result<&str, RecvError>| m.map(str::to_owned).map_err(|_| 1));
///     }
///     match sel.wait() {
///         Ok(msg) => seen.push(msg),
///         Err(0) => nums_open = false, // closed and drained: stop selecting on it
///         Err(_) => words_open = false,
///     }
/// }
/// producer.join().unwrap();
/// seen.sort();
/// assert_eq!(seen, ["1", "2", "3", "four"]);
/// ```
#[must_use = "a select does nothing until `wait`, `wait_timeout` or `try_select`"]
pub struct Select<'a, R> {
    arms: Vec<Box<dyn Arm<R> + 'a>>,
    /// Where the next round starts (round robin).
    start: usize,
}

/// The error of [`Select::wait_timeout`] and [`Select::wait_deadline`]: no arm had a message
/// (nor was closed) before the deadline; nothing was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectTimeoutError;

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting on a select: no arm was ready")
    }
}

impl std::error::Error for SelectTimeoutError {}

impl<'a, R> Select<'a, R> {
    /// A select with no arm yet.
    ///
    /// ```
    /// let sel = segmq::Select::<()>::new();
    /// assert_eq!(sel.len(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            arms: Vec::new(),
            start: 0,
        }
    }

    /// Adds an arm on `rx`; `map` turns what it receives into the select's output.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(4).unwrap();
    /// let got = segmq::Select::new().recv(&rx, |m| m.unwrap() * 10).wait();
    /// assert_eq!(got, 40);
    /// ```
    pub fn recv<T: 'a>(
        mut self,
        rx: &'a Receiver<T>,
        map: impl FnMut(Result<T, RecvError>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(RecvArm::new(&rx.chan, map)));
        self
    }

    /// Adds an arm on a [`Queue`] handle; see [`recv`](Select::recv).
    ///
    /// ```
    /// let (a, b) = (segmq::Queue::unbounded(), segmq::Queue::unbounded());
    /// b.send("b").unwrap();
    /// let got = segmq::Select::new()
    ///     .recv_queue(&a, |m| (0, m))
    ///     .recv_queue(&b, |m| (1, m))
    ///     .wait();
    /// assert_eq!(got, (1, Ok("b")));
    /// assert_eq!(b.len(), 0);
    /// ```
    pub fn recv_queue<T: 'a>(
        mut self,
        queue: &'a Queue<T>,
        map: impl FnMut(Result<T, RecvError>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(RecvArm::new(&queue.chan, map)));
        self
    }

    /// Adds a send arm on `tx`: the arm is ready when the queue has room (always, unbounded)
    /// or is closed, and choosing it sends the message in `msg`. `map` gets `Ok(())` once the
    /// message is in the queue, or the closed queue's [`SendError`] with the message.
    ///
    /// The message stays in `msg` until its arm is chosen, so when another arm wins (or the
    /// wait times out) it is still there, unsent: exactly once either way. An empty `msg`
    /// makes an arm that is never ready.
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded::<&str>(1);
    /// tx.send("first").unwrap(); // full
    /// let (other_tx, other_rx) = segmq::unbounded::<u8>();
    /// other_tx.send(7).unwrap();
    /// let mut pending = Some("second");
    /// let got = segmq::Select::new()
    ///     .send(&tx, &mut pending, |sent| sent.map(|()| 0).unwrap_or(2))
    ///     .recv(&other_rx, |m| m.unwrap())
    ///     .wait();
    /// assert_eq!(got, 7, "the full queue's arm was not ready");
    /// assert_eq!(pending, Some("second"), "so its message is still here");
    /// assert_eq!(rx.recv(), Ok("first")); // room now
    /// let sent = segmq::Select::new().send(&tx, &mut pending, |sent| sent.is_ok()).wait();
    /// assert!(sent && pending.is_none());
    /// assert_eq!(rx.recv(), Ok("second"));
    /// ```
    pub fn send<T: 'a>(
        mut self,
        tx: &'a Sender<T>,
        msg: &'a mut Option<T>,
        map: impl FnMut(Result<(), SendError<T>>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(SendArm {
            chan: &tx.chan,
            waiter: Waiter::new(),
            msg,
            map,
        }));
        self
    }

    /// Adds a send arm on a [`Queue`] handle; see [`send`](Select::send).
    ///
    /// ```
    /// let q = segmq::Queue::bounded(1);
    /// let mut msg = Some(5);
    /// assert!(segmq::Select::new().send_queue(&q, &mut msg, |r| r.is_ok()).wait());
    /// assert_eq!((q.recv(), msg), (Ok(5), None));
    /// ```
    pub fn send_queue<T: 'a>(
        mut self,
        queue: &'a Queue<T>,
        msg: &'a mut Option<T>,
        map: impl FnMut(Result<(), SendError<T>>) -> R + 'a,
    ) -> Self {
        self.arms.push(Box::new(SendArm {
            chan: &queue.chan,
            waiter: Waiter::new(),
            msg,
            map,
        }));
        self
    }

    /// Number of arms.
    pub fn len(&self) -> usize {
        self.arms.len()
    }

    /// Whether the select has no arm.
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
    }

    /// Takes one message (or one "closed") from the first arm that has one now, without
    /// waiting; `None` if no arm is ready.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// let mut sel = segmq::Select::new().recv(&rx, |m| m);
    /// assert_eq!(sel.try_select(), None);
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_select(), Some(Ok(1)));
    /// ```
    pub fn try_select(&mut self) -> Option<R> {
        let start = self.next_start();
        self.try_round(start)
    }

    /// Blocks until an arm has a message (or is closed and drained) and returns its output.
    ///
    /// # Panics
    ///
    /// If the select has no arm (it would wait forever).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// let (_keep, idle) = segmq::unbounded::<u8>();
    /// let sender = std::thread::spawn(move || tx.send(9).unwrap());
    /// let got = segmq::Select::new()
    ///     .recv(&idle, |_| None)
    ///     .recv(&rx, |m| m.ok())
    ///     .wait();
    /// assert_eq!(got, Some(9));
    /// sender.join().unwrap();
    /// ```
    pub fn wait(&mut self) -> R {
        self.wait_until(None)
            .expect("no deadline: the wait ends with an arm")
    }

    /// [`wait`](Select::wait) for at most `timeout`; on timeout nothing was taken.
    ///
    /// # Panics
    ///
    /// If the select has no arm.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// let mut sel = segmq::Select::new().recv(&rx, |m| m);
    /// assert_eq!(sel.wait_timeout(Duration::from_millis(1)), Err(segmq::SelectTimeoutError));
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<R, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => Ok(self.wait()),
        }
    }

    /// [`wait`](Select::wait) until `deadline` at the latest; on timeout nothing was taken.
    ///
    /// # Panics
    ///
    /// If the select has no arm.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// tx.send(2).unwrap();
    /// let mut sel = segmq::Select::new().recv(&rx, |m| m);
    /// assert_eq!(sel.wait_deadline(Instant::now() + Duration::from_secs(1)), Ok(Ok(2)));
    /// ```
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<R, SelectTimeoutError> {
        self.wait_until(Some(deadline)).ok_or(SelectTimeoutError)
    }

    fn next_start(&mut self) -> usize {
        let start = self.start;
        self.start = if self.arms.is_empty() {
            0
        } else {
            (start + 1) % self.arms.len()
        };
        start
    }

    /// One non-waiting try of every arm from `start`, stopping at the first that takes.
    fn try_round(&mut self, start: usize) -> Option<R> {
        let n = self.arms.len();
        (0..n).find_map(|i| self.arms[(start + i) % n].try_take())
    }

    /// One registering poll of every arm from `start`, stopping at the first that takes.
    fn poll_round(&mut self, start: usize, cx: &mut Context<'_>) -> Option<R> {
        let n = self.arms.len();
        (0..n).find_map(|i| match self.arms[(start + i) % n].poll_take(cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<R> {
        assert!(
            !self.arms.is_empty(),
            "Select::wait on a select with no arm would wait forever"
        );
        let start = self.next_start();
        if let Some(out) = self.try_round(start) {
            return Some(out);
        }
        let wake = std::sync::Arc::new(SelectWake(Event::new()));
        let waker = Waker::from(wake.clone());
        let mut cx = Context::from_waker(&waker);
        let out = loop {
            // Listen first, then poll (see the module docs).
            let listener = wake.0.listen();
            if let Some(out) = self.poll_round(start, &mut cx) {
                break Some(out);
            }
            let woken = match deadline {
                None => {
                    listener.wait();
                    true
                }
                Some(deadline) => listener.wait_deadline(deadline),
            };
            if !woken {
                // Timed out: one last look, so a message that came at the deadline is taken
                // (by this arm only) rather than reported as a timeout.
                break self.try_round(start);
            }
        };
        for arm in &mut self.arms {
            arm.cancel();
        }
        out
    }
}

impl<R> Default for Select<'_, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Drop for Select<'_, R> {
    fn drop(&mut self) {
        for arm in &mut self.arms {
            arm.cancel();
        }
    }
}

impl<R> fmt::Debug for Select<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("arms", &self.arms.len())
            .finish_non_exhaustive()
    }
}

/// The waker every arm registers: it wakes the selecting thread's listener.
struct SelectWake(Event);

impl Wake for SelectWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify_all();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.notify_all();
    }
}

/// One arm, with its message type erased.
trait Arm<R> {
    /// Takes a message (or "closed") now, without registering; `None` if empty.
    fn try_take(&mut self) -> Option<R>;
    /// Takes a message (or "closed"), or registers `cx`'s waker as a counted waiter (of the
    /// receive side; a send arm: of the send side, for room).
    fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<R>;
    /// Leaves the waiter count and drops the listener, if registered.
    fn cancel(&mut self);
}

struct RecvArm<'a, T, F> {
    chan: &'a Channel<T>,
    waiter: Waiter,
    map: F,
}

impl<'a, T, F> RecvArm<'a, T, F> {
    fn new(chan: &'a Channel<T>, map: F) -> Self {
        Self {
            chan,
            waiter: Waiter::new(),
            map,
        }
    }
}

impl<T, R, F: FnMut(Result<T, RecvError>) -> R> Arm<R> for RecvArm<'_, T, F> {
    fn try_take(&mut self) -> Option<R> {
        match self.chan.try_recv() {
            Ok((_, msg)) => Some((self.map)(Ok(msg))),
            Err(TryRecvError::Closed) => Some((self.map)(Err(RecvError))),
            Err(TryRecvError::Empty) => None,
        }
    }

    fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<R> {
        self.chan
            .poll_recv(&mut self.waiter, cx)
            .map(|got| (self.map)(got.map(|(_, msg)| msg)))
    }

    fn cancel(&mut self) {
        self.chan.cancel_recv(&mut self.waiter);
    }
}

struct SendArm<'a, T, F> {
    chan: &'a Channel<T>,
    waiter: Waiter,
    /// The caller's message: taken for each try, put back when the queue is full.
    msg: &'a mut Option<T>,
    map: F,
}

impl<T, R, F: FnMut(Result<(), SendError<T>>) -> R> Arm<R> for SendArm<'_, T, F> {
    fn try_take(&mut self) -> Option<R> {
        let msg = self.msg.take()?;
        match self.chan.try_send(msg) {
            Ok(_) => Some((self.map)(Ok(()))),
            Err(TrySendError::Closed(msg)) => Some((self.map)(Err(SendError(msg)))),
            Err(TrySendError::Full(msg)) => {
                *self.msg = Some(msg);
                None
            }
        }
    }

    fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<R> {
        if self.msg.is_none() {
            return Poll::Pending;
        }
        // `poll_send` puts the message back into the slot when the queue is full.
        self.chan
            .poll_send(self.msg, &mut self.waiter, cx)
            .map(|sent| match sent {
                Ok(_) => (self.map)(Ok(())),
                Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                    (self.map)(Err(SendError(msg)))
                }
            })
    }

    fn cancel(&mut self) {
        self.chan.cancel_send(&mut self.waiter);
    }
}
