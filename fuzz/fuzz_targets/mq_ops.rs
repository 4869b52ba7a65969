//! libFuzzer entry point; the operations, the model and the checks are in `segmq_fuzz::mq_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| segmq_fuzz::mq_ops::run(data));
