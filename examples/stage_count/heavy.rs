//! The heavy stages of `stage_count`: GM-Arc-class iResNet networks and their ensemble, read
//! from `HEAVY_MODELS` (default `target/heavy-models`, made by `models/tools/heavy-models.sh`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use gestaltcam::embed::EmbedOptions;
use gestaltcam::gallery::{Case, FusionMode, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::manifest::Metric;
use gestaltcam::pipeline::{FacePipeline, PhotoEmbedder};
use image::RgbImage;

/// The folder of the heavy models: `HEAVY_MODELS`, or `target/heavy-models` in the checkout.
fn folder(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("HEAVY_MODELS")
        .map_or_else(|| root.join("target/heavy-models"), PathBuf::from);
    if !dir.join("MANIFEST.toml").exists() {
        bail!(
            "no heavy models in {}: make them with `bash models/tools/heavy-models.sh {}` \
             (or set HEAVY_MODELS to their folder)",
            dir.display(),
            dir.display()
        );
    }
    Ok(dir)
}

fn load(dir: &Path, id: &str) -> anyhow::Result<FacePipeline> {
    FacePipeline::load(dir, Some(id), EmbedOptions { flip_tta: false })
        .with_context(|| format!("loading `{id}` from {}", dir.display()))
}

/// A fixture photo, whole (the detector letterboxes it).
fn photo(root: &Path, name: &str) -> anyhow::Result<RgbImage> {
    Ok(gestaltcam::photo::load_path(
        &root.join("tests/fixtures/photos").join(name),
    )?)
}

/// A gallery of `cases` deterministic pseudo-random unit vectors (4 cases a syndrome) with the
/// pipeline's recipe: what a fused query is ranked against (the ranking's cost does not depend
/// on what the vectors mean).
fn gallery(p: &FacePipeline, cases: usize) -> anyhow::Result<Gallery> {
    let dim = p.embedding_size();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut flat = Vec::with_capacity(cases * dim);
    for _ in 0..cases {
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        flat.extend(v.iter().map(|x| x / norm));
    }
    let labels = (0..cases.div_ceil(4))
        .map(|l| Label {
            name: format!("syndrome {l}"),
            omim: None,
            genes: Vec::new(),
        })
        .collect();
    let case_list = (0..cases)
        .map(|i| Case {
            case_id: format!("c{i}"),
            subject: format!("s{i}"),
            label: (i / 4) as u32,
        })
        .collect();
    let meta = GalleryMeta {
        embedder_id: p.embedder_id(),
        metric: Metric::Cosine,
        name: "stage-count".into(),
        created_unix: 1,
        threshold: None,
        storage: Storage::F32,
    };
    let mut g = Gallery::from_parts(meta, labels, case_list, dim, flat)?;
    g.set_recipe(p.embedding_recipe())?;
    Ok(g)
}

/// This process's resident memory now and at its peak (`VmRSS`, `VmHWM` of /proc/self/status),
/// for the memory figures (on stderr, so the counts' output is unchanged).
fn memory(when: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or_else(|| "?".to_string(), |kb| format!("{:.0} MB", kb / 1024.0))
    };
    eprintln!(
        "memory {when}: resident {}, peak {}",
        field("VmRSS:"),
        field("VmHWM:")
    );
}

/// Runs a heavy stage `n` times; `None` when `stage` is not one of them.
pub fn stage(stage: &str, n: usize, root: &Path) -> anyhow::Result<Option<f32>> {
    let model = match stage {
        "r50-f32" => "gm-arc-r50-f32",
        "r50-int8" => "gm-arc-r50-int8",
        "r100-f32" => "gm-arc-r100-f32",
        "r100-int8" => "gm-arc-r100-int8",
        "ensemble-photo" | "ensemble-session-3" => "",
        _ => return Ok(None),
    };
    let dir = folder(root)?;
    let mut last = 0.0f32;
    if !model.is_empty() {
        let p = load(&dir, model)?;
        memory("loaded");
        let img = photo(root, "obama.jpg")?;
        let faces = p.detect(&img)?;
        let face = faces.first().context("no face in obama.jpg")?;
        let chip = p.align(&img, face)?.chip;
        for _ in 0..n {
            last = p.embed_chip(&chip)?[0];
        }
        memory("after the runs");
        return Ok(Some(last));
    }
    let form = std::env::var("HEAVY_FORM").unwrap_or_else(|_| "int8".into());
    let p = load(&dir, &format!("gm-arc-{form}"))?;
    memory("ensemble loaded");
    eprintln!(
        "ensemble gm-arc-{form}: {} models x {} variants",
        p.embedders().members().len(),
        p.embedders().variants().list.len()
    );
    let names: &[&str] = if stage == "ensemble-photo" {
        &["obama.jpg"]
    } else {
        &["obama.jpg", "obama2.jpg", "obama3.jpg"]
    };
    let photos = names
        .iter()
        .map(|f| photo(root, f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let g = gallery(&p, 200)?;
    for _ in 0..n {
        let vectors = photos
            .iter()
            .map(|ph| Ok(p.embed_photo(ph)?.vector))
            .collect::<anyhow::Result<Vec<_>>>()?;
        last = if vectors.len() == 1 {
            vectors[0][0]
        } else {
            let ranking = g.rank_photos(&vectors, 5, FusionMode::MeanEmbedding)?;
            ranking.matches.len() as f32
        };
    }
    memory("after the runs");
    Ok(Some(last))
}
