//! Camera tests: pixel decoders (YUYV, NV12, MJPEG) against known colours, bad frames as typed
//! errors, the replay camera, and the reconnecting wrapper's backoff on an injected clock.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gestaltcam::camera::decode::{mjpeg_to_rgb, nv12_to_rgb, yuyv_to_rgb};
use gestaltcam::camera::{
    decode, Backoff, Camera, CameraError, Clock, DecodeError, Frame, ManualClock, PixelFormat,
    Reconnecting, ReplayCamera, ReplayError,
};
use image::{Rgb, RgbImage};

fn close(a: Rgb<u8>, b: [u8; 3], tol: u8) -> bool {
    a.0.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}

#[test]
fn yuyv_known_colours() {
    // Two macropixels: black|white sharing neutral chroma, then a red pair.
    let data = [16, 128, 235, 128, 81, 90, 81, 240];
    let img = yuyv_to_rgb(&data, 4, 1).unwrap();
    assert_eq!(img.dimensions(), (4, 1));
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
    assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
    assert!(
        close(*img.get_pixel(2, 0), [255, 0, 0], 2),
        "{:?}",
        img.get_pixel(2, 0)
    );
    assert!(close(*img.get_pixel(3, 0), [255, 0, 0], 2));
}

#[test]
fn yuyv_padded_rows_use_the_stride() {
    // 2x2 image, rows padded from 4 to 8 bytes; padding is garbage.
    let data = [
        235, 128, 235, 128, 9, 9, 9, 9, //
        16, 128, 16, 128, 9, 9, 9, 9,
    ];
    let img = yuyv_to_rgb(&data, 2, 2).unwrap();
    assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
    assert_eq!(img.get_pixel(0, 1).0, [0, 0, 0]);
}

#[test]
fn nv12_known_colours() {
    // 4x2: left 2x2 block green, right 2x2 block blue.
    let y = [145, 145, 41, 41, 145, 145, 41, 41];
    let uv = [54, 34, 240, 110];
    let data: Vec<u8> = y.iter().chain(uv.iter()).copied().collect();
    let img = nv12_to_rgb(&data, 4, 2).unwrap();
    for (x, yy) in [(0, 0), (1, 1)] {
        assert!(
            close(*img.get_pixel(x, yy), [0, 255, 0], 2),
            "{:?}",
            img.get_pixel(x, yy)
        );
    }
    for (x, yy) in [(2, 0), (3, 1)] {
        assert!(
            close(*img.get_pixel(x, yy), [0, 0, 255], 2),
            "{:?}",
            img.get_pixel(x, yy)
        );
    }
}

#[test]
fn mjpeg_round_trip() {
    let src = RgbImage::from_pixel(32, 16, Rgb([200, 40, 90]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&src)
        .unwrap();
    let img = decode(PixelFormat::Mjpeg, &jpeg, 32, 16).unwrap();
    assert_eq!(img.dimensions(), (32, 16));
    assert!(
        close(*img.get_pixel(10, 8), [200, 40, 90], 6),
        "{:?}",
        img.get_pixel(10, 8)
    );
}

#[test]
fn bad_frames_are_typed_errors() {
    for f in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Mjpeg] {
        assert_eq!(decode(f, &[], 640, 480), Err(DecodeError::Empty), "{f:?}");
    }
    assert_eq!(
        yuyv_to_rgb(&[0; 100], 640, 480),
        Err(DecodeError::Short {
            expected: 640 * 480 * 2,
            got: 100
        })
    );
    assert!(matches!(
        nv12_to_rgb(&[0; 640 * 480], 640, 480),
        Err(DecodeError::Short { .. })
    ));
    assert!(matches!(
        nv12_to_rgb(&[0; 64], 4, 3),
        Err(DecodeError::BadDimensions { .. })
    ));
    assert!(matches!(
        yuyv_to_rgb(&[0; 8], 0, 1),
        Err(DecodeError::BadDimensions { .. })
    ));
    assert!(matches!(
        mjpeg_to_rgb(b"garbage bytes"),
        Err(DecodeError::Jpeg(_))
    ));
    // A real JPEG cut in half.
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(&RgbImage::from_pixel(64, 64, Rgb([1, 2, 3])))
        .unwrap();
    jpeg.truncate(jpeg.len() / 3);
    assert!(matches!(mjpeg_to_rgb(&jpeg), Err(DecodeError::Jpeg(_))));
    // Wrapped as a camera error.
    let e: CameraError = DecodeError::Empty.into();
    assert!(matches!(e, CameraError::BadFrame(DecodeError::Empty)));
}

fn solid(v: u8) -> RgbImage {
    RgbImage::from_pixel(8, 6, Rgb([v, v, v]))
}

#[test]
fn replay_folder_sorted_looping_with_rate() {
    let dir = tempfile::tempdir().unwrap();
    solid(20).save(dir.path().join("b.png")).unwrap();
    solid(10).save(dir.path().join("a.png")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let mut cam = ReplayCamera::from_folder(dir.path(), 10.0).unwrap();
    assert_eq!(cam.len(), 2);
    let frames: Vec<Frame> = (0..3).map(|_| cam.frame().unwrap()).collect();
    let values: Vec<u8> = frames.iter().map(|f| f.image.get_pixel(0, 0)[0]).collect();
    assert_eq!(values, vec![10, 20, 10]);
    assert_eq!(
        frames.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(frames[2].timestamp, Duration::from_millis(200));
}

#[test]
fn replay_from_path_takes_a_folder_or_a_list_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("imgs");
    std::fs::create_dir(&sub).unwrap();
    solid(30).save(sub.join("x.png")).unwrap();
    solid(40).save(sub.join("y.png")).unwrap();
    // A list file: order as listed, relative to the list, comments and blank lines skipped.
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "# replay\nimgs/y.png\n\n  imgs/x.png  \n").unwrap();
    let mut cam = ReplayCamera::from_path(&list, 10.0).unwrap();
    let values: Vec<u8> = (0..3)
        .map(|_| cam.frame().unwrap().image.get_pixel(0, 0)[0])
        .collect();
    assert_eq!(values, vec![40, 30, 40]);
    // A folder: sorted by name.
    let mut cam = ReplayCamera::from_path(&sub, 10.0).unwrap();
    assert_eq!(cam.frame().unwrap().image.get_pixel(0, 0)[0], 30);
    // A list naming a missing image, an empty list, a missing list.
    std::fs::write(&list, "imgs/missing.png\n").unwrap();
    assert!(matches!(
        ReplayCamera::from_path(&list, 10.0),
        Err(ReplayError::Image { .. })
    ));
    std::fs::write(&list, "# nothing\n").unwrap();
    assert!(matches!(
        ReplayCamera::from_path(&list, 10.0),
        Err(ReplayError::NoImages)
    ));
    assert!(matches!(
        ReplayCamera::from_path(&dir.path().join("nope.txt"), 10.0),
        Err(ReplayError::Folder { .. })
    ));
}

#[test]
fn replay_without_looping_ends_and_bad_inputs_refused() {
    let mut cam = ReplayCamera::from_images(vec![solid(1)], 5.0)
        .unwrap()
        .looping(false);
    assert!(cam.frame().is_ok());
    assert!(matches!(cam.frame(), Err(CameraError::Ended)));
    assert!(ReplayCamera::from_images(vec![], 5.0).is_err());
    assert!(ReplayCamera::from_images(vec![solid(1)], 0.0).is_err());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    assert!(ReplayCamera::from_folder(dir.path(), 5.0).is_err());
    assert!(ReplayCamera::from_folder(&dir.path().join("missing"), 5.0).is_err());
}

/// A camera that works while `plugged` is true.
struct Pluggable {
    inner: ReplayCamera,
    plugged: Arc<AtomicBool>,
}

impl Camera for Pluggable {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        if self.plugged.load(Ordering::SeqCst) {
            self.inner.frame()
        } else {
            Err(CameraError::Disconnected("unplugged".into()))
        }
    }
}

#[test]
fn reconnecting_reopens_with_backoff_on_the_clock() {
    let plugged = Arc::new(AtomicBool::new(true));
    let opens = Arc::new(AtomicU32::new(0));
    let clock = ManualClock::new();
    let (p, o) = (plugged.clone(), opens.clone());
    let factory = move || {
        o.fetch_add(1, Ordering::SeqCst);
        if p.load(Ordering::SeqCst) {
            Ok(Pluggable {
                inner: ReplayCamera::from_images(vec![solid(5)], 10.0).unwrap(),
                plugged: p.clone(),
            })
        } else {
            Err(CameraError::Disconnected("no device".into()))
        }
    };
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    let mut cam = Reconnecting::new(factory, clock.clone(), backoff);
    assert_eq!(cam.frame().unwrap().sequence, 0);
    assert_eq!(opens.load(Ordering::SeqCst), 1);

    plugged.store(false, Ordering::SeqCst);
    assert!(matches!(cam.frame(), Err(CameraError::Disconnected(_))));
    assert!(!cam.is_connected());
    // Poll every 10 ms for 1 s: attempts at 0, 100, 300, 700 ms (backoff 100, 200, 400).
    for _ in 0..100 {
        assert!(matches!(cam.frame(), Err(CameraError::Disconnected(_))));
        clock.advance(Duration::from_millis(10));
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1 + 4);

    plugged.store(true, Ordering::SeqCst);
    // Next attempt is due at 1100 ms (700 + max 400).
    let mut resumed = None;
    for _ in 0..60 {
        if let Ok(f) = cam.frame() {
            resumed = Some(f);
            break;
        }
        clock.advance(Duration::from_millis(10));
    }
    let f = resumed.expect("capture resumed by itself");
    assert_eq!(f.sequence, 1, "sequence continues across reconnects");
    assert_eq!(cam.opens(), 2);
    assert!(clock.now() >= Duration::from_millis(1100));
}

/// Many UVC cameras send MJPEG frames without Huffman tables (DHT), relying on the standard
/// ones; the decoder must still accept them, pixel for pixel like the full JPEG.
#[test]
fn mjpeg_without_huffman_tables() {
    // A noisy image exercises many AC codes.
    let src = RgbImage::from_fn(48, 32, |x, y| {
        let v = (x * 37 + y * 91 + x * y * 13) % 256;
        Rgb([v as u8, (255 - v) as u8, ((v * 7) % 256) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&src)
        .unwrap();
    let full = mjpeg_to_rgb(&jpeg).unwrap();
    let out = common::strip_dht(&jpeg);
    assert!(out.len() < jpeg.len(), "test JPEG had no DHT segment");
    let stripped = mjpeg_to_rgb(&out).unwrap();
    assert_eq!(stripped, full);
}
