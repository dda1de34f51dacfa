//! Regression tests for bugs the fuzz targets found (see fuzz/README.md). The inputs that found
//! them are also kept in `fuzz/corpus/<target>/` and replayed by `tests/it/fuzz_smoke.rs`.

use gestaltcam::gallery::{Case, Gallery, GalleryError, GalleryMeta, Label, Storage};
use gestaltcam::manifest::{Manifest, ManifestError, Metric};
use std::path::Path;

fn rehash(bytes: &mut [u8]) {
    assert!(
        gestaltcam::gallery::rehash(bytes),
        "a gallery file has a header"
    );
}

fn gallery(metric: Metric, storage: Storage, rows: Vec<f32>, dim: usize) -> Gallery {
    let n = rows.len() / dim;
    Gallery::from_parts(
        GalleryMeta {
            embedder_id: "e".into(),
            metric,
            name: "g".into(),
            created_unix: 0,
            threshold: None,
            storage,
        },
        vec![Label {
            name: "L".into(),
            omim: None,
            genes: vec![],
        }],
        (0..n)
            .map(|i| Case {
                case_id: format!("c{i}"),
                subject: "s".into(),
                label: 0,
            })
            .collect(),
        dim,
        rows,
    )
    .expect("gallery")
}

/// Found by `gallery`: an int8 row scale that is finite but so large that scale × 127 is not
/// (e.g. 3e38) loaded, and then `vector()` returned ∞ and ranking gave NaN distances.
#[test]
fn int8_scale_whose_dequantised_values_overflow_is_refused() {
    let g = gallery(Metric::Euclidean, Storage::Int8, vec![0.5, -0.25, 1.0], 3);
    let mut b = g.to_bytes();
    let n = b.len();
    // The last row: scale (f32) then 3 × i8.
    b[n - 7..n - 3].copy_from_slice(&3.0e38f32.to_le_bytes());
    rehash(&mut b);
    assert!(matches!(
        Gallery::from_bytes(&b),
        Err(GalleryError::NonFinite { .. })
    ));
    // The largest scale whose values stay finite still loads, with finite vectors.
    b[n - 7..n - 3].copy_from_slice(&(f32::MAX / 128.0).to_le_bytes());
    rehash(&mut b);
    let g = Gallery::from_bytes(&b).expect("a large but finite range loads");
    assert!(g.vector(0).iter().all(|x| x.is_finite()));
}

fn manifest_with_file(file: &str) -> Result<Manifest, ManifestError> {
    let text = format!(
        r#"[[model]]
id = "det"
role = "detector"
file = "{file}"
sha256 = "5ed34461b5e2b79089c360d80acab8501d716865589f25c114952d39ead610a4"
version = "1"
licence = "MIT"
input_shape = [1, 3, 320, 320]
colour_order = "bgr"
mean = [104.0, 117.0, 127.0]
std = [1.0, 1.0, 1.0]
provenance = {{ registry = "r", package = "p", version = "1", path = "x" }}
"#
    );
    Manifest::parse(&text, Path::new("/m/MANIFEST.toml"), Path::new("/m"))
}

/// Found by `manifest`: `file = "sub/x.onnx"` (and "", ".", "x.onnx/") passed validation,
/// although the rule is "a plain name inside the models directory"; "" and "." made
/// `file_path` the directory itself.
#[test]
fn model_file_must_be_one_plain_name() {
    let m = manifest_with_file("retinaface.onnx").expect("a plain name is fine");
    assert_eq!(m.file_path(&m.models[0]), Path::new("/m/retinaface.onnx"));
    for bad in [
        "",
        ".",
        "..",
        "sub/x.onnx",
        "dlib_face_resnet_v1_int8/onnx",
        "./x.onnx",
        "x.onnx/",
        "/etc/passwd",
        "a/../x.onnx",
    ] {
        assert!(
            matches!(manifest_with_file(bad), Err(ManifestError::Invalid { .. })),
            "{bad:?} accepted"
        );
    }
}

/// Found by `gallery`: a label whose only case was so far away that the squared distance
/// overflowed to ∞ (or, for cosine, became NaN) vanished from the ranking, because the nearest
/// distance started at ∞ and was only replaced by a strictly smaller one.
#[test]
fn label_with_overflowing_distance_still_ranks_last() {
    for (metric, storage) in [
        (Metric::Euclidean, Storage::F32),
        (Metric::Euclidean, Storage::Int8),
        (Metric::Cosine, Storage::F32),
    ] {
        let g = Gallery::from_parts(
            GalleryMeta {
                embedder_id: "e".into(),
                metric,
                name: "g".into(),
                created_unix: 0,
                threshold: None,
                storage,
            },
            vec![
                Label {
                    name: "near".into(),
                    omim: None,
                    genes: vec![],
                },
                Label {
                    name: "far".into(),
                    omim: None,
                    genes: vec![],
                },
            ],
            vec![
                Case {
                    case_id: "a".into(),
                    subject: "s".into(),
                    label: 0,
                },
                Case {
                    case_id: "b".into(),
                    subject: "t".into(),
                    label: 1,
                },
            ],
            2,
            vec![1.0, 0.0, -3.0e38, 3.0e38],
        )
        .expect("gallery");
        // Cosine galleries are normalised when built: make the far row huge in the file.
        let g = if metric == Metric::Cosine {
            let mut b = g.to_bytes();
            let n = b.len();
            b[n - 8..n - 4].copy_from_slice(&(-3.0e38f32).to_le_bytes());
            b[n - 4..].copy_from_slice(&3.0e38f32.to_le_bytes());
            rehash(&mut b);
            Gallery::from_bytes(&b).expect("finite values load")
        } else {
            g
        };
        let q = if metric == Metric::Cosine {
            vec![1.0, 1.0e-30]
        } else {
            vec![1.0, 0.0]
        };
        let r = g.rank(&q, 5).expect("ranks");
        let names: Vec<&str> = r.matches.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["near", "far"], "{metric:?} {storage:?}: {r:?}");
        assert!(r.matches.iter().all(|m| !m.distance.is_nan()));
        assert_eq!(r.matches[1].nearest_case, "b");
    }
}
