//! Embedder speed: one 150×150 chip through the f32 and int8 models (tract), and model load
//! time from ONNX vs from NNEF written at build time.
//!
//! `cargo bench --bench embed`. Load benches only measure; the device loads ONNX unless NNEF is
//! clearly faster (see models/README.md).

use criterion::{criterion_group, criterion_main, Criterion};
use gestaltcam::embed::{EmbedOptions, Embedder};
use gestaltcam::manifest::Manifest;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chip() -> image::RgbImage {
    image::open(root().join("tests/fixtures/embed/obama.png"))
        .expect("fixture chip")
        .to_rgb8()
}

fn embed(c: &mut Criterion) {
    let m = Manifest::load_dir(&root().join("models")).expect("manifest");
    let chip = chip();
    let mut g = c.benchmark_group("embed_chip");
    g.measurement_time(Duration::from_secs(10));
    for id in ["dlib-resnet-v1-f32", "dlib-resnet-v1-int8"] {
        for tta in [false, true] {
            let e = Embedder::load(
                &m,
                m.model(id).expect("entry"),
                EmbedOptions { flip_tta: tta },
            )
            .expect("loads");
            let name = if tta {
                format!("{id}+flip")
            } else {
                id.to_string()
            };
            g.bench_function(name, |b| {
                b.iter(|| black_box(e.embed_chip(black_box(&chip)).expect("embeds")))
            });
        }
    }
    g.finish();
}

fn onnx_load(bytes: &[u8]) -> TractResult<Arc<TypedRunnableModel>> {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])?
        .with_input_fact(0, f32::fact([1, 3, 150, 150]).into())?
        .into_optimized()?
        .into_runnable()
}

fn nnef_load(
    nnef: &tract_nnef::framework::Nnef,
    tar: &[u8],
) -> TractResult<Arc<TypedRunnableModel>> {
    nnef.model_for_read(&mut &tar[..])?
        .into_optimized()?
        .into_runnable()
}

fn load(c: &mut Criterion) {
    let m = Manifest::load_dir(&root().join("models")).expect("manifest");
    let nnef = tract_nnef::nnef().with_onnx();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    for id in ["dlib-resnet-v1-f32", "dlib-resnet-v1-int8"] {
        let bytes = m
            .verify_file(m.model(id).expect("entry"))
            .expect("model file");
        // NNEF as a build step would write it: the decluttered (not yet optimised) typed model.
        let typed = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, 150, 150]).into()))
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .expect("typed model");
        g.bench_function(format!("{id}/onnx"), |bch| {
            bch.iter(|| black_box(onnx_load(&bytes).expect("loads")))
        });
        // tract-nnef 0.23.9 cannot serialise the QDQ int8 model ("Translating model to
        // proto_model"); only the f32 model has an NNEF load time.
        let tar = match nnef.write_to_tar(&typed, Vec::new()) {
            Ok(tar) => tar,
            Err(e) => {
                eprintln!("{id}: NNEF not written, skipping its load bench: {e:#}");
                continue;
            }
        };
        // Both paths must give the same plan output before their load times are compared.
        let x = Tensor::zero::<f32>(&[1, 3, 150, 150]).expect("tensor");
        let a = onnx_load(&bytes)
            .and_then(|p| p.run(tvec!(x.clone().into())))
            .expect("onnx runs");
        let b = nnef_load(&nnef, &tar)
            .and_then(|p| p.run(tvec!(x.into())))
            .expect("nnef runs");
        a[0].close_enough(&b[0], true)
            .expect("NNEF and ONNX plans agree");
        g.bench_function(format!("{id}/nnef"), |bch| {
            bch.iter(|| black_box(nnef_load(&nnef, &tar).expect("loads")))
        });
    }
    g.finish();
}

criterion_group!(benches, embed, load);
criterion_main!(benches);
