//! The committed random-weight iResNet test network, `models/test/iresnet_tiny_2out.onnx`.
//!
//! It has GestaltMatcher-Arc's architecture (insightface iResNet, narrowed: see
//! `models/test/README.md`) and its fine-tuned export's two outputs `(logits[204],
//! embedding[512])`; `models/tools/make_iresnet.py` makes it and writes the torch module's outputs
//! for a 112×112 crop of `tests/fixtures/photos/astronaut.png` to
//! `tests/fixtures/iresnet/astronaut_tiny_2out.json`. These tests load the file with tract as
//! `src/embed.rs` does and hold it to that provenance and to torch's numbers; then load it as a
//! clinic would, through `models/README.md`'s minimal manifest entry, and check the choice of
//! its embedding output.

use gestaltcam::embed::{cosine, EmbedError, EmbedOptions, Embedder};
use gestaltcam::manifest::{Manifest, MANIFEST_FILE};
use image::RgbImage;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tract_onnx::prelude::*;

/// The test network, relative to the checkout.
const MODEL: &str = "models/test/iresnet_tiny_2out.onnx";
/// Torch's outputs for the astronaut crop, written by `make_iresnet.py --reference`.
const REFERENCE: &str = "tests/fixtures/iresnet/astronaut_tiny_2out.json";
/// The file's sha256, as recorded in `models/test/README.md`.
const SHA256: &str = "fc4d3a4e7b7d266f9e2e328bf8ae0ff25c6e90897039f1722a92996c9a29fc7d";
/// The input every GM-Arc network takes: one 112×112 RGB chip, NCHW.
const INPUT_SHAPE: [usize; 4] = [1, 3, 112, 112];
/// GM-Arc's export order: the classifier's logits (204 syndromes), then the representation.
const OUTPUTS: [(&str, [usize; 2]); 2] = [("logits", [1, 204]), ("embedding", [1, 512])];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_bytes() -> Vec<u8> {
    std::fs::read(root().join(MODEL)).expect("the committed test network is readable")
}

/// The network with its input fixed to [`INPUT_SHAPE`], typed (shapes known), not optimised.
fn typed_model() -> TypedModel {
    tract_onnx::onnx()
        .model_for_read(&mut &model_bytes()[..])
        .and_then(|m| m.with_input_fact(0, f32::fact(INPUT_SHAPE).into()))
        .and_then(|m| m.into_typed())
        .expect("tract loads the test network")
}

/// The optimised plan, built once for the tests that run the network.
fn plan() -> Arc<TypedRunnableModel> {
    static PLAN: OnceLock<Arc<TypedRunnableModel>> = OnceLock::new();
    PLAN.get_or_init(|| {
        typed_model()
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .expect("tract optimises the test network")
    })
    .clone()
}

/// The reference fixture: the crop it was computed on and torch's two outputs.
struct Reference {
    photo: String,
    crop: (u32, u32),
    model_sha256: String,
    logits: Vec<f32>,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(root().join(REFERENCE)).expect("reference fixture");
    let v: serde_json::Value = serde_json::from_str(&text).expect("reference parses");
    let floats = |name: &str| -> Vec<f32> {
        let values = v["outputs"][name].as_array().expect("output array");
        values
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect()
    };
    let coord = |axis: &str| v["crop"][axis].as_u64().expect("crop corner") as u32;
    Reference {
        photo: v["photo"].as_str().expect("photo name").to_owned(),
        crop: (coord("x"), coord("y")),
        model_sha256: v["model_sha256"].as_str().expect("model_sha256").to_owned(),
        logits: floats("logits"),
        embedding: floats("embedding"),
    }
}

/// The 112×112 crop of the fixture photo that the reference was computed on (face centred,
/// eyes and mouth near the ArcFace template's rows).
fn chip(r: &Reference) -> RgbImage {
    let path = root().join("tests/fixtures/photos").join(&r.photo);
    let photo = image::open(&path).expect("fixture photo").to_rgb8();
    let (x, y) = r.crop;
    image::imageops::crop_imm(&photo, x, y, 112, 112).to_image()
}

/// GM-Arc's preprocessing: RGB, NCHW, `(pixel / 255 − 0.5) / 0.5`.
fn input(chip: &RgbImage) -> Tensor {
    let (w, h) = (chip.width() as usize, chip.height() as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (x, y, px) in chip.enumerate_pixels() {
        for c in 0..3 {
            let i = c * w * h + y as usize * w + x as usize;
            data[i] = (f32::from(px[c]) / 255.0 - 0.5) / 0.5;
        }
    }
    Tensor::from_shape(&INPUT_SHAPE, &data).expect("input tensor")
}

/// The network's outputs for `chip`, each flattened, in the graph's output order.
fn run(chip: &RgbImage) -> Vec<Vec<f32>> {
    let outputs = plan()
        .run(tvec!(input(chip).into()))
        .expect("the test network runs");
    outputs
        .iter()
        .map(|t| {
            let view = t.to_plain_array_view::<f32>().expect("f32 output");
            view.iter().copied().collect()
        })
        .collect()
}

fn standard_deviation(v: &[f32]) -> f32 {
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
}

#[test]
fn the_committed_network_is_the_one_its_readme_and_reference_record() {
    let digest = hex::encode(Sha256::digest(model_bytes()));
    assert_eq!(
        digest, SHA256,
        "{MODEL} changed: regenerate it and its records"
    );
    let readme = std::fs::read_to_string(root().join("models/test/README.md")).expect("README");
    assert!(
        readme.contains(SHA256),
        "models/test/README.md does not record {SHA256}"
    );
    assert_eq!(
        reference().model_sha256,
        SHA256,
        "{REFERENCE} is for another file"
    );
}

#[test]
fn it_takes_one_112_chip_and_gives_logits_then_the_embedding() {
    let model = typed_model();
    let input = model.input_fact(0).expect("one input");
    assert_eq!(input.shape.as_concrete(), Some(&INPUT_SHAPE[..]));
    let outlets = model.output_outlets().expect("outputs").to_vec();
    assert_eq!(
        outlets.len(),
        OUTPUTS.len(),
        "GM-Arc's export has two outputs"
    );
    for (ix, (outlet, (name, shape))) in outlets.iter().zip(OUTPUTS).enumerate() {
        assert_eq!(
            model.outlet_label(*outlet),
            Some(name),
            "output {ix}'s name"
        );
        let fact = model.output_fact(ix).expect("output fact");
        assert_eq!(fact.shape.as_concrete(), Some(&shape[..]), "{name}'s shape");
    }
}

#[test]
fn a_real_chip_gives_finite_outputs_that_vary() {
    let outputs = run(&chip(&reference()));
    assert_eq!(outputs.len(), 2);
    for (values, (name, shape)) in outputs.iter().zip(OUTPUTS) {
        assert_eq!(values.len(), shape[1], "{name}'s length");
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{name} has a NaN or ∞"
        );
        // Data-calibrated batch norm puts the embedding near unit spread per value; a dead
        // (constant) output or a collapsed one would be far below this.
        let spread = standard_deviation(values);
        assert!(spread > 0.1, "{name} is nearly constant (sd {spread})");
    }
}

#[test]
fn tract_computes_what_torch_computed_on_the_same_chip() {
    let r = reference();
    let outputs = run(&chip(&r));
    for (got, (want, name)) in outputs
        .iter()
        .zip([(&r.logits, "logits"), (&r.embedding, "embedding")])
    {
        assert_eq!(got.len(), want.len(), "{name}'s length");
        let c = cosine(got, want);
        eprintln!("{name}: cosine tract vs torch {c}");
        assert!(c >= 0.9999, "{name}: cosine tract vs torch {c} < 0.9999");
    }
}

// --- The model contract: the test network loaded through a manifest entry, as a clinic would ---

/// The minimal entry `models/README.md` shows: its toml block after the `minimal-entry` marker.
fn readme_minimal_entry() -> String {
    let readme = std::fs::read_to_string(root().join("models/README.md")).expect("README");
    let marker = readme
        .find("<!-- minimal-entry")
        .expect("models/README.md marks its minimal entry");
    let after = &readme[marker..];
    let start = after
        .find("```toml\n")
        .expect("a toml block after the marker")
        + 8;
    let len = after[start..].find("```").expect("the block ends");
    after[start..start + len].to_owned()
}

/// A temporary models folder holding the test network and a manifest with exactly `entry`.
fn models_dir_with(entry: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join(MODEL),
        dir.path().join("iresnet_tiny_2out.onnx"),
    )
    .expect("copy");
    std::fs::write(dir.path().join(MANIFEST_FILE), entry).expect("write manifest");
    dir
}

/// Loads the manifest's only model, `gm-arc-tiny`, as an embedder (one pass, no flip).
fn load_entry(entry: &str) -> Result<Embedder, EmbedError> {
    let dir = models_dir_with(entry);
    let manifest = Manifest::load_dir(dir.path()).expect("the manifest parses");
    let model = manifest.model("gm-arc-tiny").expect("the entry");
    Embedder::load(&manifest, model, EmbedOptions::default())
}

/// The minimal entry with its `output` line replaced (or removed, with "").
fn minimal_with_output(line: &str) -> String {
    let entry = readme_minimal_entry();
    let old = "output = \"embedding\"\n";
    assert!(entry.contains(old), "the minimal entry names its output");
    entry.replace(old, line)
}

#[test]
fn the_readme_minimal_entry_loads_from_scratch_and_embeds_the_representation() {
    let entry = readme_minimal_entry();
    assert!(
        entry.contains(SHA256),
        "the README's entry is for the test network"
    );
    let embedder = load_entry(&entry).expect("the minimal entry loads");
    assert_eq!(embedder.embedding_size(), 512);
    assert_eq!(embedder.chip_size(), (112, 112));
    let r = reference();
    let v = embedder.embed_chip(&chip(&r)).expect("embeds the chip");
    assert_eq!(v.len(), 512);
    // The second output (GM-Arc's representation), not the logits; L2-normalised.
    let c = cosine(&v, &r.embedding);
    assert!(
        c >= 0.9999,
        "embedding vs torch's representation: cosine {c}"
    );
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
}

#[test]
fn two_outputs_without_a_name_are_refused_naming_them() {
    // Today's trap: with embedding_size = 204 a gallery was built from the logits.
    for size in ["512", "204"] {
        let entry = minimal_with_output("")
            .replace("embedding_size = 512", &format!("embedding_size = {size}"));
        let err = load_entry(&entry).expect_err("a two-output graph without `output` loads");
        let text = err.to_string();
        assert!(
            matches!(&err, EmbedError::AmbiguousOutput { id, outputs, .. }
                if id == "gm-arc-tiny" && outputs == "logits, embedding"),
            "{text}"
        );
        assert!(
            text.contains("`gm-arc-tiny`") && text.contains("logits, embedding"),
            "{text}"
        );
    }
}

#[test]
fn an_output_the_graph_lacks_is_refused_naming_the_ones_it_has() {
    let entry = minimal_with_output("output = \"representation\"\n");
    let err = load_entry(&entry).expect_err("a missing output loads");
    let text = err.to_string();
    assert!(
        matches!(&err, EmbedError::UnknownOutput { id, wanted, outputs, .. }
            if id == "gm-arc-tiny" && wanted == "representation" && outputs == "logits, embedding"),
        "{text}"
    );
}

#[test]
fn the_named_output_is_the_one_embedded() {
    // Naming the logits explicitly embeds the logits (204 values): the name decides, not the order.
    let entry = minimal_with_output("output = \"logits\"\n")
        .replace("embedding_size = 512", "embedding_size = 204");
    let embedder = load_entry(&entry).expect("the logits entry loads");
    let r = reference();
    let v = embedder.embed_chip(&chip(&r)).expect("embeds");
    let c = cosine(&v, &r.logits);
    assert!(c >= 0.9999, "logits vs torch's: cosine {c}");
    // The embedding's size is still checked against the chosen output.
    let wrong = minimal_with_output("output = \"logits\"\n");
    let embedder = load_entry(&wrong).expect("loads");
    match embedder.embed_chip(&chip(&r)) {
        Err(EmbedError::OutputSize {
            expected: 512,
            actual: 204,
            ..
        }) => {}
        other => panic!("expected OutputSize 512 vs 204, got {other:?}"),
    }
}
