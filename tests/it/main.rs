//! The integration tests: one test binary (linking tract and the rest once, not once per file),
//! one module per area. Run one area with `cargo test --test it faults::`, one test with
//! `cargo test --test it -- --exact faults::power_cut_during_gallery_write_leaves_old_or_new`.
//!
//! Tests that read `../shared/faces` (the labelled dev photos beside the checkout) go through
//! [`common::shared_faces`]: without the folder they say "skipped" and pass, unless `CI` is set,
//! where they fail.

mod common;

mod analysis_thread;
mod app;
// The device as `gestaltcam run` assembles it (`setup::assemble`), run in-process.
mod assemble;
mod board;
mod camera;
mod cli;
mod detect;
mod devset;
mod display_bus;
mod embed_golden;
mod faults;
mod fuzz_regressions;
mod fuzz_smoke;
mod gallery;
#[cfg(all(feature = "hil", target_os = "linux"))]
mod hil;
mod house;
mod hpo_sim;
// The committed random-weight iResNet test network (GM-Arc's architecture, two outputs) in tract.
mod iresnet_model;
mod model_choice;
mod photos;
mod preview;
mod privacy;
mod small_faces;
mod soak;
mod ui_golden;
