use super::*;

struct Made {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    file: PathBuf,
    key: SigningKey,
}

/// A bundle of a 200 kB "gallery" (more than three read chunks), an HPO file and a fragment.
fn made() -> Made {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("g.gmg"), &big).unwrap();
    std::fs::write(dir.join("hp.obo"), b"format-version: 1.2\n").unwrap();
    std::fs::write(dir.join("frag.toml"), b"top_k = 5\n").unwrap();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let input = MakeInput {
        name: "GMDB 2026-06".into(),
        version: "2026.06.1".into(),
        created: "2026-06-01T09:00:00Z".into(),
        min_device_version: "0.1.0".into(),
        files: vec![
            (
                EntryKind::Gallery,
                "galleries/g.gmg".into(),
                dir.join("g.gmg"),
            ),
            (EntryKind::Hpo, "hpo/hp.obo".into(), dir.join("hp.obo")),
            (
                EntryKind::Config,
                "config.toml".into(),
                dir.join("frag.toml"),
            ),
        ],
    };
    let file = dir.join("b.gcb");
    make(&input, &key, &file).unwrap();
    Made {
        _tmp: tmp,
        dir,
        file,
        key,
    }
}

#[test]
fn a_made_bundle_verifies_and_extracts_byte_for_byte() {
    let m = made();
    let out = m.dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let v = verify_file(&m.file, &[m.key.verifying_key()], Some(&out)).unwrap();
    assert_eq!(v.manifest.name, "GMDB 2026-06");
    assert_eq!(v.manifest.entries.len(), 3);
    for (rel, src) in [
        ("galleries/g.gmg", "g.gmg"),
        ("hpo/hp.obo", "hp.obo"),
        ("config.toml", "frag.toml"),
    ] {
        assert_eq!(
            std::fs::read(out.join(rel)).unwrap(),
            std::fs::read(m.dir.join(src)).unwrap(),
            "{rel}"
        );
    }
    let (peeked, trailer) = peek(&m.file).unwrap();
    assert_eq!(peeked, v.manifest);
    assert_eq!(trailer.public_key, m.key.verifying_key().to_bytes());
    // Extracting again into the same folder never writes through the existing files.
    assert!(matches!(
        verify_file(&m.file, &[m.key.verifying_key()], Some(&out)),
        Err(BundleError::Write { .. })
    ));
}

#[test]
fn every_flipped_byte_is_refused() {
    let m = made();
    let good = std::fs::read(&m.file).unwrap();
    let keys = [m.key.verifying_key()];
    let len = good.len();
    // The header, the manifest, each entry, the key and the signature.
    for at in [3, 10, 40, 300, 1_000, 150_000, len - 200, len - 90, len - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let r = read_bundle(&mut bad.as_slice(), &m.file, Some(len as u64), &keys, None);
        assert!(r.is_err(), "byte {at} flipped and still accepted");
    }
}

#[test]
fn a_truncated_copy_is_refused_as_truncated_before_anything_is_written() {
    let m = made();
    let good = std::fs::read(&m.file).unwrap();
    let keys = [m.key.verifying_key()];
    for cut in [5, 100, 120_000, good.len() - 1] {
        let short = &good[..cut];
        let out = m.dir.join(format!("out{cut}"));
        std::fs::create_dir(&out).unwrap();
        let err = read_bundle(
            &mut &short[..],
            &m.file,
            Some(cut as u64),
            &keys,
            Some(&out),
        )
        .unwrap_err();
        assert!(
            matches!(err, BundleError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().starts_with("truncated"), "{err}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "cut {cut}");
        // Without the length (a pipe) it is found at the end of the stream instead.
        let err = read_bundle(&mut &short[..], &m.file, None, &keys, None).unwrap_err();
        assert!(
            matches!(err, BundleError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    let mut long = good.clone();
    long.push(0);
    let err = read_bundle(&mut long.as_slice(), &m.file, None, &keys, None).unwrap_err();
    assert!(matches!(err, BundleError::TrailingData { .. }), "{err}");
}

#[test]
fn another_key_is_untrusted_and_named() {
    let m = made();
    let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    let err = verify_file(&m.file, &[other], None).unwrap_err();
    assert!(matches!(err, BundleError::UntrustedKey { .. }), "{err}");
    assert!(err
        .to_string()
        .contains(&fingerprint(&m.key.verifying_key().to_bytes())));
    assert_eq!(
        err.clinician_text(),
        "Update refused: not signed by your programme"
    );
}

#[test]
fn unsafe_paths_are_refused() {
    let entry = |kind, path: &str| Entry {
        kind,
        path: path.into(),
        size: 1,
        sha256: "0".repeat(64),
    };
    for (kind, path) in [
        (EntryKind::Gallery, "../etc/passwd"),
        (EntryKind::Gallery, "/etc/passwd"),
        (EntryKind::Gallery, "galleries/../../x"),
        (EntryKind::Gallery, "galleries/a/b.gmg"),
        (EntryKind::Gallery, "models/g.gmg"),
        (EntryKind::Hpo, "hpo/.hidden"),
        (EntryKind::Hpo, "hpo\\x"),
        (EntryKind::Config, "hpo/config.toml"),
        (EntryKind::ModelManifest, "models/other.toml"),
        (EntryKind::Model, "models/MANIFEST.toml"),
        (EntryKind::Hpo, "hpo/a b"),
        (EntryKind::Hpo, ""),
    ] {
        let err = check_entry(&entry(kind, path)).unwrap_err();
        assert!(
            matches!(err, BundleError::UnsafePath { .. }),
            "{path}: {err}"
        );
    }
    check_entry(&entry(EntryKind::Gallery, "galleries/gmdb-2026.06.gmg")).unwrap();
    check_entry(&entry(EntryKind::ModelManifest, "models/MANIFEST.toml")).unwrap();
}

#[test]
fn created_must_be_rfc3339() {
    for ok in ["2026-06-01T09:00:00Z", "2026-06-01T09:00:00.123+02:00"] {
        check_rfc3339(ok).unwrap();
    }
    for bad in [
        "2026-06-01",
        "2026-13-01T09:00:00Z",
        "yesterday",
        "2026-06-01T09:00:00",
    ] {
        assert!(check_rfc3339(bad).is_err(), "{bad}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_input_is_not_bundled() {
    let m = made();
    let link = m.dir.join("link.gmg");
    std::os::unix::fs::symlink(m.dir.join("g.gmg"), &link).unwrap();
    let err = hash_file(&link).unwrap_err();
    assert!(matches!(err, BundleError::Input { .. }), "{err}");
}
