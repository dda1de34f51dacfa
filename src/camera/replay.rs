//! A camera that replays still images: a folder (sorted by file name) or images in memory.
//! Used by the demo mode and by tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::RgbImage;

use super::{Camera, CameraError, Frame};

/// Why a replay camera could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot decode image {path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error("no images to replay")]
    NoImages,
    #[error("replay rate must be positive and finite, got {0}")]
    BadRate(f32),
}

/// File extensions picked up from a folder.
const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// Replays a fixed list of images at a given rate, looping or not.
///
/// `frame()` never blocks: it returns the next image with `timestamp = sequence / fps`; the run
/// loop paces itself with its clock.
#[derive(Debug, Clone)]
pub struct ReplayCamera {
    images: Vec<RgbImage>,
    interval: Duration,
    looping: bool,
    next: u64,
}

impl ReplayCamera {
    /// Images in memory, replayed in order.
    pub fn from_images(images: Vec<RgbImage>, fps: f32) -> Result<Self, ReplayError> {
        if images.is_empty() {
            return Err(ReplayError::NoImages);
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(ReplayError::BadRate(fps));
        }
        Ok(ReplayCamera {
            images,
            interval: Duration::from_micros((1e6 / f64::from(fps)).round() as u64),
            looping: true,
            next: 0,
        })
    }

    /// Every PNG/JPEG in `dir` (not recursive), sorted by file name.
    pub fn from_folder(dir: &Path, fps: f32) -> Result<Self, ReplayError> {
        let folder_err = |source| ReplayError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(folder_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        paths.sort();
        let mut images = Vec::with_capacity(paths.len());
        for path in paths {
            let img = image::open(&path).map_err(|e| ReplayError::Image {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            images.push(img.to_rgb8());
        }
        Self::from_images(images, fps)
    }

    /// A folder (as [`Self::from_folder`]) or a list file: one image path per line, relative to
    /// the list's folder; blank lines and `#` comments are skipped.
    pub fn from_path(path: &Path, fps: f32) -> Result<Self, ReplayError> {
        if path.is_dir() {
            return Self::from_folder(path, fps);
        }
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Folder {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut images = Vec::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let p = base.join(line);
            let img = image::open(&p).map_err(|e| ReplayError::Image {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            images.push(img.to_rgb8());
        }
        Self::from_images(images, fps)
    }

    /// Whether to start again after the last image (default: yes). Without looping the camera
    /// reports [`CameraError::Ended`] after the last image.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Time between frames.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Camera for ReplayCamera {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        let n = self.images.len() as u64;
        if n == 0 || (!self.looping && self.next >= n) {
            return Err(CameraError::Ended);
        }
        let seq = self.next;
        let image = self.images[(seq % n) as usize].clone();
        self.next += 1;
        let timestamp = self
            .interval
            .saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
        Ok(Frame::new(image, seq, timestamp))
    }
}
