//! Cameras as a small trait, RGB frames, pure-Rust pixel decoders, a replay camera and a
//! self-healing [`Reconnecting`] wrapper.
//!
//! Nothing here opens a device: the real V4L2 camera lives in [`crate::hw`] and hands raw
//! buffers to [`decode::decode`].

pub mod clock;
pub mod decode;
pub mod modes;
pub mod reconnect;
pub mod replay;

use std::time::Duration;

use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use clock::{Clock, ManualClock, SystemClock};
pub use decode::{decode, DecodeError};
pub use reconnect::{Backoff, Reconnecting};
pub use replay::{ReplayCamera, ReplayError};

/// One camera frame, RGB in RAM. Never written to disk by this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub image: RgbImage,
    /// Counts frames delivered by the camera that produced it, from 0.
    pub sequence: u64,
    /// When it was captured, on the clock of the camera that produced it.
    pub timestamp: Duration,
}

impl Frame {
    pub fn new(image: RgbImage, sequence: u64, timestamp: Duration) -> Self {
        Frame {
            image,
            sequence,
            timestamp,
        }
    }
    pub fn width(&self) -> u32 {
        self.image.width()
    }
    pub fn height(&self) -> u32 {
        self.image.height()
    }
}

/// Pixel formats a camera may deliver (the ones we decode ourselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// YUV 4:2:2 packed (Y0 U Y1 V), BT.601 limited range. Preferred: cheap and exact.
    Yuyv,
    /// Y plane then interleaved UV plane (4:2:0).
    Nv12,
    /// Motion JPEG: each frame is a JPEG image.
    Mjpeg,
}

impl PixelFormat {
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Mjpeg => "mjpeg",
        }
    }
}

/// Why a camera gave no frame.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The device is gone (unplugged, or could not be opened). [`Reconnecting`] retries.
    #[error("camera disconnected: {0}")]
    Disconnected(String),
    /// No frame arrived in time.
    #[error("camera timed out")]
    Timeout,
    /// A frame arrived but could not be decoded; the next one may be fine.
    #[error("bad frame: {0}")]
    BadFrame(#[from] DecodeError),
    /// The device exists but refused the configuration (format, resolution).
    #[error("camera refused the configuration: {0}")]
    Config(String),
    /// A finite source (non-looping replay) has no more frames.
    #[error("no more frames")]
    Ended,
    #[error("camera error: {0}")]
    Other(String),
}

/// A source of frames. `frame` may block until the next frame is due.
pub trait Camera {
    fn frame(&mut self) -> Result<Frame, CameraError>;
}

impl<C: Camera + ?Sized> Camera for Box<C> {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        (**self).frame()
    }
}
