//! Postprocessing: raw detector outputs decoded into faces at the anchors, then greedy NMS.

use super::{DetectorParams, Letterbox};
use crate::vision::Face;

/// Decodes raw outputs (`loc` N×4, `conf` N×2, `landm` N×10, row-major) into faces in original
/// image pixels, highest score first.
pub fn decode(
    loc: &[f32],
    conf: &[f32],
    landm: &[f32],
    anchors: &[[f32; 3]],
    params: &DetectorParams,
    lb: Letterbox,
) -> Vec<Face> {
    let n = anchors
        .len()
        .min(loc.len() / 4)
        .min(conf.len() / 2)
        .min(landm.len() / 10);
    let mut idx: Vec<usize> = (0..n)
        .filter(|&i| conf[2 * i + 1] > params.score_threshold)
        .collect();
    idx.sort_by(|&a, &b| conf[2 * b + 1].total_cmp(&conf[2 * a + 1]));
    idx.truncate(params.pre_nms_top_k);
    let [v0, v1] = params.variances;
    let cands: Vec<Face> = idx
        .iter()
        .map(|&i| {
            let [ax, ay, s] = anchors[i];
            let l = &loc[4 * i..4 * i + 4];
            let cx = ax + l[0] * v0 * s;
            let cy = ay + l[1] * v0 * s;
            let bw = s * (l[2] * v1).exp();
            let bh = s * (l[3] * v1).exp();
            let p = &landm[10 * i..10 * i + 10];
            let mut landmarks = [[0f32; 2]; 5];
            for (k, pt) in landmarks.iter_mut().enumerate() {
                pt[0] = (ax + p[2 * k] * v0 * s) / lb.scale_x + lb.offset_x;
                pt[1] = (ay + p[2 * k + 1] * v0 * s) / lb.scale_y + lb.offset_y;
            }
            Face {
                bbox: [
                    (cx - bw / 2.0) / lb.scale_x + lb.offset_x,
                    (cy - bh / 2.0) / lb.scale_y + lb.offset_y,
                    (cx + bw / 2.0) / lb.scale_x + lb.offset_x,
                    (cy + bh / 2.0) / lb.scale_y + lb.offset_y,
                ],
                score: conf[2 * i + 1],
                landmarks,
            }
        })
        .collect();
    nms(cands, params.nms_iou, params.max_faces)
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Greedy NMS over faces already sorted by descending score.
pub fn nms(faces: Vec<Face>, iou_threshold: f32, max_faces: usize) -> Vec<Face> {
    let mut keep: Vec<Face> = Vec::new();
    for f in faces {
        if keep.len() >= max_faces {
            break;
        }
        if keep.iter().all(|k| iou(&k.bbox, &f.bbox) <= iou_threshold) {
            keep.push(f);
        }
    }
    keep
}
