//! The device's reference gallery at run time: the binary gallery file, its signature, the
//! calibration it stores, ranking and multi-photo fusion.
//!
//! The method is GestaltMatcher's: a photo's embedding is compared with every gallery case, a
//! syndrome's score is the distance to its **nearest** case, and the syndromes are ranked by that
//! distance. It is a screening aid, never a diagnosis.
//!
//! Building, calibrating and evaluating galleries from labelled photos is offline work: it
//! lives in [`crate::lab`], which uses this module (never the other way round).
//!
//! | file | job |
//! |---|---|
//! | [`format`](mod@format) | the binary gallery file (header, labels, cases, f32 or int8 embeddings): the types, encoding, load and save |
//! | [`decode`] | reading a gallery file's bytes back, one reader per section, every length checked before use |
//! | [`atomic`] | atomic file writes (temp file, fsync, rename) and removal of stale temp files |
//! | [`sign`](mod@sign) | detached ed25519 signatures (`<gallery>.sig`), key generation |
//! | [`calibration`] | the calibration data the file stores: thresholds and evidence bands per session size |
//! | [`candidate`] | what a ranking gives the device: [`Candidate`]s and their evidence [`Band`] |
//! | [`fusion`] | how several photos of one patient combine: [`FusionMode`] |
//! | [`recipe`] | the embedder set and test-time variants a gallery records, and the check that a pipeline matches them |
//! | [`rank`] | exact nearest-case ranking, bands, multi-photo fusion, ranking comparison |
//! | [`genes`] | genes per reference case and gene-level ranking (a gene's nearest case) |
//! | [`answer`] | GestaltMatcher-Arc's service answer shape (`analyze --json --format gestaltmatcher`) |

pub mod answer;
pub mod atomic;
pub mod calibration;
pub mod candidate;
pub mod decode;
pub mod format;
pub mod fusion;
pub mod genes;
pub mod rank;
pub mod recipe;
pub mod sign;

pub use atomic::{remove_stale_temp_files, write_atomic, write_atomic_via};
pub use calibration::{
    BandLevel, Calibration, CalibrationRule, DistanceHistogram, OperatingPoint, SessionCalibration,
    ThresholdSource,
};
pub use candidate::{Band, Candidate};
pub use format::{
    rehash, Case, Gallery, GalleryHeader, GalleryMeta, Gene, Label, LoadOptions, Storage,
    FORMAT_VERSION, MAGIC,
};
pub use fusion::FusionMode;
pub use genes::GeneMatch;
pub use rank::{compare_rankings, similarity, LabelMatch, RankAgreement, Ranking};
pub use sign::{
    generate_keypair, parse_signing_key, parse_verifying_key, read_signing_key, read_verifying_key,
    sig_path, sign, verify, write_keypair,
};

use std::path::PathBuf;

/// Everything that can go wrong with gallery files and signatures, and (for [`crate::lab`], which
/// shares this type) with label files, builds and evaluation.
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
    #[error(
        "the gallery was built with {gallery}, but the models loaded are {pipeline}; load the \
         models the gallery records (--embedder, --no-flip-tta) or build the gallery again"
    )]
    RecipeMismatch { gallery: String, pipeline: String },
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
