//! Reference galleries: labels, the binary gallery file, signing, building, ranking, multi-photo
//! fusion, open-set calibration and evaluation.
//!
//! The method is GestaltMatcher's: a photo's embedding is compared with every gallery case, a
//! syndrome's score is the distance to its **nearest** case, and the syndromes are ranked by that
//! distance. It is a screening aid, never a diagnosis.
//!
//! | file | job |
//! |---|---|
//! | [`labels`] | the one reader of labelled photos: `image,label` CSV (with `subject`, `role`, …) and GestaltMatcher Database split/syndrome files |
//! | [`format`] | the binary gallery file (header, labels, cases, f32 or int8 embeddings), atomic save |
//! | [`sign`] | detached ed25519 signatures (`<gallery>.sig`), key generation |
//! | [`build`] | the one builder: photos → embeddings on all cores → [`Gallery`] or evaluation probes, with per-image skip reasons |
//! | [`candidate`] | what a ranking gives the device: [`Candidate`]s and their evidence [`Band`] |
//! | [`rank`] | exact nearest-case ranking, bands, multi-photo fusion, ranking comparison |
//! | [`calibrate`](mod@calibrate) | session-true "no close match" thresholds and evidence bands |
//! | [`threshold`] | the threshold rule per session size (own quantile where enough unknown people, else the pooled tail) and the trade-off at a few targets |
//! | [`eval`] | top-k accuracy (overall and mean over syndromes), open-set numbers, `gallery info` |

pub mod build;
pub mod calibrate;
pub mod candidate;
pub mod eval;
pub mod format;
pub mod labels;
pub mod rank;
pub mod sign;
pub mod threshold;

pub use build::{
    build_gallery, default_threads, embed_image, embed_many, embed_probes, BuildOptions,
    BuildSummary, Embedded, Progress, SkipReason, SkippedImage,
};
pub use calibrate::{
    calibrate, BandLevel, CalibrateOptions, Calibration, CalibrationProbe, CalibrationReport,
    CalibrationRule, DistanceHistogram, OperatingPoint, SessionCalibration, ThresholdSource,
    TRADEOFF_TARGETS,
};
pub use candidate::{Band, Candidate};
pub use eval::{
    evaluate, evaluate_sessions, info, wilson95, EvalOptions, EvalReport, GalleryInfo, LabelCount,
    OpenSet, Probe, SessionOpenSet, TopK,
};
pub use format::{
    rehash, remove_stale_temp_files, write_atomic, write_atomic_via, Case, Gallery, GalleryHeader,
    GalleryMeta, Label, LoadOptions, Storage, FORMAT_VERSION, MAGIC,
};
pub use labels::{
    read_gmdb, read_gmdb_from, read_label_csv, read_label_csv_from, CaseEntry, LabelSet,
};
pub use rank::{compare_rankings, similarity, FusionMode, LabelMatch, RankAgreement, Ranking};
pub use sign::{
    generate_keypair, parse_signing_key, parse_verifying_key, read_signing_key, read_verifying_key,
    sig_path, sign, verify, write_keypair,
};

use std::path::PathBuf;

/// Everything that can go wrong with labels, gallery files, signatures, builds and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    // ---- label files ----
    #[error("cannot read label file {path}: {message}")]
    LabelRead { path: PathBuf, message: String },
    #[error("label file {path} is empty (no header or no rows)")]
    LabelEmpty { path: PathBuf },
    #[error("label file {path} has no `{column}` column (it has: {found})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        found: String,
    },
    #[error("label file {path}, line {line}: {message}")]
    LabelLine {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error(
        "label file {path}, line {line}: case id `{case_id}` already appears on line {first_line}"
    )]
    DuplicateCase {
        path: PathBuf,
        line: u64,
        case_id: String,
        first_line: u64,
    },
    #[error("label file {path}, line {line}: label id `{label_id}` is not in the syndrome file {syndromes}")]
    UnknownLabelId {
        path: PathBuf,
        line: u64,
        label_id: String,
        syndromes: PathBuf,
    },

    // ---- gallery files ----
    #[error("cannot read gallery {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write gallery {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a gestaltcam gallery file (bad magic bytes)")]
    BadMagic,
    #[error(
        "gallery format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("gallery file is truncated: {actual} bytes, the header says {expected}")]
    Truncated { expected: u64, actual: u64 },
    #[error("gallery file is truncated inside the {what} (needs {needed} more bytes at offset {offset})")]
    TruncatedAt {
        what: &'static str,
        offset: usize,
        needed: usize,
    },
    #[error("gallery file has {extra} unexpected bytes after its end")]
    TrailingData { extra: u64 },
    #[error(
        "gallery content hash mismatch (file says {expected}, content is {actual}): the file was \
         altered or corrupted, refusing it"
    )]
    HashMismatch { expected: String, actual: String },
    #[error("gallery file is malformed: {0}")]
    Malformed(String),
    #[error("gallery case {case} has a NaN or infinite value in its embedding")]
    NonFinite { case: String },
    #[error(
        "gallery case {case} refers to label index {index}, but there are only {count} labels"
    )]
    LabelIndexOutOfRange {
        case: String,
        index: u32,
        count: usize,
    },
    #[error(
        "gallery was built with embedder `{gallery}` but the loaded model is `{model}`; rebuild \
         the gallery with this model"
    )]
    EmbedderMismatch { gallery: String, model: String },
    #[error("embedding has {found} values, the gallery expects {expected}")]
    DimensionMismatch { expected: usize, found: usize },
    #[error("gallery has no cases")]
    EmptyGallery,
    #[error("invalid gallery: {0}")]
    Invalid(String),

    // ---- signatures ----
    #[error(
        "gallery {path} is not signed (no {sig}), and this device only accepts signed galleries"
    )]
    Unsigned { path: PathBuf, sig: PathBuf },
    #[error("gallery signature {sig} does not verify with the configured public key: wrong key, or the gallery changed after signing")]
    BadSignature { sig: PathBuf },
    #[error("cannot use key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("signature file {path} is malformed: {message}")]
    SigFormat { path: PathBuf, message: String },

    // ---- build / evaluation ----
    #[error("no usable image in {total} listed; nothing written ({summary})")]
    NothingUsable { total: usize, summary: String },
    #[error("{0}")]
    Input(String),
}

pub type Result<T, E = GalleryError> = std::result::Result<T, E>;
