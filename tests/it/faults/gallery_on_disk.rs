//! A configured gallery refused (corrupted, truncated, other model, tampered or unsigned): the
//! last good copy is used with a warning screen, or an error screen without one; a state folder
//! that cannot be written does not stop the device.

use super::*;

/// What was done to the file, the reason the screen gives, and how to do it.
type Corruption = (&'static str, &'static str, fn(&Path));

/// Ways a configured gallery is refused.
fn corruptions() -> Vec<Corruption> {
    fn truncate(p: &Path) {
        let b = std::fs::read(p).unwrap();
        std::fs::write(p, &b[..b.len() * 2 / 3]).unwrap();
    }
    fn flip(p: &Path) {
        let mut b = std::fs::read(p).unwrap();
        let n = b.len();
        b[n - 7] ^= 0x01;
        std::fs::write(p, &b).unwrap();
    }
    fn garbage(p: &Path) {
        std::fs::write(p, Rng(7).bytes(4000)).unwrap();
    }
    fn zero_length(p: &Path) {
        std::fs::write(p, b"").unwrap();
    }
    fn other_model(p: &Path) {
        make_gallery(5, "other model", 3, 6, "some-other-embedder")
            .save(p)
            .unwrap();
    }
    fn missing(p: &Path) {
        std::fs::remove_file(p).unwrap();
    }
    vec![
        ("truncated", "truncated", truncate),
        ("flipped byte", "altered or corrupted", flip),
        ("random bytes", "corrupt", garbage),
        ("zero length", "truncated", zero_length),
        (
            "made by another model",
            "made for another model",
            other_model,
        ),
        ("deleted", "file missing", missing),
    ]
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn corrupt_gallery_uses_the_last_good_copy_with_a_warning_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    let good = make_gallery(1, "ref A", 3, 6, &device_embedder_id());
    good.save(&cfg.gallery).unwrap();

    // A good start keeps a copy in the state folder and shows no warning.
    let mut first = analyzer_for(&cfg);
    let checks = first.self_test();
    assert_eq!(check(&checks, "Gallery").state, CheckState::Ok);
    assert!(
        checks.iter().all(|c| c.state == CheckState::Ok),
        "{checks:?}"
    );
    let copy = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), good.to_bytes());

    // The configured gallery is damaged on disk (one flipped byte).
    let mut b = std::fs::read(&cfg.gallery).unwrap();
    let n = b.len();
    b[n / 2] ^= 0x08;
    std::fs::write(&cfg.gallery, &b).unwrap();

    let analyzer = analyzer_for(&cfg);
    assert_eq!(
        analyzer.gallery().unwrap().content_hash(),
        good.content_hash()
    );
    let cam = face_camera();
    // Capture at 3 only acknowledges the warning; capture at 6 takes the photo.
    let out = run(
        cam,
        analyzer,
        &[(3, Capture), (6, Capture)],
        &ctx(1),
        &opts(8),
    );
    let t = tags(&out.views);
    let ack = t.iter().position(|s| s.starts_with("preview")).unwrap();
    assert_eq!(t[0], "starting");
    assert!(
        t[1..ack].iter().all(|s| s == "starting WARN"),
        "the warning stays up until a button: {t:?}"
    );
    assert!(ack >= 2, "{t:?}");
    assert_eq!(
        t[ack..],
        ["preview 0/1", "capture 1/1", "analysing 1", "results"]
    );
    // What the warning screen says.
    let View::Starting { checks } = &out.views[1] else {
        unreachable!()
    };
    let g = check(checks, "Gallery");
    assert_eq!(g.state, CheckState::Warning);
    assert_eq!(g.detail, "configured one refused: altered or corrupted");
    let using = check(checks, "Using");
    assert_eq!(using.state, CheckState::Ok);
    assert_eq!(using.detail, "last good ref A: 6 cases");
    // The results are computed on the last good gallery, and say which one.
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!(basis.gallery_version, "ref A");
    assert_eq!(basis.reference_cases, 6);
    assert_eq!(out.report.analyses, 1);
    // The refused file did not replace the last good copy.
    let kept = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), good.to_bytes());

    // The warning screen draws (colour and monochrome) with the WARN line visible.
    for (w, h) in [(240, 240), (128, 64)] {
        let size = Size::new(w, h);
        let mut warn = PngDisplay::new(w, h);
        ui::draw(&out.views[1], &Layout::new(size), &mut warn).unwrap();
        let mut ok_view = out.views[1].clone();
        if let View::Starting { checks } = &mut ok_view {
            checks.iter_mut().for_each(|c| c.state = CheckState::Ok);
        }
        let mut ok = PngDisplay::new(w, h);
        ui::draw(&ok_view, &Layout::new(size), &mut ok).unwrap();
        assert_ne!(warn.pixels(), ok.pixels(), "{w}x{h}");
    }
}

#[test]
fn every_refusal_falls_back_to_the_last_good_copy() {
    let id = device_embedder_id();
    for (what, reason, damage) in corruptions() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = device_config(tmp.path());
        let good = make_gallery(2, "ref B", 4, 8, &id);
        good.save(&cfg.gallery).unwrap();
        let opts = LoadOptions {
            public_key: None,
            embedder_id: Some(id.clone()),
        };
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        assert!(choice.refused.is_none(), "{what}");
        assert!(choice.gallery.is_ok(), "{what}");

        damage(&cfg.gallery);
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        assert_eq!(choice.refused.as_deref(), Some(reason), "{what}");
        let g = choice.gallery.expect(what);
        assert_eq!(g.content_hash(), good.content_hash(), "{what}");
        // The last good copy is untouched and still verifies.
        let again = LastGood::new(&cfg.state_dir).load(&opts).unwrap().unwrap();
        assert_eq!(again.content_hash(), good.content_hash(), "{what}");
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn refused_gallery_without_last_good_copy_is_an_error_screen() {
    let id = device_embedder_id();
    for (what, reason, damage) in corruptions() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = device_config(tmp.path());
        make_gallery(3, "ref C", 2, 4, &id)
            .save(&cfg.gallery)
            .unwrap();
        damage(&cfg.gallery);
        let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
        let err = choice.gallery.expect_err(what);
        assert!(
            err.starts_with(&format!("refused ({reason}), no last good copy")),
            "{what}: {err}"
        );
        assert!(choice.refused.is_none());
        assert!(
            files_in(&cfg.state_dir)
                .iter()
                .all(|f| !f.starts_with("last-good")),
            "{what}: nothing is kept from a refused gallery"
        );
    }
    // Through the device: the error screen, no preview, no analysis.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = device_config(tmp.path());
    std::fs::write(&cfg.gallery, b"GCAMGAL\0").unwrap();
    let cam = face_camera();
    let out = run(cam, analyzer_for(&cfg), &[(2, Capture)], &ctx(1), &opts(5));
    assert_eq!(tags(&out.views), ["starting", "error GalleryRefused"]);
    let detail = error_detail(&out.views[1]);
    assert!(
        detail.starts_with("Gallery: refused (truncated), no last good copy"),
        "{detail}"
    );
    assert_eq!(out.report.analyses, 0);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn signed_gallery_tampered_or_unsigned_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = device_config(tmp.path());
    let (secret, public) = (tmp.path().join("key.pem"), tmp.path().join("key.pub"));
    gallery::write_keypair(&secret, &public).unwrap();
    let key = gallery::read_signing_key(&secret).unwrap();
    cfg.gallery_public_key = Some(public.clone());
    let id = device_embedder_id();
    let good = make_gallery(4, "signed ref", 3, 9, &id);
    good.save(&cfg.gallery).unwrap();
    gallery::sign(&cfg.gallery, &key).unwrap();
    let load = |cfg: &Config| gestaltcam::setup::load_device_gallery(cfg, Some(&id));

    let c = load(&cfg);
    assert!(c.refused.is_none() && c.gallery.is_ok());
    let copy = LastGood::new(&cfg.state_dir).current().unwrap().unwrap();
    assert!(
        gallery::sig_path(&copy).exists(),
        "the signature is kept with the copy"
    );

    // Tampered after signing (a valid content hash, but not what was signed).
    let tampered = make_gallery(40, "signed ref", 3, 9, &id);
    let sig = std::fs::read(gallery::sig_path(&cfg.gallery)).unwrap();
    tampered.save(&cfg.gallery).unwrap();
    std::fs::write(gallery::sig_path(&cfg.gallery), &sig).unwrap();
    let c = load(&cfg);
    assert_eq!(c.refused.as_deref(), Some("bad signature"));
    assert_eq!(c.gallery.unwrap().content_hash(), good.content_hash());

    // Unsigned.
    std::fs::remove_file(gallery::sig_path(&cfg.gallery)).unwrap();
    let c = load(&cfg);
    assert_eq!(c.refused.as_deref(), Some("not signed"));
    assert_eq!(c.gallery.unwrap().content_hash(), good.content_hash());

    // The last good copy is re-verified the same way: tampering with it is refused too.
    let mut b = std::fs::read(&copy).unwrap();
    let n = b.len();
    b[n - 1] ^= 1;
    std::fs::write(&copy, &b).unwrap();
    let c = load(&cfg);
    let err = c.gallery.unwrap_err();
    assert!(
        err.starts_with("refused (not signed), last good copy refused too (bad signature)"),
        "{err}"
    );

    // Through the device, without any last good copy: the screen says why.
    let fresh = Config {
        state_dir: tmp.path().join("fresh-state"),
        ..cfg.clone()
    };
    let mut analyzer = analyzer_for(&fresh);
    let checks = analyzer.self_test();
    assert_eq!(check(&checks, "Gallery").state, CheckState::Failed);
    let cam = face_camera();
    let out = run(cam, analyzer, &[(2, Capture)], &ctx(1), &opts(4));
    assert_eq!(tags(&out.views), ["starting", "error GalleryRefused"]);
    let detail = error_detail(&out.views[1]);
    assert!(detail.contains("not signed"), "{detail}");
}

#[test]
fn unwritable_state_dir_does_not_stop_the_device() {
    // The state folder cannot be created (full or read-only disk): the configured gallery is
    // still used, only the last good copy is missing, and the log says so.
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = device_config(tmp.path());
    std::fs::write(tmp.path().join("blocked"), b"a file").unwrap();
    cfg.state_dir = tmp.path().join("blocked/state");
    let id = device_embedder_id();
    let good = make_gallery(6, "ref D", 2, 4, &id);
    good.save(&cfg.gallery).unwrap();
    logs::start();
    let choice = gestaltcam::setup::load_device_gallery(&cfg, Some(&id));
    assert!(choice.refused.is_none());
    assert_eq!(choice.gallery.unwrap().content_hash(), good.content_hash());
    let l = logs::from("gestaltcam::setup");
    assert!(
        l.iter().any(|(lv, m)| *lv == log::Level::Warn
            && m.starts_with("cannot keep a last good copy of the gallery")),
        "{l:?}"
    );
}
