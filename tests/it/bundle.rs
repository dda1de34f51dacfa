//! Content bundles end to end: made from the checkout's models and a test gallery, imported
//! into a temp state folder with the device's own checks (models load, galleries bind), then
//! the device assembled as `gestaltcam run` does, starting with the new gallery. Each refusal
//! (tampered, truncated, unknown key, downgrade, newer device needed, gallery for another
//! model, a config key a programme may not set) leaves `current` and the old content working;
//! content that fails at start-up is rolled back to `previous`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::make_gallery;
use ed25519_dalek::SigningKey;
use gestaltcam::analysis::Analyzer;
use gestaltcam::bundle::format::{self, EntryKind, MakeInput};
use gestaltcam::bundle::import::{import_from_stick, ContentCheck, ImportOptions, StickOutcome};
use gestaltcam::bundle::notice::{Notice, NoticeSource, Outcome};
use gestaltcam::bundle::store::{ContentStore, CURRENT};
use gestaltcam::bundle::version::Version;
use gestaltcam::bundle::{BundleError, BundleManifest};
use gestaltcam::config::{Config, PanelKind};
use gestaltcam::gallery;
use gestaltcam::manifest::Manifest;
use gestaltcam::setup::content::{self, DeviceCheck, NoticeSink};
use gestaltcam::setup::{assemble, Wiring};
use gestaltcam::ui::view::{CheckState, View};

/// The model the bundles' galleries are made for, and another one of the manifest.
const EMBEDDER: &str = "dlib-resnet-v1-int8";
const OTHER: &str = "dlib-resnet-v1-f32";
/// The files of the trimmed models folder the bundles carry.
const MODEL_FILES: [&str; 2] = [
    "dlib_face_resnet_v1_int8.onnx",
    "retinaface-mnet025-320.onnx",
];

fn checkout(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A programme's keys, the device's configuration and folders, in one temp folder.
struct Bench {
    tmp: tempfile::TempDir,
    key: SigningKey,
    cfg: Config,
    models: PathBuf,
}

impl Bench {
    fn new() -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let trusted = d.join("trusted-keys");
        std::fs::create_dir(&trusted).unwrap();
        let vk = gallery::write_keypair(&d.join("programme.key"), &trusted.join("programme.pub"))
            .unwrap();
        let key = gallery::read_signing_key(&d.join("programme.key")).unwrap();
        assert_eq!(key.verifying_key(), vk);
        // The configured gallery (before any bundle): made for the same model.
        let configured = d.join("configured.gmg");
        make_gallery(3, "configured gallery", 2, 4, &embedder_id(EMBEDDER))
            .save(&configured)
            .unwrap();
        let mut cfg = Config {
            models_dir: checkout("models"),
            embedder: EMBEDDER.into(),
            gallery: configured,
            state_dir: d.join("state"),
            trusted_keys_dir: trusted,
            flip_tta: false,
            photos_per_patient: 1,
            inference_threads: 1,
            ..Config::default()
        };
        cfg.display.panel = PanelKind::Png;
        cfg.display.png_path = d.join("screen.png");
        cfg.camera.replay = Some(checkout("demo/patient.txt"));
        cfg.camera.fps = 50;
        let models = trimmed_models(d);
        Bench {
            tmp,
            key,
            cfg,
            models,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn opts(&self) -> ImportOptions {
        ImportOptions {
            state_dir: self.cfg.state_dir.clone(),
            trusted_keys_dir: self.cfg.trusted_keys_dir.clone(),
            allow_downgrade: false,
            device_version: Version::device(),
        }
    }

    /// A stick (folder) holding one bundle: a gallery named `name` made for `model`, the
    /// trimmed models folder, and `fragment` as its config fragment.
    fn stick(&self, tag: &str, name: &str, version: &str, model: &str) -> PathBuf {
        let stick = self.dir().join(format!("stick-{tag}"));
        std::fs::create_dir(&stick).unwrap();
        let g = self.dir().join(format!("{tag}.gmg"));
        make_gallery(11, name, 3, 9, &embedder_id(model))
            .save(&g)
            .unwrap();
        let frag = self.dir().join(format!("{tag}.toml"));
        std::fs::write(&frag, "top_k = 4\n").unwrap();
        let mut files = vec![
            (EntryKind::Gallery, format!("galleries/{tag}.gmg"), g),
            (
                EntryKind::ModelManifest,
                "models/MANIFEST.toml".into(),
                self.models.join("MANIFEST.toml"),
            ),
            (EntryKind::Config, "config.toml".into(), frag),
        ];
        for f in MODEL_FILES {
            files.push((EntryKind::Model, format!("models/{f}"), self.models.join(f)));
        }
        self.make(&stick, input(name, version, files), &self.key);
        stick
    }

    fn make(&self, stick: &Path, input: MakeInput, key: &SigningKey) -> PathBuf {
        let out = stick.join("update.gcb");
        format::make(&input, key, &out).unwrap();
        out
    }

    fn import(&self, stick: &Path) -> StickOutcome {
        import_from_stick(stick, &self.opts(), &DeviceCheck { cfg: &self.cfg })
    }

    fn current(&self) -> Option<PathBuf> {
        ContentStore::new(&self.cfg.state_dir).current()
    }

    /// The gallery the device starts with, by name (`content::start`, as `assemble` runs it).
    fn started_gallery(&self) -> (String, Config, Vec<(String, CheckState, String)>) {
        let (cfg, mut analyzer) = content::start(&self.cfg);
        let name = analyzer.gallery().expect("a gallery").name().to_string();
        let checks = analyzer
            .self_test()
            .into_iter()
            .map(|c| (c.name, c.state, c.detail))
            .collect();
        (name, cfg, checks)
    }
}

fn input(name: &str, version: &str, files: Vec<(EntryKind, String, PathBuf)>) -> MakeInput {
    MakeInput {
        name: name.into(),
        version: version.into(),
        created: "2026-06-01T09:00:00Z".into(),
        min_device_version: "0.1.0".into(),
        files,
    }
}

fn embedder_id(model: &str) -> String {
    Manifest::load_dir(&checkout("models"))
        .unwrap()
        .model(model)
        .unwrap()
        .embedder_id()
}

/// The checkout's models folder cut down to the int8 embedder and the detector (its manifest
/// without the other models' blocks), hard-linked where possible.
fn trimmed_models(dir: &Path) -> PathBuf {
    let out = dir.join("models");
    std::fs::create_dir(&out).unwrap();
    let text = std::fs::read_to_string(checkout("models/MANIFEST.toml")).unwrap();
    let mut blocks = text.split("[[model]]");
    let mut kept = blocks.next().unwrap().to_string();
    let mut others = Vec::new();
    for b in blocks {
        if MODEL_FILES
            .iter()
            .any(|f| b.contains(&format!("file = \"{f}\"")))
        {
            kept.push_str("[[model]]");
            kept.push_str(b);
        } else {
            others.push(b);
        }
    }
    assert_eq!(others.len(), 2, "the qlinear and f32 models left out");
    std::fs::write(out.join("MANIFEST.toml"), kept).unwrap();
    for f in MODEL_FILES {
        let (src, dst) = (checkout("models").join(f), out.join(f));
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    Manifest::load_dir(&out).expect("the trimmed manifest");
    out
}

fn imported(o: &StickOutcome) -> &gestaltcam::bundle::import::Imported {
    match o {
        StickOutcome::Imported(i) => i,
        other => panic!("not imported: {}", other.line()),
    }
}

/// A bundle imported and the device assembled from the configuration: it starts with the
/// bundle's gallery (the start-up screen's Gallery line names it), its models and its config
/// fragment, and it previews on the replayed photos.
#[test]
fn an_imported_bundle_is_what_the_device_starts_with() {
    let b = Bench::new();
    let stick = b.stick("a", "GMDB test 2026-06", "2026.06.1", EMBEDDER);
    let out = b.import(&stick);
    let i = imported(&out);
    assert_eq!(out.line(), "bundle: imported GMDB test 2026-06 2026.06.1");
    assert_eq!(i.text, "Gallery updated: GMDB test 2026-06, 9 cases");
    assert_eq!(b.current().as_deref(), Some(i.folder.as_path()));
    let notice = Notice::read(&b.cfg.state_dir.join("content")).unwrap();
    assert_eq!(notice.outcome, Outcome::Imported);
    assert!(notice.switched);
    assert_eq!(notice.text, i.text);
    let folder_name = i.folder.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(notice.content.as_deref(), Some(folder_name.as_str()));

    let (keys_tx, keys_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut dev = assemble(&b.cfg, Wiring::with_keys(Keys(keys_rx))).expect("assembles");
    let checks = dev.device.analyzer.self_test();
    let gallery = checks.iter().find(|c| c.name == "Gallery").unwrap();
    assert_eq!(gallery.state, CheckState::Ok);
    assert_eq!(gallery.detail, "GMDB test 2026-06: 9 cases");
    assert_eq!(dev.device.analyzer.top_k, 4, "the fragment's top_k");
    dev.opts.max_iterations = Some(12);
    let report = dev.run();
    assert_eq!(report.final_mode, "preview", "{report:?}");
    assert!(!dev.restart_requested());
    drop(keys_tx);
}

/// Keys for the assembled device that stay open while the sender lives.
struct Keys(std::sync::mpsc::Receiver<Vec<u8>>);

impl std::io::Read for Keys {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Ok(line) = self.0.recv() else {
            return Ok(0);
        };
        let n = line.len().min(buf.len());
        buf[..n].copy_from_slice(&line[..n]);
        Ok(n)
    }
}

/// After a good import, each bad bundle is refused with its reason and the clinician's
/// words in the notice; `current` stays, and the device still starts with the old gallery.
#[test]
fn a_refused_bundle_leaves_the_content_in_use_working() {
    let b = Bench::new();
    let good = b.stick("good", "GMDB test 2026-06", "2026.06.1", EMBEDDER);
    imported(&b.import(&good));
    let current = b.current().unwrap();
    let good_file = good.join("update.gcb");
    let bytes = std::fs::read(&good_file).unwrap();

    let check = |tag: &str, stick: &Path, want: fn(&BundleError) -> bool, words: &str| {
        let out = b.import(stick);
        let StickOutcome::Refused(e) = &out else {
            panic!("{tag}: {}", out.line());
        };
        assert!(want(e), "{tag}: {e:?}");
        assert!(out.line().starts_with("bundle: refused: "), "{tag}");
        assert_eq!(
            b.current().as_ref(),
            Some(&current),
            "{tag}: current changed"
        );
        let n = Notice::read(&b.cfg.state_dir.join("content")).unwrap();
        assert_eq!((n.outcome, n.switched), (Outcome::Refused, false), "{tag}");
        assert_eq!(n.text, words, "{tag}");
        let (name, _, _) = b.started_gallery();
        assert_eq!(name, "GMDB test 2026-06", "{tag}: the old content starts");
        // No staging folder is left behind.
        let left: Vec<_> = std::fs::read_dir(b.cfg.state_dir.join("content"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
            .collect();
        assert!(left.is_empty(), "{tag}: {left:?}");
    };
    let damaged = "Update refused: the file on the stick is damaged or incomplete";
    let unsigned = "Update refused: not signed by your programme";

    // A newer bundle, one byte of its gallery changed on the stick.
    let newer = b.stick("newer", "GMDB test 2026-07", "2026.07.1", EMBEDDER);
    let file = newer.join("update.gcb");
    let mut tampered = std::fs::read(&file).unwrap();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    std::fs::write(&file, &tampered).unwrap();
    check(
        "tampered",
        &newer,
        |e| {
            matches!(
                e,
                BundleError::HashMismatch { .. } | BundleError::BadSignature
            )
        },
        damaged,
    );

    // A truncated copy.
    let cut = b.dir().join("stick-cut");
    std::fs::create_dir(&cut).unwrap();
    let newer_bytes = {
        let s = b.stick("newer2", "GMDB test 2026-07", "2026.07.1", EMBEDDER);
        std::fs::read(s.join("update.gcb")).unwrap()
    };
    std::fs::write(
        cut.join("update.gcb"),
        &newer_bytes[..newer_bytes.len() - 5000],
    )
    .unwrap();
    check(
        "truncated",
        &cut,
        |e| matches!(e, BundleError::Truncated { .. }),
        damaged,
    );

    // Signed by a key the device does not trust.
    let stranger = SigningKey::from_bytes(&[42u8; 32]);
    let unknown = b.dir().join("stick-unknown");
    std::fs::create_dir(&unknown).unwrap();
    let g = b.dir().join("newer2.gmg");
    b.make(
        &unknown,
        input(
            "Stranger",
            "2027.1",
            vec![(EntryKind::Gallery, "galleries/s.gmg".into(), g.clone())],
        ),
        &stranger,
    );
    check(
        "unknown key",
        &unknown,
        |e| matches!(e, BundleError::UntrustedKey { .. }),
        unsigned,
    );

    // The same version again, and an older one.
    check(
        "same version",
        &good,
        |e| matches!(e, BundleError::Downgrade { .. }),
        "Update refused: older than the content in use",
    );
    let older = b.stick("older", "GMDB test 2026-05", "2026.05", EMBEDDER);
    check(
        "older",
        &older,
        |e| matches!(e, BundleError::Downgrade { .. }),
        "Update refused: older than the content in use",
    );

    // A bundle for a newer device.
    let future = b.dir().join("stick-future");
    std::fs::create_dir(&future).unwrap();
    let mut i = input(
        "Future",
        "2030.1",
        vec![(EntryKind::Gallery, "galleries/f.gmg".into(), g.clone())],
    );
    i.min_device_version = "99.0.0".into();
    b.make(&future, i, &b.key);
    check(
        "newer device",
        &future,
        |e| matches!(e, BundleError::NeedsNewerDevice { .. }),
        "Update needs a newer device version",
    );

    // A gallery made for another model than the bundle's (its models lack that model).
    let wrong = b.stick("wrong", "GMDB wrong model", "2026.08", OTHER);
    check(
        "another model",
        &wrong,
        |e| matches!(e, BundleError::Check { .. }),
        "Update refused: its content failed the device's checks",
    );

    // A config fragment with a key a programme may not set (made without the CLI's check).
    let keyed = b.dir().join("stick-keyed");
    std::fs::create_dir(&keyed).unwrap();
    let frag = b.dir().join("bad-frag.toml");
    std::fs::write(&frag, "state_dir = \"/tmp/elsewhere\"\n").unwrap();
    b.make(
        &keyed,
        input(
            "Keys",
            "2026.09",
            vec![
                (EntryKind::Gallery, "galleries/k.gmg".into(), g),
                (EntryKind::Config, "config.toml".into(), frag),
            ],
        ),
        &b.key,
    );
    check(
        "config key",
        &keyed,
        |e| matches!(e, BundleError::Fragment(_)),
        "Update refused: its content failed the device's checks",
    );

    // Two bundles on one stick: which was meant is not guessed.
    std::fs::write(keyed.join("second.gcb"), &bytes).unwrap();
    check(
        "two bundles",
        &keyed,
        |e| matches!(e, BundleError::SeveralBundles { .. }),
        "Update refused: more than one update on the stick",
    );

    // A technician may go back on purpose.
    let mut opts = b.opts();
    opts.allow_downgrade = true;
    let out = import_from_stick(&older, &opts, &DeviceCheck { cfg: &b.cfg });
    assert_eq!(imported(&out).manifest.version, "2026.05");
    assert_eq!(b.started_gallery().0, "GMDB test 2026-05");
}

/// An empty stick: nothing happens and no notice is written.
#[test]
fn a_stick_without_a_bundle_changes_nothing() {
    let b = Bench::new();
    let empty = b.dir().join("stick-empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), b"photos").unwrap();
    let out = b.import(&empty);
    assert!(matches!(out, StickOutcome::NoBundle));
    assert_eq!(out.line(), "bundle: none");
    assert!(!b.cfg.state_dir.join("content/notice.json").exists());
    assert_eq!(b.started_gallery().0, "configured gallery");
}

/// Accepts anything: stands in for an older device software that let content through which
/// this one refuses at start-up.
struct AcceptAll;

impl ContentCheck for AcceptAll {
    fn check(&self, _: &Path, m: &BundleManifest) -> Result<String, BundleError> {
        Ok(format!("accepted {}", m.name))
    }
}

/// Content that fails at start-up (its gallery made for a model it does not run; then its
/// files altered on disk) is rolled back to `previous`, then to the configured files, with a
/// Warning line on the start-up screen each time.
#[test]
fn content_that_fails_at_start_up_is_rolled_back() {
    let b = Bench::new();
    let good = b.stick("good", "GMDB test 2026-06", "2026.06.1", EMBEDDER);
    let first = imported(&b.import(&good)).folder.clone();
    assert_eq!(b.started_gallery().0, "GMDB test 2026-06");

    let bad = b.stick("bad", "GMDB wrong model", "2026.07", OTHER);
    let out = import_from_stick(&bad, &b.opts(), &AcceptAll);
    let second = imported(&out).folder.clone();
    assert_eq!(b.current(), Some(second));

    let (name, cfg, checks) = b.started_gallery();
    assert_eq!(name, "GMDB test 2026-06", "the previous content");
    assert_eq!(
        b.current(),
        Some(first.clone()),
        "previous is current again"
    );
    assert_eq!(cfg.gallery.parent().unwrap().parent().unwrap(), first);
    let update = checks
        .iter()
        .find(|c| c.0 == "Update")
        .expect("a warning line");
    assert_eq!(update.1, CheckState::Warning);
    assert_eq!(update.2, "failed, previous gallery used");

    // The good content's gallery altered on disk: it no longer verifies; no previous left.
    let g = first.join("galleries/good.gmg");
    let mut bytes = std::fs::read(&g).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&g, &bytes).unwrap();
    let (name, cfg, checks) = b.started_gallery();
    assert_eq!(name, "configured gallery");
    assert_eq!(cfg.gallery, b.cfg.gallery);
    assert!(b.current().is_none());
    assert!(checks
        .iter()
        .any(|c| c.0 == "Update" && c.2 == "failed, original gallery used"));
    assert!(!b.cfg.state_dir.join("content").join(CURRENT).exists());
}

/// Notices handed to the sink by a fake source: a refused one is shown, then the app's own
/// screen comes back; a switched one stays until the device stops for its restart.
#[test]
fn the_panel_shows_notices_and_a_switch_stops_the_device_for_a_restart() {
    struct Fake(Arc<Mutex<Vec<Notice>>>);
    impl NoticeSource for Fake {
        fn poll(&mut self) -> Option<Notice> {
            self.0.lock().unwrap().pop()
        }
    }
    let notice = |outcome, switched, text: &str| Notice {
        outcome,
        text: text.into(),
        detail: "detail".into(),
        name: Some("GMDB 2026-06".into()),
        version: Some("2026.06.1".into()),
        switched,
        content: Some("gmdb-2026.6.1-00112233".into()),
    };
    let shown = Arc::new(Mutex::new(Vec::<View>::new()));
    let queue = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Arc::new(AtomicBool::new(false));
    let s = shown.clone();
    let inner = Box::new(move |v: &View| s.lock().unwrap().push(v.clone()));
    let mut sink = NoticeSink::new(
        inner,
        Fake(queue.clone()),
        Some("gmdb-2026.5-aabbccdd".into()),
        shutdown.clone(),
    )
    .shown_for(Duration::from_millis(30));
    use gestaltcam::app::ViewSink;
    sink.show(&View::Blank);
    queue.lock().unwrap().push(notice(
        Outcome::Refused,
        false,
        "Update refused: not signed by your programme",
    ));
    sink.idle();
    // The app's next view waits behind the notice.
    sink.show(&View::Analysing { photos: 1 });
    std::thread::sleep(Duration::from_millis(40));
    sink.idle();
    let views = shown.lock().unwrap().clone();
    assert_eq!(
        views,
        vec![
            View::Blank,
            View::Notice {
                accepted: false,
                text: "Update refused: not signed by your programme".into(),
                next: "Nothing was changed".into()
            },
            View::Analysing { photos: 1 },
        ]
    );
    assert!(!shutdown.load(Ordering::SeqCst));

    queue.lock().unwrap().push(notice(
        Outcome::Imported,
        true,
        "Gallery updated: GMDB 2026-06, 7,459 cases",
    ));
    sink.idle();
    std::thread::sleep(Duration::from_millis(40));
    sink.idle();
    sink.show(&View::Analysing { photos: 2 });
    assert!(sink.restart.load(Ordering::SeqCst) && shutdown.load(Ordering::SeqCst));
    // The loop's last view, the blank panel, still goes through.
    sink.show(&View::Blank);
    let views = shown.lock().unwrap().clone();
    assert_eq!(
        views[3..],
        [
            View::Notice {
                accepted: true,
                text: "Gallery updated: GMDB 2026-06, 7,459 cases".into(),
                next: "Restarting with the new content".into()
            },
            View::Blank
        ]
    );
}

/// The command line of the contract: keygen, make, verify, info --json, import (exit 0 with
/// `bundle: imported NAME V`, then exit 3 with `bundle: refused: ...` for the same version,
/// `bundle: none` for an empty stick).
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
#[test]
fn the_command_line_makes_verifies_describes_and_imports() {
    let b = Bench::new();
    let d = b.dir();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gestaltcam"))
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let g = d.join("cli.gmg");
    make_gallery(5, "GMDB cli 2026-06", 2, 6, &embedder_id(EMBEDDER))
        .save(&g)
        .unwrap();
    let stick = d.join("stick-cli");
    std::fs::create_dir(&stick).unwrap();
    let file = stick.join("gmdb.gcb");
    let (code, out, err) = run(&[
        "bundle",
        "make",
        "--key",
        &p(&d.join("programme.key")),
        "--out",
        &p(&file),
        "--name",
        "GMDB cli 2026-06",
        "--version",
        "2026.06.1",
        "--created",
        "2026-06-01T09:00:00Z",
        "--gallery",
        &p(&g),
        "--models-dir",
        &p(&b.models),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("bundle: wrote "), "{out}");
    let public = p(&b.cfg.trusted_keys_dir.join("programme.pub"));
    let (code, out, err) = run(&["bundle", "verify", &p(&file), "--key", &public]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with("bundle: verified GMDB cli 2026-06 2026.06.1 (4 entries"),
        "{out}"
    );
    let (code, out, _) = run(&["bundle", "info", &p(&file), "--json"]);
    assert_eq!(code, Some(0));
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["name"], "GMDB cli 2026-06");
    assert_eq!(info["created"], "2026-06-01T09:00:00Z");
    assert_eq!(info["entries"][0]["kind"], "gallery");
    assert_eq!(info["entries"].as_array().unwrap().len(), 4);

    let config = d.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "models_dir = {:?}\nembedder = {EMBEDDER:?}\ngallery = {:?}\nstate_dir = {:?}\ntrusted_keys_dir = {:?}\n",
            b.cfg.models_dir, b.cfg.gallery, b.cfg.state_dir, b.cfg.trusted_keys_dir
        ),
    )
    .unwrap();
    let import = |stick: &Path| {
        run(&[
            "bundle",
            "import",
            "--stick",
            &p(stick),
            "--config",
            &p(&config),
        ])
    };
    let (code, out, err) = import(&stick);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "bundle: imported GMDB cli 2026-06 2026.06.1\n"),
        "{err}"
    );
    let (code, out, _) = import(&stick);
    assert_eq!(code, Some(3));
    assert!(
        out.starts_with("bundle: refused: version 2026.06.1 is not newer"),
        "{out}"
    );
    let empty = d.join("stick-empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        import(&empty),
        (Some(0), "bundle: none\n".into(), String::new())
    );
}
