//! The OpenCV-style warp and GM-Arc's alignment against chips made by OpenCV and skimage
//! (`models/tools/warp_reference.py` → `tests/fixtures/warp/`): within one grey level.

use gestaltcam::manifest::{AlignmentMode, FivePoints, Template};
use gestaltcam::vision::align::align;
use gestaltcam::vision::alignment::align_with;
use gestaltcam::vision::warp::{warp_affine, Affine};
use image::RgbImage;
use serde_json::Value;
use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn reference() -> Value {
    let path = Path::new(FIXTURES).join("warp/reference.json");
    let text = std::fs::read_to_string(&path).expect("warp reference JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

fn cases(kind: &str) -> Vec<Value> {
    let all = reference()["cases"].as_array().expect("cases").clone();
    let found: Vec<Value> = all.into_iter().filter(|c| c["kind"] == kind).collect();
    assert!(found.len() >= 2, "fewer than two `{kind}` cases");
    found
}

fn rgb(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
        .to_rgb8()
}

fn photo(case: &Value) -> RgbImage {
    rgb(&Path::new(FIXTURES)
        .join("photos")
        .join(text(&case["photo"])))
}

fn chip(case: &Value) -> RgbImage {
    rgb(&Path::new(FIXTURES).join("warp").join(text(&case["chip"])))
}

fn text(v: &Value) -> &str {
    v.as_str().expect("a string")
}

fn numbers(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for x in v.as_array().expect("an array") {
        match x.as_f64() {
            Some(n) => out.push(n),
            None => out.extend(numbers(x)),
        }
    }
    out
}

fn affine(v: &Value) -> Affine {
    let n = numbers(v);
    [[n[0], n[1], n[2]], [n[3], n[4], n[5]]]
}

fn points(v: &Value) -> FivePoints {
    let n = numbers(v);
    std::array::from_fn(|i| [n[2 * i] as f32, n[2 * i + 1] as f32])
}

fn template() -> Template {
    Template {
        size: [112, 112],
        points: points(&reference()["template"]),
    }
}

/// Largest per-channel difference between two images of one size, and the mean difference.
fn diff(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let pairs = a.as_raw().iter().zip(b.as_raw());
    let max = pairs
        .clone()
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let sum: f64 = pairs.map(|(x, y)| f64::from(x.abs_diff(*y))).sum();
    (max, sum / a.as_raw().len() as f64)
}

#[test]
fn warp_matches_opencv_within_one_grey_level() {
    for case in cases("warp") {
        let size = numbers(&case["size"]);
        let ours = warp_affine(
            &photo(&case),
            &affine(&case["matrix"]),
            size[0] as u32,
            size[1] as u32,
        );
        let (max, mean) = diff(&ours, &chip(&case));
        eprintln!("{}: max {max}, mean {mean:.4}", text(&case["chip"]));
        assert!(max <= 1, "{}: max |diff| {max}", text(&case["chip"]));
        assert!(
            ours.pixels().any(|p| p.0 == [0, 0, 0]),
            "the border is in the chip"
        );
    }
}

#[test]
fn five_point_opencv_matches_opencv_and_skimage_within_one_grey_level() {
    for case in cases("plain") {
        let (img, lm) = (photo(&case), points(&case["landmarks"]));
        let ours = align_with(
            &img,
            &lm,
            &template(),
            AlignmentMode::FivePointOpencv,
            |_| Vec::new(),
        )
        .expect("align");
        let (max, mean) = diff(&ours.chip, &chip(&case));
        eprintln!("{}: max {max}, mean {mean:.4}", text(&case["chip"]));
        assert!(max <= 1, "{}: max |diff| {max}", text(&case["chip"]));
    }
}

#[test]
fn the_default_mode_is_darker_than_opencv_and_unchanged() {
    for case in cases("plain") {
        let (img, lm) = (photo(&case), points(&case["landmarks"]));
        let default = align_with(&img, &lm, &template(), AlignmentMode::FivePoint, |_| {
            Vec::new()
        })
        .expect("align");
        let plain = align(&img, &lm, &template()).expect("align");
        assert_eq!(
            default.chip, plain.chip,
            "the default mode is today's alignment"
        );
        let reference = chip(&case);
        let signed: f64 = default
            .chip
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| f64::from(*a) - f64::from(*b))
            .sum::<f64>()
            / reference.as_raw().len() as f64;
        assert!(
            signed < -0.2,
            "{}: mean difference {signed}",
            text(&case["chip"])
        );
    }
}

#[test]
fn gm_arc_matches_opencv_and_skimage_within_one_grey_level() {
    for case in cases("gm-arc") {
        let (img, lm) = (photo(&case), points(&case["landmarks"]));
        let found = points(&case["redetected"]);
        let mut rotated_size = None;
        let ours = align_with(&img, &lm, &template(), AlignmentMode::GmArc, |rotated| {
            rotated_size = Some(rotated.dimensions());
            vec![found]
        })
        .expect("align");
        assert_eq!(
            rotated_size,
            Some(img.dimensions()),
            "the photo is rotated in place"
        );
        let (max, mean) = diff(&ours.chip, &chip(&case));
        eprintln!("{}: max {max}, mean {mean:.4}", text(&case["chip"]));
        assert!(max <= 1, "{}: max |diff| {max}", text(&case["chip"]));
    }
}
