//! gestaltcam: an offline bedside screening aid that ranks candidate genetic syndromes from a
//! child's face photo (the GestaltMatcher method) on a Raspberry Pi class board.
//!
//! It is a screening aid, never a diagnosis.
//!
//! # Module map
//! | module | job | touches hardware? |
//! |---|---|---|
//! | [`photo`] | decode untrusted image files/bytes into RGB with typed errors | no |
//! | [`manifest`] | `models/MANIFEST.toml`: model files, hashes, shapes, normalisation, templates | no |
//! | [`vision`] | face detection (5 landmarks), face choice, similarity alignment, frame quality | no |
//! | [`embed`] | the embedding models run by tract: test-time variants (flip, grey) on one plan, embedder sets and their stored vector, L2 normalisation | no |
//! | [`pipeline`] | photo → detect → align → embed, behind the [`pipeline::PhotoEmbedder`] trait | no |
//! | [`gallery`] | the device's gallery at run time: file format, signing, the stored calibration, ranking (syndromes and genes), multi-photo fusion, GM-Arc's answer shape | no |
//! | [`lab`] | **offline**, not part of the device's screening loop: labelled photo sets (the one reader and builder, on all cores), calibration, evaluation, the DEMO gallery | no |
//! | [`hpo`] | phenotype questions (HPO): likelihood-ratio re-ranking of the face candidates, question choice, the device's question round, simulation | no |
//! | [`camera`] | the `Camera` trait, frames, replay camera, YUYV/MJPEG decoding | no |
//! | [`display`] | panel drivers generic over embedded-hal, PNG display, the sinks views go to (panel with bus-error retry, logged, PNG file) | no |
//! | [`ui`] | screens: pure functions from a view model to a `DrawTarget` | no |
//! | [`config`] | the device's TOML configuration | no |
//! | [`bundle`] | signed content bundles from a USB stick: file format, streaming verify, import into `<state_dir>/content/` with `current`/`previous`, the notice for the panel | no |
//! | [`counters`] | counts per day of use (no patient data), the device's own key and id, the signed usage report | no |
//! | [`analysis`] | the analyzer port: the `Analyzer` trait the app drives and what it answers (frame summary, outcome, typed `AnalyseError`, question step) | no |
//! | [`screening`] | the real analyzer behind that port: detector, embedder, gallery ranking and the phenotype questions | no |
//! | [`app`] | the device's state machine (events and effects, state, update) and run loop (camera, clock, buttons, display, analyzer injected) | no |
//! | [`setup`] | the device assembled from its configuration above `app` and `screening`: models + verified gallery (last good copy), display, camera, buttons, run policy; `doctor`'s checks; the demo's device | through `hw` |
//! | [`threads`] | independent model runs (flip-TTA passes, a session's photos) side by side on tract's thread pool | no |
//! | [`soak`] | long replayed runs of the device loop, sampling RSS and open descriptors | no |
//! | [`hw`] | the only module that opens `/dev/*`: V4L2 camera, SPI/I2C panels, GPIO buttons | **yes** |
//! | `fuzzing` | doc-hidden: the entry points of the fuzz targets in `fuzz/` and `tests/it/fuzz_smoke.rs`; not a stable API | no |
//! | `cmd` | not a library module: the `gestaltcam` binary's command line (`src/cmd/`), which only parses arguments and dispatches to the modules above | no |

pub mod analysis;
pub mod app;
pub mod bundle;
pub mod camera;
pub mod config;
pub mod counters;
pub mod display;
pub mod embed;
#[doc(hidden)]
pub mod fuzzing;
pub mod gallery;
pub mod hpo;
pub mod hw;
pub mod lab;
pub mod manifest;
pub mod photo;
pub mod pipeline;
pub mod screening;
pub mod setup;
pub mod soak;
pub mod threads;
pub mod ui;
pub mod vision;
