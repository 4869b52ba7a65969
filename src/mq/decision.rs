//! What happens to a message after one handler attempt, as a pure value shared by the thread
//! workers (`worker.rs`) and the async tasks (`async_pool.rs`).
//!
//! [`decide`] looks only at the attempt's outcome, the attempt number, the message's number of
//! attempts (the policy's, or the message's own from `PublishOptions::max_attempts`) and the
//! retry policy: no clock, no queue, no stop state. A failure that asks not to be retried
//! ([`SkipRetry`](super::SkipRetry)) is dead-lettered whatever attempts are left. The worker then carries the decision out
//! ([`QueueCore::settle`](super::core::QueueCore::settle)), which is where the stop deadline and
//! the timer come in.

use std::time::Duration;

use super::retry::{RetryPolicy, XorShift};
use super::user_code::Failure;

/// The decision after one attempt.
pub(crate) enum Decision {
    /// The handler returned `Ok`: the message is handled.
    Handled,
    /// The attempt failed and attempts are left: try again after `after`.
    Retry { after: Duration, failure: Failure },
    /// The attempt failed and it was the last one: dead-letter the message.
    DeadLetter { failure: Failure },
}

/// Decides what to do after attempt number `attempt` (1-based) of a message allowed
/// `max_attempts()` attempts ended with `outcome`.
///
/// Inlined, with the failure path out of line: a successful attempt costs one test, and the
/// message's limit (`max_attempts`, which looks at its options) is only read after a failure.
#[inline]
pub(crate) fn decide(
    outcome: Result<(), Failure>,
    attempt: u32,
    max_attempts: impl FnOnce() -> u32,
    policy: &RetryPolicy,
    rng: &mut XorShift,
) -> Decision {
    match outcome {
        Ok(()) => Decision::Handled,
        Err(failure) => decide_failure(failure, attempt, max_attempts(), policy, rng),
    }
}

#[inline(never)]
fn decide_failure(
    failure: Failure,
    attempt: u32,
    max_attempts: u32,
    policy: &RetryPolicy,
    rng: &mut XorShift,
) -> Decision {
    if attempt >= max_attempts || failure.skips_retry() {
        return Decision::DeadLetter { failure };
    }
    Decision::Retry {
        after: policy.jittered_delay(attempt, rng),
        failure,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn err() -> Result<(), Failure> {
        Err(Failure::Error("no".into()))
    }

    #[test]
    fn ok_is_handled_failures_retry_until_the_last_attempt() {
        let policy = RetryPolicy::fixed(3, Duration::from_millis(7));
        let rng = &mut XorShift::new(1);
        assert!(matches!(
            decide(Ok(()), 3, || 3, &policy, rng),
            Decision::Handled
        ));
        for attempt in 1..3 {
            match decide(err(), attempt, || 3, &policy, rng) {
                Decision::Retry { after, .. } => assert_eq!(after, Duration::from_millis(7)),
                _ => panic!("attempt {attempt} should retry"),
            }
        }
        assert!(matches!(
            decide(err(), 3, || 3, &policy, rng),
            Decision::DeadLetter { .. }
        ));
        let panic = Err(Failure::Panic(Box::new("boom")));
        assert!(matches!(
            decide(panic, 1, || 1, &RetryPolicy::none(), rng),
            Decision::DeadLetter { .. }
        ));
    }

    #[test]
    fn skip_retry_and_a_message_limit_dead_letter_early() {
        let policy = RetryPolicy::fixed(5, Duration::ZERO);
        let rng = &mut XorShift::new(1);
        let skip = Err(Failure::Error(super::super::SkipRetry::new("bad").into()));
        assert!(matches!(
            decide(skip, 1, || 5, &policy, rng),
            Decision::DeadLetter { .. }
        ));
        let timed_out = Err(Failure::TimedOut(Duration::ZERO));
        assert!(matches!(
            decide(timed_out, 1, || 5, &policy, rng),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            decide(err(), 2, || 2, &policy, rng),
            Decision::DeadLetter { .. }
        ));
    }
}
