#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gestaltcam::fuzzing::manifest(data));
