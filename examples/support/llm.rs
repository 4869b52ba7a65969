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

/// The slow, unreliable LLM API: takes `delay`, never knows "xyzzy", answers "429" to some
/// first attempts and panics on others (malformed JSON: the article's worker would die there).
pub fn llm_define(word: &str, attempt: u32, delay: Duration) -> Result<String, String> {
    std::thread::sleep(delay);
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
pub fn llm_retry() -> RetryPolicy {
    RetryPolicy::exponential(3, Duration::from_millis(20), Duration::from_millis(200))
}
