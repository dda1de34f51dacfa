//! Raw camera buffers → RGB. Pure Rust: YUYV and NV12 with BT.601 limited-range maths, MJPEG
//! through the `image` crate's JPEG decoder. Every malformed input is a typed error.

use image::{ImageFormat, RgbImage};

use super::PixelFormat;

/// Why a buffer is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty frame")]
    Empty,
    #[error("frame too short: {got} bytes, {expected} expected")]
    Short { expected: usize, got: usize },
    #[error("unusable frame size {width}x{height} for {format}")]
    BadDimensions {
        width: u32,
        height: u32,
        format: &'static str,
    },
    #[error("not a decodable JPEG: {0}")]
    Jpeg(String),
}

/// Decodes one raw buffer of `format` with the negotiated `width` × `height`.
///
/// For MJPEG the JPEG's own size wins (the negotiated one is only checked for being non-zero).
pub fn decode(
    format: PixelFormat,
    data: &[u8],
    width: u32,
    height: u32,
) -> Result<RgbImage, DecodeError> {
    match format {
        PixelFormat::Yuyv => yuyv_to_rgb(data, width, height),
        PixelFormat::Nv12 => nv12_to_rgb(data, width, height),
        PixelFormat::Mjpeg => mjpeg_to_rgb(data),
    }
}

/// BT.601 limited range ("studio swing") YCbCr → RGB, 8-bit fixed point.
#[inline]
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    let clip = |v: i32| (v >> 8).clamp(0, 255) as u8;
    [
        clip(298 * c + 409 * e + 128),
        clip(298 * c - 100 * d - 208 * e + 128),
        clip(298 * c + 516 * d + 128),
    ]
}

fn check_dims(
    width: u32,
    height: u32,
    format: &'static str,
) -> Result<(usize, usize), DecodeError> {
    // Both 4:2:2 and 4:2:0 need an even width; 4:2:0 also an even height (checked by caller).
    if width == 0 || height == 0 || width % 2 != 0 || width > 16384 || height > 16384 {
        return Err(DecodeError::BadDimensions {
            width,
            height,
            format,
        });
    }
    Ok((width as usize, height as usize))
}

/// Packed YUYV (Y0 Cb Y1 Cr). Rows may be padded: a buffer of exactly `height` equal rows of at
/// least `2 * width` bytes is read with that stride.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Result<RgbImage, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Empty);
    }
    let (w, h) = check_dims(width, height, "yuyv")?;
    let row = w * 2;
    let expected = row * h;
    if data.len() < expected {
        return Err(DecodeError::Short {
            expected,
            got: data.len(),
        });
    }
    let stride = if data.len() % h == 0 {
        data.len() / h
    } else {
        row
    };
    let mut out = vec![0u8; w * h * 3];
    for (y, out_row) in out.chunks_exact_mut(w * 3).enumerate() {
        let src = &data[y * stride..y * stride + row];
        for (px, dst) in src.chunks_exact(4).zip(out_row.chunks_exact_mut(6)) {
            let (y0, cb, y1, cr) = (px[0], px[1], px[2], px[3]);
            dst[..3].copy_from_slice(&ycbcr_to_rgb(y0, cb, cr));
            dst[3..].copy_from_slice(&ycbcr_to_rgb(y1, cb, cr));
        }
    }
    RgbImage::from_raw(width, height, out).ok_or(DecodeError::BadDimensions {
        width,
        height,
        format: "yuyv",
    })
}

/// NV12: `width * height` luma bytes, then `width * height / 2` bytes of interleaved Cb Cr at
/// half resolution in both directions.
pub fn nv12_to_rgb(data: &[u8], width: u32, height: u32) -> Result<RgbImage, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Empty);
    }
    let (w, h) = check_dims(width, height, "nv12")?;
    if h % 2 != 0 {
        return Err(DecodeError::BadDimensions {
            width,
            height,
            format: "nv12",
        });
    }
    let luma = w * h;
    let expected = luma + luma / 2;
    if data.len() < expected {
        return Err(DecodeError::Short {
            expected,
            got: data.len(),
        });
    }
    let (ys, uv) = data.split_at(luma);
    let mut out = vec![0u8; luma * 3];
    for (y, out_row) in out.chunks_exact_mut(w * 3).enumerate() {
        let yrow = &ys[y * w..(y + 1) * w];
        let uvrow = &uv[(y / 2) * w..(y / 2) * w + w];
        for (x, dst) in out_row.chunks_exact_mut(3).enumerate() {
            let pair = (x / 2) * 2;
            dst.copy_from_slice(&ycbcr_to_rgb(yrow[x], uvrow[pair], uvrow[pair + 1]));
        }
    }
    RgbImage::from_raw(width, height, out).ok_or(DecodeError::BadDimensions {
        width,
        height,
        format: "nv12",
    })
}

/// One MJPEG frame (a complete JPEG) → RGB.
pub fn mjpeg_to_rgb(data: &[u8]) -> Result<RgbImage, DecodeError> {
    if data.is_empty() {
        return Err(DecodeError::Empty);
    }
    // A JPEG starts with SOI (FF D8); reject other bytes before handing them to the decoder.
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(DecodeError::Jpeg("no JPEG start-of-image marker".into()));
    }
    let img = image::load_from_memory_with_format(data, ImageFormat::Jpeg)
        .map_err(|e| DecodeError::Jpeg(e.to_string()))?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_reference_colours() {
        assert_eq!(ycbcr_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(ycbcr_to_rgb(235, 128, 128), [255, 255, 255]);
        // 75% bars and primaries from BT.601 tables, within rounding.
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2);
        assert!(close(ycbcr_to_rgb(81, 90, 240), [255, 0, 0]));
        assert!(close(ycbcr_to_rgb(145, 54, 34), [0, 255, 0]));
        assert!(close(ycbcr_to_rgb(41, 240, 110), [0, 0, 255]));
        assert!(close(ycbcr_to_rgb(126, 128, 128), [128, 128, 128]));
    }

    #[test]
    fn odd_width_is_rejected() {
        assert!(matches!(
            yuyv_to_rgb(&[0; 64], 3, 2),
            Err(DecodeError::BadDimensions { .. })
        ));
    }
}
