//! Embedder sets and test-time variants (issue 28 item 2): an ensemble of the two committed
//! tiny iResNet networks × GM-Arc's 4 variants, the stored form's mean-of-cosines identity
//! checked against a direct per-pair computation, the recipe a gallery records and the refusal
//! of any other set or variants, old galleries as before.

use crate::common::run_gestaltcam as run;
use gestaltcam::embed::{
    cosine, l2_normalise, Combine, EmbeddingRecipe, MemberId, Variant, Variants,
};
use gestaltcam::gallery::{Case, Gallery, GalleryError, GalleryMeta, Label, Storage};
use gestaltcam::manifest::{Manifest, Metric, MANIFEST_FILE};
use gestaltcam::pipeline::{self, FacePipeline, PhotoEmbedder, DEVICE_EMBED_OPTIONS};
use image::RgbImage;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The two test networks' entries (GM-Arc's fine-tuned two-output export and the one-output
/// glint360k shape) and three ensembles of them: the pair with 4 variants, the pair reversed,
/// the pair with 2 variants.
const ENTRIES: &str = r#"
[[model]]
id = "gm-arc-tiny"
role = "embedder"
file = "iresnet_tiny_2out.onnx"
sha256 = "fc4d3a4e7b7d266f9e2e328bf8ae0ff25c6e90897039f1722a92996c9a29fc7d"
input_shape = [1, 3, 112, 112]
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]
embedding_size = 512
metric = "cosine"
output = "embedding"
template = { size = [112, 112], points = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]] }

[[model]]
id = "gm-arc-tiny-1out"
role = "embedder"
file = "iresnet_tiny_1out.onnx"
sha256 = "3b13c426cdc80738c1b041667b2492661b04c1004fce7f7c5f5281401ba65445"
input_shape = [1, 3, 112, 112]
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]
embedding_size = 512
metric = "cosine"
template = { size = [112, 112], points = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]] }

[[ensemble]]
id = "pair"
embedders = ["gm-arc-tiny", "gm-arc-tiny-1out"]
variants = ["plain", "flip", "grey", "flip-grey"]

[[ensemble]]
id = "pair-reversed"
embedders = ["gm-arc-tiny-1out", "gm-arc-tiny"]
variants = ["plain", "flip", "grey", "flip-grey"]

[[ensemble]]
id = "pair-flip-only"
embedders = ["gm-arc-tiny", "gm-arc-tiny-1out"]
variants = ["plain", "flip"]
"#;

/// A models folder: the shipped manifest (detector and dlib embedders first, so the defaults
/// are unchanged) plus [`ENTRIES`], the files linked from the checkout.
pub(crate) fn models_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = root().join("models");
    for f in [
        "retinaface-mnet025-320.onnx",
        "dlib_face_resnet_v1_int8.onnx",
        "dlib_face_resnet_v1_f32.onnx",
        "dlib_face_resnet_v1_qlinear.onnx",
        "test/iresnet_tiny_2out.onnx",
        "test/iresnet_tiny_1out.onnx",
    ] {
        let name = Path::new(f).file_name().expect("a file name");
        std::os::unix::fs::symlink(models.join(f), dir.path().join(name)).expect("link");
    }
    let shipped = std::fs::read_to_string(models.join(MANIFEST_FILE)).expect("manifest");
    std::fs::write(
        dir.path().join(MANIFEST_FILE),
        format!("{shipped}\n{ENTRIES}"),
    )
    .expect("write manifest");
    dir
}

fn load(dir: &Path, id: &str) -> FacePipeline {
    FacePipeline::load(dir, Some(id), DEVICE_EMBED_OPTIONS).expect("the pipeline loads")
}

fn photo(name: &str) -> RgbImage {
    gestaltcam::photo::load_path(&root().join("tests/fixtures/photos").join(name)).expect("photo")
}

/// Each (model, variant) pair's L2-normalised output for a photo's face, computed pass by pass
/// outside the set: the direct form the stored vector must reproduce.
fn per_pair(p: &FacePipeline, img: &RgbImage) -> Vec<Vec<f32>> {
    let face = p.embed_photo(img).expect("a face").face;
    let chip = p.align(img, &face).expect("aligned").chip;
    let mut out = Vec::new();
    for m in p.embedders().members() {
        for &v in &p.embedders().variants().list {
            let mut raw = m.run_variant(&chip, v).expect("runs");
            l2_normalise(&mut raw).expect("not degenerate");
            out.push(raw);
        }
    }
    out
}

#[test]
fn an_ensemble_of_two_networks_with_four_variants_stores_the_mean_of_per_pair_cosines() {
    let dir = models_dir();
    let p = load(dir.path(), "pair");
    assert_eq!(p.embedding_size(), 2 * 4 * 512);
    let (a, b) = (photo("obama.jpg"), photo("biden.jpg"));
    let (ea, trace) = p.embed_photo_traced(&a).expect("embeds");
    let eb = p.embed_photo(&b).expect("embeds");
    assert_eq!(ea.vector.len(), 4096);
    let norm = ea.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");
    // One norm per pair, models outer and variants inner, each a real pass.
    let order: Vec<(String, Variant)> = trace
        .vector_norms
        .iter()
        .map(|n| (n.model.clone(), n.variant))
        .collect();
    let mut want = Vec::new();
    for m in ["gm-arc-tiny", "gm-arc-tiny-1out"] {
        want.extend(Variant::ALL.iter().map(|&v| (m.to_string(), v)));
    }
    assert_eq!(order, want);
    assert!(trace
        .vector_norms
        .iter()
        .all(|n| n.norm.is_finite() && n.norm > 0.0));
    // The direct computation: per pair, cosine distance of the same pair; their mean.
    let (da, db) = (per_pair(&p, &a), per_pair(&p, &b));
    let k = da.len() as f32;
    let mean_distance: f32 = da
        .iter()
        .zip(&db)
        .map(|(x, y)| 1.0 - cosine(x, y))
        .sum::<f32>()
        / k;
    let stored_distance = 1.0 - cosine(&ea.vector, &eb.vector);
    assert!(
        (mean_distance - stored_distance).abs() < 1e-5,
        "mean of per-pair distances {mean_distance} vs stored {stored_distance}"
    );
    // The variants are different inputs: no two passes of one model give the same vector.
    for m in 0..2 {
        for i in 0..4 {
            for j in i + 1..4 {
                let c = cosine(&da[m * 4 + i], &da[m * 4 + j]);
                assert!(c < 0.999_999, "model {m} variants {i} and {j}: cosine {c}");
            }
        }
    }
    // The stored vector is the per-pair pieces scaled by 1/√k, in order.
    let scale = 1.0 / k.sqrt();
    for (piece, direct) in ea.vector.chunks_exact(512).zip(&da) {
        let diff = piece
            .iter()
            .zip(direct)
            .map(|(s, d)| (s - d * scale).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "piece differs by {diff}");
    }
}

/// The real analyzer reports its progress pass by pass: the pair × 4 variants is 8 model passes
/// a photo, so a 3-photo session reports the start, then each of the 24 passes in order, ending
/// at photo 3 of 3 with all 8 done; reporting changes nothing in the outcome.
#[test]
fn the_analyzer_reports_each_model_pass_of_each_photo() {
    use gestaltcam::analysis::{Analyzer, Capture, Progress};
    use gestaltcam::camera::Frame;
    use gestaltcam::screening::PipelineAnalyzer;
    let dir = models_dir();
    let p = load(dir.path(), "pair");
    assert_eq!(p.passes(), 8);
    let g = gallery_of(&p);
    let mut analyzer = PipelineAnalyzer::new(Ok(p), Ok(g));
    let photos: Vec<Capture> = ["obama.jpg", "biden.jpg", "obama2.jpg"]
        .iter()
        .enumerate()
        .map(|(i, n)| Capture {
            frame: Frame::new(photo(n), i as u64, std::time::Duration::ZERO),
            face: None,
        })
        .collect();
    let seen = std::sync::Mutex::new(Vec::new());
    let outcome = analyzer
        .analyse_reporting(&photos, &|p: Progress| seen.lock().unwrap().push(p))
        .expect("analysed");
    let seen = seen.into_inner().unwrap();
    let steps: Vec<(usize, usize)> = seen.iter().map(|p| (p.photo, p.pass)).collect();
    let mut expected = vec![(1, 0)];
    for photo in 1..=3 {
        expected.extend((1..=7).map(|pass| (photo, pass)));
        expected.push(if photo < 3 { (photo + 1, 0) } else { (3, 8) });
    }
    assert_eq!(steps, expected);
    assert!(
        seen.iter().all(|p| (p.photos, p.passes) == (3, 8)),
        "{seen:?}"
    );
    assert_eq!(analyzer.analyse(&photos).expect("analysed"), outcome);
}

/// A small gallery of `p`'s embeddings of two photos, recording `p`'s recipe.
fn gallery_of(p: &FacePipeline) -> Gallery {
    let names = ["obama.jpg", "biden.jpg"];
    let mut flat = Vec::new();
    for n in names {
        flat.extend(p.embed_photo(&photo(n)).expect("embeds").vector);
    }
    let mut g = Gallery::from_parts(
        meta(&p.embedder_id()),
        names.iter().map(|n| label(n)).collect(),
        (0..2).map(|i| case(i, names[i])).collect(),
        p.embedding_size(),
        flat,
    )
    .expect("a gallery");
    g.set_recipe(p.embedding_recipe()).expect("the recipe fits");
    g
}

fn meta(embedder_id: &str) -> GalleryMeta {
    GalleryMeta {
        embedder_id: embedder_id.to_string(),
        metric: Metric::Cosine,
        name: "ensemble-test".into(),
        created_unix: 1,
        threshold: None,
        storage: Storage::F32,
    }
}

fn label(name: &str) -> Label {
    Label {
        name: name.to_string(),
        omim: None,
        genes: Vec::new(),
    }
}

fn case(i: usize, name: &str) -> Case {
    Case {
        case_id: format!("c{i}"),
        subject: name.to_string(),
        label: i as u32,
    }
}

/// The refusal names the gallery's recipe and the pipeline's.
fn assert_refused_naming_both(g: &Gallery, pipeline: &EmbeddingRecipe) {
    match g.check_recipe(pipeline) {
        Err(GalleryError::RecipeMismatch {
            gallery,
            pipeline: loaded,
        }) => {
            let message = GalleryError::RecipeMismatch {
                gallery: gallery.clone(),
                pipeline: loaded.clone(),
            }
            .to_string();
            assert_eq!(gallery, g.recipe().describe());
            assert_eq!(loaded, pipeline.describe());
            assert!(
                message.contains(&gallery) && message.contains(&loaded),
                "{message}"
            );
        }
        other => panic!("not refused as a recipe mismatch: {other:?}"),
    }
}

#[test]
fn a_gallery_records_its_set_and_variants_and_refuses_any_other() {
    let dir = models_dir();
    let pair = load(dir.path(), "pair");
    let g = gallery_of(&pair);
    let path = dir.path().join("pair.gcg");
    g.save(&path).expect("saves");
    let back = Gallery::load_for_recipe(&path, &pair.embedding_recipe(), None).expect("loads");
    assert!(back.records_recipe());
    assert_eq!(back.recipe(), pair.embedding_recipe());
    assert_eq!(back.embedder_id(), pair.embedder_id());
    let r = back.recipe();
    assert_eq!(r.variants.combine, Combine::PerPair);
    assert_eq!(r.embedders[0].id, "gm-arc-tiny");
    assert!(r.describe().contains("gm-arc-tiny (sha256 fc4d3a4e7b7d)"));
    // The same members in another order: a set mismatch. Fewer variants: a variant mismatch.
    let reversed = load(dir.path(), "pair-reversed").embedding_recipe();
    let flip_only = load(dir.path(), "pair-flip-only").embedding_recipe();
    assert_refused_naming_both(&back, &reversed);
    assert_refused_naming_both(&back, &flip_only);
    assert!(flip_only.describe().contains("variants [plain, flip]"));
    assert!(Gallery::load_for_recipe(&path, &reversed, None).is_err());
    // One member alone (dlib-style mean): refused too, naming both.
    let single = load(dir.path(), "gm-arc-tiny").embedding_recipe();
    assert_refused_naming_both(&back, &single);
    // Without --embedder, a command reading the gallery loads the ensemble that built it.
    let chosen = pipeline::load_models_for_gallery(
        dir.path(),
        None,
        Some(back.embedder_id()),
        DEVICE_EMBED_OPTIONS,
    )
    .expect("loads");
    assert_eq!(chosen.embedding_recipe(), pair.embedding_recipe());
}

/// dlib's recipe for the shipped int8 entry, by hand.
fn dlib_recipe(manifest: &Manifest, flip_tta: bool) -> EmbeddingRecipe {
    let entry = manifest.model("dlib-resnet-v1-int8").expect("entry");
    EmbeddingRecipe {
        embedders: vec![MemberId {
            id: entry.id.clone(),
            sha256: entry.sha256.clone(),
            embedder_id: entry.embedder_id(),
        }],
        variants: Variants::dlib(flip_tta),
    }
}

#[test]
fn an_old_gallery_loads_and_ranks_as_before_and_refuses_an_ensemble() {
    let dir = models_dir();
    let manifest = Manifest::load_dir(dir.path()).expect("manifest");
    let dlib = load(dir.path(), "dlib-resnet-v1-int8");
    // dlib's default keeps its id and is {plain, flip} mean-then-normalise.
    assert_eq!(dlib.embedding_recipe(), dlib_recipe(&manifest, true));
    assert_eq!(
        dlib.embedder_id(),
        manifest.model("dlib-resnet-v1-int8").unwrap().embedder_id()
    );
    // A gallery as written before recipes: no recipe block, flag bit 2 clear.
    let vectors: Vec<Vec<f32>> = ["obama.jpg", "biden.jpg", "obama2.jpg"]
        .iter()
        .map(|n| dlib.embed_photo(&photo(n)).expect("embeds").vector)
        .collect();
    let old = Gallery::from_parts(
        meta(&dlib.embedder_id()),
        vec![label("obama"), label("biden")],
        vec![case(0, "obama"), case(1, "biden")],
        128,
        vectors[..2].concat(),
    )
    .expect("gallery");
    let path = dir.path().join("old.gcg");
    old.save(&path).expect("saves");
    let bytes = std::fs::read(&path).expect("read");
    let flags = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    assert_eq!(flags & 4, 0, "no recipe block");
    for flip_tta in [true, false] {
        let loaded = Gallery::load_for_recipe(&path, &dlib_recipe(&manifest, flip_tta), None)
            .expect("an old gallery loads with its embedder, flip or not, as before");
        assert!(!loaded.records_recipe());
        assert_eq!(loaded.recipe(), {
            let mut r = dlib_recipe(&manifest, true);
            r.embedders[0].id = loaded.recipe().embedders[0].id.clone();
            r.embedders[0].sha256 = "not recorded".into();
            r
        });
        let ranked = loaded.rank(&vectors[2], 2).expect("ranks");
        let before = old.rank(&vectors[2], 2).expect("ranks");
        assert_eq!(ranked.matches, before.matches);
        assert_eq!(ranked.matches[0].name, "obama");
    }
    let pair = load(dir.path(), "pair").embedding_recipe();
    assert_refused_naming_both(&old, &pair);
    // A new dlib gallery records {plain, flip}: querying it without flip is refused.
    let mut new = old.clone();
    new.set_recipe(dlib.embedding_recipe()).expect("fits");
    assert_refused_naming_both(&new, &dlib_recipe(&manifest, false));
    new.check_recipe(&dlib_recipe(&manifest, true))
        .expect("the same recipe");
}

#[test]
fn an_ensemble_naming_a_missing_model_or_a_bad_variant_is_refused() {
    let dir = models_dir();
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let with = |extra: &str| {
        std::fs::write(&manifest_path, format!("{text}\n{extra}")).expect("write");
        FacePipeline::load(dir.path(), Some("bad"), DEVICE_EMBED_OPTIONS).map(|_| ())
    };
    let missing = with("[[ensemble]]\nid = \"bad\"\nembedders = [\"nope\"]\n").unwrap_err();
    assert!(missing.to_string().contains("ensemble `bad`"), "{missing}");
    assert!(missing.to_string().contains("nope"), "{missing}");
    let variant =
        with("[[ensemble]]\nid = \"bad\"\nembedders = [\"gm-arc-tiny\"]\nvariants = [\"sepia\"]\n")
            .unwrap_err();
    assert!(variant.to_string().contains("sepia"), "{variant}");
    let clash =
        with("[[ensemble]]\nid = \"gm-arc-tiny\"\nembedders = [\"gm-arc-tiny\"]\n").unwrap_err();
    assert!(clash.to_string().contains("already"), "{clash}");
}

/// The command line end to end with the ensemble: `gallery build --embedder pair` records it,
/// `analyze --json` (no `--embedder`) runs it and reports per photo the landmarks, the
/// alignment mode and the 8 passes' norms; other variants are refused naming both recipes.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn analyze_json_reports_landmarks_alignment_and_each_pass_norm() {
    let dir = models_dir();
    let models = dir.path().to_str().unwrap().to_string();
    let labels = dir.path().join("labels.csv");
    std::fs::write(
        &labels,
        "image,label\nobama.jpg,Person one\nbiden.jpg,Person two\n",
    )
    .expect("labels");
    let g = dir.path().join("pair.gcg");
    let images = root().join("tests/fixtures/photos");
    let (ok, out, err) = run(
        &[
            "gallery",
            "build",
            "--models",
            &models,
            "--embedder",
            "pair",
            "--images",
            images.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--out",
            g.to_str().unwrap(),
            "--quiet",
        ],
        dir.path(),
    );
    assert!(ok, "build: {out}\n{err}");
    let probe = images.join("obama2.jpg");
    let analyze = |extra: &[&str]| {
        let mut args = vec![
            "analyze",
            "--models",
            &models,
            "--gallery",
            g.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend(["--json", probe.to_str().unwrap()]);
        run(&args, dir.path())
    };
    let (ok, json, err) = analyze(&[]);
    assert!(ok, "analyze: {err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let photo = &v["photos"][0];
    assert_eq!(photo["photo"], 1);
    assert_eq!(photo["alignment"], "five-point");
    let landmarks = photo["landmarks"].as_array().expect("landmarks");
    assert_eq!(landmarks.len(), 5);
    assert!(landmarks
        .iter()
        .all(|p| p.as_array().map(Vec::len) == Some(2)));
    let norms = photo["vector_norms"].as_array().expect("norms");
    assert_eq!(norms.len(), 8);
    assert_eq!(norms[2]["variant"], "grey");
    assert_eq!(norms[7]["model"], "gm-arc-tiny-1out");
    assert!(norms
        .iter()
        .all(|n| n["norm"].as_f64().is_some_and(|x| x > 0.0)));
    assert_eq!(v["embedding"]["variants"]["combine"], "per-pair");
    assert!(v["candidates"].is_array() && v["ranking"]["matches"].is_array());
    let (ok, _, err) = analyze(&["--embedder", "pair-flip-only"]);
    assert!(!ok, "other variants must be refused");
    assert!(
        err.contains("variants [plain, flip, grey, flip-grey]")
            && err.contains("variants [plain, flip] combined per-pair"),
        "{err}"
    );
}
