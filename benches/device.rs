//! The device's two latencies, with the real models (one inference thread unless named):
//! - live preview: one 320×240 frame → detection + quality → the preview view model (target
//!   ≥ 10 frames/s on one x86 core); one 640×480 camera frame with one detector plan, and with
//!   the 192×192 preview plan (`preview_detector_side`, the device's default);
//! - capture to results: 3 captured 640×480 frames → detect, align, embed (int8) each, fuse,
//!   rank against a 1,000-syndrome gallery → the results view model; also with tract's
//!   matrix products on 2 threads (`set_inference_threads(2)`; the device uses every core), and
//!   with the 192 preview plan (each capture detected again by the full detector);
//! - the preview screen drawn on a 240×240 colour panel's framebuffer: face box only, and with
//!   the viewfinder (the 640×480 frame scaled to the panel, then drawn);
//! - start-up: the models the device loads (the detector, its 192 preview plan, the int8
//!   embedder: `FacePipeline::load_with_preview`) on 1 thread, and on 2, where the three plans
//!   are optimised side by side.

use criterion::{criterion_group, criterion_main, Criterion};
use gestaltcam::analysis::{Analyzer, Capture};
use gestaltcam::camera::Frame;
use gestaltcam::display::{Panel, PngDisplay};
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::pipeline::{FacePipeline, PhotoEmbedder};
use gestaltcam::screening::PipelineAnalyzer;
use gestaltcam::ui::view::{Guidance, Picture, View};
use image::{imageops, Rgb, RgbImage};
use std::path::Path;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn frame(src: &RgbImage, w: u32, h: u32, seq: u64) -> Frame {
    let face = imageops::resize(src, h, h, imageops::FilterType::Triangle);
    let mut f = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    imageops::replace(&mut f, &face, i64::from((w - h) / 2), 0);
    Frame::new(f, seq, Duration::ZERO)
}

/// A gallery of `n` syndromes × 1 case with deterministic pseudo-random unit vectors.
fn synthetic_gallery(p: &FacePipeline, n: usize) -> Gallery {
    let dim = p.embedding_size();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let mut flat = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        flat.extend(v.iter().map(|x| x / norm));
    }
    let labels = (0..n)
        .map(|i| Label {
            name: format!("syndrome {i}"),
            omim: None,
            genes: vec![],
        })
        .collect();
    let cases = (0..n)
        .map(|i| Case {
            case_id: format!("case {i}"),
            subject: format!("s{i}"),
            label: i as u32,
        })
        .collect();
    let meta = GalleryMeta {
        embedder_id: p.embedder_id(),
        metric: p.metric(),
        name: "bench".into(),
        created_unix: 0,
        threshold: None,
        storage: Storage::F32,
    };
    Gallery::from_parts(meta, labels, cases, dim, flat).expect("gallery")
}

fn bench(c: &mut Criterion) {
    let models = Path::new(ROOT).join("models");
    let Ok(astro) =
        gestaltcam::photo::load_path(&Path::new(ROOT).join("tests/fixtures/photos/astronaut.png"))
    else {
        return;
    };
    let load = || {
        FacePipeline::load(&models, None, gestaltcam::pipeline::DEVICE_EMBED_OPTIONS)
            .expect("models")
    };
    let p = load();
    let gallery = synthetic_gallery(&p, 1000);
    let mut analyzer = PipelineAnalyzer::new(Ok(load()), Ok(gallery));
    let preview = frame(&astro, 320, 240, 0);
    // As on the device: each photo keeps the face its preview found (one plan: embedded as
    // found).
    let captures: Vec<Capture> = (0..3)
        .map(|i| {
            let frame = frame(&astro, 640, 480, i);
            let face = analyzer.preview(&frame).expect("preview").face;
            Capture { frame, face }
        })
        .collect();

    // The device's default: the preview runs the detector's 192×192 plan, and each capture is
    // detected again by the full one.
    let side = gestaltcam::config::DEFAULT_PREVIEW_DETECTOR_SIDE;
    let cheap = load()
        .with_preview_side(&models, side)
        .expect("preview plan");
    let mut cheap = PipelineAnalyzer::new(Ok(cheap), Ok(synthetic_gallery(&p, 1000)));
    let camera_frame = frame(&astro, 640, 480, 0);
    let cheap_captures: Vec<Capture> = (0..3)
        .map(|i| {
            let frame = frame(&astro, 640, 480, i);
            let face = cheap.preview(&frame).expect("preview").face;
            Capture { frame, face }
        })
        .collect();

    let mut g = c.benchmark_group("device");
    g.sample_size(20);
    g.bench_function("preview 320x240 frame", |b| {
        b.iter(|| analyzer.preview(&preview))
    });
    g.bench_function("preview 640x480 frame, one plan", |b| {
        b.iter(|| analyzer.preview(&camera_frame))
    });
    g.bench_function(format!("preview 640x480 frame, {side} plan"), |b| {
        b.iter(|| cheap.preview(&camera_frame))
    });
    g.bench_function(
        format!("capture to results, 3 photos, {side} preview"),
        |b| b.iter(|| cheap.analyse(&cheap_captures).expect("analysis")),
    );
    g.bench_function("capture to results, 3 photos", |b| {
        b.iter(|| analyzer.analyse(&captures).expect("analysis"))
    });
    gestaltcam::pipeline::set_inference_threads(2);
    g.bench_function("capture to results, 3 photos, 2 threads", |b| {
        b.iter(|| analyzer.analyse(&captures).expect("analysis"))
    });
    g.bench_function("preview 320x240 frame, 2 threads", |b| {
        b.iter(|| analyzer.preview(&preview))
    });
    gestaltcam::pipeline::set_inference_threads(1);
    let mut fb = PngDisplay::new(240, 240);
    let camera = frame(&astro, 640, 480, 0);
    let screen = |picture| View::Preview {
        face_box: Some([0.35, 0.2, 0.65, 0.7]),
        guidance: Guidance::Ready,
        photos_taken: 0,
        photos_wanted: 3,
        not_taken: false,
        picture,
    };
    g.bench_function("preview screen 240x240, face box only", |b| {
        b.iter(|| fb.draw_view(&screen(None)).expect("draw"))
    });
    g.bench_function("preview screen 240x240, viewfinder", |b| {
        b.iter(|| {
            let picture = Picture::fit(&camera.image, 240, 240);
            fb.draw_view(&screen(Some(picture))).expect("draw")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("start-up");
    g.sample_size(10);
    let device_load = || {
        FacePipeline::load_with_preview(
            &models,
            None,
            gestaltcam::pipeline::DEVICE_EMBED_OPTIONS,
            side,
        )
        .expect("models")
    };
    g.bench_function("models loaded, 1 thread", |b| b.iter(device_load));
    gestaltcam::pipeline::set_inference_threads(2);
    g.bench_function("models loaded, 2 threads", |b| b.iter(device_load));
    gestaltcam::pipeline::set_inference_threads(1);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
