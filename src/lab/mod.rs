//! The offline lab: building reference galleries from labelled photos, calibrating their
//! "no close match" thresholds and evidence bands, and evaluating them. Runs on a workstation
//! (or the device's `gallery`/`calibrate`/`eval` commands), never in the device's screening loop.
//!
//! The lab uses the runtime gallery ([`crate::gallery`]: the file format, ranking, the
//! calibration data types) and shares its error type,
//! [`GalleryError`](crate::gallery::GalleryError); the runtime never uses the lab.
//!
//! | file | job |
//! |---|---|
//! | [`labels`] | the one reader of labelled photos: `image,label` CSV (with `subject`, `role`, …) |
//! | [`gmdb`] | GestaltMatcher Database split CSVs (with the rare sets' `split`) and the syndromes TSV |
//! | [`gmarc`] | GM-Arc's metadata (image → disorder, genes) and gallery encodings, in their neutral converted forms |
//! | [`import`](mod@import) | GM-Arc's encodings → a gallery bound to a manifest ensemble, vectors combined per pair as on the device |
//! | [`build`] | the one builder: photos → embeddings on all cores → [`Gallery`](crate::gallery::Gallery) or evaluation probes, with per-image skip reasons |
//! | [`demo`] | the bundled DEMO gallery, built in memory from the demo photos |
//! | [`shared`] | what calibration and evaluation share: [`Probe`]s, subjects, the draw of fused sessions |
//! | [`calibrate`](mod@calibrate) | session-true "no close match" thresholds and evidence bands |
//! | [`threshold`] | the threshold rule per session size (own quantile where enough unknown people, else the pooled tail) and the trade-off at a few targets |
//! | [`eval`] | top-k accuracy (overall and mean over syndromes), open-set numbers, `gallery info` |

pub mod build;
pub mod calibrate;
pub mod demo;
pub mod eval;
pub mod gmarc;
pub mod gmdb;
pub mod import;
pub mod labels;
pub mod shared;
pub mod threshold;

pub use build::{
    build_gallery, default_threads, embed_image, embed_image_traced, embed_many, embed_probes,
    BuildOptions, BuildSummary, Embedded, Progress, SkipReason, SkippedImage,
};
pub use calibrate::{calibrate, CalibrateOptions, CalibrationProbe, CalibrationReport};
pub use demo::{demo_gallery, DemoGalleryError};
pub use eval::{
    evaluate, evaluate_sessions, info, wilson95, EvalOptions, EvalReport, GalleryInfo, LabelCount,
    OpenSet, SessionOpenSet, TopK,
};
pub use gmarc::{
    attach_metadata, read_encodings, read_encodings_from, read_metadata, read_metadata_from,
    EncodingRow, GmArcMetadata,
};
pub use gmdb::{parse_omim, read_gmdb, read_gmdb_from};
pub use import::{import_encodings, ImportTarget, ModelMap};
pub use labels::{read_label_csv, read_label_csv_from, CaseEntry, Gene, LabelSet};
pub use shared::Probe;
pub use threshold::TRADEOFF_TARGETS;
