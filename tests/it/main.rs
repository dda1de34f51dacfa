//! The integration tests: one test binary (linking tract and the rest once, not once per file),
//! one module per area. Run one area with `cargo test --test it faults::`, one test with
//! `cargo test --test it -- --exact faults::power_cut::power_cut_during_gallery_write_leaves_old_or_new`.
//!
//! Tests that read `../shared/faces` (the labelled dev photos beside the checkout) go through
//! [`common::shared_faces`]: without the folder they say "skipped" and pass, unless `CI` is set,
//! where they fail. The dev-set accuracy check runs on a fixed subset by default; the whole dev
//! set is `cargo test --test it devset:: -- --ignored` (see `devset.rs`).

// Helpers shared by the modules below (replay set-ups, fake screens, file listings, SSD1306 bytes).
mod common;

// The OpenCV-style warp and GM-Arc's alignment against OpenCV/skimage reference chips.
mod align_reference;

// The run loop with the analyzer on its own thread: camera, buttons and watchdog stay live.
mod analysis_thread;
// The whole device in-process (replay camera, scripted buttons, fake analyzer) → the views.
mod app;
// The device as `gestaltcam run` assembles it (`setup::assemble`), run in-process.
mod assemble;
// Content bundles: make, verify, import into a state folder, the device starting with them,
// refusals that change nothing, roll-back at start-up, the update notice.
mod bundle;
// Board support files: pin maps, the systemd unit and the udev rule.
mod board;
// Camera decoders, bad frames as typed errors, the replay camera, reconnect backoff.
mod camera;
// The `gestaltcam` binary end to end: the demo, gallery build → info → analyze.
mod cli;
// The face detector against reference landmarks, onnxruntime and edge cases (and, in
// `detect::r50`, a network of GM-Arc's detector's shape).
mod detect;
// The device pipeline's accuracy on the dev set (a fixed subset; the whole set with `--ignored`).
mod devset;
// The panel drivers' bus traffic (ST7789 over SPI, SSD1306 over I2C) against the datasheets.
mod display_bus;
// The embedder against dlib's own descriptors on committed chips.
mod embed_golden;
// Embedder sets and test-time variants: the tiny iResNet pair × 4 variants, recipes, refusals.
mod ensemble;
// Fault injection, one submodule per fault area (camera, display, models, gallery, disk, …).
mod faults;
// Regression inputs of bugs the fuzz targets found.
mod fuzz_regressions;
// The fuzz targets on the committed corpus plus deterministic mutations.
mod fuzz_smoke;
// The gallery library on synthetic data with a small fake embedder.
mod gallery;
mod gmarc_import;
// Hardware-in-the-loop tests, for a wired board only (`--features hil`).
#[cfg(all(feature = "hil", target_os = "linux"))]
mod hil;
// The shape of src/: no import circle, no cmd file importing another, no file over 800 lines,
// no function over 100, no build-tree path outside test code.
mod house;
// The HPO question simulation on a dev-set subset and the pinned HPO release.
mod hpo_sim;
// The committed random-weight iResNet test network (GM-Arc's architecture, two outputs) in tract.
mod iresnet_model;
// Which embedder the device runs and which configured gallery goes with it.
mod model_choice;
// Odd photo files through the whole photo path: typed errors, never a panic.
mod photos;
// The live preview's cheap detector plan and the capture's full re-detection.
mod preview;
// Privacy and network surface of the real `gestaltcam run` under strace.
mod privacy;
// Small faces in big photos: the tiled search and the full-resolution landmarks.
mod small_faces;
// A short in-process soak: descriptors and memory must not grow.
mod soak;
// Golden images of every screen at every panel size, plus layout invariants.
mod ui_golden;
