//! The `gestaltcam` binary end to end, with the real models on committed, licence-clean photos:
//! the laptop demo (replay camera → detector → int8 embedder → gallery → PNG screens, scripted
//! presses), and gallery build → info → analyze, including a gallery made by another model.

use std::path::{Path, PathBuf};

use crate::common;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn photos() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/photos")
}

use common::run_gestaltcam as run;

/// `gestaltcam gallery build --images IMAGES --labels LABELS --out OUT EXTRA… --quiet` in `cwd`,
/// which must succeed; its standard output.
fn build_gallery(cwd: &Path, images: &Path, labels: &Path, out: &Path, extra: &[&str]) -> String {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (images, labels, out) = (s(images), s(labels), s(out));
    let mut args = vec!["gallery", "build", "--images", &images, "--labels", &labels];
    args.extend(["--out", &out]);
    args.extend_from_slice(extra);
    args.push("--quiet");
    let (ok, stdout, stderr) = run(&args, cwd);
    assert!(ok, "build failed:\n{stdout}\n{stderr}");
    stdout
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn demo_runs_the_whole_device_and_writes_only_its_screens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = run(&["demo", "--out", "screens"], tmp.path());
    assert!(ok, "demo failed:\n{stdout}\n{stderr}");
    // The screens, in order.
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("[screen ")
                .and_then(|r| r.split_once("] "))
                .map(|(_, v)| v)
        })
        .collect();
    let first = |prefix: &str| {
        order
            .iter()
            .position(|v| v.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` screen in {order:#?}"))
    };
    let (start, preview, cap1, cap2, analysing, results) = (
        first("starting"),
        first("preview: Ready"),
        first("capturing photo 1 of 2"),
        first("capturing photo 2 of 2"),
        first("analysing 2 photo(s)"),
        first("results page 1"),
    );
    assert!(
        start < preview && preview < cap1 && cap1 < cap2 && cap2 < analysing && analysing < results,
        "{order:#?}"
    );
    // The scripted clinician pages through every page (3 demo labels, 2 a page on 240x240)
    // and back to the first; each results screen names the ranks it shows.
    let pages: Vec<&str> = order[results..]
        .iter()
        .filter(|v| v.starts_with("results page"))
        .copied()
        .collect();
    assert_eq!(pages.len(), 3, "{order:#?}");
    assert!(
        pages[0].starts_with("results page 1/2: ranks 1-2 of 3"),
        "{pages:#?}"
    );
    assert!(
        pages[1].starts_with("results page 2/2: rank 3 of 3"),
        "{pages:#?}"
    );
    assert_eq!(pages[2], pages[0], "the last press wraps to page 1");
    // The person in the replayed photos is the demo gallery's label A, ranked first.
    let rank1 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("1  "))
        .expect("a rank-1 row");
    assert!(rank1.contains("DEMO label A"), "{stdout}");
    assert!(stdout.contains("Screening aid - not a diagnosis"));
    // Nothing but the screen PNGs was written (no photo, crop or embedding).
    let written = common::relative_files_under(tmp.path());
    assert!(!written.is_empty());
    for f in &written {
        assert!(
            f.starts_with("screens") && f.extension().is_some_and(|e| e == "png"),
            "unexpected file {f:?}"
        );
    }
    assert_eq!(written.len(), order.len(), "one PNG per screen shown");
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn demo_on_the_small_panel_shows_every_rank() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = run(&["demo", "--panel", "128x64", "--out", "s"], tmp.path());
    assert!(ok, "demo failed:\n{stdout}\n{stderr}");
    let pages: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("] results page ").map(|(_, v)| v))
        .collect();
    // One candidate a page: three pages, then page 1 again.
    assert_eq!(pages.len(), 4, "{stdout}");
    for (i, p) in pages.iter().take(3).enumerate() {
        let want = format!("{}/3: rank {} of 3", i + 1, i + 1);
        assert!(p.starts_with(&want), "{p} (wanted {want})");
    }
    // The summary table lists all three ranks.
    for rank in 1..=3 {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{rank}  DEMO label"))),
            "rank {rank} missing: {stdout}"
        );
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn gallery_build_info_analyze_and_model_mismatch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let labels = tmp.path().join("labels.csv");
    std::fs::write(
        &labels,
        "image,label,omim\nobama.jpg,Person one,100100\nbiden.jpg,Person two,\nastronaut.png,Person three,\nnot-there.jpg,Person four,\n",
    )
    .expect("write labels");
    let g = tmp.path().join("g.gcg");
    let photos = photos();
    let stdout = build_gallery(
        tmp.path(),
        &photos,
        &labels,
        &g,
        &["--name", "test-gallery"],
    );
    assert!(stdout.contains("3 cases"), "{stdout}");
    assert!(
        stdout.to_lowercase().contains("not found") || stdout.contains("missing"),
        "the missing image is reported: {stdout}"
    );

    let (ok, info, _) = run(&["gallery", "info", g.to_str().unwrap()], tmp.path());
    assert!(ok);
    assert!(
        info.contains("test-gallery") && info.contains("Person two"),
        "{info}"
    );

    let p2 = photos.join("obama2.jpg");
    let p3 = photos.join("obama3.jpg");
    let (ok, json, stderr) = run(
        &[
            "analyze",
            "--gallery",
            g.to_str().unwrap(),
            "--json",
            p2.to_str().unwrap(),
            p3.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(ok, "analyze failed: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON output");
    assert_eq!(v["photos_used"], 2);
    assert_eq!(v["ranking"]["matches"][0]["name"], "Person one", "{json}");
    assert_eq!(v["ranking"]["matches"][0]["omim"], "100100");
    assert!(v["disclaimer"]
        .as_str()
        .unwrap_or("")
        .contains("not a diagnosis"));

    // A photo with no face: a clear error, not a ranking.
    let blank = tmp.path().join("blank.png");
    image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]))
        .save(&blank)
        .expect("save");
    let (ok, _, stderr) = run(
        &[
            "analyze",
            "--gallery",
            g.to_str().unwrap(),
            blank.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!ok && stderr.contains("no usable face"), "{stderr}");

    // The same gallery used with another embedder is refused, naming both models.
    let (ok, _, stderr) = run(
        &[
            "analyze",
            "--gallery",
            g.to_str().unwrap(),
            "--embedder",
            "dlib-resnet-v1-f32",
            p2.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!ok, "a gallery from another model must be refused");
    // The refusal itself (not any model failure): the gallery error, naming both model ids.
    assert!(
        stderr.contains("gallery was built with embedder `")
            && stderr.contains("` but the loaded model is `")
            && stderr.contains("rebuild the gallery with this model"),
        "{stderr}"
    );
    let ids: Vec<&str> = stderr.split('`').skip(1).step_by(2).take(2).collect();
    assert_eq!(ids.len(), 2, "{stderr}");
    assert_ne!(ids[0], ids[1], "{stderr}");
}

/// Writes GMDB-shaped files naming the committed photos: a syndromes TSV with OMIM as floats,
/// a rare-set split CSV (`split`, an image listed in two splits) and neutral GM-Arc metadata.
fn write_gmdb_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let tsv = dir.join("syndromes.tsv");
    std::fs::write(
        &tsv,
        "syndrome_id\tsyndrome_name\tOMIM\n1\tPerson one\t100100.0\n2\tPerson two\t\n",
    )
    .expect("write tsv");
    let split = dir.join("rare.csv");
    std::fs::write(
        &split,
        "image_id,subject,label,split\nobama,1,1,0\nbiden,2,2,0\nobama2,1,1,1\nobama,1,1,1\n",
    )
    .expect("write split");
    let meta = dir.join("meta.jsonl");
    std::fs::write(
        &meta,
        concat!(
            r#"{"kind":"disorder","id":"1","name":"Person one","omim":100100}"#,
            "\n",
            r#"{"kind":"gene","id":"7","name":"FAKE1","entrez_id":990001}"#,
            "\n",
            r#"{"kind":"image","id":"obama","disorder_id":"1","patient_id":"1","gene_ids":["7"]}"#,
            "\n"
        ),
    )
    .expect("write metadata");
    (tsv, split, meta)
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn gmdb_files_build_and_evaluate_by_split() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (tsv, split, meta) = write_gmdb_files(tmp.path());
    let (photos, g) = (photos(), tmp.path().join("g.gcg"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let extra = [
        "--syndromes",
        &s(&tsv),
        "--split",
        "0",
        "--metadata",
        &s(&meta),
    ];
    let stdout = build_gallery(tmp.path(), &photos, &split, &g, &extra);
    assert!(
        stdout.contains("2 cases"),
        "split 0 is obama and biden: {stdout}"
    );

    let (ok, info, _) = run(&["gallery", "info", "--json", &s(&g)], tmp.path());
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&info).expect("JSON info");
    let one = &v["labels"][0];
    assert_eq!(one["name"], "Person one", "{info}");
    assert_eq!(
        one["omim"], "100100",
        "the OMIM float is an integer: {info}"
    );
    assert_eq!(one["genes"], serde_json::json!(["FAKE1"]), "{info}");
    assert_eq!(v["labels"][1]["omim"], serde_json::Value::Null, "{info}");

    let eval = [
        "eval",
        "--gallery",
        &s(&g),
        "--probes",
        &s(&split),
        "--syndromes",
        &s(&tsv),
        "--split",
        "1",
        "--images",
        &s(&photos),
        "--json",
    ];
    let (ok, json, stderr) = run(&eval, tmp.path());
    assert!(ok, "eval failed:\n{json}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    assert_eq!(
        v["report"]["probes"], 2,
        "split 1 is obama2 and obama: {json}"
    );
    assert_eq!(v["skipped_probes"], 0, "{json}");

    // A split needs the GMDB form.
    let (ok, _, stderr) = run(
        &[
            "calibrate",
            "--gallery",
            &s(&g),
            "--probes",
            &s(&split),
            "--split",
            "1",
        ],
        tmp.path(),
    );
    assert!(!ok && stderr.contains("--syndromes"), "{stderr}");
}

/// `analyze` without `--embedder` runs the model that built the gallery (the gallery records
/// it), not the manifest's first embedder.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn analyze_takes_the_embedder_from_the_gallery() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let labels = tmp.path().join("labels.csv");
    std::fs::write(
        &labels,
        "image,label,omim\nobama.jpg,Person one,100100\nbiden.jpg,Person two,\n",
    )
    .expect("write labels");
    let g = tmp.path().join("g.gcg");
    let photos = photos();
    let extra = ["--embedder", "dlib-resnet-v1-f32", "--no-flip-tta"];
    build_gallery(tmp.path(), &photos, &labels, &g, &extra);
    let p2 = photos.join("obama2.jpg");
    let analyze = |extra: &[&str]| {
        let mut args = vec!["analyze", "--gallery", g.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        args.extend(["--no-flip-tta", p2.to_str().unwrap()]);
        run(&args, tmp.path())
    };
    let (ok, json, stderr) = analyze(&[]);
    assert!(ok, "the f32 gallery without --embedder: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON output");
    assert_eq!(v["ranking"]["matches"][0]["name"], "Person one", "{json}");
    // --embedder still overrides: the int8 model is refused on this gallery.
    let (ok, _, stderr) = analyze(&["--embedder", "dlib-resnet-v1-int8"]);
    assert!(
        !ok && stderr.contains("gallery was built with embedder `"),
        "{stderr}"
    );
}

/// Keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

/// A gallery built from the committed GMDB/GM-Arc fixtures (split CSV, syndromes TSV, metadata;
/// the images are committed photos under GMDB image ids) keeps each image's genes, and
/// `analyze --json --format gestaltmatcher` answers in GM-Arc's service shape; plain `--json`
/// gains the gene ranking.
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn analyze_answers_in_gestaltmatchers_shape_with_genes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    for (id, photo) in [
        ("9001", "obama.jpg"),
        ("9002", "obama2.jpg"),
        ("9003", "biden.jpg"),
    ] {
        std::fs::copy(photos().join(photo), images.join(format!("{id}.jpg"))).expect("copy");
    }
    let fixtures = Path::new(ROOT).join("tests/fixtures/gmarc");
    let fixture = |name: &str| fixtures.join(name).to_str().unwrap().to_string();
    let g = tmp.path().join("gmdb.gcg");
    let labels = fixtures.join("gmdb_frequent_gallery.csv");
    let extra = [
        "--syndromes",
        &fixture("gmdb_syndromes.tsv"),
        "--metadata",
        &fixture("gmarc_metadata.jsonl"),
        "--name",
        "gmdb-test-1.0",
    ];
    build_gallery(tmp.path(), &images, &labels, &g, &extra);
    let query = photos().join("obama3.jpg");
    let analyze = |extra: &[&str]| {
        let mut args = vec!["analyze", "--gallery", g.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        args.push(query.to_str().unwrap());
        let (ok, json, stderr) = run(&args, tmp.path());
        assert!(ok, "analyze {extra:?} failed: {stderr}");
        serde_json::from_str::<serde_json::Value>(&json).expect("JSON output")
    };

    let v = analyze(&["--format", "gestaltmatcher"]);
    assert_eq!(
        keys(&v),
        [
            "gallery_version",
            "model_version",
            "suggested_genes_list",
            "suggested_syndromes_list"
        ]
    );
    assert_eq!(v["gallery_version"], "gmdb-test-1.0");
    // The manifest id of the model that built the gallery (the manifest's first embedder).
    assert_eq!(v["model_version"], "dlib-resnet-v1-int8", "{v}");
    let syndromes = v["suggested_syndromes_list"].as_array().expect("a list");
    assert_eq!(syndromes.len(), 2, "{v}");
    for s in syndromes {
        assert_eq!(
            keys(s),
            [
                "distance",
                "gestalt_score",
                "image_id",
                "omim_id",
                "subject_id",
                "syndrome_name"
            ]
        );
        assert!(
            s["distance"].is_number() && s["distance"] == s["gestalt_score"],
            "{s}"
        );
        assert!(
            s["image_id"].is_string() && s["subject_id"].is_string(),
            "{s}"
        );
    }
    let (a, b) = (&syndromes[0], &syndromes[1]);
    assert_eq!(a["syndrome_name"], "Test syndrome A", "{v}");
    assert_eq!(a["omim_id"], 900001);
    assert!(a["omim_id"].is_u64());
    assert_eq!(a["subject_id"], "501");
    assert_eq!(
        (&b["syndrome_name"], &b["image_id"]),
        (&"Test syndrome B".into(), &"9003".into())
    );
    assert!(b["omim_id"].is_null());

    // Genes: FAKE1 is on 9001 and 9002 (the same cases as syndrome A), FAKE2 only on 9001;
    // 9003 carries none.
    let genes = v["suggested_genes_list"].as_array().expect("a list");
    assert_eq!(genes.len(), 2, "{v}");
    for gene in genes {
        assert_eq!(
            keys(gene),
            [
                "distance",
                "gene_entrez_id",
                "gene_name",
                "gestalt_score",
                "image_id",
                "subject_id"
            ]
        );
        assert!(gene["distance"].is_number() && gene["distance"] == gene["gestalt_score"]);
        assert_eq!(gene["subject_id"], "501");
    }
    let gene = |name: &str| genes.iter().find(|g| g["gene_name"] == name).expect(name);
    assert_eq!(gene("FAKE1")["gene_entrez_id"], 990001);
    assert!(gene("FAKE1")["gene_entrez_id"].is_u64());
    assert!(gene("FAKE2")["gene_entrez_id"].is_null());
    assert_eq!(gene("FAKE1")["image_id"], a["image_id"]);
    assert_eq!(gene("FAKE1")["distance"], a["distance"]);
    assert_eq!(gene("FAKE2")["image_id"], "9001");

    // Plain --json keeps its keys and gains the gene ranking.
    let plain = analyze(&[]);
    for key in [
        "candidates",
        "ranking",
        "disclaimer",
        "photos_used",
        "genes",
    ] {
        assert!(plain.get(key).is_some(), "no `{key}` in {plain}");
    }
    assert_eq!(plain["genes"][0]["name"], genes[0]["gene_name"]);
    assert_eq!(plain["genes"][0]["nearest_case"], genes[0]["image_id"]);
    assert_eq!(plain["genes"][0]["rank"], 1);

    // The text form lists the genes too. FAKE1's images include FAKE2's, so FAKE1 is never
    // farther, and on a tie the smaller name comes first.
    let (ok, text, stderr) = run(
        &[
            "analyze",
            "--gallery",
            g.to_str().unwrap(),
            query.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(ok, "{stderr}");
    assert!(text.contains("genes, nearest first: FAKE1 d="), "{text}");
}
