#![no_main]
// The detector loads from this checkout's `models/` (the fuzz crate is `fuzz/`).
libfuzzer_sys::fuzz_target!(
    init: {
        let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
        gestaltcam::fuzzing::set_models_dir(std::path::Path::new(models));
    },
    |data: &[u8]| gestaltcam::fuzzing::photo(data)
);
