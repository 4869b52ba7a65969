//! The Go article's scenario, on `segmq::Mq`: a dictionary service whose missing words are
//! filled in the background by a slow LLM API (5 s per call in the article; scaled down here).
//!
//! `cargo run --release --example dictionary`
//! (`LLM_DELAY_MS=5000` for the real thing; the default is 50 ms).
//!
//! Compared with the article's `main`: publishing is lock-free and typed, a failing or panicking
//! API call is retried with backoff instead of killing its worker, words the API never knows go
//! to a dead-letter handler, and `stop()` handles every queued word before returning.

#[path = "support/llm.rs"]
mod llm;
use llm::llm_define;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use segmq::{Mq, Msg, Publisher, QueueOptions};

/// The word store, and the words already queued (so that a burst of lookups of one missing word
/// costs one API call).
#[derive(Default)]
struct Dictionary {
    words: RwLock<HashMap<String, String>>,
    pending: Mutex<HashSet<String>>,
    unknown: Mutex<Vec<String>>,
}

impl Dictionary {
    fn get(&self, word: &str) -> Option<String> {
        self.words.read().unwrap().get(word).cloned()
    }

    /// The lookup endpoint: a hit answers at once; a miss queues the word and answers "later".
    fn lookup(&self, word: &str, fill: &Publisher<String>) -> Option<String> {
        if let Some(def) = self.get(word) {
            return Some(def);
        }
        let first_miss = self.pending.lock().unwrap().insert(word.to_owned());
        if first_miss {
            let id = fill.publish(word.to_owned()).expect("queue is running");
            println!("  miss  {word:<12} -> queued as message #{id}");
        }
        None
    }
}

fn main() {
    let delay = Duration::from_millis(
        std::env::var("LLM_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    // Keep the demo's output short: one line per panic instead of the default report.
    llm::quiet_llm_panics("  ");

    let dict = Arc::new(Dictionary::default());
    let mq = Mq::new();

    let (d, d2) = (dict.clone(), dict.clone());
    let options =
        QueueOptions::new(8)
            .retry(llm::llm_retry())
            .dead_letter(move |m: Msg<String>| {
                println!(
                    "  dead  {:<12} (message #{}, {} attempts)",
                    m.data,
                    m.id,
                    m.attempt()
                );
                d2.pending.lock().unwrap().remove(&m.data);
                d2.unknown.lock().unwrap().push(m.into_data());
            });
    let fill = mq
        .register_with("fill-dictionary", options, move |m: &Msg<String>| {
            let def = llm_define(&m.data, m.attempt(), delay)?;
            d.words.write().unwrap().insert(m.data.clone(), def);
            d.pending.lock().unwrap().remove(&m.data);
            Ok::<_, String>(())
        })
        .expect("register");
    mq.start().expect("start");

    let started = Instant::now();
    let words = llm::WORDS;
    println!("round 1: every word is missing (LLM delay {delay:?}, 8 workers)");
    for w in words {
        dict.lookup(w, &fill);
    }
    // Meanwhile the service keeps answering; later requests find the words filled in.
    std::thread::sleep(delay * 3);
    let hits = words
        .iter()
        .filter(|w| dict.lookup(w, &fill).is_some())
        .count();
    println!(
        "round 2 after {:?}: {hits}/{} lookups hit",
        started.elapsed(),
        words.len()
    );

    // Shut down: everything queued (including retries waiting for their backoff) is handled.
    mq.stop();
    let hits = words.iter().filter(|w| dict.get(w).is_some()).count();
    let s = mq.stats("fill-dictionary").unwrap();
    println!(
        "after stop ({:?}): {hits}/{} lookups hit",
        started.elapsed(),
        words.len()
    );
    println!(
        "stats: published {} | ok {} | failed {} | panicked {} | retried {} | dead-lettered {} | left {}",
        s.published, s.handled_ok, s.failed, s.panicked, s.retried, s.dead_lettered, s.left
    );
    println!(
        "queue latency (publish -> handler start): p50 {:?}, p99 {:?}",
        s.latency_p50.unwrap_or_default(),
        s.latency_p99.unwrap_or_default()
    );
    let filled = dict.words.read().unwrap().len() as u64;
    let unknown = dict.unknown.lock().unwrap().len() as u64;
    assert_eq!(
        filled + unknown,
        s.published,
        "every queued word was handled"
    );
    println!(
        "dictionary: {filled} words filled, unknown: {:?}; nothing lost",
        dict.unknown.lock().unwrap()
    );
}
