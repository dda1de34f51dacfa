//! Gallery library tests on synthetic data with a small fake embedder (the real-model dev-set
//! check is the integrator's).

use gestaltcam::gallery::*;
use gestaltcam::lab::*;
use gestaltcam::manifest::Metric;
use gestaltcam::pipeline::{FaceEmbedding, PhotoEmbedder, UnusablePhotoError};
use gestaltcam::ui::view::Band;
use gestaltcam::vision::Face;
use image::RgbImage;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ helpers

use crate::common;
use common::Rng;

fn meta(metric: Metric, storage: Storage) -> GalleryMeta {
    GalleryMeta {
        embedder_id: "fake-embedder-1".into(),
        metric,
        name: "test-gallery 0.1".into(),
        created_unix: 1_700_000_000,
        threshold: None,
        storage,
    }
}

fn labels(n: usize) -> Vec<Label> {
    (0..n)
        .map(|i| Label {
            name: format!("syndrome {i}"),
            omim: (i % 2 == 0).then(|| format!("{}", 100000 + i)),
            genes: if i % 3 == 0 {
                vec![format!("GENE{i}"), "X".into()]
            } else {
                vec![]
            },
        })
        .collect()
}

/// `n_cases` random cases over `n_labels` labels (every label gets at least one).
fn random_gallery(
    seed: u64,
    n_labels: usize,
    n_cases: usize,
    dim: usize,
    metric: Metric,
    storage: Storage,
) -> Gallery {
    let mut rng = Rng(seed);
    let cases = (0..n_cases)
        .map(|i| Case {
            case_id: format!("case-{i}"),
            subject: format!("subj-{}", i / 2),
            label: if i < n_labels {
                i as u32
            } else {
                rng.below(n_labels as u64) as u32
            },
        })
        .collect();
    let emb = rng.vec(n_cases * dim);
    Gallery::from_parts(meta(metric, storage), labels(n_labels), cases, dim, emb).unwrap()
}

type Clustered = (Vec<Vec<f32>>, Vec<(usize, Vec<f32>)>);

/// Clustered data: each label has a centre, cases/probes are centre + noise.
fn clustered(seed: u64, n_labels: usize, per_label: usize, dim: usize, noise: f32) -> Clustered {
    let mut rng = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..n_labels).map(|_| rng.vec(dim)).collect();
    let mut items = Vec::new();
    for (l, c) in centres.iter().enumerate() {
        for _ in 0..per_label {
            items.push((l, c.iter().map(|x| x + noise * rng.f32()).collect()));
        }
    }
    (centres, items)
}

fn rehash(bytes: &mut [u8]) {
    assert!(
        gestaltcam::gallery::rehash(bytes),
        "a gallery file has a header"
    );
}

// A fake embedder: the embedding is the first DIM pixels' red channel (centred); a pure red
// top-left pixel means "no face", pure green "two faces".
const DIM: usize = 8;
struct FakeEmbedder;
impl PhotoEmbedder for FakeEmbedder {
    fn embedder_id(&self) -> String {
        "fake-embedder-1".into()
    }
    fn embedding_size(&self) -> usize {
        DIM
    }
    fn metric(&self) -> Metric {
        Metric::Cosine
    }
    fn embed_photo(&self, photo: &RgbImage) -> Result<FaceEmbedding, UnusablePhotoError> {
        let p0 = photo.get_pixel(0, 0).0;
        if p0 == [255, 0, 0] {
            return Err(UnusablePhotoError::NoFace);
        }
        if p0 == [0, 255, 0] {
            return Err(UnusablePhotoError::SeveralFaces { count: 2 });
        }
        let vector = photo
            .pixels()
            .take(DIM)
            .map(|p| p.0[0] as f32 / 255.0 - 0.5)
            .collect();
        Ok(FaceEmbedding {
            vector,
            face: Face {
                bbox: [0.0, 0.0, 4.0, 4.0],
                score: 1.0,
                landmarks: [[0.0; 2]; 5],
            },
            faces_seen: 1,
        })
    }
}

fn write_png(path: &Path, reds: &[u8], first: [u8; 3]) {
    let mut img = RgbImage::new(4, 4);
    for (i, p) in img.pixels_mut().enumerate() {
        p.0 = [reds[i % reds.len()], 10, 20];
    }
    img.put_pixel(0, 0, image::Rgb(first));
    img.save(path).unwrap();
}

// ------------------------------------------------------------------ file format

#[test]
fn roundtrip_f32_and_int8() {
    let dir = tempfile::tempdir().unwrap();
    for storage in [Storage::F32, Storage::Int8] {
        for metric in [Metric::Cosine, Metric::Euclidean] {
            let mut g = random_gallery(1, 7, 40, 20, metric, storage);
            g.set_threshold(Some(0.42)).unwrap();
            let path = dir.path().join(format!("g-{storage:?}-{metric:?}.gallery"));
            g.save(&path).unwrap();
            let back = Gallery::load(&path).unwrap();
            assert_eq!(back, g, "{storage:?} {metric:?}");
            assert_eq!(back.to_bytes(), std::fs::read(&path).unwrap());
            let h = back.header();
            assert_eq!((h.label_count, h.case_count, h.embedding_size), (7, 40, 20));
            assert_eq!(h.threshold, Some(0.42));
            assert_eq!(h.storage, storage);
            assert_eq!(
                back.labels()[0].genes,
                vec!["GENE0".to_string(), "X".into()]
            );
            assert_eq!(back.labels()[1].omim, None);
        }
    }
    // int8 is about 4x smaller than f32.
    let f = random_gallery(1, 7, 400, 128, Metric::Cosine, Storage::F32);
    let q = f.to_storage(Storage::Int8);
    assert!(q.embedding_bytes() * 3 < f.embedding_bytes());
    // Dequantised vectors are close to the originals.
    for i in 0..f.len() {
        let (a, b) = (f.vector(i), q.vector(i));
        let err: f32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "case {i}: max abs error {err}");
    }
}

#[test]
fn truncated_files_give_typed_errors_never_panic() {
    for storage in [Storage::F32, Storage::Int8] {
        let g = random_gallery(2, 3, 6, 5, Metric::Cosine, storage);
        let bytes = g.to_bytes();
        for cut in 0..bytes.len() {
            let err = Gallery::from_bytes(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, GalleryError::Truncated { .. }),
                "cut at {cut}: {err}"
            );
            assert!(err.to_string().contains("truncated"));
        }
        // Extra bytes are refused too.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Gallery::from_bytes(&longer),
            Err(GalleryError::TrailingData { extra: 1 })
        ));
    }
    // And from a file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.gallery");
    let bytes = random_gallery(2, 3, 6, 5, Metric::Cosine, Storage::F32).to_bytes();
    std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    let e = Gallery::load(&p).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn garbage_with_valid_hash_never_panics() {
    // Random bytes after a valid fixed header, rehashed so they reach the body parser.
    let g = random_gallery(3, 3, 6, 5, Metric::Euclidean, Storage::Int8);
    let good = g.to_bytes();
    let mut rng = Rng(99);
    for round in 0..500 {
        let mut b = good.clone();
        for _ in 0..1 + round % 8 {
            let i = 12 + rng.below((b.len() - 12) as u64) as usize;
            if (40..80).contains(&i) {
                continue;
            }
            b[i] = rng.next() as u8;
        }
        rehash(&mut b);
        let _ = Gallery::from_bytes(&b); // must not panic or over-allocate
    }
    // A huge label count with a valid hash: refused before allocating.
    let mut b = good.clone();
    b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    rehash(&mut b);
    let e = Gallery::from_bytes(&b).unwrap_err();
    assert!(matches!(e, GalleryError::Malformed(_)), "{e}");
    // A label index out of range with a valid hash.
    let mut b = good;
    b[20..24].copy_from_slice(&0u32.to_le_bytes()); // zero labels, cases still point at them
    rehash(&mut b);
    assert!(Gallery::from_bytes(&b).is_err());
}

#[test]
fn label_index_out_of_range_is_refused() {
    let g = random_gallery(4, 2, 2, 3, Metric::Euclidean, Storage::F32);
    let mut b = g.to_bytes();
    // Cases are at the end before the embeddings: case-1's label index is the 4 bytes before
    // 2 × 3 f32 = 24 bytes of embeddings.
    let at = b.len() - 24 - 4;
    assert_eq!(
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()),
        g.cases()[1].label
    );
    b[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
    rehash(&mut b);
    let e = Gallery::from_bytes(&b).unwrap_err();
    assert!(
        matches!(
            e,
            GalleryError::LabelIndexOutOfRange {
                index: 7,
                count: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn flipped_byte_is_a_hash_error() {
    let g = random_gallery(5, 4, 10, 6, Metric::Cosine, Storage::F32);
    let bytes = g.to_bytes();
    for i in (80..bytes.len()).step_by(7).chain([16, 20, 28, 32]) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        let e = Gallery::from_bytes(&b).unwrap_err();
        assert!(
            matches!(e, GalleryError::HashMismatch { .. }),
            "byte {i}: {e}"
        );
        assert!(e.to_string().contains("altered"));
    }
}

#[test]
fn unknown_version_names_itself() {
    let mut b = random_gallery(6, 2, 2, 3, Metric::Cosine, Storage::F32).to_bytes();
    b[8..10].copy_from_slice(&7u16.to_le_bytes());
    let e = Gallery::from_bytes(&b).unwrap_err();
    assert!(matches!(
        e,
        GalleryError::UnsupportedVersion {
            found: 7,
            supported: 1
        }
    ));
    assert!(e.to_string().contains("version 7"), "{e}");
    let e = Gallery::from_bytes(b"PK\x03\x04 not a gallery at all").unwrap_err();
    assert!(matches!(e, GalleryError::BadMagic));
}

#[test]
fn other_embedder_is_refused_naming_both_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.gallery");
    random_gallery(7, 2, 4, 3, Metric::Cosine, Storage::F32)
        .save(&p)
        .unwrap();
    let g = Gallery::load(&p).unwrap();
    g.check_embedder("fake-embedder-1").unwrap();
    let e = g.check_embedder("arcface-r100-abc").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("fake-embedder-1") && msg.contains("arcface-r100-abc"),
        "{msg}"
    );
    let opts = LoadOptions {
        embedder_id: Some("other".into()),
        ..Default::default()
    };
    assert!(matches!(
        Gallery::load_with(&p, &opts),
        Err(GalleryError::EmbedderMismatch { .. })
    ));
}

#[test]
fn signatures() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.gallery");
    random_gallery(8, 3, 6, 4, Metric::Cosine, Storage::Int8)
        .save(&p)
        .unwrap();
    let (sk_path, pk_path) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
    let vk = write_keypair(&sk_path, &pk_path).unwrap();
    assert!(
        write_keypair(&sk_path, &pk_path).is_err(),
        "must not overwrite a secret key"
    );
    let sk = read_signing_key(&sk_path).unwrap();
    assert_eq!(read_verifying_key(&pk_path).unwrap(), vk);
    let opts = LoadOptions {
        public_key: Some(vk),
        ..Default::default()
    };

    // Unsigned → refused.
    let e = Gallery::load_with(&p, &opts).unwrap_err();
    assert!(matches!(e, GalleryError::Unsigned { .. }), "{e}");
    // Signed → accepted.
    let sig = sign(&p, &sk).unwrap();
    assert_eq!(sig, sig_path(&p));
    assert_eq!(sig.file_name().unwrap(), "g.gallery.sig");
    verify(&p, &vk).unwrap();
    Gallery::load_with(&p, &opts).unwrap();
    // Wrong key → refused.
    let other = generate_keypair().verifying_key();
    let e = Gallery::load_with(
        &p,
        &LoadOptions {
            public_key: Some(other),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, GalleryError::BadSignature { .. }), "{e}");
    // Raw/hex keys work too.
    let hex_pk = dir.path().join("k.hex");
    std::fs::write(&hex_pk, hex::encode(vk.to_bytes())).unwrap();
    assert_eq!(read_verifying_key(&hex_pk).unwrap(), vk);
    let raw_sk = dir.path().join("k.raw");
    std::fs::write(&raw_sk, sk.to_bytes()).unwrap();
    assert_eq!(read_signing_key(&raw_sk).unwrap().verifying_key(), vk);
    // Gallery changed after signing (recalibrated) → refused until re-signed.
    let mut g = Gallery::load(&p).unwrap();
    g.set_threshold(Some(0.3)).unwrap();
    g.save(&p).unwrap();
    assert!(matches!(
        verify(&p, &vk),
        Err(GalleryError::BadSignature { .. })
    ));
    sign(&p, &sk).unwrap();
    verify(&p, &vk).unwrap();
    // A mangled signature file.
    std::fs::write(&sig, "gestaltcam-gallery-signature v1\nzz\n").unwrap();
    assert!(matches!(
        verify(&p, &vk),
        Err(GalleryError::SigFormat { .. })
    ));
    // A bad key file.
    std::fs::write(&raw_sk, "hello").unwrap();
    assert!(matches!(
        read_signing_key(&raw_sk),
        Err(GalleryError::Key { .. })
    ));
}

#[test]
fn nan_vectors_are_refused() {
    let mut emb = vec![0.5f32; 6];
    emb[4] = f32::NAN;
    let cases = vec![
        Case {
            case_id: "a".into(),
            subject: "a".into(),
            label: 0,
        },
        Case {
            case_id: "b".into(),
            subject: "b".into(),
            label: 0,
        },
    ];
    let e = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(1),
        cases.clone(),
        3,
        emb,
    )
    .unwrap_err();
    assert!(
        matches!(&e, GalleryError::NonFinite { case } if case == "b"),
        "{e}"
    );
    // In a file with a valid hash.
    let g = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(1),
        cases.clone(),
        3,
        vec![0.5; 6],
    )
    .unwrap();
    let mut b = g.to_bytes();
    let n = b.len();
    b[n - 4..].copy_from_slice(&f32::INFINITY.to_le_bytes());
    rehash(&mut b);
    assert!(matches!(
        Gallery::from_bytes(&b),
        Err(GalleryError::NonFinite { .. })
    ));
    // int8: a NaN scale.
    let g = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::Int8),
        labels(1),
        cases,
        3,
        vec![0.5; 6],
    )
    .unwrap();
    let mut b = g.to_bytes();
    let n = b.len();
    b[n - 7..n - 3].copy_from_slice(&f32::NAN.to_le_bytes());
    rehash(&mut b);
    assert!(matches!(
        Gallery::from_bytes(&b),
        Err(GalleryError::NonFinite { .. })
    ));
}

#[test]
fn empty_gallery_is_refused() {
    let e = Gallery::from_parts(
        meta(Metric::Cosine, Storage::F32),
        labels(1),
        vec![],
        4,
        vec![],
    )
    .unwrap_err();
    assert!(matches!(e, GalleryError::EmptyGallery));
    let mut b = random_gallery(9, 1, 1, 2, Metric::Cosine, Storage::F32).to_bytes();
    b[24..28].copy_from_slice(&0u32.to_le_bytes());
    rehash(&mut b);
    assert!(matches!(
        Gallery::from_bytes(&b),
        Err(GalleryError::EmptyGallery)
    ));
}

// ------------------------------------------------------------------ atomic write

#[test]
fn interrupted_write_leaves_the_old_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.gallery");
    let old = random_gallery(10, 3, 9, 4, Metric::Cosine, Storage::F32);
    old.save(&p).unwrap();
    let new = random_gallery(11, 5, 30, 4, Metric::Cosine, Storage::F32);
    let new_bytes = new.to_bytes();
    for fail_after in [0, 1, 50, new_bytes.len() / 2, new_bytes.len() - 1] {
        let r = write_atomic_via(&p, &new_bytes, |f, b| {
            use std::io::Write;
            f.write_all(&b[..fail_after])?;
            Err(std::io::Error::other("power cut"))
        });
        assert!(matches!(r, Err(GalleryError::Write { .. })));
        assert_eq!(
            Gallery::load(&p).unwrap(),
            old,
            "fail after {fail_after} bytes"
        );
        // The failed writer's temp file was removed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
    // A temp file left by a real power cut is ignored by loading and cleaned by the next save.
    let stale = dir.path().join(".g.gallery.tmp-1234-5");
    std::fs::write(&stale, &new_bytes[..100]).unwrap();
    assert_eq!(Gallery::load(&p).unwrap(), old);
    new.save(&p).unwrap();
    assert!(!stale.exists());
    assert_eq!(Gallery::load(&p).unwrap(), new);
    std::fs::write(&stale, b"x").unwrap();
    assert_eq!(remove_stale_temp_files(&p).unwrap(), 1);
}

// ------------------------------------------------------------------ labels

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn plain_label_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "l.csv",
        "image,label,omim,genes,subject\na.png,CdLS,122470,NIPBL;SMC1A,p1\nb.png,CdLS,,HDAC8,p1\nc.png,Williams,194050,,p2\n",
    );
    let s = read_label_csv(&p).unwrap();
    assert_eq!(s.labels.len(), 2);
    assert_eq!(s.labels[0].name, "CdLS");
    assert_eq!(s.labels[0].omim.as_deref(), Some("122470"));
    assert_eq!(s.labels[0].genes, vec!["HDAC8", "NIPBL", "SMC1A"]);
    assert_eq!(s.cases[1].case_id, "b.png");
    assert_eq!(s.cases[1].subject, "p1");
    assert_eq!(s.cases[2].label, 1);

    let p = write(
        dir.path(),
        "dup.csv",
        "image,label,case_id\na.png,X,c1\nb.png,X,c2\nc.png,Y,c1\n",
    );
    let e = read_label_csv(&p).unwrap_err();
    assert!(
        matches!(&e, GalleryError::DuplicateCase { line: 4, first_line: 2, case_id, .. } if case_id == "c1"),
        "{e}"
    );
    assert!(e.to_string().contains("dup.csv"));

    let p = write(dir.path(), "nolabel.csv", "image,syn\na.png,X\n");
    let e = read_label_csv(&p).unwrap_err();
    assert!(
        matches!(&e, GalleryError::MissingColumn { column, .. } if column == "label"),
        "{e}"
    );
    let p = write(dir.path(), "empty.csv", "");
    assert!(matches!(
        read_label_csv(&p),
        Err(GalleryError::LabelEmpty { .. })
    ));
    let p = write(dir.path(), "header-only.csv", "image,label\n");
    assert!(matches!(
        read_label_csv(&p),
        Err(GalleryError::LabelEmpty { .. })
    ));
    let p = write(dir.path(), "omim.csv", "image,label,omim\na,X,1\nb,X,2\n");
    let e = read_label_csv(&p).unwrap_err();
    assert!(matches!(e, GalleryError::LabelLine { line: 3, .. }), "{e}");
    let p = write(dir.path(), "ragged.csv", "image,label\na,X\nb\n");
    assert!(matches!(
        read_label_csv(&p),
        Err(GalleryError::LabelLine { line: 3, .. })
    ));
}

/// One reader for every labelled set: a dev-set style file (`identity`, `role`, no `subject`)
/// reads with the person as subject and splits by role; a syndrome file without `subject`
/// makes each photo its own patient.
#[test]
fn labelled_sets_with_roles_and_the_subject_rule() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "dev.csv",
        "image,identity,role\nann/1.jpg,ann,gallery\nann/2.jpg,ann,probe\nbob/1.jpg,bob,gallery\nann/3.jpg,ann,probe\n",
    );
    let all = read_label_csv(&p).unwrap();
    assert_eq!(all.labels.len(), 2);
    let subjects: Vec<&str> = all.cases.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["ann", "ann", "bob", "ann"]);
    let probes = all.with_role("probe", &p).unwrap();
    assert_eq!(probes.labels, all.labels, "a role keeps every label");
    let names: Vec<&str> = probes.cases.iter().map(|c| probes.label_name(c)).collect();
    assert_eq!(names, ["ann", "ann"]);
    assert_eq!(probes.cases[1].image, std::path::Path::new("ann/3.jpg"));
    let e = all.with_role("test", &p).unwrap_err();
    assert!(e.to_string().contains("role `test`"), "{e}");
    assert_eq!(LabelSet::root_of(&p), dir.path());

    let p = write(dir.path(), "syn.csv", "image,syndrome\na.png,X\nb.png,X\n");
    let s = read_label_csv(&p).unwrap();
    let subjects: Vec<&str> = s.cases.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["a.png", "b.png"]);
    assert!(s.cases.iter().all(|c| c.role.is_none()));
}

#[test]
fn gmdb_files() {
    let dir = tempfile::tempdir().unwrap();
    let syn = write(
        dir.path(),
        "gmdb_syndromes_v1.1.0.tsv",
        "syndrome_id\tsyndrome_name\tOMIM\n1\tCornelia de Lange syndrome\t122470\n2\tWilliams-Beuren syndrome\t194050\n3\tKabuki syndrome\t\n",
    );
    let split = write(
        dir.path(),
        "gmdb_train_images_v1.1.0.csv",
        "image_id, subject, label\n101, 11, 2\n102, 11, 2\n103, 12, 1\n",
    );
    let s = read_gmdb(&split, &syn, "{image_id}.jpg").unwrap();
    assert_eq!(s.labels.len(), 2, "only syndromes with cases");
    assert_eq!(s.labels[0].name, "Williams-Beuren syndrome");
    assert_eq!(s.labels[1].omim.as_deref(), Some("122470"));
    assert_eq!(s.cases[2].image, PathBuf::from("103.jpg"));
    assert_eq!(s.cases[0].subject, "11");

    let split = write(
        dir.path(),
        "bad.csv",
        "image_id,subject,label\n101,11,2\n102,11,9\n",
    );
    let e = read_gmdb(&split, &syn, "{image_id}.jpg").unwrap_err();
    assert!(
        matches!(&e, GalleryError::UnknownLabelId { line: 3, label_id, .. } if label_id == "9"),
        "{e}"
    );
    let split = write(dir.path(), "nosub.csv", "image_id,label\n101,2\n");
    let e = read_gmdb(&split, &syn, "{image_id}.jpg").unwrap_err();
    assert!(
        matches!(&e, GalleryError::MissingColumn { column, .. } if column == "subject"),
        "{e}"
    );
    let split = write(
        dir.path(),
        "dup.csv",
        "image_id,subject,label\n101,11,2\n101,12,1\n",
    );
    assert!(matches!(
        read_gmdb(&split, &syn, "{image_id}.jpg"),
        Err(GalleryError::DuplicateCase { line: 3, .. })
    ));
}

// ------------------------------------------------------------------ build

#[test]
fn build_skips_bad_images_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_png(
        &root.join("a1.png"),
        &[10, 200, 30, 90, 120, 40, 250, 5],
        [1, 2, 3],
    );
    write_png(
        &root.join("a2.png"),
        &[12, 190, 35, 80, 110, 45, 240, 9],
        [1, 2, 3],
    );
    write_png(
        &root.join("b1.png"),
        &[250, 5, 200, 10, 30, 230, 20, 100],
        [1, 2, 3],
    );
    write_png(&root.join("noface.png"), &[1], [255, 0, 0]);
    write_png(&root.join("two.png"), &[1], [0, 255, 0]);
    std::fs::write(root.join("broken.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let csv = write(
        root,
        "labels.csv",
        "image,label,subject\na1.png,A,s1\na2.png,A,s1\nb1.png,B,s2\nmissing.png,B,s3\nnoface.png,C,s4\ntwo.png,C,s5\nbroken.png,B,s6\n",
    );
    let set = read_label_csv(&csv).unwrap();
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (calls, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let progress = |done: usize, total: usize| {
        assert_eq!(total, 7);
        calls.fetch_add(1, Ordering::Relaxed);
        most.fetch_max(done, Ordering::Relaxed);
    };
    let opts = BuildOptions {
        name: "t".into(),
        threads: 3,
        ..Default::default()
    };
    let (g, s) = build_gallery(&FakeEmbedder, &set, root, &opts, Some(&progress)).unwrap();
    // Once per image, from whichever worker embedded it; the cases stay in file order.
    assert_eq!((calls.into_inner(), most.into_inner()), (7, 7));
    assert_eq!((s.listed, s.used, s.labels), (7, 3, 2));
    assert_eq!(s.skipped.len(), 4);
    let reason = |id: &str| {
        s.skipped
            .iter()
            .find(|x| x.case_id == id)
            .unwrap()
            .reason
            .clone()
    };
    assert_eq!(reason("missing.png"), SkipReason::MissingFile);
    assert_eq!(reason("noface.png"), SkipReason::NoFace);
    assert_eq!(reason("two.png"), SkipReason::SeveralFaces(2));
    assert!(matches!(reason("broken.png"), SkipReason::Unreadable(_)));
    for k in ["missing-file", "no-face", "several-faces", "unreadable"] {
        assert_eq!(s.skipped_by_reason[k], 1, "{k}");
    }
    assert_eq!(s.labels_without_cases, vec!["C"]);
    assert_eq!(g.embedder_id(), "fake-embedder-1");
    assert_eq!(g.labels().len(), 2);
    assert_eq!(
        g.cases().iter().map(|c| c.label).collect::<Vec<_>>(),
        vec![0, 0, 1]
    );
    // The a2 photo ranks syndrome A first, with a1 or a2 as nearest case.
    let a2 = embed_image(&FakeEmbedder, &root.join("a2.png")).unwrap();
    let r = g.rank(&a2, 2).unwrap();
    assert_eq!(r.matches[0].name, "A");
    assert_eq!(r.matches[0].nearest_case, "a2.png");
    assert!(r.matches[0].distance.abs() < 1e-5);
    assert!(s.to_string().contains("no-face"));
    serde_json::to_string(&s).unwrap();

    // The same images as probes (for evaluate/calibrate), with the same skip reasons.
    let (probes, ps) = embed_probes(&FakeEmbedder, &set, root, 2, None).unwrap();
    assert_eq!((probes.len(), ps.skipped.len()), (3, 4));
    assert_eq!(
        (probes[0].label.as_str(), probes[0].subject.as_str()),
        ("A", "s1")
    );
    let rep = evaluate(&g, &probes, &EvalOptions::default()).unwrap();
    assert_eq!(rep.per_photo.overall[0], 1.0);

    // Nothing usable → error, nothing to save.
    let csv = write(
        root,
        "bad.csv",
        "image,label\nmissing.png,B\nnoface.png,C\n",
    );
    let set = read_label_csv(&csv).unwrap();
    let e = build_gallery(&FakeEmbedder, &set, root, &opts, None).unwrap_err();
    assert!(
        matches!(e, GalleryError::NothingUsable { total: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("missing-file: 1"));
}

// ------------------------------------------------------------------ ranking

fn brute_force(g: &Gallery, q: &[f32]) -> Vec<(usize, f64, usize)> {
    let metric = g.metric();
    let norm = |v: &[f32]| -> Vec<f64> {
        let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        if metric == Metric::Cosine {
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| x / n).collect()
        } else {
            v
        }
    };
    let q = norm(q);
    let mut best = vec![(f64::INFINITY, usize::MAX); g.labels().len()];
    for (i, c) in g.cases().iter().enumerate() {
        let v = norm(&g.vector(i));
        let d = match metric {
            Metric::Cosine => 1.0 - q.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>(),
            Metric::Euclidean => q
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt(),
        };
        let l = c.label as usize;
        if d < best[l].0 {
            best[l] = (d, i);
        }
    }
    let mut out: Vec<(usize, f64, usize)> = best
        .iter()
        .enumerate()
        .map(|(l, b)| (l, b.0, b.1))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

#[test]
fn ranking_matches_brute_force() {
    for (seed, metric, storage, dim) in [
        (20, Metric::Cosine, Storage::F32, 128),
        (21, Metric::Euclidean, Storage::F32, 37),
        (22, Metric::Cosine, Storage::Int8, 64),
        (23, Metric::Euclidean, Storage::Int8, 16),
    ] {
        let g = random_gallery(seed, 25, 600, dim, metric, storage);
        let mut rng = Rng(seed + 100);
        for _ in 0..30 {
            let q = rng.vec(dim);
            let r = g.rank(&q, 10).unwrap();
            let reference = brute_force(&g, &q);
            assert_eq!(r.matches.len(), 10);
            for (m, (l, d, case)) in r.matches.iter().zip(&reference) {
                assert!(
                    (m.distance as f64 - d).abs() < 1e-4,
                    "{metric:?} {storage:?}: {} vs {d}",
                    m.distance
                );
                if m.label != *l {
                    // Only allowed for a near-tie.
                    let other = reference.iter().find(|x| x.0 == m.label).unwrap();
                    assert!(
                        (other.1 - d).abs() < 1e-5,
                        "label order differs beyond a tie"
                    );
                } else {
                    assert_eq!(m.nearest_case, g.cases()[*case].case_id);
                }
            }
            for w in r.matches.windows(2) {
                assert!(w[0].distance <= w[1].distance);
            }
        }
    }
}

#[test]
fn ranking_ties_and_nearest_case_rule() {
    // Label 0: cases far and near; label 1: a case identical to label 2's; k larger than labels.
    let v = |x: f32, y: f32| vec![x, y];
    let cases = [
        ("far0", 0, v(0.0, 5.0)),
        ("near0", 0, v(1.0, 0.1)),
        ("twin1", 1, v(0.0, 1.0)),
        ("twin2", 2, v(0.0, 1.0)),
        ("dup2", 2, v(0.0, 1.0)),
    ];
    let g = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(3),
        cases
            .iter()
            .map(|(id, l, _)| Case {
                case_id: id.to_string(),
                subject: id.to_string(),
                label: *l,
            })
            .collect(),
        2,
        cases.iter().flat_map(|c| c.2.clone()).collect(),
    )
    .unwrap();
    let r = g.rank(&[1.0, 0.0], 10).unwrap();
    assert_eq!(r.matches.len(), 3);
    assert_eq!(
        r.matches[0].nearest_case, "near0",
        "a syndrome scores by its nearest case"
    );
    assert!((r.matches[0].distance - 0.1).abs() < 1e-6);
    // Equal distances: lower label index first; within a label, the first case.
    assert_eq!((r.matches[1].label, r.matches[2].label), (1, 2));
    assert_eq!(r.matches[1].distance, r.matches[2].distance);
    assert_eq!(r.matches[2].nearest_case, "twin2");
    assert_eq!(
        r.matches.iter().map(|m| m.rank).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        r.close_match,
        "uncalibrated galleries never say no close match"
    );
    assert!(r.matches.iter().all(|m| m.band == Band::Uncalibrated));
    // Wrong size / NaN queries.
    assert!(matches!(
        g.rank(&[1.0], 3),
        Err(GalleryError::DimensionMismatch {
            expected: 2,
            found: 1
        })
    ));
    assert!(g.rank(&[f32::NAN, 0.0], 3).is_err());
}

#[test]
fn a_hand_set_threshold_decides_close_match_but_earns_no_band() {
    let mut g = random_gallery(30, 4, 8, 2, Metric::Euclidean, Storage::F32);
    let q = g.vector(3);
    let r = g.rank(&q, 4).unwrap();
    assert!(r.close_match, "uncalibrated: always a close match");
    assert_eq!(r.threshold_photos, None);
    assert!(r.matches.iter().all(|m| m.band == Band::Uncalibrated));
    g.set_threshold(Some(0.5)).unwrap();
    let r = g.rank(&q, 4).unwrap();
    assert!(r.close_match);
    assert_eq!(r.threshold_photos, Some(1));
    assert_eq!(r.matches[0].band, Band::Uncalibrated);
    assert_eq!(r.candidates()[0].nearest_case, "case-3");
    assert!((r.candidates()[0].similarity - 1.0).abs() < 1e-6);
    let far = vec![100.0, 100.0];
    let r = g.rank(&far, 4).unwrap();
    assert!(!r.close_match);
    assert!(r.to_string().contains("NO CLOSE MATCH"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["close_match"], false);
    assert_eq!(json["matches"][0]["band"], "uncalibrated");
    assert_eq!(json["threshold_photos"], 1);
}

#[test]
fn multi_photo_fusion() {
    // 1-d-ish euclidean gallery: A at x=0, B at x=10 (dimension 2, y=0).
    let g = two_label_line();
    // Photos at x=1 and x=9.5: per-label min → A 1, B 0.5 (B first);
    // mean of distances → A (1+9.5)/2=5.25, B (9+0.5)/2=4.75 (B first);
    // mean embedding x=5.25 → A 5.25, B 4.75.
    let photos = vec![vec![1.0, 0.0], vec![9.5, 0.0]];
    let min = g.rank_photos(&photos, 2, FusionMode::MinDistance).unwrap();
    assert_eq!(min.matches[0].name, "syndrome 1");
    assert!((min.matches[0].distance - 0.5).abs() < 1e-6);
    assert!((min.matches[1].distance - 1.0).abs() < 1e-6);
    let mean = g.rank_photos(&photos, 2, FusionMode::MeanDistance).unwrap();
    assert!((mean.matches[0].distance - 4.75).abs() < 1e-5);
    assert!((mean.matches[1].distance - 5.25).abs() < 1e-5);
    assert_eq!(mean.photos, 2);
    // Photos at x=1, x=2, x=9: min-distance picks A (1 vs 1); mean-embedding x=4 → A (4 vs 6);
    // mean-distance: A (1+2+9)/3=4, B (9+8+1)/3=6.
    let photos = vec![vec![1.0, 0.0], vec![2.0, 0.0], vec![9.0, 0.0]];
    for mode in [FusionMode::MeanEmbedding, FusionMode::MeanDistance] {
        let r = g.rank_photos(&photos, 2, mode).unwrap();
        assert_eq!(r.matches[0].name, "syndrome 0", "{mode}");
        assert!((r.matches[0].distance - 4.0).abs() < 1e-5, "{mode}");
        assert!((r.matches[1].distance - 6.0).abs() < 1e-5, "{mode}");
    }
    // One photo: every mode equals plain ranking.
    let one = vec![vec![3.0, 1.0]];
    let plain = g.rank(&one[0], 2).unwrap();
    for mode in [
        FusionMode::MeanEmbedding,
        FusionMode::MinDistance,
        FusionMode::MeanDistance,
    ] {
        assert_eq!(g.rank_photos(&one, 2, mode).unwrap().matches, plain.matches);
    }
    assert!(g.rank_photos(&[], 2, FusionMode::MinDistance).is_err());
    assert_eq!(
        "min-distance".parse::<FusionMode>().unwrap(),
        FusionMode::MinDistance
    );
}

// ------------------------------------------------------------------ calibration

/// Euclidean gallery with one case at the origin of a line; probes at given x.
fn line_gallery() -> Gallery {
    Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(1),
        vec![Case {
            case_id: "c".into(),
            subject: "c".into(),
            label: 0,
        }],
        1,
        vec![0.0],
    )
    .unwrap()
}

/// A probe of its own subject (one photo per patient).
fn probe(label: &str, x: f32) -> CalibrationProbe {
    CalibrationProbe {
        label: label.into(),
        subject: format!("{label}@{x}"),
        embedding: vec![x],
    }
}

fn rule(r: CalibrationRule) -> CalibrateOptions {
    CalibrateOptions {
        rule: r,
        max_photos: 1,
        ..CalibrateOptions::default()
    }
}

#[test]
fn calibration_threshold() {
    // Unknown probes at distances 1..=20; a 10% false-match target lets 2 of 20 through:
    // the threshold falls between 2 and 3.
    let mut g = line_gallery();
    let probes: Vec<_> = (1..=20)
        .map(|i| probe("not in gallery", i as f32))
        .collect();
    let rep = calibrate(
        &mut g,
        &probes,
        &rule(CalibrationRule::TargetFalseMatchRate(0.10)),
    )
    .unwrap();
    let one = &rep.sessions[0];
    assert_eq!(one.photos, 1);
    assert!(one.threshold > 2.0 && one.threshold < 3.0, "{rep}");
    assert_eq!(one.false_match_rate, Some(0.10));
    assert_eq!(one.unknown_subjects, 20);
    assert_eq!(g.threshold(), Some(one.threshold));
    assert!(g.rank(&[2.0], 1).unwrap().close_match);
    assert!(!g.rank(&[3.0], 1).unwrap().close_match);
    // Target 0 → below the nearest unknown probe.
    let rep = calibrate(
        &mut g,
        &probes,
        &rule(CalibrationRule::TargetFalseMatchRate(0.0)),
    )
    .unwrap();
    assert!(rep.sessions[0].threshold < 1.0 && rep.sessions[0].false_match_rate == Some(0.0));
    // Ties in the unknown distances never let more through than allowed.
    let tied: Vec<_> = [1.0, 2.0, 2.0, 2.0, 5.0]
        .iter()
        .enumerate()
        .map(|(i, &x)| CalibrationProbe {
            subject: format!("s{i}"),
            ..probe("u", x)
        })
        .collect();
    let rep = calibrate(
        &mut g,
        &tied,
        &rule(CalibrationRule::TargetFalseMatchRate(0.4)),
    )
    .unwrap();
    let t = rep.sessions[0].threshold;
    assert!(t > 1.0 && t < 2.0, "{rep}");
    // No unknown probes → a clear error.
    assert!(calibrate(
        &mut g,
        &[probe("syndrome 0", 1.0)],
        &CalibrateOptions::default()
    )
    .is_err());

    // Equal error: known at 1,2,3,4 ; unknown at 3.5,5,6,7 → t in (3.5, 4): FRR 1/4, FMR 1/4.
    let mut probes: Vec<_> = [1.0, 2.0, 3.0, 4.0]
        .iter()
        .map(|&x| probe("syndrome 0", x))
        .collect();
    probes.extend([3.5, 5.0, 6.0, 7.0].iter().map(|&x| probe("other", x)));
    let rep = calibrate(&mut g, &probes, &rule(CalibrationRule::EqualError)).unwrap();
    let one = &rep.sessions[0];
    assert!(one.threshold > 3.5 && one.threshold < 4.0, "{rep}");
    assert_eq!(one.false_match_rate, Some(0.25));
    assert_eq!(one.false_reject_rate, Some(0.25));
    assert_eq!((one.known_subjects, one.unknown_subjects), (4, 4));

    // The calibration survives save/load.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.gallery");
    g.save(&p).unwrap();
    let back = Gallery::load(&p).unwrap();
    assert_eq!(back.threshold(), Some(one.threshold));
    assert_eq!(back.calibration(), Some(&rep));
}

/// Two syndromes on a line (A at 0, B at 10; 2-d, y = 0); subjects with several photos.
fn two_label_line() -> Gallery {
    Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(2),
        vec![
            Case {
                case_id: "a".into(),
                subject: "a".into(),
                label: 0,
            },
            Case {
                case_id: "b".into(),
                subject: "b".into(),
                label: 1,
            },
        ],
        2,
        vec![0.0, 0.0, 10.0, 0.0],
    )
    .unwrap()
}

#[test]
fn sessions_are_calibrated_per_size_and_used_for_the_photos_fused() {
    // 40 unknown people with 4 photos each, scattered around x = 4 (y noise averages out
    // when photos are fused, so fused sessions sit closer to the line: a smaller best
    // distance, hence a different threshold per session size); 30 known people near A.
    let (g, rep) = calibrate_two_label_line();
    assert_eq!(rep.sessions.len(), 3);
    for (n, s) in rep.sessions.iter().enumerate() {
        assert_eq!(s.photos, n + 1);
        // Every person counts once whatever their number of sessions: ⌊4 / n⌋ each.
        assert_eq!(s.unknown_subjects, 40);
        assert_eq!(s.unknown_sessions, 40 * (4 / (n + 1)));
        // The tail is pooled over the sizes: each size is near the target, not exactly on it.
        assert!(s.false_match_rate.unwrap() <= 0.10, "{rep}");
    }
    // The ranking uses the threshold for the photos actually fused (and says which).
    let q = vec![vec![4.5, 0.0]; 2];
    let r = g.rank_photos(&q, 2, FusionMode::MinDistance).unwrap();
    assert_eq!(r.threshold_photos, Some(2));
    assert_eq!(r.threshold, Some(rep.sessions[1].threshold));
    let r = g
        .rank_photos(&vec![vec![4.5, 0.0]; 5], 2, FusionMode::MinDistance)
        .unwrap();
    assert_eq!(
        r.threshold_photos,
        Some(3),
        "more photos than calibrated: the largest size"
    );
    // Another fusion than the calibrated one: only the 1-photo threshold applies.
    let r = g.rank_photos(&q, 2, FusionMode::MeanEmbedding).unwrap();
    assert_eq!(r.threshold_photos, Some(1));
    assert!(r.matches.iter().all(|m| m.band == Band::Uncalibrated));
    // Known people near A earn a band; bands come with their measured precision.
    let s1 = &rep.sessions[0];
    let strong = s1.bands.iter().find(|b| b.band == Band::Strong).unwrap();
    assert!(strong.max_distance.is_some(), "{rep}");
    assert!(strong.precision.unwrap() >= 0.9);
    let r = g.rank(&[0.1, 0.0], 2).unwrap();
    assert_eq!(r.matches[0].band, Band::Strong);
    // The text report names each session size.
    let text = rep.to_string();
    assert!(text.contains("3 photo(s): threshold"), "{text}");
}

#[test]
fn mean_embedding_fusion_is_renormalised_for_euclidean_too() {
    // Unit-length cases; two unit photos 90° apart average to length 0.71, which would sit
    // closer to everything. Re-normalised, the fused query is the unit bisector.
    let g = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(1),
        vec![Case {
            case_id: "a".into(),
            subject: "a".into(),
            label: 0,
        }],
        2,
        vec![-1.0, 0.0],
    )
    .unwrap();
    let best = g
        .fused_label_best(&[vec![0.0, 1.0], vec![1.0, 0.0]], FusionMode::MeanEmbedding)
        .unwrap();
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let expected = ((h + 1.0).powi(2) + h * h).sqrt();
    assert!(
        (best[0].0 - expected).abs() < 1e-5,
        "{} vs {expected}",
        best[0].0
    );
}

/// 40 unknown people (4 photos each) scattered around x = 4 and 30 known people near A, on
/// [`two_label_line`], calibrated for 1..=3 photos fused by min distance: the gallery and the
/// calibration's report.
fn calibrate_two_label_line() -> (Gallery, CalibrationReport) {
    let mut g = two_label_line();
    let mut rng = Rng(7);
    let mut probes = Vec::new();
    for person in 0..70 {
        let (label, centre) = if person < 40 {
            ("unknown", 4.0 + rng.f32() * 2.0)
        } else {
            ("syndrome 0", rng.f32())
        };
        for _ in 0..4 {
            probes.push(CalibrationProbe {
                label: label.into(),
                subject: format!("p{person}"),
                embedding: vec![centre, rng.f32() * 3.0],
            });
        }
    }
    let opts = CalibrateOptions {
        max_photos: 3,
        fusion: FusionMode::MinDistance,
        ..CalibrateOptions::default()
    };
    let rep = calibrate(&mut g, &probes, &opts).unwrap();
    (g, rep)
}

/// [`calibrate_two_label_line`]'s gallery.
fn calibrated_two_label_line() -> Gallery {
    calibrate_two_label_line().0
}

#[test]
fn threshold_estimate_people_and_tradeoff_are_stored_and_shown() {
    let g = calibrated_two_label_line();
    let c = g.calibration().unwrap();
    for s in &c.sessions {
        // 40 unknown people are too few for an own 5% quantile: the tail pooled over the
        // three sizes (40 people each) sets every threshold.
        assert_eq!(s.threshold_source, Some(ThresholdSource::PooledTail), "{c}");
        assert_eq!(s.threshold_unknown_subjects, Some(120));
        assert_eq!((s.unknown_subjects, s.known_subjects), (40, 30));
        let targets: Vec<f64> = s.tradeoff.iter().map(|p| p.target).collect();
        assert_eq!(targets, TRADEOFF_TARGETS);
        let at5 = &s.tradeoff[2];
        assert_eq!(
            at5.threshold, s.threshold,
            "the 5% point is the stored threshold"
        );
        assert!(s.tradeoff.iter().all(|p| p.false_reject_rate.is_some()));
    }
    let text = info(&g).to_string();
    for needle in [
        "operating point calibrated for 5.00% false close match (1-3 photo(s)",
        "tail pooled over the session sizes (120 unknown people; this size's 40 are too few",
        "trade-off on the calibration people (40 unknown, 30 known)",
        "target 10.00%: threshold",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let json = serde_json::to_value(info(&g)).unwrap();
    let one = &json["calibration"]["sessions"][0];
    assert_eq!(one["threshold_source"], "pooled-tail");
    assert_eq!(one["threshold_unknown_subjects"], 120);
    assert_eq!(one["tradeoff"][2]["target"], 0.05);
    assert!(json["operating_point"].as_str().unwrap().contains("5.00%"));
    // The choice, the counts and the trade-off survive the gallery file (rates up to the
    // JSON's last digit).
    let back = Gallery::from_bytes(&g.to_bytes()).unwrap();
    for (b, s) in back.calibration().unwrap().sessions.iter().zip(&c.sessions) {
        assert_eq!(b.threshold, s.threshold);
        assert_eq!(b.threshold_source, s.threshold_source);
        assert_eq!(b.threshold_unknown_subjects, s.threshold_unknown_subjects);
        assert_eq!(b.tradeoff.len(), s.tradeoff.len());
        for (p, q) in b.tradeoff.iter().zip(&s.tradeoff) {
            assert_eq!(
                (p.target, p.threshold, p.source),
                (q.target, q.threshold, q.source)
            );
            let near = |x: Option<f64>, y: Option<f64>| (x.unwrap() - y.unwrap()).abs() < 1e-12;
            assert!(near(p.false_match_rate, q.false_match_rate), "{p:?} {q:?}");
            assert!(
                near(p.false_reject_rate, q.false_reject_rate),
                "{p:?} {q:?}"
            );
        }
    }
}

#[test]
fn tradeoff_without_known_people_says_the_price_is_not_measured() {
    let mut g = line_gallery();
    let probes: Vec<_> = (1..=20)
        .map(|i| probe("not in gallery", i as f32))
        .collect();
    calibrate(&mut g, &probes, &rule(CalibrationRule::default())).unwrap();
    let s = &g.calibration().unwrap().sessions[0];
    assert_eq!(s.tradeoff.len(), TRADEOFF_TARGETS.len());
    assert!(s.tradeoff.iter().all(|p| p.false_reject_rate.is_none()));
    assert!(s.tradeoff.iter().all(|p| p.false_match_rate.is_some()));
    let text = info(&g).to_string();
    assert!(
        text.contains("(20 unknown, 0 known: known rejected not measured"),
        "{text}"
    );
    assert!(
        text.contains("threshold from: own quantile of 20 unknown people"),
        "{text}"
    );
}

#[test]
fn galleries_calibrated_before_the_threshold_estimate_was_stored_still_load() {
    let g = calibrated_two_label_line();
    let c = g.calibration().unwrap();
    // The calibration block (u32 length + JSON) ends the file: write it as an earlier
    // version did, without the new fields, and re-hash.
    let mut bytes = g.to_bytes();
    let n = serde_json::to_vec(c).unwrap().len();
    bytes.truncate(bytes.len() - n - 4);
    let mut old = serde_json::to_value(c).unwrap();
    for s in old["sessions"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        for key in ["threshold_source", "threshold_unknown_subjects", "tradeoff"] {
            assert!(s.remove(key).is_some(), "{key}");
        }
    }
    let old = serde_json::to_vec(&old).unwrap();
    bytes.extend_from_slice(&(old.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&old);
    let len = bytes.len() as u64;
    bytes[40..48].copy_from_slice(&len.to_le_bytes());
    rehash(&mut bytes);
    let back = Gallery::from_bytes(&bytes).unwrap();
    let b = back.calibration().unwrap();
    for (s, o) in b.sessions.iter().zip(&c.sessions) {
        assert_eq!(s.threshold, o.threshold);
        assert_eq!(s.threshold_source, None);
        assert_eq!(s.threshold_unknown_subjects, None);
        assert!(s.tradeoff.is_empty());
    }
    let text = info(&back).to_string();
    assert!(text.contains("threshold from: not recorded"), "{text}");
    assert!(text.contains("trade-off: not measured"), "{text}");
}

#[test]
fn session_report_gives_wilson_intervals_for_both_rates() {
    let mut g = two_label_line();
    let mut probes = Vec::new();
    // 10 unknown people at x = 5 (2 of them at x = 1, close to A); 8 known people near A, 2
    // of them at x = 3 (beyond the threshold: wrongly "no close match").
    for person in 0..10 {
        let (u, k) = if person < 2 { (1.0, 3.0) } else { (5.0, 0.5) };
        probes.push(CalibrationProbe {
            label: "unknown".into(),
            subject: format!("u{person}"),
            embedding: vec![u, 0.0],
        });
        if person < 8 {
            probes.push(CalibrationProbe {
                label: "syndrome 0".into(),
                subject: format!("k{person}"),
                embedding: vec![k, 0.0],
            });
        }
    }
    g.set_threshold(Some(2.0)).unwrap();
    let rows = evaluate_sessions(&g, &probes, 1, FusionMode::MeanEmbedding, 1).unwrap();
    let one = &rows[0];
    assert_eq!((one.unknown, one.known), (10, 8));
    assert_eq!(one.unknown_accepted, Some(0.2));
    assert_eq!(one.unknown_accepted_ci, Some(wilson95(0.2, 10)));
    assert_eq!(one.unknown_accepted_ci95, one.unknown_accepted_ci);
    assert_eq!(one.known_rejected, Some(0.25));
    let [lo, hi] = one.known_rejected_ci.unwrap();
    assert!(lo < 0.25 && 0.25 < hi && hi < 0.7, "{lo} {hi}");
    let json = serde_json::to_value(one).unwrap();
    for key in [
        "unknown_accepted",
        "unknown_accepted_ci",
        "known_rejected",
        "known_rejected_ci",
    ] {
        assert!(
            json[key].is_number() || json[key].is_array(),
            "{key}: {json}"
        );
    }
    let opts = EvalOptions {
        session_photos: 1,
        session_fusion: FusionMode::MeanEmbedding,
        session_seed: 1,
        ..EvalOptions::default()
    };
    let text = evaluate(&g, &probes, &opts).unwrap().to_string();
    assert!(text.contains("known rejected 25.0% (95% CI"), "{text}");
}

#[test]
fn session_open_set_report_counts_people_once() {
    let mut g = two_label_line();
    let mut probes = Vec::new();
    // 10 unknown people at x = 5 ± 1 with 3 photos; 2 of them sit at x = 1 (close to A).
    for person in 0..10 {
        let x = if person < 2 { 1.0 } else { 5.0 };
        for k in 0..3 {
            probes.push(CalibrationProbe {
                label: "unknown".into(),
                subject: format!("u{person}"),
                embedding: vec![x + k as f32 * 0.01, 0.0],
            });
        }
    }
    g.set_threshold(Some(2.0)).unwrap();
    let rows = evaluate_sessions(&g, &probes, 3, FusionMode::MeanEmbedding, 1).unwrap();
    assert_eq!(rows.len(), 3);
    let one = &rows[0];
    assert_eq!((one.unknown, one.unknown_sessions), (10, 30));
    assert_eq!(one.unknown_accepted, Some(0.2));
    assert_eq!(one.unknown_accepted_sessions, Some(0.2));
    let [lo, hi] = one.unknown_accepted_ci95.unwrap();
    assert!(lo < 0.2 && 0.2 < hi && hi < 0.6, "{lo} {hi}");
    assert_eq!(rows[2].unknown_sessions, 10);
    assert_eq!(
        rows[2].threshold_photos,
        Some(1),
        "hand-set threshold: the 1-photo one"
    );
    assert_eq!(one.known, 0);
    assert_eq!(one.known_rejected, None);
}

// ------------------------------------------------------------------ evaluation

#[test]
fn evaluation_on_a_constructed_example() {
    // Three syndromes on a line at x = 0, 10, 20 (one case each).
    let g = Gallery::from_parts(
        meta(Metric::Euclidean, Storage::F32),
        labels(3),
        (0..3)
            .map(|i| Case {
                case_id: format!("c{i}"),
                subject: format!("c{i}"),
                label: i,
            })
            .collect(),
        1,
        vec![0.0, 10.0, 20.0],
    )
    .unwrap();
    let p = |label: &str, subject: &str, x: f32| Probe {
        label: label.into(),
        subject: subject.into(),
        embedding: vec![x],
    };
    let probes = vec![
        // syndrome 0: three photos of s1; two rank it first, one (x=7) ranks it second.
        p("syndrome 0", "s1", 1.0),
        p("syndrome 0", "s1", 2.0),
        p("syndrome 0", "s1", 7.0),
        // syndrome 1: one photo, ranked first.
        p("syndrome 1", "s2", 11.0),
        // syndrome 2: one photo at x=4 → rank 3.
        p("syndrome 2", "s3", 4.0),
        // not in the gallery: far away and near.
        p("unknown", "s4", 100.0),
        p("unknown", "s5", 10.5),
    ];
    let opts = EvalOptions {
        ks: vec![1, 2, 3],
        threshold: Some(3.0),
        ..Default::default()
    };
    let r = evaluate(&g, &probes, &opts).unwrap();
    assert_eq!(
        (r.probes, r.known_probes, r.unknown_probes, r.subjects),
        (7, 5, 2, 5)
    );
    let pp = &r.per_photo;
    assert_eq!(pp.queries, 5);
    // Overall top-1: 3 of 5 (x=1, x=2, x=11); top-2: 4 of 5; top-3: all.
    assert_eq!(pp.overall, vec![0.6, 0.8, 1.0]);
    // Mean over syndromes: top-1 (2/3 + 1 + 0)/3, top-2 (1 + 1 + 0)/3, top-3 1.
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
    assert!(
        close(
            &pp.mean_over_labels,
            &[(2.0 / 3.0 + 1.0) / 3.0, 2.0 / 3.0, 1.0]
        ),
        "{:?}",
        pp.mean_over_labels
    );
    // Open set at threshold 3: the far unknown is rejected, the near one (0.5 from c1) is not;
    // known photos with best distance > 3: x=7 (3 from c1? no: 3.0 to x=10 → accepted), x=4 (4) → 1 of 5.
    let os = pp.open_set.as_ref().unwrap();
    assert_eq!((os.unknown, os.known), (2, 5));
    assert_eq!(os.unknown_rejected, Some(0.5));
    assert_eq!(os.known_rejected, Some(0.2));
    // Per subject (3 known subjects): mean-embedding of s1 = x 3.33 → syndrome 0 first.
    let me = r
        .per_subject
        .iter()
        .find(|t| t.fusion == Some(FusionMode::MeanEmbedding))
        .unwrap();
    assert_eq!(me.queries, 3);
    assert_eq!(me.overall, vec![2.0 / 3.0, 2.0 / 3.0, 1.0]);
    assert!(close(&me.mean_over_labels, &[2.0 / 3.0, 2.0 / 3.0, 1.0]));
    assert_eq!(r.per_subject.len(), 3);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["per_photo"]["overall"][0], 0.6);
    assert!(r.to_string().contains("top1: 60.0%"));
    assert!(evaluate(&g, &[], &opts).is_err());
}

#[test]
fn gallery_info() {
    let g = random_gallery(40, 3, 10, 4, Metric::Cosine, Storage::Int8);
    let i = info(&g);
    assert_eq!(i.labels.iter().map(|l| l.cases).sum::<usize>(), 10);
    assert_eq!(i.header.case_count, 10);
    assert_eq!(i.header.embedder_id, "fake-embedder-1");
    assert_eq!(i.subjects, 5);
    let text = i.to_string();
    assert!(text.contains("not calibrated") && text.contains("syndrome 2"));
    let json = serde_json::to_value(&i).unwrap();
    assert_eq!(json["header"]["storage"], "int8");
    assert_eq!(json["header"]["metric"], "cosine");
}

// ------------------------------------------------------------------ int8 vs f32

#[test]
fn int8_keeps_top_k_on_clustered_data() {
    // 200 syndromes × 10 cases, 128-d, probes = fresh noisy samples. Measured: top-1 identical
    // for every query; the top-10 lists are identical in order for ~78% of queries and overlap
    // 99.5% — the differences are near-ties among the non-matching syndromes (random centres put
    // them all at cosine distance ≈ 1 ± 0.01).
    let (_, items) = clustered(50, 200, 11, 128, 0.6);
    let (mut cases, mut emb, mut queries) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (l, v)) in items.into_iter().enumerate() {
        if i % 11 == 10 {
            queries.push(v);
        } else {
            cases.push(Case {
                case_id: format!("c{i}"),
                subject: format!("c{i}"),
                label: l as u32,
            });
            emb.extend(v);
        }
    }
    let f = Gallery::from_parts(
        meta(Metric::Cosine, Storage::F32),
        labels(200),
        cases,
        128,
        emb,
    )
    .unwrap();
    let q = f.to_storage(Storage::Int8);
    let a = compare_rankings(&f, &q, &queries, 10).unwrap();
    eprintln!("int8 vs f32 (cosine, 200 labels x 10 cases, 128-d): {a}");
    assert_eq!(a.queries, 200);
    assert_eq!(a.same_top1, 200, "{a}");
    assert!(a.mean_overlap > 0.98, "{a}");
    assert!(a.identical_top_k as f64 >= 0.7 * 200.0, "{a}");
    assert!(a.max_top1_distance_diff < 2e-3, "{a}");
    // Where the lists differ, int8 only swapped near-ties: the f32 distances of the labels it put
    // at a position differ from f32's own by less than the quantisation error.
    for query in &queries {
        let full = f.rank(query, 200).unwrap();
        let d32 = |label: usize| {
            full.matches
                .iter()
                .find(|m| m.label == label)
                .unwrap()
                .distance
        };
        let r8 = q.rank(query, 10).unwrap();
        for (m8, m32) in r8.matches.iter().zip(&full.matches) {
            assert!(
                (d32(m8.label) - m32.distance).abs() < 2e-3,
                "swap beyond a near-tie"
            );
        }
    }
    // Identical galleries agree completely.
    let same = compare_rankings(&f, &f, &queries, 10).unwrap();
    assert_eq!(same.identical_top_k, 200);
}
