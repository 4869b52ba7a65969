//! Target `mq_ops`: sequences of `Mq` calls (register, publish in every form, publisher lookup,
//! start, stop, stop_timeout, stats, drain_left) on up to three named queue slots, with handlers
//! whose behaviour per attempt (ok, error, panic, sleep then ok/error) the input chooses.
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
//! * drops: in the end every message was dropped exactly once (nothing leaked, nothing twice).
//!
//! Work per input is bounded: at most 32 calls and 48 messages, sleeps and retry delays of at
//! most 0.75 ms, concurrency at most 2. A blocking publish that could wait forever (a full bounded
//! queue before `start`) becomes `try_publish` (expected `Full`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use segmq::{Mq, MqError, Msg, PublishError, Publisher, QueueOptions, RetryPolicy};

use crate::common::{
    planted_panic, poll_once, silence_planted_panics, DropLog, Tracked, WakeCounter,
};

/// Most calls per input.
pub const MAX_OPS: usize = 32;
/// Most messages published per input.
pub const MAX_MESSAGES: u64 = 48;
/// Queue slots: names `q0`, `q1`, `q2`.
const SLOTS: usize = 3;

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

/// The message type: a token (unique per input, also the drop-log id) and its plan.
#[derive(Debug)]
pub struct Job {
    token: Tracked,
    plan: Plan,
}

impl Job {
    fn token(&self) -> u64 {
        self.token.id
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Stopped,
}

/// The checker's state for one input.
struct Run {
    mq: Mq,
    state: State,
    slots: [Option<Slot>; SLOTS],
    log: Arc<DropLog>,
    next_token: u64,
    /// Whether leftovers are allowed (a stop_timeout, or a stop before any start).
    leftovers_allowed: bool,
}

/// Runs one input.
pub fn check(input: &Input) {
    silence_planted_panics();
    let mut run = Run {
        mq: Mq::new(),
        state: State::Idle,
        slots: [None, None, None],
        log: DropLog::new(),
        next_token: 0,
        leftovers_allowed: false,
    };
    for (step, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        let ctx = format!("step {step}: {op:?}");
        run.step(op, &ctx);
    }
    run.finish();
}

impl Run {
    fn job(&mut self, plan: Plan) -> Option<Job> {
        if self.next_token >= MAX_MESSAGES {
            return None;
        }
        let token = Tracked::new(self.next_token, 0, self.next_token, &self.log);
        self.next_token += 1;
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
        }
    }

    fn registered(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    fn register(&mut self, slot: u8, spec: Spec, ctx: &str) {
        let i = usize::from(slot) % SLOTS;
        let seen: SeenRef = Arc::default();
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
        let max_attempts = spec.attempts();
        let sink = seen.clone();
        let result = self
            .mq
            .register_with(&name(slot), options, move |m: &Msg<Job>| {
                let attempt = m.attempt();
                if attempt == 0 || attempt > max_attempts {
                    lock_seen(&sink)
                        .errors
                        .push(format!("attempt {attempt} of {max_attempts}"));
                }
                let step = m.data.plan.step(attempt);
                if let Step::SleepOk(n) | Step::SleepErr(n) = step {
                    std::thread::sleep(quarter_ms(n));
                }
                match step {
                    Step::Ok | Step::SleepOk(_) => {
                        lock_seen(&sink).ok.push((m.data.token(), m.id, attempt));
                        Ok(())
                    }
                    Step::Err | Step::SleepErr(_) => {
                        lock_seen(&sink).failed_calls += 1;
                        Err("planned failure")
                    }
                    Step::Panic => {
                        lock_seen(&sink).panicked_calls += 1;
                        planted_panic()
                    }
                }
            });
        // Every error that applies (the order segmq checks them in is not part of the contract).
        let stopped = self.state == State::Stopped;
        let duplicate = self.slots[i].is_some();
        let zero_workers = spec.concurrency() == 0;
        let zero_capacity = spec.capacity() == Some(0);
        match result {
            Ok(publisher) => {
                assert!(
                    !stopped && !duplicate && !zero_workers && !zero_capacity,
                    "register accepted ({ctx})"
                );
                self.slots[i] = Some(Slot::Jobs(JobSlot {
                    publisher,
                    spec,
                    depth_before_start: 0,
                    published: HashMap::new(),
                    left: HashMap::new(),
                    seen,
                }));
            }
            Err(MqError::Stopped) => assert!(stopped, "{ctx}"),
            Err(MqError::DuplicateQueue(n)) => assert!(duplicate && n == name(slot), "{ctx}"),
            Err(MqError::InvalidConcurrency(n)) => {
                assert!(zero_workers && n == name(slot), "{ctx}");
            }
            Err(MqError::Unsupported { queue, .. }) => {
                assert!(zero_capacity && queue == name(slot), "{ctx}");
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
                        match poll_once(fut.as_mut(), &wake.waker()) {
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

    /// The final stop and every end-of-input check.
    fn finish(mut self) {
        if self.state == State::Idle {
            self.leftovers_allowed = true;
        }
        self.mq.stop();
        // Stopping again is a no-op that reports (with a deadline that must not be reached).
        let report = self.mq.stop_timeout(Duration::from_secs(60));
        assert!(!report.timed_out, "the final stop timed out");
        assert_eq!(report.queues.len(), self.registered(), "report queues");
        for (slot, s) in self.slots.iter_mut().enumerate() {
            let n = format!("q{slot}");
            let Some(s) = s else { continue };
            let qr = report
                .queues
                .iter()
                .find(|q| q.name == n)
                .expect("queue in the report");
            assert_eq!(qr.in_flight, 0, "{n}: in flight after stop");
            match s {
                Slot::Other {
                    publisher,
                    published,
                } => {
                    let left = publisher.drain_left().len() as u64;
                    let st = publisher.stats();
                    assert_eq!(st.handled_ok + left, *published, "{n}: u64 accounting");
                }
                Slot::Jobs(s) => {
                    take_left(s, "final drain_left");
                    account(s, &n, self.leftovers_allowed, qr);
                }
            }
        }
        let created = self.next_token;
        let log = self.log.clone();
        drop(self);
        log.assert_all_dropped_once(created, "after the Mq and its publishers were dropped");
    }
}

/// Records an accepted publish.
fn accept(s: &mut JobSlot, state: State, token: u64, id: u64, plan: Plan, ctx: &str) {
    if state == State::Idle {
        s.depth_before_start += 1;
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
fn account(s: &JobSlot, n: &str, leftovers_allowed: bool, qr: &segmq::QueueReport) {
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
    assert_eq!(qr.handled_ok, st.handled_ok, "{n}: report.handled_ok");
    assert_eq!(
        qr.dead_lettered, st.dead_lettered,
        "{n}: report.dead_lettered"
    );
    assert_eq!(qr.left, st.left, "{n}: report.left");
}
