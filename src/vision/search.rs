//! A closer look for small faces in big photos.
//!
//! The detector sees a whole photo letterboxed into its fixed input (320×320), so a face under
//! ~10% of a photo's width is a handful of input pixels: missed, or found with loose landmarks.
//! Two steps fix that; both act only where the photo is bigger than the input, so frames and
//! photos the size of the input are detected exactly as before.
//!
//! - [`find_faces`]: when the whole-photo pass finds no face, or only faces under
//!   [`MIN_INPUT_FACE`] input pixels wide (found unreliably, and perhaps not the patient's), the
//!   photo is searched in overlapping square tiles half a tile apart (so every face up to half a
//!   tile wide lies whole in one tile), the tile side 1/2, then 1/3 of the photo's longer side,
//!   never smaller than the model input; the first level that finds a face ends the search.
//!   Faces touching a tile's inner edge are dropped (cut faces; the whole face lies in the
//!   neighbouring tile), the rest merged by NMS.
//! - [`refine`]: the chosen face is detected again on a square crop around it
//!   ([`CROP_FACES`] face boxes wide) at the photo's own resolution, when the crop enlarges the
//!   face at least [`MIN_GAIN`]× against the whole-photo pass; the matching face (highest IoU
//!   with the first box) replaces the first. At the resolution the model was trained at, its
//!   landmarks are as good as on the reference photos (docs/accuracy.md, "Small faces").
//!
//! The live preview only needs a face box for guidance and keeps the single whole-frame pass;
//! the capture and photo files get the closer look (src/pipeline.rs).

use crate::vision::detect::{iou, nms, DetectError, Detector, Region};
use crate::vision::Face;
use image::RgbImage;

/// Side of the refinement crop, in face boxes (the larger of the box's width and height). At
/// 2.5 the face fills ~40% of the crop, as in the reference photos the detector was measured on.
pub const CROP_FACES: f32 = 2.5;
/// Least enlargement of the face (crop scale ÷ whole-photo scale) for which the face is
/// detected again.
pub const MIN_GAIN: f32 = 1.5;
/// Tile sides tried, as fractions 1/k of the photo's longer side, in order.
pub const TILE_LEVELS: [u32; 2] = [2, 3];
/// Faces narrower than this in the detector's input (the whole-photo pass) are looked for again
/// in tiles.
pub const MIN_INPUT_FACE: f32 = 32.0;
/// Least IoU between the first box and a face found in the crop for it to be the same face.
pub const MIN_MATCH_IOU: f32 = 0.3;
/// A face closer than this fraction of the tile side to one of the tile's inner edges is cut.
const EDGE_MARGIN: f32 = 0.02;

/// Faces in `img`, highest score first: the whole-photo pass, or when that finds no face of at
/// least [`MIN_INPUT_FACE`] input pixels and the photo is big enough, the tiled search (the
/// whole-photo faces when the tiles find none).
pub fn find_faces(det: &Detector, img: &RgbImage) -> Result<Vec<Face>, DetectError> {
    let faces = det.detect(img)?;
    let (w, h) = img.dimensions();
    let scale = input_scale(det.input_hw(), w, h);
    if faces.iter().any(|f| f.width() * scale >= MIN_INPUT_FACE) {
        return Ok(faces);
    }
    let (in_h, in_w) = det.input_hw();
    let min_side = in_w.max(in_h) as u32;
    for k in TILE_LEVELS {
        let side = w.max(h).div_ceil(k);
        if side < min_side {
            break;
        }
        let mut found = Vec::new();
        for tile in tiles(w, h, side) {
            let faces = det.detect_in(img, tile)?;
            found.extend(faces.into_iter().filter(|f| !cut_by(f, tile, w, h)));
        }
        if !found.is_empty() {
            found.sort_by(|a, b| b.score.total_cmp(&a.score));
            let p = det.params();
            log::debug!(
                "{} small face(s) in the whole photo; {} in tiles of {side} px",
                faces.len(),
                found.len()
            );
            return Ok(nms(found, p.nms_iou, p.max_faces));
        }
    }
    Ok(faces)
}

/// `face` detected again on a crop around it at full resolution, when that enlarges it at
/// least [`MIN_GAIN`]×; otherwise (or when the crop shows no matching face) `face` itself.
pub fn refine(det: &Detector, img: &RgbImage, face: &Face) -> Result<Face, DetectError> {
    let (w, h) = img.dimensions();
    let crop = crop_around(face, w, h);
    if gain(det.input_hw(), (w, h), crop) < MIN_GAIN {
        return Ok(face.clone());
    }
    let best = det
        .detect_in(img, crop)?
        .into_iter()
        .map(|f| (iou(&f.bbox, &face.bbox), f))
        .filter(|(o, _)| *o >= MIN_MATCH_IOU)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match best {
        Some((_, f)) => f,
        None => {
            log::debug!("the face was not found again in its crop {crop:?}: first landmarks kept");
            face.clone()
        }
    })
}

/// The square crop, [`CROP_FACES`] face boxes wide, centred on the face and moved (then cut)
/// to lie inside the `width`×`height` image.
pub fn crop_around(face: &Face, width: u32, height: u32) -> Region {
    let side = (CROP_FACES * face.width().max(face.height()))
        .round()
        .max(1.0);
    let cx = (face.bbox[0] + face.bbox[2]) / 2.0;
    let cy = (face.bbox[1] + face.bbox[3]) / 2.0;
    let axis = |centre: f32, len: u32| -> (u32, u32) {
        let len_f = len as f32;
        if side >= len_f {
            return (0, len);
        }
        let start = (centre - side / 2.0).round().clamp(0.0, len_f - side);
        (start as u32, side as u32)
    };
    let (x, cw) = axis(cx, width);
    let (y, ch) = axis(cy, height);
    Region {
        x,
        y,
        width: cw,
        height: ch,
    }
}

/// How much larger a face looks to the detector in `region` than in the whole image.
pub fn gain(input_hw: (usize, usize), image: (u32, u32), region: Region) -> f32 {
    input_scale(input_hw, region.width, region.height) / input_scale(input_hw, image.0, image.1)
}

/// The scale at which a `w`×`h` image is letterboxed into the detector's `(height, width)`
/// input (as `Detector::preprocess_in`, before its rounding to whole pixels).
fn input_scale(input_hw: (usize, usize), w: u32, h: u32) -> f32 {
    let (in_h, in_w) = (input_hw.0 as f32, input_hw.1 as f32);
    (in_w / w.max(1) as f32).min(in_h / h.max(1) as f32)
}

/// Square tiles of `side` covering the `width`×`height` image, half a tile apart (the last
/// row and column moved back to end at the image's edge; cut to the image where it is smaller).
pub fn tiles(width: u32, height: u32, side: u32) -> Vec<Region> {
    let starts = |len: u32| -> Vec<u32> {
        if len <= side {
            return vec![0];
        }
        let step = (side / 2).max(1);
        let mut v: Vec<u32> = (0..)
            .map(|i| i * step)
            .take_while(|s| s + side < len)
            .collect();
        v.push(len - side);
        v
    };
    let (xs, ys) = (starts(width), starts(height));
    ys.iter()
        .flat_map(|&y| {
            xs.iter().map(move |&x| Region {
                x,
                y,
                width: side.min(width),
                height: side.min(height),
            })
        })
        .collect()
}

/// Whether `face` reaches within the margin of an edge of `tile` that is not the image's edge.
fn cut_by(face: &Face, tile: Region, width: u32, height: u32) -> bool {
    let m = EDGE_MARGIN * tile.width.max(tile.height) as f32;
    let (x0, y0) = (tile.x as f32, tile.y as f32);
    let (x1, y1) = (x0 + tile.width as f32, y0 + tile.height as f32);
    let b = face.bbox;
    (tile.x > 0 && b[0] < x0 + m)
        || (tile.y > 0 && b[1] < y0 + m)
        || (tile.x + tile.width < width && b[2] > x1 - m)
        || (tile.y + tile.height < height && b[3] > y1 - m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4]) -> Face {
        Face {
            bbox,
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn tiles_cover_the_image_half_a_tile_apart() {
        let t = tiles(4000, 3000, 2000);
        let xs: Vec<u32> = t.iter().filter(|r| r.y == 0).map(|r| r.x).collect();
        let ys: Vec<u32> = t.iter().filter(|r| r.x == 0).map(|r| r.y).collect();
        assert_eq!(xs, vec![0, 1000, 2000]);
        assert_eq!(ys, vec![0, 1000]);
        assert_eq!(t.len(), 6);
        assert!(t.iter().all(|r| r.width == 2000 && r.height == 2000));
        // Every face up to half a tile wide lies whole in some tile, wherever it is.
        for (fx, fy) in [(0, 0), (999, 999), (1001, 1), (2999, 1999), (3000, 2000)] {
            let inside = t.iter().any(|r| {
                r.x <= fx && fx + 1000 <= r.x + r.width && r.y <= fy && fy + 1000 <= r.y + r.height
            });
            assert!(inside, "a 1000 px face at ({fx}, {fy})");
        }
        // A side past the image: one tile, cut to it; an uneven length ends at the edge.
        assert_eq!(tiles(300, 200, 500), vec![Region::whole(300, 200)]);
        let xs: Vec<u32> = tiles(2500, 100, 1000).iter().map(|r| r.x).collect();
        assert_eq!(xs, vec![0, 500, 1000, 1500]);
    }

    #[test]
    fn crops_are_square_centred_and_inside() {
        // A 100 px face in the middle of a 4000×3000 photo: a 250 px square around it.
        let r = crop_around(&face([1950.0, 1450.0, 2050.0, 1550.0]), 4000, 3000);
        assert_eq!(
            r,
            Region {
                x: 1875,
                y: 1375,
                width: 250,
                height: 250
            }
        );
        // At the corner, the square moves inside.
        let r = crop_around(&face([-20.0, -10.0, 80.0, 90.0]), 4000, 3000);
        assert_eq!(
            r,
            Region {
                x: 0,
                y: 0,
                width: 250,
                height: 250
            }
        );
        let r = crop_around(&face([3950.0, 2950.0, 4050.0, 3050.0]), 4000, 3000);
        assert_eq!(
            r,
            Region {
                x: 3750,
                y: 2750,
                width: 250,
                height: 250
            }
        );
        // Larger than the image along one side: the whole side.
        let r = crop_around(&face([100.0, 0.0, 300.0, 200.0]), 1000, 400);
        assert_eq!((r.y, r.height, r.width), (0, 400, 500));
    }

    #[test]
    fn gain_compares_the_crop_with_the_whole_photo() {
        let crop = Region {
            x: 0,
            y: 0,
            width: 400,
            height: 400,
        };
        // 4000×3000 into 320: scale 0.08; 400 px crop: 0.8; ten times larger.
        assert!((gain((320, 320), (4000, 3000), crop) - 10.0).abs() < 1e-4);
        // The crop of a photo no bigger than the input gains nothing.
        let whole = Region::whole(250, 250);
        assert!((gain((320, 320), (250, 250), whole) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn faces_at_inner_tile_edges_are_cut() {
        let cut = |bbox, tile| cut_by(&face(bbox), tile, 4000, 3000);
        let tile = Region {
            x: 1000,
            y: 0,
            width: 2000,
            height: 2000,
        };
        // Inside with room: kept. At the image's own top edge: kept.
        assert!(!cut([1500.0, 0.0, 1700.0, 200.0], tile));
        // At the left (inner) edge, the right (inner) edge, the bottom (inner) edge: cut.
        assert!(cut([1010.0, 500.0, 1200.0, 700.0], tile));
        assert!(cut([2800.0, 500.0, 2990.0, 700.0], tile));
        assert!(cut([1500.0, 1800.0, 1700.0, 1990.0], tile));
        // The last tile's right edge is the image's: not cut.
        let last = Region {
            x: 2000,
            y: 1000,
            width: 2000,
            height: 2000,
        };
        assert!(!cut([3800.0, 1500.0, 3999.0, 1700.0], last));
    }
}
