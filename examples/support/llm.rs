//! The dictionary scenario's shared pieces (`examples/dictionary.rs` in one process,
//! `examples/nats_dictionary.rs` as two): the words a client looks up and the slow, unreliable
//! LLM API that defines them.

use std::time::Duration;

use segmq::RetryPolicy;

/// The words the client looks up, with repeats (a repeat of a pending word is not queued again).
pub const WORDS: [&str; 20] = [
    "serendipity",
    "ephemeral",
    "quixotic",
    "lucid",
    "sonder",
    "petrichor",
    "xyzzy",
    "halcyon",
    "mellifluous",
    "ineffable",
    "sonder",
    "lucid",
    "aurora",
    "limerence",
    "vellichor",
    "apricity",
    "ephemeral",
    "nemophilist",
    "solivagant",
    "hiraeth",
];

/// The word the API hangs on at its first attempt (an overloaded model): 20x the usual delay.
#[allow(dead_code)]
pub const HANGS_ONCE: &str = "limerence";

/// A word the API rejects outright (its content policy): retrying cannot help.
#[allow(dead_code)]
pub const REJECTED: &str = "hunter2";

/// The slow, unreliable LLM API: takes `delay`, never knows "xyzzy", answers "429" to some
/// first attempts and panics on others (malformed JSON: the article's worker would die there).
#[allow(dead_code)]
pub fn llm_define(word: &str, attempt: u32, delay: Duration) -> Result<String, String> {
    std::thread::sleep(delay);
    llm_answer(word, attempt)
}

/// How long the API takes to answer this call: `delay`, or 20x for [`HANGS_ONCE`] at its first
/// attempt.
#[allow(dead_code)]
pub fn llm_latency(word: &str, attempt: u32, delay: Duration) -> Duration {
    if word == HANGS_ONCE && attempt == 1 {
        delay * 20
    } else {
        delay
    }
}

/// What the API answers once its latency has passed (see [`llm_define`]); a rejection is an
/// error starting with "400".
pub fn llm_answer(word: &str, attempt: u32) -> Result<String, String> {
    if word == REJECTED {
        return Err("400 Bad Request: the content policy rejects this word".into());
    }
    let h = word
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    if word == "xyzzy" {
        return Err("the model does not know this word".into());
    }
    if attempt == 1 && h % 4 == 0 {
        return Err("429 Too Many Requests".into());
    }
    if attempt == 1 && h % 7 == 0 {
        panic!("malformed JSON in the API response");
    }
    Ok(format!("<definition of {word}>"))
}

/// Prints the LLM stand-in's panics as one line (the MQ catches them; the default hook would
/// print a backtrace), and any other panic as usual.
pub fn quiet_llm_panics(prefix: &'static str) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match info.payload().downcast_ref::<&str>() {
            Some(what) => println!("{prefix}(a worker caught a panic: {what})"),
            None => default_hook(info),
        }
    }));
}

/// The retry policy both dictionary examples use for the LLM calls: 3 attempts, exponential
/// backoff from 20 ms up to 200 ms.
#[allow(dead_code)]
pub fn llm_retry() -> RetryPolicy {
    RetryPolicy::exponential(3, Duration::from_millis(20), Duration::from_millis(200))
}
