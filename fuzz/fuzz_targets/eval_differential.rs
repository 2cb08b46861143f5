#![no_main]

libfuzzer_sys::fuzz_target!(
    init: portcullis_fuzz::single_threaded_rayon(),
    |data: &[u8]| portcullis_fuzz::eval_differential(data)
);
