//! libFuzzer entry point; the operations, the model and the checks are in `segmq_fuzz::queue_threads`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| segmq_fuzz::queue_threads::run(data));
