//! One interface over segmq's two handle kinds, so each check drives `Queue<T>` and the
//! `Sender<T>`/`Receiver<T>` channel halves with the same operations: [`Tx`] is the sending half
//! (implemented by `Queue` and `Sender`), [`Rx`] the receiving half (`Queue` and `Receiver`),
//! [`Shared`] what both halves have.

use std::time::{Duration, Instant};

use segmq::{
    Queue, Receiver, Recv, RecvBatch, RecvError, RecvTimeoutError, SendBatchError, SendError,
    SendTimeoutError, Sender, TryIter, TryRecvError, TrySendError,
};

use crate::common::Tracked;

/// What both halves offer.
pub trait Shared {
    /// `close`.
    fn close(&self) -> bool;
    /// `len`.
    fn len(&self) -> usize;
    /// `is_empty`.
    fn is_empty(&self) -> bool;
    /// `capacity`.
    fn capacity(&self) -> Option<usize>;
}

/// The sending half.
pub trait Tx: Shared {
    /// `send`.
    fn send(&self, m: Tracked) -> Result<(), SendError<Tracked>>;
    /// `try_send`.
    fn try_send(&self, m: Tracked) -> Result<(), TrySendError<Tracked>>;
    /// `send_timeout`.
    fn send_timeout(&self, m: Tracked, t: Duration) -> Result<(), SendTimeoutError<Tracked>>;
    /// `send_deadline`.
    fn send_deadline(&self, m: Tracked, d: Instant) -> Result<(), SendTimeoutError<Tracked>>;
    /// `send_async`.
    fn send_async(&self, m: Tracked) -> segmq::SendFut<'_, Tracked>;
    /// `send_batch`.
    fn send_batch(&self, ms: Vec<Tracked>) -> Result<usize, SendBatchError<Tracked>>;
    /// `try_send_batch`.
    fn try_send_batch(&self, ms: Vec<Tracked>) -> Result<usize, SendBatchError<Tracked>>;
    /// `clone`, boxed.
    fn clone_tx(&self) -> Box<dyn Tx + Send>;
}

/// The receiving half.
pub trait Rx: Shared {
    /// `recv`.
    fn recv(&self) -> Result<Tracked, RecvError>;
    /// `try_recv`.
    fn try_recv(&self) -> Result<Tracked, TryRecvError>;
    /// `recv_timeout`.
    fn recv_timeout(&self, t: Duration) -> Result<Tracked, RecvTimeoutError>;
    /// `recv_deadline`.
    fn recv_deadline(&self, d: Instant) -> Result<Tracked, RecvTimeoutError>;
    /// `recv_async`.
    fn recv_async(&self) -> Recv<'_, Tracked>;
    /// `recv_batch`.
    fn recv_batch(&self, buf: &mut Vec<Tracked>, max: usize) -> Result<usize, RecvError>;
    /// `try_recv_batch`.
    fn try_recv_batch(&self, buf: &mut Vec<Tracked>, max: usize) -> Result<usize, TryRecvError>;
    /// `recv_batch_async`.
    fn recv_batch_async<'a>(
        &'a self,
        buf: &'a mut Vec<Tracked>,
        max: usize,
    ) -> RecvBatch<'a, Tracked>;
    /// `try_iter`.
    fn try_iter(&self) -> TryIter<'_, Tracked>;
    /// `iter` to the end, collected.
    fn iter_all(&self) -> Vec<Tracked>;
    /// `clone`, boxed.
    fn clone_rx(&self) -> Box<dyn Rx + Send>;
}

macro_rules! shared {
    ($ty:ident) => {
        impl Shared for $ty<Tracked> {
            fn close(&self) -> bool {
                $ty::close(self)
            }
            fn len(&self) -> usize {
                $ty::len(self)
            }
            fn is_empty(&self) -> bool {
                $ty::is_empty(self)
            }
            fn capacity(&self) -> Option<usize> {
                $ty::capacity(self)
            }
        }
    };
}

macro_rules! tx {
    ($ty:ident) => {
        impl Tx for $ty<Tracked> {
            fn send(&self, m: Tracked) -> Result<(), SendError<Tracked>> {
                $ty::send(self, m)
            }
            fn try_send(&self, m: Tracked) -> Result<(), TrySendError<Tracked>> {
                $ty::try_send(self, m)
            }
            fn send_timeout(
                &self,
                m: Tracked,
                t: Duration,
            ) -> Result<(), SendTimeoutError<Tracked>> {
                $ty::send_timeout(self, m, t)
            }
            fn send_deadline(
                &self,
                m: Tracked,
                d: Instant,
            ) -> Result<(), SendTimeoutError<Tracked>> {
                $ty::send_deadline(self, m, d)
            }
            fn send_async(&self, m: Tracked) -> segmq::SendFut<'_, Tracked> {
                $ty::send_async(self, m)
            }
            fn send_batch(&self, ms: Vec<Tracked>) -> Result<usize, SendBatchError<Tracked>> {
                $ty::send_batch(self, ms)
            }
            fn try_send_batch(&self, ms: Vec<Tracked>) -> Result<usize, SendBatchError<Tracked>> {
                $ty::try_send_batch(self, ms)
            }
            fn clone_tx(&self) -> Box<dyn Tx + Send> {
                Box::new(self.clone())
            }
        }
    };
}

macro_rules! rx {
    ($ty:ident) => {
        impl Rx for $ty<Tracked> {
            fn recv(&self) -> Result<Tracked, RecvError> {
                $ty::recv(self)
            }
            fn try_recv(&self) -> Result<Tracked, TryRecvError> {
                $ty::try_recv(self)
            }
            fn recv_timeout(&self, t: Duration) -> Result<Tracked, RecvTimeoutError> {
                $ty::recv_timeout(self, t)
            }
            fn recv_deadline(&self, d: Instant) -> Result<Tracked, RecvTimeoutError> {
                $ty::recv_deadline(self, d)
            }
            fn recv_async(&self) -> Recv<'_, Tracked> {
                $ty::recv_async(self)
            }
            fn recv_batch(&self, buf: &mut Vec<Tracked>, max: usize) -> Result<usize, RecvError> {
                $ty::recv_batch(self, buf, max)
            }
            fn try_recv_batch(
                &self,
                buf: &mut Vec<Tracked>,
                max: usize,
            ) -> Result<usize, TryRecvError> {
                $ty::try_recv_batch(self, buf, max)
            }
            fn recv_batch_async<'a>(
                &'a self,
                buf: &'a mut Vec<Tracked>,
                max: usize,
            ) -> RecvBatch<'a, Tracked> {
                $ty::recv_batch_async(self, buf, max)
            }
            fn try_iter(&self) -> TryIter<'_, Tracked> {
                $ty::try_iter(self)
            }
            fn iter_all(&self) -> Vec<Tracked> {
                $ty::iter(self).collect()
            }
            fn clone_rx(&self) -> Box<dyn Rx + Send> {
                Box::new(self.clone())
            }
        }
    };
}

shared!(Queue);
shared!(Sender);
shared!(Receiver);
tx!(Queue);
tx!(Sender);
rx!(Queue);
rx!(Receiver);
