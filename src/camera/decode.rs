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
    // A frame cut short on the USB bus still decodes (the missing rows come out grey): refuse
    // it unless it ends with EOI (FF D9); some cameras pad the buffer with zeros after it.
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if end < 4 || data[end - 2..end] != [0xFF, 0xD9] {
        return Err(DecodeError::Jpeg(
            "truncated frame: no JPEG end-of-image marker".into(),
        ));
    }
    let data = with_huffman_tables(data);
    let img = image::load_from_memory_with_format(&data, ImageFormat::Jpeg)
        .map_err(|e| DecodeError::Jpeg(e.to_string()))?;
    Ok(img.to_rgb8())
}

/// JPEG Annex K.3 standard Huffman tables: (class << 4 | id, code counts per length, values).
const STD_HUFFMAN: [(u8, [u8; 16], &[u8]); 4] = [
    (
        0x00,
        [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
    (
        0x01,
        [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ),
    (
        0x10,
        [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        &[
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1,
            0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
            0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
            0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
            0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
            0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    ),
    (
        0x11,
        [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        &[
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
            0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09,
            0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25,
            0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
            0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
            0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
            0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
            0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
            0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
            0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    ),
];

/// Many UVC cameras send MJPEG frames without Huffman tables (the "AVI1" convention: the
/// standard tables are implied). Inserts a DHT segment with the standard tables right after
/// SOI when none precedes the first scan; otherwise (or if the markers can't be walked) the
/// data is returned as is.
fn with_huffman_tables(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let mut i = 2;
    loop {
        if i + 4 > data.len() || data[i] != 0xFF {
            return Cow::Borrowed(data);
        }
        match data[i + 1] {
            0xC4 => return Cow::Borrowed(data),
            0xDA => break,
            // Fill bytes and parameterless markers.
            0xFF => i += 1,
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let len = usize::from(data[i + 2]) << 8 | usize::from(data[i + 3]);
                if len < 2 {
                    return Cow::Borrowed(data);
                }
                i += 2 + len;
            }
        }
    }
    let mut dht = Vec::with_capacity(420);
    for (class_id, counts, values) in STD_HUFFMAN {
        dht.push(class_id);
        dht.extend_from_slice(&counts);
        dht.extend_from_slice(values);
    }
    let len = dht.len() + 2;
    let mut out = Vec::with_capacity(data.len() + len + 2);
    out.extend_from_slice(&data[..2]);
    out.extend_from_slice(&[0xFF, 0xC4, (len >> 8) as u8, (len & 0xFF) as u8]);
    out.extend_from_slice(&dht);
    out.extend_from_slice(&data[2..]);
    Cow::Owned(out)
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
    fn standard_huffman_tables_are_consistent() {
        for (_, counts, values) in STD_HUFFMAN {
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            assert_eq!(total, values.len());
        }
    }

    #[test]
    fn odd_width_is_rejected() {
        assert!(matches!(
            yuyv_to_rgb(&[0; 64], 3, 2),
            Err(DecodeError::BadDimensions { .. })
        ));
    }
}
