//! Unit tests of the manifest: the shipped entries, embedder ids, entry errors, the choice of
//! embedder for a gallery.

use super::*;

fn shipped() -> Manifest {
    Manifest::load_dir(&checkout_models_dir()).unwrap()
}

/// The id as it was computed before it was written out by hand (hashing `Debug` output);
/// kept here only to show the two agree.
fn legacy_id(e: &ModelEntry) -> String {
    let mut h = Sha256::new();
    h.update(b"gestaltcam-embedder-v1\0");
    h.update(e.sha256.to_ascii_lowercase().as_bytes());
    h.update(
        format!(
            "{:?}{:?}{:?}{:?}",
            e.input_shape, e.colour_order, e.mean, e.std
        )
        .as_bytes(),
    );
    h.update(format!("{:?}{:?}{:?}", e.embedding_size, e.metric, e.template).as_bytes());
    hex::encode(h.finalize())
}

#[test]
fn shipped_embedder_ids_are_pinned() {
    let m = shipped();
    let id = |name: &str| m.model(name).unwrap().embedder_id();
    // Galleries built by the shipped models record these ids; changing them orphans every
    // gallery in the field.
    assert_eq!(
        id("dlib-resnet-v1-int8"),
        "02ae9f9d4b76c584efc1af469eb5b39bc16751b47217ebccbd8b6db52ef87740"
    );
    assert_eq!(
        id("dlib-resnet-v1-f32"),
        "e2da85372da47e0de99f0212a2b69b31c3d5c29a3b3e9911bb98170512fcdc24"
    );
}

#[test]
fn the_default_embedder_follows_the_cpu() {
    let m = shipped();
    let ids = |cpu| {
        m.embedders_for(cpu)
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>()
    };
    let dot = CpuFeatures { dotprod: true };
    let plain = CpuFeatures { dotprod: false };
    // Pi 5 (dot product): the QLinear model, which tract computes with its SDOT kernel.
    assert_eq!(
        ids(dot),
        [
            "dlib-resnet-v1-qlinear",
            "dlib-resnet-v1-int8",
            "dlib-resnet-v1-f32"
        ]
    );
    // Pi 4, Zero 2 W, x86: the QDQ model (its SMLAL cost is 1.4x; the per-board table of
    // docs/performance.md).
    assert_eq!(
        ids(plain),
        [
            "dlib-resnet-v1-int8",
            "dlib-resnet-v1-f32",
            "dlib-resnet-v1-qlinear"
        ]
    );
    assert_eq!(
        m.default_embedder(dot).unwrap().id,
        "dlib-resnet-v1-qlinear"
    );
    assert_eq!(m.default_embedder(plain).unwrap().id, "dlib-resnet-v1-int8");
    // The detector is never an embedder candidate.
    assert!(m
        .embedders_for(dot)
        .iter()
        .all(|e| e.role == Role::Embedder));
}

#[test]
fn default_with_is_checked() {
    let shipped_text = std::fs::read_to_string(checkout_models_dir().join(MANIFEST_FILE)).unwrap();
    let parse = |t: &str| Manifest::parse(t, Path::new("MANIFEST.toml"), Path::new("."));
    // An unknown feature name is a parse error naming it.
    let unknown = shipped_text.replace(r#"default_with = "dotprod""#, r#"default_with = "sve2""#);
    assert_ne!(unknown, shipped_text);
    let e = parse(&unknown).unwrap_err().to_string();
    assert!(e.contains("sve2"), "{e}");
    // On a detector it is refused.
    let on_detector = shipped_text.replace(
        "role = \"detector\"",
        "role = \"detector\"\ndefault_with = \"dotprod\"",
    );
    let e = parse(&on_detector).unwrap_err().to_string();
    assert!(e.contains("embedders only"), "{e}");
    // Without any default_with the role's first embedder is the default on every CPU.
    let none = parse(&shipped_text.replace(r#"default_with = "dotprod""#, "")).unwrap();
    for dotprod in [false, true] {
        let cpu = CpuFeatures { dotprod };
        assert_eq!(
            none.default_embedder(cpu).unwrap().id,
            none.first_with_role(Role::Embedder).unwrap().id
        );
    }
}

#[test]
fn shipped_provenance_names_only_repository_relative_paths() {
    for e in &shipped().models {
        let p = &e.provenance;
        for text in [&p.path, &p.tool, &p.notes] {
            for word in text.split_whitespace() {
                let word = word.trim_start_matches(['(', '`', '"']);
                assert!(
                    !word.starts_with('/') && !word.starts_with('~'),
                    "{}: provenance names the machine path `{word}`",
                    e.id
                );
            }
        }
    }
}

#[test]
fn id_text_matches_the_old_debug_form() {
    let m = shipped();
    for e in &m.models {
        assert_eq!(e.embedder_id(), legacy_id(e), "{}", e.id);
    }
    // Floats Debug writes in other forms: whole numbers, exponents, negative zero.
    let mut e = m.model("dlib-resnet-v1-int8").unwrap().clone();
    e.mean = [0.0, -0.0, 1e-5];
    e.std = [1e16, 2.5e20, 123456.0];
    e.template.as_mut().unwrap().points[0] = [0.0001, 99999.99];
    e.metric = None;
    e.embedding_size = None;
    e.colour_order = ColourOrder::Bgr;
    assert_eq!(e.embedder_id(), legacy_id(&e));
    e.template = None;
    assert_eq!(e.embedder_id(), legacy_id(&e));
}

#[test]
fn id_follows_what_changes_the_embedding_only() {
    let base = shipped().model("dlib-resnet-v1-int8").unwrap().clone();
    let id = base.embedder_id();
    let mut same = base.clone();
    same.id = "renamed".into();
    same.version = "other words".into();
    same.provenance.notes = "re-documented".into();
    same.quantized = !same.quantized;
    same.sha256 = same.sha256.to_ascii_uppercase();
    assert_eq!(same.embedder_id(), id);
    let changed: [fn(&mut ModelEntry); 6] = [
        |e| e.sha256.replace_range(0..1, "0"),
        |e| e.mean[0] += 0.001,
        |e| e.std[2] = 255.0,
        |e| e.colour_order = ColourOrder::Bgr,
        |e| e.metric = Some(Metric::Cosine),
        |e| e.template.as_mut().unwrap().points[2][1] += 0.5,
    ];
    for (i, change) in changed.iter().enumerate() {
        let mut e = base.clone();
        change(&mut e);
        assert_ne!(e.embedder_id(), id, "change {i} must change the id");
    }
}

/// `text` with one line of the f32 embedder's entry replaced: the first line after the entry's
/// id line that starts with `line`.
fn edit_f32(text: &str, line: &str, replacement: &str) -> String {
    let start = text.find(r#"id = "dlib-resnet-v1-f32""#).unwrap();
    let at = start + text[start..].find(&format!("\n{line}")).unwrap() + 1;
    let end = at + text[at..].find('\n').unwrap();
    format!("{}{replacement}{}", &text[..at], &text[end..])
}

/// The shipped manifest's text with one line of the f32 embedder's entry replaced.
fn shipped_with(line: &str, replacement: &str) -> String {
    let text = std::fs::read_to_string(checkout_models_dir().join(MANIFEST_FILE)).unwrap();
    edit_f32(&text, line, replacement)
}

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("MANIFEST.toml"), Path::new("."))
}

#[test]
fn a_missing_field_names_the_entry() {
    let e = parse(&shipped_with("colour_order", "")).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(&e, ManifestError::Entry { id, index: 3, .. } if id == "dlib-resnet-v1-f32"),
        "{text}"
    );
    assert!(
        text.contains("`dlib-resnet-v1-f32`") && text.contains("colour_order"),
        "{text}"
    );
    let no_id = parse("[[model]]\nrole = \"embedder\"\n").unwrap_err();
    assert!(no_id.to_string().contains("entry 1"), "{no_id}");
}

#[test]
fn an_invalid_value_names_the_entry_and_its_file() {
    let e = parse(&shipped_with("embedding_size", "embedding_size = 0"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`dlib-resnet-v1-f32`") && e.contains("dlib_face_resnet_v1_f32.onnx"),
        "{e}"
    );
    let blank = shipped_with("metric", "metric = \"euclidean\"\noutput = \" \"");
    let e = parse(&blank).unwrap_err().to_string();
    assert!(
        e.contains("output") && e.contains("dlib-resnet-v1-f32"),
        "{e}"
    );
}

#[test]
fn a_file_error_names_the_entry() {
    let m = shipped();
    let mut entry = m.model("dlib-resnet-v1-f32").unwrap().clone();
    entry.file = "not-there.onnx".into();
    let e = m.verify_file(&entry).unwrap_err().to_string();
    assert!(
        e.contains("`dlib-resnet-v1-f32`") && e.contains("not-there.onnx"),
        "{e}"
    );
}

#[test]
fn an_ensemble_sized_embedding_is_accepted_and_garbage_is_not() {
    // GM-Arc: 3 models × 4 test-time variants × 512 values.
    let ensemble = shipped_with("embedding_size", "embedding_size = 6144");
    let m = parse(&ensemble).unwrap();
    assert_eq!(
        m.model("dlib-resnet-v1-f32").unwrap().embedding_size,
        Some(6144)
    );
    let garbage = shipped_with("embedding_size", "embedding_size = 1000000");
    let e = parse(&garbage).unwrap_err().to_string();
    assert!(
        e.contains("out of range") && e.contains("dlib-resnet-v1-f32"),
        "{e}"
    );
}

#[test]
fn provenance_version_and_licence_are_optional() {
    let without = shipped_with("provenance", "");
    let without = edit_f32(&without, "version", "");
    let without = edit_f32(&without, "licence", "");
    let m = parse(&without).unwrap();
    let f32 = m.model("dlib-resnet-v1-f32").unwrap();
    assert_eq!(f32.provenance, Provenance::default());
    assert_eq!(
        f32.version, "dlib-resnet-v1-f32",
        "the id stands in for the version"
    );
    assert_eq!(f32.licence, "");
    // What an embedding means is unchanged, so galleries keep loading.
    assert_eq!(
        f32.embedder_id(),
        shipped().model("dlib-resnet-v1-f32").unwrap().embedder_id()
    );
}

#[test]
fn the_output_name_joins_the_id_only_when_given() {
    let base = shipped().model("dlib-resnet-v1-f32").unwrap().clone();
    let mut named = base.clone();
    named.output = Some("embedding".into());
    let mut other = base.clone();
    other.output = Some("logits".into());
    assert_ne!(named.embedder_id(), base.embedder_id());
    assert_ne!(named.embedder_id(), other.embedder_id());
}

#[test]
fn a_gallery_command_runs_the_embedder_that_built_the_gallery() {
    let m = shipped();
    let f32 = m.model("dlib-resnet-v1-f32").unwrap();
    let chosen = |explicit: Option<&str>, recorded: Option<&str>| -> String {
        m.embedder_for_gallery(explicit, recorded)
            .unwrap()
            .id
            .clone()
    };
    // The gallery's recorded model, not the manifest's first embedder.
    assert_eq!(
        chosen(None, Some(f32.embedder_id().as_str())),
        "dlib-resnet-v1-f32"
    );
    let qlinear = m.model("dlib-resnet-v1-qlinear").unwrap().embedder_id();
    assert_eq!(
        chosen(None, Some(qlinear.as_str())),
        "dlib-resnet-v1-qlinear"
    );
    // --embedder wins over the gallery.
    assert_eq!(
        chosen(
            Some("dlib-resnet-v1-int8"),
            Some(f32.embedder_id().as_str())
        ),
        "dlib-resnet-v1-int8"
    );
    // A gallery of a model the manifest lacks, or none readable: the first embedder (the
    // gallery is refused when it is loaded, naming both models).
    assert_eq!(chosen(None, Some(&"0".repeat(64))), "dlib-resnet-v1-int8");
    assert_eq!(chosen(None, None), "dlib-resnet-v1-int8");
    assert!(m.embedder_for_gallery(Some("nope"), None).is_err());
}

#[test]
fn the_alignment_mode_is_read_and_joins_the_id_only_when_not_the_default() {
    let base = shipped().model("dlib-resnet-v1-f32").unwrap().clone();
    assert_eq!(base.alignment, AlignmentMode::FivePoint);
    let m = parse(&shipped_with(
        "quantized",
        "quantized = false\nalignment = \"gm-arc\"",
    ))
    .unwrap();
    let gm = m.model("dlib-resnet-v1-f32").unwrap();
    assert_eq!(gm.alignment, AlignmentMode::GmArc);
    assert_eq!(gm.alignment.name(), "gm-arc");
    assert_ne!(gm.embedder_id(), base.embedder_id());
    let mut opencv = base.clone();
    opencv.alignment = AlignmentMode::FivePointOpencv;
    assert_ne!(opencv.embedder_id(), base.embedder_id());
    assert_ne!(opencv.embedder_id(), gm.embedder_id());
    let bad = parse(&shipped_with(
        "quantized",
        "quantized = false\nalignment = \"dlib\"",
    ))
    .unwrap_err();
    assert!(bad.to_string().contains("dlib-resnet-v1-f32"), "{bad}");
}

#[test]
fn alignment_is_for_embedders_only() {
    let mut det = shipped().first_with_role(Role::Detector).unwrap().clone();
    assert!(det.validate().is_ok());
    det.alignment = AlignmentMode::GmArc;
    let e = det.validate().unwrap_err();
    assert!(
        e.to_string().contains("alignment is for embedders only"),
        "{e}"
    );
}
