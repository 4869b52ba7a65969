//! Target `mq_ops`: sequences of `Mq` calls (register, register_async, durable queues, publish
//! in every form, publisher lookup, start, stop, stop_timeout, two concurrent stops, stats,
//! drain_left, dropping the `Mq` and registering the durable queues again) on up to three named
//! queue slots, with handlers whose behaviour per attempt (ok, error, panic, sleep then
//! ok/error) the input chooses. Async handlers (feature `tokio`) and durable queues (feature
//! `durable`, a log directory per slot in a temporary directory) are what the input asks for
//! where the build has them, and thread handlers / in-memory queues otherwise.
//!
//! Checked:
//! * every call in the wrong state or with bad arguments is an error, never a panic: duplicate
//!   name, concurrency 0, capacity 0, register or start after stop, start twice, publish after
//!   stop (data given back), unknown name, wrong message type (by name and by `publisher::<T>`);
//! * the accounting invariant: after the final `stop`, every message published `Ok` was handled
//!   ok, dead-lettered, or returned by `drain_left`, exactly once; it is handled ok exactly when
//!   one of its allowed attempts succeeds, and returned as leftover only if a `stop_timeout` or a
//!   stop without start allowed that; the handler sees the ID the publish returned and attempts
//!   1, 2, ... up to the policy's maximum;
//! * the counters (`stats`, `StopReport`) agree with what the handlers saw;
//! * drops: in the end every message was dropped exactly once (nothing leaked, nothing twice);
//! * durable queues, across lives (`Restart`: the `Mq` ends by stop, stop_timeout or drop, its
//!   publishers are dropped, and a new `Mq` registers the durable slots again on the same
//!   directories): exactly the messages of a life that were neither handled ok nor
//!   dead-lettered (its leftovers) come back at the next durable registration of the slot, with
//!   their IDs and plans, and are then accounted like the others; new IDs are above every ID
//!   given before (monotonic across lives); at the end, a last registration of each durable
//!   slot gives back exactly what is still pending.
//!
//! A "crash" here is the end of a life without a graceful stop (a `stop_timeout` whose deadline
//! passed, then the drop, which detaches the busy workers); a real `kill -9` is the crash test's
//! job (`tests/durable.rs`). Before registering a directory again the checker waits (yielding,
//! with a 60 s limit that is a failure) until the previous life's workers are gone and its lock
//! is free.
//!
//! Work per input is bounded: at most 32 calls and 48 messages, 2 restarts, sleeps and retry delays of at
//! most 0.75 ms, concurrency at most 2. A blocking publish that could wait forever (a full bounded
//! queue before `start`) becomes `try_publish` (expected `Full`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use segmq::{Mq, MqError, Msg, PublishError, Publisher, QueueOptions, RetryPolicy};

use crate::common::{
    planted_panic, poll_settled, silence_planted_panics, DropLog, Tracked, WakeCounter,
};

/// Most calls per input.
pub const MAX_OPS: usize = 32;
/// Most messages published per input.
pub const MAX_MESSAGES: u64 = 48;
/// Queue slots: names `q0`, `q1`, `q2`.
const SLOTS: usize = 3;
/// Most restarts (new lives of the `Mq`) per input.
const MAX_RESTARTS: u32 = 2;
/// How long the checker waits for a previous life's workers to exit and its log lock to be
/// released before it calls that a hang.
const EXIT_LIMIT: Duration = Duration::from_secs(60);

/// What a handler does on one attempt.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Returns `Ok`.
    Ok,
    /// Returns `Err`.
    Err,
    /// Panics.
    Panic,
    /// Sleeps `n % 4 * 250` µs, then returns `Ok`.
    SleepOk(u8),
    /// Sleeps `n % 4 * 250` µs, then returns `Err`.
    SleepErr(u8),
}

impl Step {
    fn succeeds(self) -> bool {
        matches!(self, Step::Ok | Step::SleepOk(_))
    }
    /// One byte for the log (a sleep keeps only what it means, `n % 4`).
    fn encode(self) -> u8 {
        match self {
            Step::Ok => 0,
            Step::Err => 1,
            Step::Panic => 2,
            Step::SleepOk(n) => 4 + n % 4,
            Step::SleepErr(n) => 8 + n % 4,
        }
    }
    fn decode(b: u8) -> Option<Self> {
        Some(match b {
            0 => Step::Ok,
            1 => Step::Err,
            2 => Step::Panic,
            4..=7 => Step::SleepOk(b - 4),
            8..=11 => Step::SleepErr(b - 8),
            _ => return None,
        })
    }
}

/// A message's plan: attempt `a` does `steps[(a - 1) % 3]`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The steps.
    pub steps: [Step; 3],
}

impl Plan {
    fn step(&self, attempt: u32) -> Step {
        self.steps[(attempt.max(1) as usize - 1) % 3]
    }
    /// The attempt that succeeds, if one of the first `max_attempts` does.
    fn success_attempt(&self, max_attempts: u32) -> Option<u32> {
        (1..=max_attempts).find(|&a| self.step(a).succeeds())
    }
}

/// How a queue's handler runs and whether its messages are logged.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `register_with`: worker threads, in memory.
    Threads,
    /// `register_async` (feature `tokio`; threads without it).
    Async,
    /// `register_with` on a durable queue (feature `durable`; in memory without it).
    Durable,
    /// `register_async` on a durable queue.
    AsyncDurable,
}

/// The dead-letter handler a queue gets.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetter {
    /// None: segmq logs and counts.
    Default,
    /// Records the message.
    Record,
    /// Records the message, then panics.
    RecordThenPanic,
}

/// How a queue is registered.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Concurrency `n % 3` (0 is an error).
    pub concurrency: u8,
    /// Bounded capacity `n % 5` (0 is an error), or unbounded.
    pub capacity: Option<u8>,
    /// Attempts in all: `1 + n % 3`.
    pub attempts: u8,
    /// Retry delay `n % 4 * 250` µs.
    pub delay: u8,
    /// Exponential backoff (capped at 0.75 ms) instead of fixed.
    pub exponential: bool,
    /// Dead-letter handler.
    pub dead_letter: DeadLetter,
    /// Threads or async, in memory or durable.
    pub kind: Kind,
    /// A durable queue's sync policy: `n % 3` = always, every 0.25 ms, OS-buffered.
    pub sync: u8,
}

impl Spec {
    fn concurrency(&self) -> usize {
        usize::from(self.concurrency % 3)
    }
    fn capacity(&self) -> Option<usize> {
        self.capacity.map(|c| usize::from(c % 5))
    }
    fn attempts(&self) -> u32 {
        1 + u32::from(self.attempts % 3)
    }
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn is_async(&self) -> bool {
        cfg!(feature = "tokio") && matches!(self.kind, Kind::Async | Kind::AsyncDurable)
    }
    fn is_durable(&self) -> bool {
        cfg!(feature = "durable") && matches!(self.kind, Kind::Durable | Kind::AsyncDurable)
    }
    fn policy(&self) -> RetryPolicy {
        let delay = quarter_ms(self.delay);
        if self.exponential {
            RetryPolicy::exponential(self.attempts(), delay, Duration::from_micros(750))
        } else {
            RetryPolicy::fixed(self.attempts(), delay)
        }
    }
}

/// One call.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum MqOp {
    /// `register_with("q{slot % 3}", ..)` with a message plan handler.
    Register {
        /// Slot.
        slot: u8,
        /// Options.
        spec: Spec,
    },
    /// `register("q{slot % 3}", 1, ..)` with another message type (`u64`).
    RegisterOther {
        /// Slot.
        slot: u8,
    },
    /// `Publisher::publish`.
    Publish {
        /// Slot.
        slot: u8,
        /// The message's plan.
        plan: Plan,
    },
    /// `Publisher::try_publish`.
    TryPublish {
        /// Slot.
        slot: u8,
        /// The message's plan.
        plan: Plan,
    },
    /// `Mq::publish` by name.
    PublishByName {
        /// Slot.
        slot: u8,
        /// The message's plan.
        plan: Plan,
    },
    /// `Publisher::publish_async`, polled once, dropped if pending.
    PublishAsync {
        /// Slot.
        slot: u8,
        /// The message's plan.
        plan: Plan,
    },
    /// `Publisher::publish_batch` (up to 4 messages).
    PublishBatch {
        /// Slot.
        slot: u8,
        /// The messages' plans.
        plans: Vec<Plan>,
    },
    /// `Mq::publish` by name of a `u64`.
    PublishOther {
        /// Slot.
        slot: u8,
    },
    /// `Mq::publisher::<T>` for the message type or for `u64`; a found publisher replaces ours.
    Lookup {
        /// Slot.
        slot: u8,
        /// Ask for `u64` instead of the message type.
        other_type: bool,
    },
    /// `Mq::start`.
    Start,
    /// `Mq::stop`.
    Stop,
    /// `Mq::stop_timeout(n % 4 * 250 µs)`.
    StopTimeout(u8),
    /// `Mq::stats` and `Publisher::stats`.
    Stats {
        /// Slot.
        slot: u8,
    },
    /// `Publisher::drain_left`.
    DrainLeft {
        /// Slot.
        slot: u8,
    },
    /// Sleep `n % 4 * 250` µs.
    Sleep(u8),
    /// Two threads stop the `Mq` at once: `None` is `stop()`, `Some(n)` is
    /// `stop_timeout(n % 4 * 250 µs)`.
    StopConcurrently {
        /// The first thread's call.
        first: Option<u8>,
        /// The second thread's call.
        second: Option<u8>,
    },
    /// Ends this life of the `Mq` (as `how` says; the publishers are dropped too), accounts for
    /// every message, and starts a new, idle `Mq` in which the durable slots are registered
    /// again with their options (at most [`MAX_RESTARTS`] times per input).
    Restart(End),
}

/// How a life of the `Mq` ends.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `stop()`, then the drop.
    Stop,
    /// `stop_timeout(n % 4 * 250 µs)`, then the drop (which detaches workers still busy).
    StopTimeout(u8),
    /// Only the drop (which stops, or detaches after an earlier timed-out stop).
    Drop,
}

/// A decoded input.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The calls (the first [`MAX_OPS`] run).
    pub ops: Vec<MqOp>,
}

/// Decodes `data` and runs it; panics on a broken invariant.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

fn quarter_ms(n: u8) -> Duration {
    Duration::from_micros(u64::from(n % 4) * 250)
}

fn name(slot: u8) -> String {
    format!("q{}", usize::from(slot) % SLOTS)
}

/// The message type: a token (unique per input message) and its plan. The drop log is keyed by
/// the `Tracked`'s own id, unique per *object*: a message recovered from a log is a new object
/// (a new drop id, producer 1) carrying the original token as its `seq`.
#[derive(Debug)]
pub struct Job {
    token: Tracked,
    plan: Plan,
}

impl Job {
    fn token(&self) -> u64 {
        self.token.seq
    }
}

/// Where a recovered [`Job`] reports its drop: set around a durable registration (recovery
/// decodes on the registering thread).
struct Recovering {
    log: Arc<DropLog>,
    next_object: Arc<AtomicU64>,
}

thread_local! {
    static RECOVERING: RefCell<Option<Recovering>> = const { RefCell::new(None) };
}

impl serde::Serialize for Job {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.plan.steps;
        (self.token(), [p[0].encode(), p[1].encode(), p[2].encode()]).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Job {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (token, code) = <(u64, [u8; 3])>::deserialize(d)?;
        let step = |b| Step::decode(b).ok_or_else(|| D::Error::custom("not a step"));
        let plan = Plan {
            steps: [step(code[0])?, step(code[1])?, step(code[2])?],
        };
        RECOVERING.with(|r| match &*r.borrow() {
            Some(rec) => {
                let object = rec.next_object.fetch_add(1, Ordering::Relaxed);
                Ok(Job {
                    token: Tracked::new(object, 1, token, &rec.log),
                    plan,
                })
            }
            None => Err(D::Error::custom("a Job decoded outside a registration")),
        })
    }
}

/// What the handlers saw, shared with them.
#[derive(Debug, Default)]
struct Seen {
    /// `(token, msg id, attempt)` of each message handled ok.
    ok: Vec<(u64, u64, u32)>,
    /// `(token, msg id, attempt)` of each message given to a recording dead-letter handler.
    dead: Vec<(u64, u64, u32)>,
    /// Handler calls that returned `Err`.
    failed_calls: u64,
    /// Handler calls that panicked.
    panicked_calls: u64,
    /// Broken invariants seen inside handlers (asserting there would only be caught).
    errors: Vec<String>,
}

type SeenRef = Arc<Mutex<Seen>>;

fn lock_seen(s: &SeenRef) -> std::sync::MutexGuard<'_, Seen> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registered slot, in the model.
enum Slot {
    Jobs(JobSlot),
    Other {
        publisher: Publisher<u64>,
        published: u64,
    },
}

struct JobSlot {
    publisher: Publisher<Job>,
    spec: Spec,
    /// Messages published while the `Mq` had never run (the queue depth then).
    depth_before_start: usize,
    /// token -> (msg id, plan) of each message published `Ok`.
    published: HashMap<u64, (u64, Plan)>,
    /// token -> (msg id, attempt) of each message `drain_left` returned.
    left: HashMap<u64, (u64, u32)>,
    seen: SeenRef,
    /// For a durable queue, the highest ID given on its log before this registration: every
    /// new ID must be above it.
    id_floor: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Stopped,
}

/// What a slot's log directory holds, across lives.
#[derive(Debug, Default)]
struct Disk {
    /// The options of the slot's latest durable registration (registered again at restart).
    spec: Option<Spec>,
    /// token -> (msg id, plan) of the messages pending in the log (no "done" record).
    pending: HashMap<u64, (u64, Plan)>,
    /// The highest ID given on the log.
    max_id: Option<u64>,
}

/// The checker's state for one input.
struct Run {
    mq: Mq,
    state: State,
    slots: [Option<Slot>; SLOTS],
    log: Arc<DropLog>,
    /// Drop-log ids handed out so far (fresh messages and recovered copies).
    next_object: Arc<AtomicU64>,
    /// Fresh messages made so far (at most [`MAX_MESSAGES`]).
    made: u64,
    /// Whether leftovers are allowed in this life (a stop_timeout, or a stop before any start).
    leftovers_allowed: bool,
    restarts: u32,
    disk: [Disk; SLOTS],
    /// The slots' log directories (`q0`, `q1`, `q2` in it), made at the first durable
    /// registration; declared last, so it is removed after the `Mq` and the publishers.
    dir: Option<tempfile::TempDir>,
}

/// Runs one input.
pub fn check(input: &Input) {
    silence_planted_panics();
    let mut run = Run {
        mq: Mq::new(),
        state: State::Idle,
        slots: [None, None, None],
        log: DropLog::new(),
        next_object: Arc::default(),
        made: 0,
        leftovers_allowed: false,
        restarts: 0,
        disk: Default::default(),
        dir: None,
    };
    for (step, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let ctx = format!("step {step}: {op:?}");
        run.step(op, &ctx);
    }
    run.finish();
}

impl Run {
    fn job(&mut self, plan: Plan) -> Option<Job> {
        if self.made >= MAX_MESSAGES {
            return None;
        }
        self.made += 1;
        // A fresh message's token is its drop-log id.
        let object = self.next_object.fetch_add(1, Ordering::Relaxed);
        let token = Tracked::new(object, 0, object, &self.log);
        Some(Job { token, plan })
    }

    fn step(&mut self, op: &MqOp, ctx: &str) {
        match *op {
            MqOp::Register { slot, spec } => self.register(slot, spec, ctx),
            MqOp::RegisterOther { slot } => {
                let result = self
                    .mq
                    .register(&name(slot), 1, |_: &Msg<u64>| Ok::<_, MqError>(()));
                let i = usize::from(slot) % SLOTS;
                match result {
                    Ok(publisher) => {
                        assert!(
                            self.state != State::Stopped && self.slots[i].is_none(),
                            "register accepted ({ctx})"
                        );
                        self.slots[i] = Some(Slot::Other {
                            publisher,
                            published: 0,
                        });
                    }
                    Err(MqError::Stopped) => assert_eq!(self.state, State::Stopped, "{ctx}"),
                    Err(MqError::DuplicateQueue(n)) => {
                        assert!(self.slots[i].is_some(), "duplicate of nothing ({ctx})");
                        assert_eq!(n, name(slot), "{ctx}");
                    }
                    Err(e) => panic!("register: unexpected {e:?} ({ctx})"),
                }
            }
            MqOp::Publish { slot, plan }
            | MqOp::TryPublish { slot, plan }
            | MqOp::PublishByName { slot, plan }
            | MqOp::PublishAsync { slot, plan } => {
                if let Some(job) = self.job(plan) {
                    self.publish_one(op, slot, job, ctx);
                }
            }
            MqOp::PublishBatch { slot, ref plans } => self.publish_batch(slot, plans, ctx),
            MqOp::PublishOther { slot } => {
                let i = usize::from(slot) % SLOTS;
                let result = self.mq.publish(&name(slot), 7u64);
                match (&mut self.slots[i], result) {
                    (Some(Slot::Other { published, .. }), Ok(_)) => {
                        assert_ne!(self.state, State::Stopped, "published after stop ({ctx})");
                        *published += 1;
                    }
                    (Some(Slot::Other { .. }), Err(PublishError::Closed(7))) => {
                        assert_eq!(self.state, State::Stopped, "Closed before stop ({ctx})");
                    }
                    (Some(Slot::Jobs(_)), Err(PublishError::TypeMismatch(7))) => {}
                    (None, Err(PublishError::UnknownQueue(7))) => {}
                    (_, r) => panic!("publish u64: unexpected {r:?} ({ctx})"),
                }
            }
            MqOp::Lookup { slot, other_type } => self.lookup(slot, other_type, ctx),
            MqOp::Start => {
                let result = self.mq.start();
                match self.state {
                    State::Idle => {
                        assert_eq!(result, Ok(()), "{ctx}");
                        self.state = State::Running;
                    }
                    State::Running => assert_eq!(result, Err(MqError::AlreadyRunning), "{ctx}"),
                    State::Stopped => assert_eq!(result, Err(MqError::Stopped), "{ctx}"),
                }
            }
            MqOp::Stop => {
                if self.state != State::Running {
                    self.leftovers_allowed = true;
                }
                self.mq.stop();
                self.state = State::Stopped;
            }
            MqOp::StopTimeout(n) => {
                self.leftovers_allowed = true;
                let report = self.mq.stop_timeout(quarter_ms(n));
                self.state = State::Stopped;
                assert_eq!(
                    report.queues.len(),
                    self.registered(),
                    "report queues ({ctx})"
                );
            }
            MqOp::Stats { slot } => {
                let i = usize::from(slot) % SLOTS;
                let stats = self.mq.stats(&name(slot));
                assert_eq!(stats.is_some(), self.slots[i].is_some(), "stats ({ctx})");
                if let Some(Slot::Jobs(s)) = &self.slots[i] {
                    let st = s.publisher.stats();
                    assert!(st.workers <= s.spec.concurrency(), "workers ({ctx})");
                }
            }
            MqOp::DrainLeft { slot } => {
                if let Some(Slot::Jobs(s)) = &mut self.slots[usize::from(slot) % SLOTS] {
                    take_left(s, ctx);
                }
            }
            MqOp::Sleep(n) => std::thread::sleep(quarter_ms(n)),
            MqOp::StopConcurrently { first, second } => {
                if self.state != State::Running || first.is_some() || second.is_some() {
                    self.leftovers_allowed = true;
                }
                let registered = self.registered();
                let mq = &self.mq;
                std::thread::scope(|scope| {
                    let calls = [first, second].map(|call| {
                        scope.spawn(move || match call {
                            None => {
                                mq.stop();
                                None
                            }
                            Some(n) => Some(mq.stop_timeout(quarter_ms(n))),
                        })
                    });
                    for call in calls {
                        let report = call.join().expect("a stop call panicked");
                        if let Some(r) = report {
                            assert_eq!(r.queues.len(), registered, "report queues ({ctx})");
                        }
                    }
                });
                self.state = State::Stopped;
            }
            MqOp::Restart(how) => {
                if self.restarts < MAX_RESTARTS {
                    self.restarts += 1;
                    self.end_life(how, ctx);
                    self.new_life(ctx);
                }
            }
        }
    }

    /// The log directory of slot `i`.
    fn slot_dir(&mut self, i: usize) -> PathBuf {
        let dir = self.dir.get_or_insert_with(|| {
            // tmpfs where there is one: the fsyncs of `SyncPolicy::Always` cost nothing there.
            let shm = std::path::Path::new("/dev/shm");
            let base = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            tempfile::Builder::new()
                .prefix("segmq-fuzz-")
                .tempdir_in(base)
                .expect("a temporary directory")
        });
        dir.path().join(format!("q{i}"))
    }

    /// Ends this life of the `Mq` as `how` says, waits for every worker to be gone (the drop
    /// after a timed-out stop detaches them), accounts for every message of every slot, and
    /// drops the publishers; what the durable slots left is what their logs hold pending.
    fn end_life(&mut self, how: End, ctx: &str) {
        if self.state == State::Idle {
            self.leftovers_allowed = true;
        }
        let report = match how {
            End::Stop => {
                self.mq.stop();
                // Stopping again is a no-op that reports (with a deadline that must not pass).
                let r = self.mq.stop_timeout(EXIT_LIMIT);
                assert!(!r.timed_out, "the stop after a stop timed out ({ctx})");
                Some(r)
            }
            End::StopTimeout(n) => {
                self.leftovers_allowed = true;
                let r = self.mq.stop_timeout(quarter_ms(n));
                (!r.timed_out).then_some(r)
            }
            End::Drop => None,
        };
        if let Some(r) = &report {
            assert_eq!(r.queues.len(), self.registered(), "report queues ({ctx})");
        }
        drop(std::mem::replace(&mut self.mq, Mq::new()));
        self.state = State::Stopped;
        for (slot, s) in self.slots.iter_mut().enumerate() {
            let n = format!("q{slot}");
            let Some(s) = s else { continue };
            let qr = report.as_ref().map(|r| {
                let qr = r
                    .queues
                    .iter()
                    .find(|q| q.name == n)
                    .expect("queue in the report");
                assert_eq!(qr.in_flight, 0, "{n}: in flight after stop ({ctx})");
                qr
            });
            match s {
                Slot::Other {
                    publisher,
                    published,
                } => {
                    let p = publisher.clone();
                    wait_until_workers_gone(&|| p.stats(), &n);
                    let left = publisher.drain_left().len() as u64;
                    let st = publisher.stats();
                    assert_eq!(st.handled_ok + left, *published, "{n}: u64 accounting");
                }
                Slot::Jobs(s) => {
                    let publisher = s.publisher.clone();
                    wait_until_workers_gone(&|| publisher.stats(), &n);
                    take_left(s, "final drain_left");
                    account(s, &n, self.leftovers_allowed, qr);
                    if s.spec.is_durable() {
                        let disk = &mut self.disk[slot];
                        disk.pending = s
                            .left
                            .keys()
                            .map(|token| (*token, s.published[token]))
                            .collect();
                        let ids = s.published.values().map(|&(id, _)| id);
                        disk.max_id = disk.max_id.into_iter().chain(ids).max();
                    }
                }
            }
        }
        self.slots = [None, None, None];
    }

    /// A new, idle `Mq` in which every slot that was ever durable is registered again.
    fn new_life(&mut self, ctx: &str) {
        self.state = State::Idle;
        self.leftovers_allowed = false;
        for i in 0..SLOTS {
            if let Some(spec) = self.disk[i].spec {
                self.register(i as u8, spec, ctx);
                assert!(
                    self.slots[i].is_some(),
                    "q{i}: not registered again ({ctx})"
                );
            }
        }
    }

    fn registered(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    fn register(&mut self, slot: u8, spec: Spec, ctx: &str) {
        let i = usize::from(slot) % SLOTS;
        let seen: SeenRef = Arc::default();
        let durable = spec.is_durable();
        let dir = durable.then(|| self.slot_dir(i));
        // Recovery decodes the pending messages on this thread, as new objects of the drop log.
        RECOVERING.with(|r| {
            *r.borrow_mut() = Some(Recovering {
                log: self.log.clone(),
                next_object: self.next_object.clone(),
            });
        });
        let deadline = Instant::now() + EXIT_LIMIT;
        let result = loop {
            let result = register_jobs(&self.mq, &name(slot), spec, dir.clone(), &seen);
            // A previous life's worker (detached by its drop) may still hold the log for a
            // moment after it left the worker count.
            match result {
                Err(e) if is_locked(&e) && Instant::now() < deadline => std::thread::yield_now(),
                r => break r,
            }
        };
        RECOVERING.with(|r| *r.borrow_mut() = None);
        // Every error that applies (the order segmq checks them in is not part of the contract).
        let stopped = self.state == State::Stopped;
        let duplicate = self.slots[i].is_some();
        let zero_workers = spec.concurrency() == 0;
        let zero_capacity = spec.capacity() == Some(0);
        let durable_bounded = durable && spec.capacity().is_some();
        match result {
            Ok(publisher) => {
                assert!(
                    !stopped && !duplicate && !zero_workers && !zero_capacity && !durable_bounded,
                    "register accepted ({ctx})"
                );
                let disk = &mut self.disk[i];
                let (published, id_floor) = if durable {
                    let pending = std::mem::take(&mut disk.pending);
                    check_recovery(
                        &publisher,
                        pending.len(),
                        disk.max_id,
                        &format!("q{i}, {ctx}"),
                    );
                    disk.spec = Some(spec);
                    (pending, disk.max_id)
                } else {
                    check_in_memory(&publisher, ctx);
                    (HashMap::new(), None)
                };
                self.slots[i] = Some(Slot::Jobs(JobSlot {
                    publisher,
                    spec,
                    depth_before_start: published.len(),
                    published,
                    left: HashMap::new(),
                    seen,
                    id_floor,
                }));
            }
            Err(MqError::Stopped) => assert!(stopped, "{ctx}"),
            Err(MqError::DuplicateQueue(n)) => assert!(duplicate && n == name(slot), "{ctx}"),
            Err(MqError::InvalidConcurrency(n)) => {
                assert!(zero_workers && n == name(slot), "{ctx}");
            }
            Err(MqError::Unsupported { queue, .. }) => {
                assert!(
                    (zero_capacity || durable_bounded) && queue == name(slot),
                    "{ctx}"
                );
            }
            Err(e) => panic!("register: unexpected {e:?} ({ctx})"),
        }
    }

    fn publish_one(&mut self, op: &MqOp, slot: u8, job: Job, ctx: &str) {
        let i = usize::from(slot) % SLOTS;
        let token = job.token();
        let plan = job.plan;
        let state = self.state;
        let result = match &self.slots[i] {
            Some(Slot::Jobs(s)) => {
                // Before start nothing consumes: a full bounded queue would block forever.
                let would_block = state == State::Idle
                    && s.spec.capacity().is_some_and(|c| s.depth_before_start >= c);
                match op {
                    MqOp::Publish { .. } if !would_block => s.publisher.publish(job),
                    MqOp::Publish { .. } | MqOp::TryPublish { .. } => s.publisher.try_publish(job),
                    MqOp::PublishByName { .. } if !would_block => self.mq.publish(&name(slot), job),
                    MqOp::PublishByName { .. } => s.publisher.try_publish(job),
                    _ => {
                        let wake = Arc::new(WakeCounter::default());
                        let mut fut = Box::pin(s.publisher.publish_async(job));
                        match poll_settled(fut.as_mut(), &wake) {
                            Poll::Ready(r) => r,
                            Poll::Pending => {
                                assert!(s.spec.capacity().is_some(), "pending unbounded ({ctx})");
                                drop(fut);
                                self.log
                                    .assert_count(token, 1, "dropped pending publish_async");
                                return;
                            }
                        }
                    }
                }
            }
            Some(Slot::Other { .. }) => {
                match self.mq.publish(&name(slot), job) {
                    Err(PublishError::TypeMismatch(back)) => {
                        assert_eq!(back.token(), token, "{ctx}");
                    }
                    r => panic!("publish to a u64 queue: {r:?} ({ctx})"),
                }
                return;
            }
            None => {
                match self.mq.publish(&name(slot), job) {
                    Err(PublishError::UnknownQueue(back)) => {
                        assert_eq!(back.token(), token, "{ctx}");
                    }
                    r => panic!("publish to an unknown queue: {r:?} ({ctx})"),
                }
                return;
            }
        };
        let Some(Slot::Jobs(s)) = &mut self.slots[i] else {
            unreachable!()
        };
        match result {
            Ok(id) => {
                assert_ne!(state, State::Stopped, "published after stop ({ctx})");
                accept(s, state, token, id, plan, ctx);
            }
            Err(PublishError::Closed(back)) => {
                assert_eq!(state, State::Stopped, "Closed before stop ({ctx})");
                assert_eq!(back.token(), token, "{ctx}");
            }
            Err(PublishError::Full(back)) => {
                assert_eq!(back.token(), token, "{ctx}");
                assert_ne!(state, State::Stopped, "Full after stop ({ctx})");
                let cap = s.spec.capacity();
                assert!(cap.is_some(), "Full on an unbounded queue ({ctx})");
                if state == State::Idle {
                    assert_eq!(cap, Some(s.depth_before_start), "Full early ({ctx})");
                }
            }
            Err(e) => panic!("publish: unexpected {e:?} ({ctx})"),
        }
    }

    fn publish_batch(&mut self, slot: u8, plans: &[Plan], ctx: &str) {
        let mut jobs = Vec::new();
        for &plan in plans.iter().take(4) {
            jobs.extend(self.job(plan));
        }
        let i = usize::from(slot) % SLOTS;
        let state = self.state;
        let Some(Slot::Jobs(s)) = &mut self.slots[i] else {
            return; // dropped unpublished
        };
        if state == State::Idle {
            // Only as many as fit: the rest would wait forever before start.
            if let Some(cap) = s.spec.capacity() {
                jobs.truncate(cap.saturating_sub(s.depth_before_start));
            }
        }
        let sent: Vec<(u64, Plan)> = jobs.iter().map(|j| (j.token(), j.plan)).collect();
        match s.publisher.publish_batch(jobs) {
            Ok(ids) => {
                // An empty batch publishes nothing, so it succeeds even after stop.
                let stopped = state == State::Stopped;
                assert!(
                    sent.is_empty() || !stopped,
                    "batch published after stop ({ctx})"
                );
                assert_eq!(ids.len(), sent.len(), "{ctx}");
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase ({ctx})");
                for ((token, plan), id) in sent.into_iter().zip(ids) {
                    accept(s, state, token, id, plan, ctx);
                }
            }
            Err(PublishError::Closed(back)) => {
                assert_eq!(state, State::Stopped, "Closed before stop ({ctx})");
                let back: Vec<u64> = back.iter().map(Job::token).collect();
                let sent: Vec<u64> = sent.iter().map(|s| s.0).collect();
                assert_eq!(back, sent, "batch gives back every message ({ctx})");
            }
            Err(e) => panic!("publish_batch: unexpected {e:?} ({ctx})"),
        }
    }

    fn lookup(&mut self, slot: u8, other_type: bool, ctx: &str) {
        let i = usize::from(slot) % SLOTS;
        let n = name(slot);
        if other_type {
            match (&mut self.slots[i], self.mq.publisher::<u64>(&n)) {
                (Some(Slot::Other { publisher, .. }), Ok(p)) => *publisher = p,
                (Some(Slot::Jobs(_)), Err(MqError::TypeMismatch { queue, .. })) => {
                    assert_eq!(queue, n, "{ctx}")
                }
                (None, Err(MqError::UnknownQueue(q))) => assert_eq!(q, n, "{ctx}"),
                (_, r) => panic!("publisher::<u64>: unexpected {r:?} ({ctx})"),
            }
        } else {
            match (&mut self.slots[i], self.mq.publisher::<Job>(&n)) {
                (Some(Slot::Jobs(s)), Ok(p)) => {
                    assert_eq!(p.queue(), n, "{ctx}");
                    s.publisher = p;
                }
                (Some(Slot::Other { .. }), Err(MqError::TypeMismatch { queue, .. })) => {
                    assert_eq!(queue, n, "{ctx}")
                }
                (None, Err(MqError::UnknownQueue(q))) => assert_eq!(q, n, "{ctx}"),
                (_, r) => panic!("publisher::<Job>: unexpected {r:?} ({ctx})"),
            }
        }
    }

    /// The final stop and every end-of-input check; then one more life in which each durable
    /// slot is registered again and stopped unstarted, so that what its log still holds comes
    /// back as leftovers and is checked.
    fn finish(mut self) {
        self.end_life(End::Stop, "final stop");
        if self.disk.iter().any(|d| d.spec.is_some()) {
            self.new_life("final recovery");
            self.end_life(End::StopTimeout(0), "final recovery");
        }
        let created = self.next_object.load(Ordering::Relaxed);
        let log = self.log.clone();
        drop(self);
        log.assert_all_dropped_once(created, "after the Mq and its publishers were dropped");
    }
}

/// Registers a job queue as `spec` says (threads or async, in memory or durable in `dir`).
fn register_jobs(
    mq: &Mq,
    name: &str,
    spec: Spec,
    dir: Option<PathBuf>,
    seen: &SeenRef,
) -> Result<Publisher<Job>, MqError> {
    let mut options = QueueOptions::new(spec.concurrency()).retry(spec.policy());
    if let Some(c) = spec.capacity() {
        options = options.capacity(c);
    }
    if spec.dead_letter != DeadLetter::Default {
        let sink = seen.clone();
        let panics = spec.dead_letter == DeadLetter::RecordThenPanic;
        options = options.dead_letter(move |m: Msg<Job>| {
            lock_seen(&sink)
                .dead
                .push((m.data.token(), m.id, m.attempt()));
            drop(m);
            if panics {
                planted_panic();
            }
        });
    }
    #[cfg(feature = "durable")]
    if let Some(dir) = dir {
        let sync = match spec.sync % 3 {
            0 => segmq::SyncPolicy::Always,
            1 => segmq::SyncPolicy::Interval(Duration::from_micros(250)),
            _ => segmq::SyncPolicy::OsBuffered,
        };
        options = options.durable(dir, sync);
    }
    #[cfg(not(feature = "durable"))]
    let _ = dir;
    let max_attempts = spec.attempts();
    let sink = seen.clone();
    #[cfg(feature = "tokio")]
    if spec.is_async() {
        return mq.register_async(name, options, move |m: &Msg<Job>| {
            async_attempt(&sink, m, max_attempts)
        });
    }
    mq.register_with(name, options, move |m: &Msg<Job>| {
        let step = begin_attempt(&sink, m, max_attempts);
        if let Step::SleepOk(n) | Step::SleepErr(n) = step {
            std::thread::sleep(quarter_ms(n));
        }
        end_attempt(&sink, m, step)
    })
}

/// An async handler call: the same steps, sleeping on the runtime's timer.
#[cfg(feature = "tokio")]
fn async_attempt<'a>(
    sink: &SeenRef,
    m: &'a Msg<Job>,
    max_attempts: u32,
) -> segmq::mq::HandlerFuture<'a, &'static str> {
    let sink = sink.clone();
    Box::pin(async move {
        let step = begin_attempt(&sink, m, max_attempts);
        if let Step::SleepOk(n) | Step::SleepErr(n) = step {
            tokio::time::sleep(quarter_ms(n)).await;
        }
        end_attempt(&sink, m, step)
    })
}

/// Checks the attempt number and returns what this attempt does.
fn begin_attempt(sink: &SeenRef, m: &Msg<Job>, max_attempts: u32) -> Step {
    let attempt = m.attempt();
    if attempt == 0 || attempt > max_attempts {
        lock_seen(sink)
            .errors
            .push(format!("attempt {attempt} of {max_attempts}"));
    }
    m.data.plan.step(attempt)
}

/// Records the attempt's outcome and returns (or panics) as its step says.
fn end_attempt(sink: &SeenRef, m: &Msg<Job>, step: Step) -> Result<(), &'static str> {
    match step {
        Step::Ok | Step::SleepOk(_) => {
            lock_seen(sink).ok.push((m.data.token(), m.id, m.attempt()));
            Ok(())
        }
        Step::Err | Step::SleepErr(_) => {
            lock_seen(sink).failed_calls += 1;
            Err("planned failure")
        }
        Step::Panic => {
            lock_seen(sink).panicked_calls += 1;
            planted_panic()
        }
    }
}

/// Checks a durable registration's recovery report: `pending` messages redelivered, no damage
/// (nothing crashed for real), the next ID above every ID given before.
#[cfg(feature = "durable")]
fn check_recovery(p: &Publisher<Job>, pending: usize, max_id: Option<u64>, ctx: &str) {
    let rec = p.recovery().expect("a durable queue's recovery report");
    assert_eq!(
        rec.redelivered, pending as u64,
        "redelivered ({ctx}): {rec:?}"
    );
    assert!(
        rec.torn_tail.is_none() && rec.lost_tails.is_empty() && rec.skipped.is_empty(),
        "damage without a crash ({ctx}): {rec:?}"
    );
    if let Some(max) = max_id {
        assert!(rec.next_id > max, "IDs go back ({ctx}): {rec:?}");
    }
}

#[cfg(not(feature = "durable"))]
fn check_recovery(_: &Publisher<Job>, _: usize, _: Option<u64>, _: &str) {
    unreachable!("no durable queues in this build")
}

/// An in-memory queue has no recovery report.
fn check_in_memory(_p: &Publisher<Job>, _ctx: &str) {
    #[cfg(feature = "durable")]
    assert!(_p.recovery().is_none(), "{_ctx}");
}

/// Whether `e` is a durable log's "directory locked by another owner".
fn is_locked(e: &MqError) -> bool {
    #[cfg(feature = "durable")]
    if let MqError::Storage(segmq::DurableError::Locked { .. }) = e {
        return true;
    }
    let _ = e;
    false
}

/// Waits (yielding) until a queue has no worker left: after the drop of a timed-out `Mq` the
/// detached workers finish their messages on their own. Not exiting within [`EXIT_LIMIT`] is
/// a hang.
fn wait_until_workers_gone(stats: &dyn Fn() -> segmq::QueueStats, n: &str) {
    let deadline = Instant::now() + EXIT_LIMIT;
    while stats().workers > 0 {
        assert!(Instant::now() < deadline, "{n}: workers never exited");
        std::thread::yield_now();
    }
}

/// Records an accepted publish.
fn accept(s: &mut JobSlot, state: State, token: u64, id: u64, plan: Plan, ctx: &str) {
    if state == State::Idle {
        s.depth_before_start += 1;
    }
    if let Some(floor) = s.id_floor {
        assert!(
            id > floor,
            "id {id} not above {floor}, the log's highest before ({ctx})"
        );
    }
    let clash = s.published.values().any(|&(other, _)| other == id);
    assert!(!clash, "message id {id} given twice ({ctx})");
    s.published.insert(token, (id, plan));
}

/// Takes the leftovers of a slot.
fn take_left(s: &mut JobSlot, ctx: &str) {
    for m in s.publisher.drain_left() {
        let token = m.data.token();
        let again = s.left.insert(token, (m.id, m.attempt()));
        assert!(again.is_none(), "leftover {token} returned twice ({ctx})");
    }
}

/// The accounting invariant of one job queue after the final stop.
fn account(s: &JobSlot, n: &str, leftovers_allowed: bool, qr: Option<&segmq::QueueReport>) {
    let seen = lock_seen(&s.seen);
    assert!(seen.errors.is_empty(), "{n}: {:?}", seen.errors);
    let max_attempts = s.spec.attempts();
    let recording = s.spec.dead_letter != DeadLetter::Default;
    let mut outcome: HashMap<u64, &str> = HashMap::new();
    let mut check_one = |what: &'static str, token: u64, id: u64, attempt: u32| {
        let (want_id, _) = s
            .published
            .get(&token)
            .unwrap_or_else(|| panic!("{n}: {what} message {token} was never published"));
        assert_eq!(id, *want_id, "{n}: {what} message {token} has another id");
        assert!(
            (1..=max_attempts).contains(&attempt),
            "{n}: {what} message {token} at attempt {attempt} of {max_attempts}"
        );
        if let Some(before) = outcome.insert(token, what) {
            panic!("{n}: message {token} both {before} and {what}");
        }
    };
    for &(token, id, attempt) in &seen.ok {
        check_one("handled", token, id, attempt);
        let plan = s.published[&token].1;
        assert_eq!(
            plan.success_attempt(max_attempts),
            Some(attempt),
            "{n}: message {token} handled at the wrong attempt"
        );
    }
    for &(token, id, attempt) in &seen.dead {
        check_one("dead-lettered", token, id, attempt);
        assert_eq!(attempt, max_attempts, "{n}: dead-lettered early");
    }
    for (&token, &(id, attempt)) in &s.left {
        check_one("left", token, id, attempt);
    }
    if !leftovers_allowed {
        assert!(
            s.left.is_empty(),
            "{n}: leftovers after a plain stop: {:?}",
            s.left
        );
    }
    // The rest must have been dead-lettered (by the default handler when not recording).
    let unaccounted: Vec<u64> = s
        .published
        .keys()
        .copied()
        .filter(|t| !outcome.contains_key(t))
        .collect();
    if recording {
        assert!(unaccounted.is_empty(), "{n}: lost messages {unaccounted:?}");
    }
    for &token in &unaccounted {
        let plan = s.published[&token].1;
        assert_eq!(
            plan.success_attempt(max_attempts),
            None,
            "{n}: message {token} lost (its plan succeeds)"
        );
    }
    let dead = if recording {
        seen.dead.len()
    } else {
        unaccounted.len()
    } as u64;
    // Handled messages must be exactly those whose plan succeeds, unless put aside as leftovers.
    for (&token, &(_, plan)) in &s.published {
        if plan.success_attempt(max_attempts).is_none() {
            assert_ne!(outcome.get(&token), Some(&"handled"), "{n}: {token}");
        } else if outcome.get(&token) != Some(&"left") {
            assert_eq!(
                outcome.get(&token),
                Some(&"handled"),
                "{n}: {token} not handled"
            );
        }
    }
    let st = s.publisher.stats();
    assert_eq!(st.handled_ok, seen.ok.len() as u64, "{n}: stats.handled_ok");
    assert_eq!(st.dead_lettered, dead, "{n}: stats.dead_lettered");
    assert_eq!(st.left, s.left.len() as u64, "{n}: stats.left");
    assert_eq!(st.depth, 0, "{n}: stats.depth after stop");
    assert_eq!(
        st.published,
        s.published.len() as u64,
        "{n}: stats.published"
    );
    assert_eq!(st.failed, seen.failed_calls, "{n}: stats.failed");
    assert_eq!(st.panicked, seen.panicked_calls, "{n}: stats.panicked");
    // Each failed call is retried, dead-lettered, or (past a stop deadline) left.
    let failures = seen.failed_calls + seen.panicked_calls;
    assert!(
        st.retried + dead <= failures,
        "{n}: retried {} + dead {dead} > {failures}",
        st.retried
    );
    if !leftovers_allowed {
        assert_eq!(st.retried + dead, failures, "{n}: stats.retried");
    }
    assert_eq!(st.workers, 0, "{n}: workers after stop");
    assert_eq!(st.in_flight, 0, "{n}: in flight after stop");
    if let Some(qr) = qr {
        assert_eq!(qr.handled_ok, st.handled_ok, "{n}: report.handled_ok");
        assert_eq!(
            qr.dead_lettered, st.dead_lettered,
            "{n}: report.dead_lettered"
        );
        assert_eq!(qr.left, st.left, "{n}: report.left");
    }
}
