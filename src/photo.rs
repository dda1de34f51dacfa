//! Decoding untrusted photo files into RGB, with typed errors and hard size limits.
//!
//! Every image that enters the pipeline from disk (gallery builds, `analyze`, the replay camera)
//! goes through here: grey, grey+alpha, RGBA, 16-bit and CMYK JPEGs are converted to 8-bit RGB;
//! empty, truncated, non-image and oversized files give a [`PhotoFileError`], never a panic.

use image::{DynamicImage, ImageReader, Limits, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted image, in pixels (about 64 megapixels).
pub const MAX_PIXELS: u64 = 64_000_000;
/// Largest accepted file, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a photo file could not be read or decoded into an image (before any face is looked
/// for: that is [`crate::pipeline::UnusablePhotoError`]).
#[derive(Debug, thiserror::Error)]
pub enum PhotoFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} is empty")]
    Empty { what: String },
    #[error("{what} is larger than {MAX_FILE_BYTES} bytes")]
    FileTooLarge { what: String },
    #[error("{what} is not an image in a supported format (JPEG, PNG)")]
    NotAnImage { what: String },
    #[error("{what} is {width}x{height}, which is not a usable photo")]
    BadDimensions {
        what: String,
        width: u32,
        height: u32,
    },
    #[error("{what} is {width}x{height}; photos larger than {MAX_PIXELS} pixels are refused")]
    TooLarge {
        what: String,
        width: u32,
        height: u32,
    },
    #[error("{what} could not be decoded (truncated or corrupt?): {message}")]
    Corrupt { what: String, message: String },
}

/// Reads and decodes a photo file.
pub fn load_path(path: &Path) -> Result<RgbImage, PhotoFileError> {
    let what = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| PhotoFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(PhotoFileError::FileTooLarge { what });
    }
    let bytes = std::fs::read(path).map_err(|source| PhotoFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, &what)
}

/// Decodes photo bytes; `what` names the source in error messages.
pub fn decode(bytes: &[u8], what: &str) -> Result<RgbImage, PhotoFileError> {
    let what = what.to_string();
    if bytes.is_empty() {
        return Err(PhotoFileError::Empty { what });
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(PhotoFileError::FileTooLarge { what });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoFileError::Corrupt {
            what: what.clone(),
            message: e.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(PhotoFileError::NotAnImage { what });
    }
    let (width, height) = reader.into_dimensions().map_err(|e| classify(e, &what))?;
    check_dimensions(width, height, &what)?;
    // Re-create the reader (into_dimensions consumed it) with explicit limits.
    reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoFileError::Corrupt {
            what: what.clone(),
            message: e.to_string(),
        })?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);
    let img = reader.decode().map_err(|e| classify(e, &what))?;
    Ok(to_rgb8(img))
}

fn check_dimensions(width: u32, height: u32, what: &str) -> Result<(), PhotoFileError> {
    if width < 2 || height < 2 {
        return Err(PhotoFileError::BadDimensions {
            what: what.to_string(),
            width,
            height,
        });
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PhotoFileError::TooLarge {
            what: what.to_string(),
            width,
            height,
        });
    }
    Ok(())
}

fn classify(e: image::ImageError, what: &str) -> PhotoFileError {
    use image::ImageError as E;
    match e {
        E::Unsupported(_) => PhotoFileError::NotAnImage {
            what: what.to_string(),
        },
        E::Limits(_) => PhotoFileError::TooLarge {
            what: what.to_string(),
            width: 0,
            height: 0,
        },
        other => PhotoFileError::Corrupt {
            what: what.to_string(),
            message: other.to_string(),
        },
    }
}

/// Converts any decoded colour type (grey, grey+alpha, RGBA, 16-bit, float) to 8-bit RGB.
/// Alpha is composited over white, so a transparent PNG background does not turn black.
pub fn to_rgb8(img: DynamicImage) -> RgbImage {
    if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let (w, h) = rgba.dimensions();
        let mut out = RgbImage::new(w, h);
        for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
            let a = u16::from(p[3]);
            for c in 0..3 {
                let v = (u16::from(p[c]) * a + 255 * (255 - a) + 127) / 255;
                o[c] = v as u8;
            }
        }
        out
    } else {
        img.into_rgb8()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Luma, Rgba};

    fn encode(img: DynamicImage, fmt: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, fmt).expect("encode test image");
        buf.into_inner()
    }

    #[test]
    fn empty_and_garbage_are_typed_errors() {
        assert!(matches!(
            decode(&[], "x"),
            Err(PhotoFileError::Empty { .. })
        ));
        assert!(matches!(
            decode(b"hello, not an image at all", "x"),
            Err(PhotoFileError::NotAnImage { .. })
        ));
    }

    #[test]
    fn tiny_images_are_refused() {
        for (w, h) in [(1, 1), (1, 40), (40, 1)] {
            let png = encode(DynamicImage::new_rgb8(w, h), ImageFormat::Png);
            assert!(
                matches!(decode(&png, "tiny"), Err(PhotoFileError::BadDimensions { width, height, .. }) if width == w && height == h),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn grey_rgba_and_16_bit_become_rgb() {
        let grey = DynamicImage::ImageLuma8(image::ImageBuffer::from_pixel(4, 3, Luma([77u8])));
        let rgb = decode(&encode(grey, ImageFormat::Png), "grey").expect("grey");
        assert_eq!(rgb.dimensions(), (4, 3));
        assert_eq!(rgb.get_pixel(1, 1).0, [77, 77, 77]);

        let rgba =
            DynamicImage::ImageRgba8(image::ImageBuffer::from_pixel(3, 3, Rgba([200u8, 0, 0, 0])));
        let out = decode(&encode(rgba, ImageFormat::Png), "rgba").expect("rgba");
        assert_eq!(
            out.get_pixel(0, 0).0,
            [255, 255, 255],
            "fully transparent is white"
        );

        let g16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(3, 2, Luma([65535u16])));
        let out = decode(&encode(g16, ImageFormat::Png), "g16").expect("16-bit");
        assert_eq!(out.get_pixel(2, 1).0, [255, 255, 255]);
    }

    #[test]
    fn truncated_files_are_corrupt_not_panics() {
        let mut img = RgbImage::new(64, 48);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]);
        }
        for fmt in [ImageFormat::Png, ImageFormat::Jpeg] {
            let bytes = encode(DynamicImage::ImageRgb8(img.clone()), fmt);
            for cut in [bytes.len() / 8, bytes.len() / 2, bytes.len() - 10] {
                let r = decode(&bytes[..cut], "cut");
                assert!(
                    r.is_err() || fmt == ImageFormat::Jpeg,
                    "{fmt:?} cut at {cut} decoded"
                );
                if let Err(e) = r {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn oversized_header_is_refused_before_allocating() {
        // A PNG header claiming 20000x20000 pixels: refused from the header alone.
        let mut png = encode(DynamicImage::new_rgb8(2, 2), ImageFormat::Png);
        // IHDR width/height live at bytes 16..24; patch them (the CRC then mismatches, so the
        // decoder may call it corrupt instead; either way it must not allocate 1.2 GB or panic).
        png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let err = decode(&png, "big").expect_err("huge header refused");
        assert!(
            matches!(
                err,
                PhotoFileError::TooLarge { .. } | PhotoFileError::Corrupt { .. }
            ),
            "{err}"
        );
    }
}
