//! Runs one stage of the capture path N times, for guest-instruction counts under qemu-aarch64
//! without a board (`benches/arm-table.sh`): a stage costs count(N) − count(N − 1), so the
//! process start and the model loading cancel out.
//!
//! ```sh
//! cargo build --release --example stage_count --target aarch64-unknown-linux-gnu
//! B=target/aarch64-unknown-linux-gnu/release/examples/stage_count
//! QEMU_CPU=cortex-a72 ../shared/tools/arm-insn-count $B photo-tta 2   # and 1
//! ```
//! Arguments: STAGE N [MODELS_DIR]. Stages:
//! - `detect`: the detector on a 640×480 camera frame (letterbox, model, decode);
//! - `letterbox`: the detector's input alone: that frame scaled into the full plan's 320×320
//!   input and normalised (part of `detect`; not in `benches/arm-table.sh`'s default stages);
//! - `align`: the similarity transform and the 150×150 warp of the face found there;
//! - `embed-f32`, `embed-qdq`, `embed-qlinear`: one inference of that embedder on an aligned
//!   chip, no flip;
//!   `embed-int8`: the same for the embedder the device runs on this CPU (`embedder = "auto"`
//!   with a gallery for each int8 model: the manifest's default for the CPU's features, the
//!   QLinear model with the dot product, the QDQ model without; printed on stderr);
//! - `photo-tta`: one photo as the device analyses it: detect, align, embed the chip and its
//!   mirror (flip TTA);
//! - `session-3`: three photos of one person, each as `photo-tta` (fusion and ranking are
//!   microseconds: `cargo bench --bench rank`);
//! - `preview`: one live-preview frame as the device analyses it: the detector's preview plan
//!   (`preview_detector_side`, default 192×192) on the 640×480 frame, then the framing verdict;
//! - `load`: loading what the device loads: the detector, its preview plan and the device's
//!   embedder (hash check, ONNX, optimisation).
//!
//! `photo-tta`, `session-3` and `load` use the device's embedder, as `embed-int8`;
//! `which-embedder` prints its id.
//!
//! Heavy stages (GM-Arc-class random-weight networks, read from the folder `HEAVY_MODELS`,
//! default `target/heavy-models`, made by `models/tools/heavy-models.sh`):
//! - `r50-f32`, `r50-int8`, `r100-f32`, `r100-int8`: one inference of that iResNet (GM-Arc's
//!   fine-tuned two-output r50 / r100, the embedding output) on the face of a photo aligned onto
//!   its 112×112 template, no variant;
//! - `ensemble-photo`: one photo through the ensemble `gm-arc-int8` (or `gm-arc-f32` with
//!   `HEAVY_FORM=f32`): detect, align, r50 + two r100 × 4 variants (plain, flip, grey,
//!   flip-grey);
//! - `ensemble-session-3`: three photos of one person as `ensemble-photo`, their vectors fused
//!   (mean embedding) and ranked against a 200-case gallery of that recipe.
//!
//! Prints one line with a value of the last result, so the work is not optimised away.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use gestaltcam::embed::EmbedOptions;
use gestaltcam::manifest::{CpuFeatures, Manifest};
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::pipeline::PhotoEmbedder;
use image::RgbImage;

#[path = "stage_count/heavy.rs"]
mod heavy;

const F32: &str = "dlib-resnet-v1-f32";
const QDQ: &str = "dlib-resnet-v1-int8";
const QLINEAR: &str = "dlib-resnet-v1-qlinear";
/// The device's preview plan (its default config).
const PREVIEW: usize = gestaltcam::config::DEFAULT_PREVIEW_DETECTOR_SIDE;

/// A fixture photo as a 640×480 camera frame: scaled to 640 wide, the top 480 rows kept (the
/// face stays whole), as the VM tests feed it.
fn frame(root: &Path, name: &str) -> anyhow::Result<RgbImage> {
    let img = gestaltcam::photo::load_path(&root.join("tests/fixtures/photos").join(name))?;
    let h = (img.height() as f32 * 640.0 / img.width() as f32).round() as u32;
    let scaled = image::imageops::resize(&img, 640, h, image::imageops::FilterType::Triangle);
    if h < 480 {
        bail!("{name}: {h} rows at 640 wide, fewer than 480");
    }
    Ok(image::imageops::crop_imm(&scaled, 0, 0, 640, 480).to_image())
}

/// The id of the embedder the device runs on this CPU (the manifest's default for it).
fn device_embedder(models: &Path) -> anyhow::Result<String> {
    let m = Manifest::load_dir(models)?;
    Ok(m.default_embedder(CpuFeatures::detect())?.id.clone())
}

/// `embedder` None: the device's embedder on this CPU.
fn pipeline(models: &Path, embedder: Option<&str>, flip_tta: bool) -> anyhow::Result<FacePipeline> {
    let device;
    let embedder = match embedder {
        Some(id) => id,
        None => {
            device = device_embedder(models)?;
            let cpu = CpuFeatures::detect().describe();
            eprintln!("device embedder on this CPU ({cpu}): {device}");
            &device
        }
    };
    FacePipeline::load(models, Some(embedder), EmbedOptions { flip_tta })
        .with_context(|| format!("loading the models in {}", models.display()))
}

/// What the device loads at start-up: [`pipeline`] with the detector's preview plan, both
/// detector plans from one read of its file (`FacePipeline::load_with_preview`).
fn device_pipeline(models: &Path) -> anyhow::Result<FacePipeline> {
    let embedder = device_embedder(models)?;
    let (p, preview) = FacePipeline::load_with_preview(
        models,
        Some(&embedder),
        EmbedOptions { flip_tta: true },
        PREVIEW,
    )
    .with_context(|| format!("loading the models in {}", models.display()))?;
    preview.context("the preview plan")?;
    Ok(p)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(stage), Some(n)) = (args.get(1), args.get(2)) else {
        bail!("usage: stage_count STAGE N [MODELS_DIR]");
    };
    let n: usize = n.parse().context("N")?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = args
        .get(3)
        .map_or_else(|| root.join("models"), PathBuf::from);
    if let Some(last) = heavy::stage(stage, n, &root)? {
        println!("{stage} x{n}: {last}");
        return Ok(());
    }
    let chip = gestaltcam::photo::load_path(&root.join("tests/fixtures/embed/obama.png"))?;
    let mut last = 0.0f32;
    match stage.as_str() {
        "which-embedder" => {
            // Not a cost: which model `embed-int8` and the photo stages run on this CPU.
            println!("{}", device_embedder(&models)?);
            return Ok(());
        }
        "load" => {
            for _ in 0..n {
                let p = device_pipeline(&models)?;
                last = p.embedding_size() as f32;
            }
        }
        "preview" => {
            let p = device_pipeline(&models)?;
            let photo = frame(&root, "obama.jpg")?;
            for _ in 0..n {
                let check = p.check_frame(&photo)?;
                if check.issue.is_some() {
                    bail!("the preview frame is not ready: {:?}", check.issue);
                }
                last = check.faces.len() as f32;
            }
        }
        "letterbox" => {
            let p = pipeline(&models, None, true)?;
            let photo = frame(&root, "obama.jpg")?;
            for _ in 0..n {
                let (input, _) = p.detector().preprocess(&photo)?;
                last = input
                    .to_plain_array_view::<f32>()?
                    .iter()
                    .nth(1000)
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        "detect" | "align" => {
            let p = pipeline(&models, None, true)?;
            let photo = frame(&root, "obama.jpg")?;
            if stage == "detect" {
                for _ in 0..n {
                    last = p.detect(&photo)?.len() as f32;
                }
            } else {
                let faces = p.detect(&photo)?;
                let Some(face) = faces.first() else {
                    bail!("no face in the frame");
                };
                for _ in 0..n {
                    last = f32::from(p.align(&photo, face)?.chip.get_pixel(75, 75)[0]);
                }
            }
        }
        "embed-f32" | "embed-qdq" | "embed-qlinear" | "embed-int8" => {
            let id = match stage.as_str() {
                "embed-f32" => Some(F32),
                "embed-qdq" => Some(QDQ),
                "embed-qlinear" => Some(QLINEAR),
                _ => None,
            };
            let p = pipeline(&models, id, false)?;
            for _ in 0..n {
                last = p.embed_chip(&chip)?[0];
            }
        }
        "photo-tta" | "session-3" => {
            let p = pipeline(&models, None, true)?;
            let names: &[&str] = if stage == "photo-tta" {
                &["obama.jpg"]
            } else {
                &["obama.jpg", "obama2.jpg", "obama3.jpg"]
            };
            let photos = names
                .iter()
                .map(|f| frame(&root, f))
                .collect::<anyhow::Result<Vec<_>>>()?;
            for _ in 0..n {
                for photo in &photos {
                    last = p.embed_photo(photo)?.vector[0];
                }
            }
        }
        other => bail!("unknown stage {other:?}"),
    }
    println!("{stage} x{n}: {last}");
    Ok(())
}
