//! The detector role with a network of GM-Arc's detector's shape (RetinaFace-ResNet50, 640×640
//! input, the same anchors and decoding): the committed random-weight test network
//! (`tests/fixtures/retinaface_r50/`, made by `models/tools/make_retinaface_r50.py`) through
//! load, letterbox and decode.

use gestaltcam::manifest::{Manifest, Role};
use gestaltcam::vision::detect::Detector;
use image::RgbImage;
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/retinaface_r50");
const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/photos");

fn detector() -> Detector {
    let m = Manifest::load_dir(Path::new(DIR)).expect("the R50 test manifest loads");
    let entry = m.first_with_role(Role::Detector).expect("a detector entry");
    Detector::load(&m, entry).expect("the R50 detector loads")
}

fn photo(name: &str) -> RgbImage {
    image::open(Path::new(PHOTOS).join(name))
        .expect("fixture photo")
        .to_rgb8()
}

#[test]
fn it_loads_at_640_with_retinaface_anchors() {
    let d = detector();
    assert_eq!(d.input_hw(), (640, 640));
    let anchors = d.params().anchors(640, 640);
    // (80² + 40² + 20²) cells × 2 sizes.
    assert_eq!(anchors.len(), 16_800);
    assert_eq!(anchors[0], [4.0, 4.0, 16.0]);
    assert_eq!(anchors[1], [4.0, 4.0, 32.0]);
    assert_eq!(anchors[12_800], [8.0, 8.0, 64.0]);
    assert_eq!(anchors[16_799], [624.0, 624.0, 512.0]);
}

#[test]
fn a_portrait_photo_is_letterboxed_to_640_on_its_long_side() {
    let d = detector();
    let img = photo("obama.jpg"); // 910 × 1137
    let (tensor, lb) = d.preprocess(&img).expect("preprocess");
    assert_eq!(tensor.shape(), &[1, 3, 640, 640]);
    assert_eq!((lb.width, lb.height), (512, 640));
    assert!((lb.scale_y - 640.0 / 1137.0).abs() < 1e-6);
    let view = tensor.to_plain_array_view::<f32>().expect("f32 input");
    // Right of the photo: zero after normalisation; inside it: BGR pixel − mean.
    assert!((512..640).all(|x| view[[0, 0, 300, x]] == 0.0 && view[[0, 2, 300, x]] == 0.0));
    assert!((0..512).any(|x| view[[0, 1, 300, x]] != 0.0));
}

#[test]
fn decoding_a_photo_gives_finite_faces_in_photo_pixels() {
    let d = detector();
    let img = photo("astronaut.png");
    let faces = d.detect(&img).expect("detect runs");
    assert!(
        !faces.is_empty(),
        "random scores pass GM-Arc's 0.02 threshold"
    );
    assert!(faces.len() <= 750);
    for f in &faces {
        assert!(f
            .bbox
            .iter()
            .chain(f.landmarks.iter().flatten())
            .all(|v| v.is_finite()));
        assert!(f.score > 0.02 && f.score <= 1.0);
    }
    assert!(faces.windows(2).all(|w| w[0].score >= w[1].score));
}
