//! Cosine agreement of tract's embeddings with dlib's, on chips with reference descriptors.
//!
//! `cargo run --example embed_check -- [--model ID] [DIR...]` where each DIR holds `reference.json`
//! (`tests/fixtures/embed`, the default) or `lfw_reference.json` + `chips/test/` (written by
//! `models/tools/dlib_reference.py lfw` into models/tools/.work). Prints min/mean cosine of
//! f32 vs dlib, int8 vs f32, int8 vs dlib. `--model` names the quantized embedder compared
//! (default `dlib-resnet-v1-int8`).

use gestaltcam::embed::{cosine, EmbedOptions, Embedder};
use gestaltcam::manifest::Manifest;
use std::path::{Path, PathBuf};

fn chips(dir: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<f32>)>> {
    let (json, chip_dir) = if dir.join("reference.json").exists() {
        (dir.join("reference.json"), dir.to_path_buf())
    } else {
        (dir.join("lfw_reference.json"), dir.join("chips/test"))
    };
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let obj = v["chips"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("{}: no chips", json.display()))?;
    obj.iter()
        .map(|(k, c)| {
            let d = c["descriptor"]
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("{k}: no descriptor"))?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|x| x as f32)
                        .ok_or_else(|| anyhow::anyhow!("{k}: bad number"))
                })
                .collect::<anyhow::Result<Vec<f32>>>()?;
            Ok((chip_dir.join(format!("{k}.png")), d))
        })
        .collect()
}

fn stats(v: &[f32]) -> String {
    let min = v.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    format!("min {min:.7}  mean {mean:.7}  (n={})", v.len())
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let m = Manifest::load_dir(&root.join("models"))?;
    let f = Embedder::load(&m, m.model("dlib-resnet-v1-f32")?, EmbedOptions::default())?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let id = match args.iter().position(|a| a == "--model") {
        Some(i) if i + 1 < args.len() => args.drain(i..i + 2).nth(1).unwrap_or_default(),
        Some(_) => anyhow::bail!("--model needs an embedder id"),
        None => "dlib-resnet-v1-int8".to_string(),
    };
    let q = Embedder::load(&m, m.model(&id)?, EmbedOptions::default())?;
    let qt = Embedder::load(&m, m.model(&id)?, EmbedOptions { flip_tta: true })?;
    println!("quantized embedder: {id}");
    let mut dirs: Vec<PathBuf> = args.into_iter().map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(root.join("tests/fixtures/embed"));
    }
    for dir in dirs {
        let (mut fd, mut qf, mut qd, mut tq) = (vec![], vec![], vec![], vec![]);
        for (path, d) in chips(&dir)? {
            let chip = image::open(&path)?.to_rgb8();
            let a = f.embed_chip(&chip)?;
            let b = q.embed_chip(&chip)?;
            let t = qt.embed_chip(&chip)?;
            fd.push(cosine(&a, &d));
            qf.push(cosine(&b, &a));
            qd.push(cosine(&b, &d));
            tq.push(cosine(&t, &b));
        }
        println!("{}", dir.display());
        println!("  tract f32  vs dlib : {}", stats(&fd));
        println!("  tract int8 vs f32  : {}", stats(&qf));
        println!("  tract int8 vs dlib : {}", stats(&qd));
        println!("  int8 flip-TTA vs int8: {}", stats(&tq));
    }
    Ok(())
}
