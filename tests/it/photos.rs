//! Odd photo files through the whole photo path (decode → detect → choose → align → embed):
//! CMYK and RGBA files work, 50-megapixel photos work, broken files and faceless or crowded
//! photos give typed errors, never a panic.

use gestaltcam::embed;
use gestaltcam::photo::{self, PhotoFileError};
use gestaltcam::pipeline::{FacePipeline, PhotoEmbedder, UnusablePhotoError, DEVICE_EMBED_OPTIONS};
use image::{imageops, Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/photos")
        .join(name)
}

fn pipeline() -> &'static FacePipeline {
    static P: OnceLock<FacePipeline> = OnceLock::new();
    P.get_or_init(|| {
        FacePipeline::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
            None,
            DEVICE_EMBED_OPTIONS,
        )
        .expect("models load")
    })
}

fn unit_length(v: &[f32]) -> bool {
    (v.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-3
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn cmyk_jpeg_decodes_to_the_same_picture_and_embeds() {
    let cmyk = photo::load_path(&fixture("astronaut_cmyk.jpg")).expect("CMYK JPEG decodes");
    let rgb = photo::load_path(&fixture("astronaut.png")).expect("png");
    let rgb = imageops::resize(&rgb, 256, 256, imageops::FilterType::Triangle);
    assert_eq!(cmyk.dimensions(), (256, 256));
    let mean_diff = cmyk
        .pixels()
        .zip(rgb.pixels())
        .map(|(a, b)| {
            (0..3)
                .map(|c| (f32::from(a[c]) - f32::from(b[c])).abs())
                .sum::<f32>()
        })
        .sum::<f32>()
        / (256.0 * 256.0 * 3.0);
    assert!(
        mean_diff < 20.0,
        "CMYK colours are off by {mean_diff} on average (inverted channels?)"
    );
    let e = pipeline()
        .embed_photo(&cmyk)
        .expect("a face in the CMYK photo");
    assert!(unit_length(&e.vector));
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn rgba_png_embeds_like_its_rgb_pixels() {
    let rgba = image::open(fixture("32bit.png")).expect("PNG").to_rgba8();
    // The same pixels as plain RGB, composited over white by hand (what the loader promises).
    let rgb = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y);
        let a = u32::from(p[3]);
        image::Rgb([0, 1, 2].map(|c| ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8))
    });
    let loaded = photo::load_path(&fixture("32bit.png")).expect("RGBA PNG decodes");
    assert_eq!(loaded.dimensions(), rgb.dimensions());
    let p = pipeline();
    let from_rgba = p.embed_photo(&loaded).expect("a face in the RGBA photo");
    let from_rgb = p.embed_photo(&rgb).expect("a face in the RGB pixels");
    assert!(unit_length(&from_rgba.vector) && from_rgba.faces_seen >= 1);
    let cosine = embed::cosine(&from_rgba.vector, &from_rgb.vector);
    assert!(
        cosine > 0.999,
        "RGBA and RGB embeddings differ: cosine {cosine}"
    );
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn broken_files_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(
        photo::load_path(&empty),
        Err(PhotoFileError::Empty { .. })
    ));
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, b"patient notes, not a photo").expect("write");
    assert!(matches!(
        photo::load_path(&text),
        Err(PhotoFileError::NotAnImage { .. })
    ));
    assert!(matches!(
        photo::load_path(&dir.path().join("missing.jpg")),
        Err(PhotoFileError::Io { .. })
    ));
    // Truncated JPEGs: either an error, or a decoded picture of the right size (decoders may fill
    // the missing rows) that the pipeline then handles; never a panic.
    let bytes = std::fs::read(fixture("obama.jpg")).expect("fixture");
    for cut in [16, 600, bytes.len() / 3, bytes.len() - 100] {
        match photo::decode(&bytes[..cut], "cut") {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(img) => {
                assert!(img.width() > 1 && img.height() > 1);
                let _ = pipeline().embed_photo(&img);
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn no_face_and_several_faces_are_refused() {
    let grey = RgbImage::from_pixel(400, 300, Rgb([120, 120, 120]));
    assert!(matches!(
        pipeline().embed_photo(&grey),
        Err(UnusablePhotoError::NoFace)
    ));
    // Two people side by side, the same size, neither over the centre: ambiguous.
    let a = photo::load_path(&fixture("obama.jpg")).expect("obama");
    let b = photo::load_path(&fixture("biden.jpg")).expect("biden");
    let (a, b) = (
        imageops::resize(&a, 300, 300, imageops::FilterType::Triangle),
        imageops::resize(&b, 300, 300, imageops::FilterType::Triangle),
    );
    let mut pair = RgbImage::from_pixel(600, 300, Rgb([0, 0, 0]));
    imageops::replace(&mut pair, &a, 0, 0);
    imageops::replace(&mut pair, &b, 300, 0);
    match pipeline().embed_photo(&pair) {
        Err(UnusablePhotoError::SeveralFaces { count }) => assert!(count >= 2),
        other => panic!("expected SeveralFaces, got {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "50 megapixels: too slow under qemu-user"
)]
fn fifty_megapixel_photo_works() {
    // 8160×6120 (a 50 MP phone camera) framing the patient as the device does: the photo fills
    // the frame. (A small face in such a photo: the next test.)
    let face = photo::load_path(&fixture("astronaut.png")).expect("png");
    let face = imageops::resize(&face, 6000, 6000, imageops::FilterType::Nearest);
    let mut big = RgbImage::from_pixel(8160, 6120, Rgb([90, 90, 90]));
    imageops::replace(&mut big, &face, 1080, 60);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&big)
        .expect("encode");
    drop(big);
    let decoded = photo::decode(&jpeg, "50 MP").expect("50 MP decodes");
    assert_eq!(decoded.dimensions(), (8160, 6120));
    let e = pipeline()
        .embed_photo(&decoded)
        .expect("face found in a 50 MP photo");
    assert!(unit_length(&e.vector));
    assert!(e.face.width() > 500.0, "face box {:?}", e.face.bbox);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "50 megapixels: too slow under qemu-user"
)]
fn a_small_face_in_a_fifty_megapixel_photo_is_found() {
    // The whole-photo pass sees a 50 MP photo at 1/25 of its size: a face 6% of its width is
    // ~20 px there and was "no face". The tiled search finds it and the crop at full resolution
    // gives it the landmarks (and so the embedding) of the same photo taken close.
    let p = pipeline();
    let face = photo::load_path(&fixture("astronaut.png")).expect("png");
    let close = p.embed_photo(&face).expect("the astronaut's face");
    let k = 0.06 * 8160.0 / close.face.width();
    let side = (face.width() as f32 * k).round() as u32;
    let small = imageops::resize(&face, side, side, imageops::FilterType::Triangle);
    let mut big = RgbImage::from_pixel(8160, 6120, Rgb([90, 90, 90]));
    imageops::replace(&mut big, &small, 5200, 3900);
    let single_pass = p.detect(&big).expect("detect");
    let far = p
        .embed_photo(&big)
        .expect("a face 6% of a 50 MP photo's width is found");
    let width_share = far.face.width() / 8160.0;
    assert!(
        (0.05..0.07).contains(&width_share),
        "face box {:?} ({width_share:.3} of the width)",
        far.face.bbox
    );
    let cos = embed::cosine(&far.vector, &close.vector);
    assert!(
        cos > 0.95,
        "cosine {cos} between the far and the close embedding (whole-photo pass alone: {} faces)",
        single_pass.len()
    );
}
