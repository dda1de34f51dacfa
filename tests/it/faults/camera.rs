//! Camera faults: garbage and zero-length frames, and a camera lost between photos.

use super::*;

enum Shot {
    Raw(PixelFormat, Vec<u8>),
    Gone,
}

/// A camera driven by a script of raw buffers, decoded as the V4L2 camera decodes them.
struct RawCamera {
    script: Vec<Shot>,
    good: Vec<u8>,
    n: usize,
    width: u32,
    height: u32,
}

impl Camera for RawCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let i = self.n;
        self.n += 1;
        let (format, bytes) = match self.script.get(i) {
            Some(Shot::Gone) => return Err(CameraError::Disconnected("unplugged".into())),
            Some(Shot::Raw(f, b)) => (*f, b.as_slice()),
            None => (PixelFormat::Mjpeg, self.good.as_slice()),
        };
        let image = decode(format, bytes, self.width, self.height)?;
        Ok(Frame::new(
            image,
            i as u64,
            Duration::from_millis(100 * i as u64),
        ))
    }
}

fn real_device(tmp: &Path) -> (Config, gestaltcam::screening::PipelineAnalyzer) {
    let cfg = device_config(tmp);
    make_gallery(9, "ref R", 4, 12, &device_embedder_id())
        .save(&cfg.gallery)
        .unwrap();
    let a = analyzer_for(&cfg);
    assert!(a.pipeline().is_some() && a.gallery().is_some());
    (cfg, a)
}

/// A good camera frame: a real face photo at half size (cheaper to decode under qemu).
fn good_jpeg() -> Vec<u8> {
    let p = photo("obama2.jpg");
    let half = image::imageops::resize(
        &p,
        p.width() / 2,
        p.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    jpeg(&half)
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn garbage_and_empty_frames_are_skipped_and_the_session_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, analyzer) = real_device(tmp.path());
    let (w, h) = (64u32, 48u32);
    let mut rng = Rng(42);
    let good = good_jpeg();
    let mjpeg = |b: &[u8]| Shot::Raw(PixelFormat::Mjpeg, b.to_vec());
    let yuyv = |b: Vec<u8>| Shot::Raw(PixelFormat::Yuyv, b);
    let mut random_mjpeg = b"garbage".to_vec();
    random_mjpeg.extend(rng.bytes(5000));
    let undecodable = |s: &Shot| match s {
        Shot::Raw(f, b) => decode(*f, b, w, h).is_err(),
        Shot::Gone => false,
    };
    let script = vec![
        // 0..6: before any good frame.
        mjpeg(&[]),
        mjpeg(&random_mjpeg),
        mjpeg(&good[..good.len() / 3]),
        yuyv(vec![]),
        yuyv(rng.bytes(100)),
        // Random bytes of exactly the right length decode: a noise picture, no face.
        yuyv(rng.bytes((w * h * 2) as usize)),
        // 6..9: good frames, capture 1 at 9.
        mjpeg(&good),
        mjpeg(&good),
        mjpeg(&good),
        // 9..13: garbage between photo 1 and 2.
        mjpeg(&[]),
        mjpeg(&random_mjpeg),
        yuyv(vec![]),
        mjpeg(&good[..100]),
        // Then good frames (the default); capture 2 at 16.
    ];
    let bad = script.iter().filter(|s| undecodable(s)).count() as u64;
    // Everything but the noise picture and the good frames: a JPEG cut short decodes with
    // grey rows unless the decoder insists on the end-of-image marker (it does).
    assert_eq!(bad, 9);
    let mut padded = good.clone();
    padded.extend([0u8; 64]); // cameras may pad after EOI
    assert!(decode(PixelFormat::Mjpeg, &padded, w, h).is_ok());
    let cam = RawCamera {
        script,
        good,
        n: 0,
        width: w,
        height: h,
    };
    let out = run(
        cam,
        analyzer,
        &[(9, Capture), (16, Capture)],
        &ctx(2),
        &opts(19),
    );
    let t = tags(&out.views);
    assert_eq!(out.report.camera_errors, bad, "{t:?}");
    assert!(
        out.views.iter().all(|v| !matches!(v, View::Error { .. })),
        "bad frames are not a lost camera: {t:?}"
    );
    let first_capture = t.iter().position(|s| s == "capture 1/2").unwrap();
    assert_eq!(
        t[first_capture..],
        [
            "capture 1/2",
            "preview 1/2",
            "capture 2/2",
            "analysing 2",
            "results"
        ],
        "{t:?}"
    );
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!((basis.photos, basis.reference_cases), (2, 12));
    assert_eq!(out.report.frames, 19 - bad);
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "loads the real models (a minute or more each under qemu-user): runs on the host"
)]
fn camera_lost_between_photos_keeps_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, analyzer) = real_device(tmp.path());
    let good = good_jpeg();
    let mut script: Vec<Shot> = (0..4)
        .map(|_| Shot::Raw(PixelFormat::Mjpeg, good.clone()))
        .collect();
    script.extend((4..9).map(|_| Shot::Gone));
    let cam = RawCamera {
        script,
        good,
        n: 0,
        width: 640,
        height: 480,
    };
    let out = run(
        cam,
        analyzer,
        &[(3, Capture), (13, Capture)],
        &ctx(2),
        &opts(16),
    );
    let t = tags(&out.views);
    let lost = t.iter().position(|s| s == "error CameraMissing").unwrap();
    // Photo 1 was taken before the camera went; the preview after it says 1 of 2 is kept.
    assert_eq!(t[lost - 2..lost], ["capture 1/2", "preview 1/2"], "{t:?}");
    assert_eq!(
        t[lost..],
        [
            "error CameraMissing",
            "preview 1/2",
            "capture 2/2",
            "analysing 2",
            "results"
        ],
        "{t:?}"
    );
    let detail = error_detail(&out.views[lost]);
    // The camera-missing screen: what to do comes from the kind, no technician line.
    assert!(matches!(
        &out.views[lost],
        View::Error {
            kind: ErrorKind::CameraMissing,
            ..
        }
    ));
    assert_eq!(detail, "");
    assert_eq!(basis_of(out.views.last().unwrap()).unwrap().photos, 2);
    assert_eq!(out.report.camera_errors, 5);
}
