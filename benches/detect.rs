//! Face detector speed: a 250×250 photo and 320×240 / 640×480 camera frames (the model input is
//! fixed, so frame size changes only the letterbox and decode work).
//! Compare with `models/tools/ort_bench_detector.py` (onnxruntime, one thread, same inputs).

use criterion::{criterion_group, criterion_main, Criterion};
use gestaltcam::manifest::{Manifest, Role};
use gestaltcam::vision::detect::Detector;
use image::{imageops, Rgb, RgbImage};
use std::path::Path;

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
const ASTRONAUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/photos/astronaut.png"
);

/// A `w`×`h` grey frame with the astronaut photo scaled to the frame height, centred.
fn frame(src: &RgbImage, w: u32, h: u32) -> RgbImage {
    let face = imageops::resize(src, h, h, imageops::FilterType::Triangle);
    let mut f = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    imageops::replace(&mut f, &face, i64::from((w - h) / 2), 0);
    f
}

fn bench(c: &mut Criterion) {
    let Ok(m) = Manifest::load_dir(Path::new(MODELS)) else {
        return;
    };
    let Ok(entry) = m.first_with_role(Role::Detector) else {
        return;
    };
    let Ok(det) = Detector::load(&m, entry) else {
        return;
    };
    let Ok(astro) = image::open(ASTRONAUT).map(|i| i.to_rgb8()) else {
        return;
    };
    let photo = imageops::resize(&astro, 250, 250, imageops::FilterType::Triangle);
    let mut g = c.benchmark_group("detect");
    for (name, img) in [
        ("photo_250x250", photo),
        ("frame_320x240", frame(&astro, 320, 240)),
        ("frame_640x480", frame(&astro, 640, 480)),
    ] {
        g.bench_function(name, |b| b.iter(|| det.detect(&img)));
        // The Rust letterbox alone (detect − this ≈ tract inference + decode).
        g.bench_function(format!("{name}_letterbox_only"), |b| {
            b.iter(|| det.preprocess(&img))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
