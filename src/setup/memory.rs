//! The memory the configured models need, estimated before any is loaded, and the start-up
//! check against the board's memory ([`crate::hw::memory::board_memory`]): a board that cannot
//! hold the models refuses them with a screen that says so, instead of being killed for want
//! of memory halfway through loading them.
//!
//! The estimate ([`estimate`]) is a pure function of the model files' sizes and forms, the
//! number of plans and the gallery's size. Its constants are the one place the figures live;
//! measured peak RSS (`/usr/bin/time -v gestaltcam doctor`, x86 as a proxy) refines them.

use std::path::Path;

use super::ModelChoice;
use crate::config::Config;
use crate::manifest::{Manifest, ModelEntry};
use crate::pipeline::Members;

pub mod onnx_ops;

const MIB: u64 = 1 << 20;

/// The process without models: the binary, tract's runtime, camera frames and the panel's
/// frame buffer. `doctor` with the 5.6 MB QLinear dlib model peaks at 63 MiB on x86.
pub const BASELINE_BYTES: u64 = 48 * MIB;

/// Left to the rest of the system (kernel buffers, systemd, journald, ssh) out of `MemTotal`.
pub const SYSTEM_RESERVE_BYTES: u64 = 128 * MIB;

/// Resident bytes per file byte of an f32 model: its weights as stored.
pub const F32_WEIGHT_FACTOR: u64 = 1;

/// Resident bytes per file byte of a quantized model in the QDQ form (`DequantizeLinear` on
/// the weights): tract dequantizes those weights to f32 when it builds the plan, so the int8
/// file saves no RAM.
pub const QUANTIZED_WEIGHT_FACTOR: u64 = 4;

/// Resident bytes per file byte of a quantized model whose graph computes in integers
/// (`ConvInteger`, `QLinearConv`, `MatMulInteger`, `QLinearMatMul`; [`onnx_ops`]): its
/// weights stay int8 in the plan. Twice the file: the int8 iResNet-50 (43.9 MB file) leaves
/// ~80 MB resident over the detector-only process, its working memory included
/// (docs/performance.md, Heavy models: Memory).
pub const INTEGER_WEIGHT_FACTOR: u64 = 2;

/// While a model loads, its file's bytes, the decoded graph and the plan being optimised are
/// held at once: the largest model counts this many more times its size while loading (its
/// resident size; an integer-form model's file size, as its weights stay int8 throughout).
/// (f32 dlib: `doctor` peaks 69 MiB above the QLinear model for 16 MiB more weights; the int8
/// iResNet-50 peaks ~66 MB, 1.5× its file, above what it leaves loaded.)
pub const LOAD_PEAK_COPIES: u64 = 3;

/// Working memory of one plan (activations, im2col buffers) at the face models' input sizes.
pub const PLAN_WORKING_BYTES: u64 = 32 * MIB;

/// One model plan the device holds: the file it is built from, and its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    pub id: String,
    pub file_bytes: u64,
    /// int8 weights (`quantized` in the manifest).
    pub quantized: bool,
    /// The graph computes in integers, so its int8 weights stay int8 in memory
    /// ([`onnx_ops::computes_in_integers`]); false for f32 and QDQ models.
    pub integer: bool,
}

impl PlanFile {
    /// Bytes the plan's weights take in memory.
    pub fn resident(&self) -> u64 {
        let factor = match (self.quantized, self.integer) {
            (true, true) => INTEGER_WEIGHT_FACTOR,
            (true, false) => QUANTIZED_WEIGHT_FACTOR,
            (false, _) => F32_WEIGHT_FACTOR,
        };
        self.file_bytes.saturating_mul(factor)
    }

    /// Bytes one copy of the model takes while it loads: its resident size, or an
    /// integer-form model's file size.
    pub fn loading(&self) -> u64 {
        if self.quantized && self.integer {
            self.file_bytes
        } else {
            self.resident()
        }
    }
}

/// The estimate, by part, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Every plan's weights.
    pub weights: u64,
    /// The extra copies while the largest model loads.
    pub load_peak: u64,
    /// Every plan's working memory.
    pub working: u64,
    /// The gallery file, read whole.
    pub gallery: u64,
    pub baseline: u64,
}

impl MemoryNeed {
    /// The peak the device reaches.
    pub fn total(&self) -> u64 {
        self.weights + self.load_peak + self.working + self.gallery + self.baseline
    }

    /// Whether a board with `board` bytes (`MemTotal`) holds it, with the system's share left.
    pub fn fits(&self, board: u64) -> bool {
        self.total().saturating_add(SYSTEM_RESERVE_BYTES) <= board
    }

    /// `needs 1650 MB, has 1848 MB`: the screen's technician line (the small panel's holds 30
    /// characters), the need with the system's share.
    pub fn versus(&self, board: u64) -> String {
        format!(
            "needs {} MB, has {} MB",
            mb(self.total() + SYSTEM_RESERVE_BYTES),
            mb(board)
        )
    }

    /// `weights 700 MB + loading 783 MB + working 128 MB + gallery 40 MB + base 48 MB + system
    /// 128 MB`: the parts, for the log and `doctor`.
    pub fn parts(&self) -> String {
        format!(
            "weights {} MB + loading {} MB + working {} MB + gallery {} MB + base {} MB + \
             system {} MB",
            mb(self.weights),
            mb(self.load_peak),
            mb(self.working),
            mb(self.gallery),
            mb(self.baseline),
            mb(SYSTEM_RESERVE_BYTES)
        )
    }
}

/// Whole megabytes (MiB), rounded up.
fn mb(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// The memory `plans` and a gallery of `gallery_bytes` need at their peak.
pub fn estimate(plans: &[PlanFile], gallery_bytes: u64) -> MemoryNeed {
    let weights = plans.iter().map(PlanFile::resident).sum();
    let largest = plans.iter().map(PlanFile::loading).max().unwrap_or(0);
    MemoryNeed {
        weights,
        load_peak: largest.saturating_mul(LOAD_PEAK_COPIES),
        working: PLAN_WORKING_BYTES * plans.len() as u64,
        gallery: gallery_bytes,
        baseline: BASELINE_BYTES,
    }
}

/// The plans the device would build for `embedder` (a model or an `[[ensemble]]` id): the
/// first detector (twice with a preview plan of another size), then each embedder, with their
/// files' sizes. A file that cannot be read is an error (the model check then says more).
pub fn device_plans(
    cfg: &Config,
    manifest: &Manifest,
    embedder: &str,
) -> Result<Vec<PlanFile>, String> {
    let detector = manifest
        .first_with_role(crate::manifest::Role::Detector)
        .map_err(|e| e.to_string())?;
    let members = Members::named(manifest, embedder).map_err(|e| e.to_string())?;
    let side = cfg.preview_detector_side;
    let preview = side != 0 && (side, side) != detector.input_hw();
    let mut entries: Vec<&ModelEntry> = vec![detector];
    if preview {
        entries.push(detector);
    }
    entries.extend(members.entries());
    entries
        .into_iter()
        .map(|e| {
            let path = manifest.file_path(e);
            let bytes = file_size(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            // A graph that cannot be read counts as QDQ (the larger need); the model check
            // says what is wrong with it.
            let integer = e.quantized && onnx_ops::computes_in_integers(&path).unwrap_or(false);
            Ok(PlanFile {
                id: e.id.clone(),
                file_bytes: bytes,
                quantized: e.quantized,
                integer,
            })
        })
        .collect()
}

/// The device's need with `choice`: its plans ([`device_plans`]) and its gallery file (0 when
/// it cannot be read: the gallery's own check refuses it).
pub fn device_need(
    cfg: &Config,
    manifest: &Manifest,
    choice: &ModelChoice,
) -> Result<MemoryNeed, String> {
    let plans = device_plans(cfg, manifest, &choice.embedder)?;
    let gallery = file_size(&choice.gallery).unwrap_or(0);
    Ok(estimate(&plans, gallery))
}

/// A file's size.
fn file_size(path: &Path) -> std::io::Result<u64> {
    std::fs::metadata(path).map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str, mb: u64, quantized: bool) -> PlanFile {
        PlanFile {
            id: id.into(),
            file_bytes: mb * MIB,
            quantized,
            integer: false,
        }
    }

    fn integer_plan(id: &str, mb: u64) -> PlanFile {
        PlanFile {
            integer: true,
            ..plan(id, mb, true)
        }
    }

    /// f32 weights count once, int8 four times (dequantized); the largest model's loading
    /// copies, each plan's working memory, the gallery and the baseline add up.
    #[test]
    fn the_need_adds_weights_peak_working_gallery_and_baseline() {
        let need = estimate(&[plan("det", 2, false), plan("emb", 10, true)], 5 * MIB);
        assert_eq!(need.weights, (2 + 40) * MIB);
        assert_eq!(need.load_peak, 40 * MIB * LOAD_PEAK_COPIES);
        assert_eq!(need.working, 2 * PLAN_WORKING_BYTES);
        assert_eq!(need.gallery, 5 * MIB);
        assert_eq!(
            need.total(),
            need.weights + need.load_peak + need.working + 5 * MIB + BASELINE_BYTES
        );
        assert_eq!(estimate(&[], 0).total(), BASELINE_BYTES);
    }

    /// GM-Arc's f32 ensemble (iResNet-50 174 MB, two iResNet-100 261 MB) does not fit a 1 GB
    /// board and fits an 8 GB one; the dlib default fits a 512 MB Pi Zero 2 W.
    #[test]
    fn heavy_ensembles_are_refused_on_small_boards() {
        let gm_arc = [
            plan("det", 2, false),
            plan("r50", 174, false),
            plan("r100a", 261, false),
            plan("r100b", 261, false),
        ];
        let need = estimate(&gm_arc, 40 * MIB);
        let board = |mb: u64| mb * MIB;
        assert!(!need.fits(board(906)), "{}", need.versus(board(906)));
        assert!(need.fits(board(7_800)), "{}", need.versus(board(7_800)));
        let dlib = estimate(&[plan("det", 2, false), plan("dlib", 6, true)], 10 * MIB);
        assert!(dlib.fits(board(427)), "{}", dlib.versus(board(427)));
        // The line a technician reads: the total with the system's share, the models' part.
        let line = need.versus(board(906));
        assert!(
            line.starts_with("needs ") && line.ends_with(", has 906 MB"),
            "{line}"
        );
        assert_eq!(mb(1), 1);
        assert!(
            need.parts().starts_with("weights 698 MB + loading 783 MB"),
            "{}",
            need.parts()
        );
    }

    /// An integer-form model counts its int8 weights twice and loads at its file's size: GM-Arc's
    /// int8 ensemble (ConvInteger r50 44 MB, two r100 66 MB) fits a 2 GB Pi 4 with room to
    /// spare and still not a 512 MB Zero 2 W; the same files as QDQ need about what the f32
    /// ensemble needs.
    #[test]
    fn integer_form_weights_count_as_int8() {
        let board = |mb: u64| mb * MIB;
        let members = |f: &dyn Fn(&str, u64) -> PlanFile| {
            let plans = [
                plan("det", 2, false),
                f("r50", 44),
                f("r100a", 66),
                f("r100b", 66),
            ];
            estimate(&plans, 40 * MIB)
        };
        let integer = members(&integer_plan);
        assert_eq!(integer.weights, (2 + 2 * (44 + 66 + 66)) * MIB);
        assert_eq!(integer.load_peak, 66 * MIB * LOAD_PEAK_COPIES);
        assert!(
            integer.fits(board(1_024)),
            "{}",
            integer.versus(board(1_024))
        );
        assert!(!integer.fits(board(427)), "{}", integer.versus(board(427)));
        let qdq = members(&|id, mb| plan(id, mb, true));
        assert_eq!(qdq.weights, (2 + 4 * (44 + 66 + 66)) * MIB);
        assert!(!qdq.fits(board(1_024)), "{}", qdq.versus(board(1_024)));
    }
}
