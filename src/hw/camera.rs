//! The USB camera through nokhwa's V4L2 backend. nokhwa only negotiates and hands over raw
//! buffers; [`crate::camera::decode`] turns them into frames (no nokhwa `decoding` feature, no
//! C JPEG library). nokhwa types stay inside this file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use nokhwa::NokhwaError;

use crate::camera::{
    decode, Backoff, Camera, CameraError, Clock, Frame, PixelFormat, Reconnecting,
};
use crate::config::{CameraConfig, CameraDevice};

/// An open V4L2 camera streaming raw frames.
pub struct V4lCamera {
    inner: nokhwa::Camera,
    node: PathBuf,
    format: PixelFormat,
    width: u32,
    height: u32,
    sequence: u64,
    origin: Instant,
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

fn to_frame_format(f: PixelFormat) -> FrameFormat {
    match f {
        PixelFormat::Yuyv => FrameFormat::YUYV,
        PixelFormat::Nv12 => FrameFormat::NV12,
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
    }
}

fn from_frame_format(f: FrameFormat) -> Option<PixelFormat> {
    match f {
        FrameFormat::YUYV => Some(PixelFormat::Yuyv),
        FrameFormat::NV12 => Some(PixelFormat::Nv12),
        FrameFormat::MJPEG => Some(PixelFormat::Mjpeg),
        _ => None,
    }
}

/// Maps nokhwa's errors: a vanished node or ENODEV is `Disconnected` (so `Reconnecting`
/// retries), a timeout is `Timeout`.
fn map_error(node: &Path, e: NokhwaError) -> CameraError {
    let text = e.to_string();
    let gone = !node.exists()
        || text.contains("No such device")
        || text.contains("os error 19")
        || text.contains("No such file")
        || text.contains("os error 2)");
    if gone {
        return CameraError::Disconnected(text);
    }
    if text.contains("timed out") || text.contains("os error 110") {
        return CameraError::Timeout;
    }
    match e {
        NokhwaError::OpenDeviceError(..) | NokhwaError::OpenStreamError(_) => {
            CameraError::Disconnected(text)
        }
        NokhwaError::SetPropertyError { .. } | NokhwaError::GetPropertyError { .. } => {
            CameraError::Config(text)
        }
        _ => CameraError::Other(text),
    }
}

impl V4lCamera {
    /// Opens the configured camera, asks for the configured format (the others we decode are
    /// accepted as fallbacks, closest resolution and rate) and starts streaming.
    pub fn open(cfg: &CameraConfig) -> Result<Self, CameraError> {
        let (index, node) = device_index(&cfg.device)?;
        if !node.exists() {
            return Err(CameraError::Disconnected(format!(
                "{} does not exist",
                node.display()
            )));
        }
        let wanted = CameraFormat::new(
            Resolution::new(cfg.width, cfg.height),
            to_frame_format(cfg.format),
            cfg.fps,
        );
        // Preferred format first; nokhwa picks the closest mode among these.
        let mut formats = vec![to_frame_format(cfg.format)];
        for f in [FrameFormat::YUYV, FrameFormat::MJPEG, FrameFormat::NV12] {
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
        let request = RequestedFormat::with_formats(RequestedFormatType::Closest(wanted), &formats);
        let mut inner = nokhwa::Camera::new(CameraIndex::Index(index), request)
            .map_err(|e| map_error(&node, e))?;
        inner.open_stream().map_err(|e| map_error(&node, e))?;
        let actual = inner.camera_format();
        let format = from_frame_format(actual.format()).ok_or_else(|| {
            CameraError::Config(format!(
                "camera offers {} which gestaltcam does not decode",
                actual.format()
            ))
        })?;
        log::info!(
            "camera {} streaming {}x{} {} at {} fps",
            node.display(),
            actual.width(),
            actual.height(),
            format.name(),
            actual.frame_rate()
        );
        Ok(V4lCamera {
            inner,
            node,
            format,
            width: actual.width(),
            height: actual.height(),
            sequence: 0,
            origin: Instant::now(),
        })
    }

    /// Negotiated pixel format and size.
    pub fn format(&self) -> (PixelFormat, u32, u32) {
        (self.format, self.width, self.height)
    }
}

impl Camera for V4lCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let raw = self
            .inner
            .frame_raw()
            .map_err(|e| map_error(&self.node, e))?;
        let image = decode(self.format, &raw, self.width, self.height)?;
        let f = Frame::new(image, self.sequence, self.origin.elapsed());
        self.sequence += 1;
        Ok(f)
    }
}

/// The configured camera wrapped in [`Reconnecting`]: opened on the first poll, reopened by
/// itself after an unplug (backoff on `clock`). This is what the device's run loop gets.
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
}
