//! Cosine of an int8 embedder's outputs to its f32 model's, computed by tract on aligned face
//! chips, and the time of one embedding of each (this machine, one thread).
//!
//! ```sh
//! cargo run --release --example heavy_check -- MODELS_DIR F32_ID INT8_ID CHIP_DIR
//! ```
//! MODELS_DIR holds a MANIFEST.toml naming both models (`models/tools/heavy-models.sh` writes
//! one); CHIP_DIR holds aligned PNG chips of the models' input size
//! (`models/tools/qlinear_iresnet.py chips DIR`). Each chip is run as it is (the `plain`
//! variant): the raw outputs are compared.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use gestaltcam::embed::{cosine, EmbedOptions, Embedder, Variant};
use gestaltcam::manifest::Manifest;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, f32_id, int8_id, chips] = args.as_slice() else {
        bail!("usage: heavy_check MODELS_DIR F32_ID INT8_ID CHIP_DIR");
    };
    let m = Manifest::load_dir(&PathBuf::from(dir))?;
    let load = |id: &str| -> anyhow::Result<Embedder> {
        let t = Instant::now();
        let e = Embedder::load(&m, m.model(id)?, EmbedOptions::default())
            .with_context(|| format!("loading {id}"))?;
        eprintln!("{id}: loaded in {:.2} s", t.elapsed().as_secs_f32());
        Ok(e)
    };
    let (f, q) = (load(f32_id)?, load(int8_id)?);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(chips)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no PNG chips in {chips}");
    }
    let (mut cos, mut tf, mut tq) = (Vec::new(), 0.0, 0.0);
    for p in &paths {
        let chip = image::open(p)?.to_rgb8();
        let t = Instant::now();
        let a = f.run_variant(&chip, Variant::PLAIN)?;
        tf += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = q.run_variant(&chip, Variant::PLAIN)?;
        tq += t.elapsed().as_secs_f64();
        cos.push(cosine(&a, &b));
    }
    let n = paths.len();
    let min = cos.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = cos.iter().sum::<f32>() / n as f32;
    println!(
        "{int8_id} vs {f32_id}: {n} chips, cosine min {min:.5} mean {mean:.5}; \
         one embedding {:.1} ms f32, {:.1} ms int8 (this machine)",
        tf * 1e3 / n as f64,
        tq * 1e3 / n as f64
    );
    Ok(())
}
