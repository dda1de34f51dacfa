//! The USB camera over V4L2, through the `v4l` crate (the library nokhwa's V4L2 backend wraps).
//! nokhwa itself is not used: it cannot set a read timeout or the buffer count, and its
//! "closest" format choice compares frame rates at the exact size only, so a camera without the
//! configured size or format never opened. Here the camera's formats and sizes are enumerated
//! and [`crate::camera::modes::choose`] picks the nearest; frames are read with a timeout, from
//! two buffers, newest first; raw buffers are decoded by [`crate::camera::decode`]. `v4l` types
//! stay inside this file.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::capability::Flags as CapFlags;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use crate::camera::modes::{choose, Choice, Offer, Sizes};
use crate::camera::{
    decode, Backoff, Camera, CameraError, Clock, Frame, PixelFormat, Reconnecting,
};
use crate::config::{CameraConfig, CameraDevice};

/// Buffers in the driver's queue: two, so a frame is at most one frame time old when read
/// (with four, a slow board analysed frames three frame times old), and the newest ready one
/// is taken.
const BUFFERS: u32 = 2;
/// The first frame after STREAMON may take a while (exposure settles on USB cameras).
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// Later frames: three frame times at the configured rate, at least this.
const MIN_FRAME_TIMEOUT: Duration = Duration::from_millis(250);

/// An open V4L2 camera streaming raw frames.
pub struct V4lCamera {
    // Declared before `device` so it is dropped (STREAMOFF, buffers released) first.
    stream: Option<Stream<'static>>,
    device: Device,
    node: PathBuf,
    /// What the camera offered when it was opened.
    probe: Probe,
    choice: Choice,
    frame_timeout: Duration,
    first: bool,
    sequence: u64,
    origin: Instant,
}

/// What a camera offers (the log and `gestaltcam doctor`).
#[derive(Debug, Clone)]
pub struct Probe {
    pub node: PathBuf,
    pub card: String,
    pub driver: String,
    /// Every format the camera lists, with its sizes (also the ones not decoded here).
    pub offered: Vec<(String, Sizes)>,
}

impl Probe {
    /// `YUYV 640x480 1280x720; MJPG …`.
    fn offered_text(&self) -> String {
        let offered: Vec<String> = self
            .offered
            .iter()
            .map(|(fourcc, sizes)| format!("{fourcc} {sizes}"))
            .collect();
        offered.join("; ")
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}) offers {}",
            self.node.display(),
            self.card,
            self.driver,
            self.offered_text()
        )
    }
}

/// `/dev/videoN` index of a configured device: an index, `/dev/videoN`, or a symlink to it
/// such as `/dev/v4l/by-id/usb-...-video-index0`.
pub fn device_index(device: &CameraDevice) -> Result<(u32, PathBuf), CameraError> {
    match device {
        CameraDevice::Index(i) => Ok((*i, PathBuf::from(format!("/dev/video{i}")))),
        CameraDevice::Path(p) => {
            let real = std::fs::canonicalize(p)
                .map_err(|e| CameraError::Disconnected(format!("{}: {e}", p.display())))?;
            let index = real
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("video"))
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| {
                    CameraError::Config(format!(
                        "{} is not a /dev/videoN node (resolves to {})",
                        p.display(),
                        real.display()
                    ))
                })?;
            Ok((index, real))
        }
    }
}

fn fourcc_of(f: PixelFormat) -> FourCC {
    match f {
        PixelFormat::Yuyv => FourCC::new(b"YUYV"),
        PixelFormat::Nv12 => FourCC::new(b"NV12"),
        PixelFormat::Mjpeg => FourCC::new(b"MJPG"),
    }
}

fn format_of(f: FourCC) -> Option<PixelFormat> {
    match &f.repr {
        b"YUYV" => Some(PixelFormat::Yuyv),
        b"NV12" => Some(PixelFormat::Nv12),
        // Many webcams label their MJPEG stream JPEG.
        b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
        _ => None,
    }
}

fn fourcc_name(f: FourCC) -> String {
    f.str()
        .map_or_else(|_| format!("{:?}", f.repr), str::to_string)
}

/// An I/O error on `node` as a camera error: a vanished node or ENODEV is `Disconnected` (so
/// [`Reconnecting`] reopens it), a poll timeout is `Timeout`, anything else (EIO from a dead
/// stream, …) `Other`, which [`Reconnecting`] also reopens after a few in a row.
fn map_error(node: &Path, what: &str, e: &io::Error) -> CameraError {
    let text = format!("{}: {what}: {e}", node.display());
    match e.raw_os_error() {
        // ENODEV (unplugged, driver unbound), ENOENT (node gone).
        Some(19 | 2) => CameraError::Disconnected(text),
        _ if e.kind() == io::ErrorKind::TimedOut => CameraError::Timeout,
        _ if !node.exists() => CameraError::Disconnected(text),
        _ => CameraError::Other(text),
    }
}

/// Opens the node and lists what it offers: every format (for the log and `doctor`) and the
/// ones decoded here (for [`choose`]).
fn open_device(node: &Path) -> Result<(Device, Probe, Vec<Offer>), CameraError> {
    if !node.exists() {
        return Err(CameraError::Disconnected(format!(
            "{} does not exist",
            node.display()
        )));
    }
    let device = Device::with_path(node).map_err(|e| map_error(node, "open", &e))?;
    let caps = device
        .query_caps()
        .map_err(|e| map_error(node, "VIDIOC_QUERYCAP", &e))?;
    if !caps
        .capabilities
        .contains(CapFlags::VIDEO_CAPTURE | CapFlags::STREAMING)
    {
        return Err(CameraError::Config(format!(
            "{} ({}) is not a streaming capture device",
            node.display(),
            caps.card
        )));
    }
    let mut offered = Vec::new();
    for desc in device
        .enum_formats()
        .map_err(|e| map_error(node, "VIDIOC_ENUM_FMT", &e))?
    {
        let sizes = device
            .enum_framesizes(desc.fourcc)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.size)
            .collect::<Vec<_>>();
        offered.push((desc.fourcc, sizes_of(sizes)));
    }
    let offers: Vec<Offer> = offered
        .iter()
        .filter_map(|(fourcc, sizes)| {
            Some(Offer {
                format: format_of(*fourcc)?,
                sizes: sizes.clone(),
            })
        })
        .collect();
    let probe = Probe {
        node: node.to_path_buf(),
        card: caps.card,
        driver: caps.driver,
        offered: offered
            .into_iter()
            .map(|(f, s)| (fourcc_name(f), s))
            .collect(),
    };
    Ok((device, probe, offers))
}

/// One format's V4L2 size list as [`Sizes`] (a driver lists either discrete sizes or one
/// stepwise range).
fn sizes_of(list: Vec<FrameSizeEnum>) -> Sizes {
    let mut discrete = Vec::new();
    for s in list {
        match s {
            FrameSizeEnum::Discrete(d) => discrete.push((d.width, d.height)),
            FrameSizeEnum::Stepwise(s) => {
                return Sizes::Stepwise {
                    min: (s.min_width, s.min_height),
                    max: (s.max_width, s.max_height),
                    step: (s.step_width.max(1), s.step_height.max(1)),
                }
            }
        }
    }
    Sizes::Discrete(discrete)
}

impl V4lCamera {
    /// Opens the configured camera in the mode nearest the configuration (see
    /// [`crate::camera::modes`]), logs the choice and starts streaming.
    pub fn open(cfg: &CameraConfig) -> Result<Self, CameraError> {
        let (_, node) = device_index(&cfg.device)?;
        let (device, probe, offers) = open_device(&node)?;
        let Some(wanted) = choose(&offers, cfg.format, cfg.width, cfg.height) else {
            return Err(CameraError::Config(format!(
                "{probe}; none of them is YUYV, MJPEG or NV12, the formats gestaltcam decodes"
            )));
        };
        let set = device
            .set_format(&Format::new(
                wanted.width,
                wanted.height,
                fourcc_of(wanted.format),
            ))
            .map_err(|e| map_error(&node, "VIDIOC_S_FMT", &e))?;
        // The driver has the last word on the mode; use what it says it set.
        let format = format_of(set.fourcc).ok_or_else(|| {
            CameraError::Config(format!(
                "{} was asked for {wanted} and set {} instead",
                node.display(),
                fourcc_name(set.fourcc)
            ))
        })?;
        let choice = Choice {
            format,
            width: set.width,
            height: set.height,
        };
        if let Err(e) = device.set_params(&Parameters::with_fps(cfg.fps)) {
            log::debug!("{}: frame rate {} not set: {e}", node.display(), cfg.fps);
        }
        let asked = Choice {
            format: cfg.format,
            width: cfg.width,
            height: cfg.height,
        };
        if choice == asked {
            log::info!("camera {}: chose {choice}", node.display());
        } else {
            log::info!(
                "camera {}: chose {choice} (asked {}x{} {}); it offers {}",
                node.display(),
                cfg.width,
                cfg.height,
                cfg.format.name(),
                probe.offered_text()
            );
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, BUFFERS)
            .map_err(|e| map_error(&node, "VIDIOC_REQBUFS", &e))?;
        stream.set_timeout(FIRST_FRAME_TIMEOUT);
        let frame_time = Duration::from_secs_f64(1.0 / f64::from(cfg.fps.max(1)));
        Ok(V4lCamera {
            stream: Some(stream),
            device,
            node,
            probe,
            choice,
            frame_timeout: (frame_time * 3).max(MIN_FRAME_TIMEOUT),
            first: true,
            sequence: 0,
            origin: Instant::now(),
        })
    }

    /// What the camera offered when it was opened.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The mode the driver set.
    pub fn choice(&self) -> Choice {
        self.choice
    }

    /// Negotiated pixel format and size.
    pub fn format(&self) -> (PixelFormat, u32, u32) {
        (self.choice.format, self.choice.width, self.choice.height)
    }

    /// The newest frame the driver has: waits (with the timeout) for one, then takes any newer
    /// one already waiting, so a slow loop never analyses a stale frame.
    fn newest_raw(&mut self) -> Result<Vec<u8>, CameraError> {
        let node = &self.node;
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| CameraError::Other(format!("{}: stream closed", node.display())))?;
        let mut raw = Vec::new();
        let mut skipped = 0u32;
        loop {
            let (buf, meta) = stream
                .next()
                .map_err(|e| map_error(node, "VIDIOC_DQBUF", &e))?;
            if meta.flags.contains(BufferFlags::ERROR) {
                return Err(CameraError::Other(format!(
                    "{}: the driver marked frame {} as damaged",
                    node.display(),
                    meta.sequence
                )));
            }
            let used = match meta.bytesused as usize {
                0 => buf.len(),
                n => n.min(buf.len()),
            };
            raw.clear();
            raw.extend_from_slice(&buf[..used]);
            // Another frame already done? Take it instead (poll with no wait).
            match self.device.handle().poll(POLLIN, 0) {
                Ok(n) if n > 0 && skipped < BUFFERS => skipped += 1,
                _ => break,
            }
        }
        if skipped > 0 {
            log::trace!("camera: skipped {skipped} older frame(s)");
        }
        Ok(raw)
    }
}

/// `POLLIN` from poll(2) (the same on every Linux architecture).
const POLLIN: i16 = 0x001;

impl Camera for V4lCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let raw = self.newest_raw()?;
        if std::mem::take(&mut self.first) {
            if let Some(s) = self.stream.as_mut() {
                s.set_timeout(self.frame_timeout);
            }
        }
        let (format, width, height) = self.format();
        let image = decode(format, &raw, width, height)?;
        let f = Frame::new(image, self.sequence, self.origin.elapsed());
        self.sequence += 1;
        Ok(f)
    }
}

impl Drop for V4lCamera {
    /// `v4l`'s stream panics in its own drop when STREAMOFF fails with anything but ENODEV;
    /// stop it here first and, if that fails, leak the stream (a few mapped buffers of a dead
    /// camera) rather than bring the device down.
    fn drop(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            match stream.stop() {
                Ok(()) => drop(stream),
                Err(e) if e.raw_os_error() == Some(19) => drop(stream),
                Err(e) => {
                    log::warn!(
                        "{}: STREAMOFF failed ({e}); leaking its buffers",
                        self.node.display()
                    );
                    std::mem::forget(stream);
                }
            }
        }
    }
}

/// The configured camera wrapped in [`Reconnecting`]: opened on the first poll, reopened by
/// itself after an unplug or a dead stream (backoff on `clock`). This is what the device's run
/// loop gets.
pub fn reconnecting_camera<K: Clock>(
    cfg: &CameraConfig,
    clock: K,
) -> Reconnecting<V4lCamera, impl FnMut() -> Result<V4lCamera, CameraError>, K> {
    let cfg = cfg.clone();
    Reconnecting::new(move || V4lCamera::open(&cfg), clock, Backoff::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::ManualClock;

    #[test]
    fn missing_device_is_disconnected() {
        let cfg = CameraConfig {
            device: CameraDevice::Path("/dev/v4l/by-id/gestaltcam-test-no-such-camera".into()),
            ..CameraConfig::default()
        };
        assert!(matches!(
            V4lCamera::open(&cfg),
            Err(CameraError::Disconnected(_))
        ));
    }

    #[test]
    fn reconnecting_camera_without_device_reports_disconnected() {
        let cfg = CameraConfig {
            device: CameraDevice::Path("/dev/gestaltcam-test-no-video".into()),
            ..CameraConfig::default()
        };
        let mut cam = reconnecting_camera(&cfg, ManualClock::new());
        assert!(matches!(cam.frame(), Err(CameraError::Disconnected(_))));
        assert!(!cam.is_connected());
    }

    #[test]
    fn non_video_path_is_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("not-a-camera");
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            device_index(&CameraDevice::Path(p)),
            Err(CameraError::Config(_))
        ));
    }

    #[test]
    fn io_errors_map_to_what_reconnecting_needs() {
        let node = Path::new("/dev/null");
        let enodev = io::Error::from_raw_os_error(19);
        assert!(matches!(
            map_error(node, "DQBUF", &enodev),
            CameraError::Disconnected(_)
        ));
        let eio = io::Error::from_raw_os_error(5);
        assert!(matches!(
            map_error(node, "DQBUF", &eio),
            CameraError::Other(_)
        ));
        let timeout = io::Error::new(io::ErrorKind::TimedOut, "VIDIOC_DQBUF");
        assert!(matches!(
            map_error(node, "DQBUF", &timeout),
            CameraError::Timeout
        ));
        assert_eq!(format_of(FourCC::new(b"JPEG")), Some(PixelFormat::Mjpeg));
        assert_eq!(format_of(FourCC::new(b"H264")), None);
        for f in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Mjpeg] {
            assert_eq!(format_of(fourcc_of(f)), Some(f));
        }
    }
}
