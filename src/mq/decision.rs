//! What happens to a message after one handler attempt, as a pure value shared by the thread
//! workers (`worker.rs`) and the async tasks (`async_pool.rs`).
//!
//! [`decide`] looks only at the attempt's outcome, the attempt number and the retry policy:
//! no clock, no queue, no stop state. The worker then carries the decision out
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

/// Decides what to do after attempt number `attempt` (1-based) ended with `outcome`.
pub(crate) fn decide(
    outcome: Result<(), Failure>,
    attempt: u32,
    policy: &RetryPolicy,
    rng: &mut XorShift,
) -> Decision {
    match outcome {
        Ok(()) => Decision::Handled,
        Err(failure) if attempt >= policy.max_attempts() => Decision::DeadLetter { failure },
        Err(failure) => Decision::Retry {
            after: policy.jittered_delay(attempt, rng),
            failure,
        },
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
        assert!(matches!(decide(Ok(()), 3, &policy, rng), Decision::Handled));
        for attempt in 1..3 {
            match decide(err(), attempt, &policy, rng) {
                Decision::Retry { after, .. } => assert_eq!(after, Duration::from_millis(7)),
                _ => panic!("attempt {attempt} should retry"),
            }
        }
        assert!(matches!(
            decide(err(), 3, &policy, rng),
            Decision::DeadLetter { .. }
        ));
        let panic = Err(Failure::Panic(Box::new("boom")));
        assert!(matches!(
            decide(panic, 1, &RetryPolicy::none(), rng),
            Decision::DeadLetter { .. }
        ));
    }
}
