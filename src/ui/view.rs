//! The view model: everything a screen shows, decided by the app, drawn by `ui`.

/// Shown on every result screen.
pub const DISCLAIMER: &str = "Screening aid - not a diagnosis";

use std::sync::Arc;

use image::RgbImage;

pub use crate::gallery::candidate::{Band, Candidate};
use crate::vision::quality::Issue;

/// The live camera picture on the preview, already downscaled to at most the panel's size
/// (never written anywhere but the panel). Compared by content, printed by size only.
#[derive(Clone, PartialEq)]
pub struct Picture(pub Arc<RgbImage>);

impl Picture {
    /// `image` scaled down (never up) by a whole factor so that it fits `max_w` × `max_h`,
    /// each output pixel the mean of a k×k block (integer sums: cheap enough for every preview
    /// frame; the panel then scales the rest by nearest pixel).
    pub fn fit(image: &RgbImage, max_w: u32, max_h: u32) -> Picture {
        let (w, h) = image.dimensions();
        let k = w
            .div_ceil(max_w.max(1))
            .max(h.div_ceil(max_h.max(1)))
            .max(1);
        if k == 1 {
            return Picture(Arc::new(image.clone()));
        }
        let (tw, th) = ((w / k).max(1), (h / k).max(1));
        let raw = image.as_raw();
        let stride = w as usize * 3;
        let mut out = Vec::with_capacity(tw as usize * th as usize * 3);
        let mut sums = vec![0u32; tw as usize * 3];
        for ty in 0..th as usize {
            sums.iter_mut().for_each(|s| *s = 0);
            for y in ty * k as usize..((ty + 1) * k as usize).min(h as usize) {
                let row = &raw[y * stride..y * stride + tw as usize * k as usize * 3];
                for (tx, block) in row.chunks_exact(k as usize * 3).enumerate() {
                    for px in block.chunks_exact(3) {
                        sums[tx * 3] += u32::from(px[0]);
                        sums[tx * 3 + 1] += u32::from(px[1]);
                        sums[tx * 3 + 2] += u32::from(px[2]);
                    }
                }
            }
            let n = k * k;
            out.extend(sums.iter().map(|&s| (s / n) as u8));
        }
        let img = RgbImage::from_raw(tw, th, out).expect("tw*th*3 bytes");
        Picture(Arc::new(img))
    }
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.0.width(), self.0.height())
    }
}

/// What a result is based on; shown on every result screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    /// Reference cases in the gallery.
    pub reference_cases: usize,
    /// Syndromes (labels) in the gallery.
    pub syndromes: usize,
    /// Photos of this patient that were combined.
    pub photos: usize,
    pub model_version: String,
    pub gallery_version: String,
    /// The bundled demo gallery (not clinical data): every screen says DEMO.
    pub demo: bool,
    /// The HPO release of the phenotype questions (`HPO 2025-01-16`) when the device offers
    /// them for this result; the footer names it.
    pub phenotype: Option<String>,
}

/// Framing advice on the live preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guidance {
    NoFace,
    MoveCloser,
    TooDark,
    Blurred,
    TurnToCamera,
    OneFaceOnly,
    /// A usable face: press capture.
    Ready,
}

impl Guidance {
    pub fn text(self) -> &'static str {
        match self {
            Guidance::NoFace => "No face found",
            Guidance::MoveCloser => "Move closer",
            Guidance::TooDark => "Too dark - add light",
            Guidance::Blurred => "Blurred - hold still",
            Guidance::TurnToCamera => "Turn face to camera",
            Guidance::OneFaceOnly => "One face only",
            Guidance::Ready => "Ready - press capture",
        }
    }
}

/// State of one start-up self-test line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Pending,
    Ok,
    /// Usable, but the clinician must know (e.g. the configured gallery was refused and the
    /// last good one is in use): the start-up screen stays until a button is pressed.
    Warning,
    Failed,
}

/// One line of the start-up self-test.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheck {
    /// "Model", "Gallery", "Camera".
    pub name: String,
    pub state: CheckState,
    /// Short detail, e.g. the model hash prefix or "not found".
    pub detail: String,
}

/// Which error screen: each says what happened and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No frames from the camera (the device reconnects by itself).
    CameraMissing,
    ModelRefused,
    GalleryRefused,
    /// The captured photos had no usable face: retake, for this reason.
    Retake(Issue),
    /// The analysis itself failed.
    AnalysisFailed,
    Other,
}

/// Everything the display can show.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// Display off / idle timeout.
    Blank,
    Starting {
        checks: Vec<SelfCheck>,
    },
    Preview {
        /// Face box as fractions of the frame, `[x0, y0, x1, y1]` in 0..=1.
        face_box: Option<[f32; 4]>,
        guidance: Guidance,
        /// Photos already captured for this patient, and how many the session asks for.
        photos_taken: usize,
        photos_wanted: usize,
        /// Capture was just pressed and no photo was taken: the guidance line says why.
        not_taken: bool,
        /// The camera picture (viewfinder) on colour panels that show it; `None`: the face box
        /// and guidance only.
        picture: Option<Picture>,
    },
    Capturing {
        photo: usize,
        of: usize,
    },
    Analysing {
        photos: usize,
    },
    Results {
        /// The candidates on this page, in rank order (the app pages; the screen draws them).
        candidates: Vec<Candidate>,
        /// 0-based page and the number of pages ("next" pages through them).
        page: usize,
        pages: usize,
        /// Candidates over all pages.
        total: usize,
        basis: Basis,
        /// "Next" on this page starts the phenotype questions (the screen says so).
        questions_next: bool,
    },
    /// One phenotype question: capture = yes, next = no, clear = don't know.
    Question {
        /// 1-based, of at most `max`.
        number: usize,
        max: usize,
        /// Short bedside wording, e.g. "Congenital heart defect?".
        question: String,
        basis: Basis,
    },
    NoCloseMatch {
        basis: Basis,
    },
    Error {
        kind: ErrorKind,
        /// Technician detail (hashes, paths, errno): one small line at the bottom, may be empty.
        /// What happened and what to do come from `kind`.
        technical: String,
    },
    /// What an update from a USB stick did (`<state_dir>/content/notice.json`).
    Notice {
        /// The update was taken; `false`: refused, the content in use did not change.
        accepted: bool,
        /// The clinician's line, e.g. "Gallery updated: GMDB 2026-06, 7,459 cases".
        text: String,
        /// What happens next, e.g. "Restarting with the new content".
        next: String,
    },
}

impl View {
    /// A one-line text form of the view, for the device's log and the demo's terminal (no
    /// photo and no file name: a screen shows neither).
    pub fn describe(&self) -> String {
        match self {
            View::Blank => "(blank)".into(),
            View::Starting { checks } => format!("starting: {}", describe_checks(checks)),
            View::Preview {
                guidance,
                photos_taken,
                photos_wanted,
                ..
            } => format!(
                "preview: {} [{photos_taken}/{photos_wanted} photos]",
                guidance.text()
            ),
            View::Capturing { photo, of } => format!("capturing photo {photo} of {of}"),
            View::Analysing { photos } => format!("analysing {photos} photo(s)"),
            View::Results {
                candidates,
                page,
                pages,
                total,
                basis,
                questions_next,
            } => describe_results(candidates, *page, *pages, *total, basis, *questions_next),
            View::Question {
                number,
                max,
                question,
                basis,
            } => format!(
                "question {number} of at most {max}: {question} ({})",
                basis.phenotype.as_deref().unwrap_or("HPO")
            ),
            View::NoCloseMatch { basis } => format!(
                "no close match among {} reference cases",
                basis.reference_cases
            ),
            View::Error { kind, technical } => format!("error ({kind:?}): {technical}"),
            View::Notice { text, next, .. } => format!("notice: {text} ({next})"),
        }
    }
}

/// The start-up checks as `name State (detail)`, comma-separated.
fn describe_checks(checks: &[SelfCheck]) -> String {
    checks
        .iter()
        .map(|c| format!("{} {:?} ({})", c.name, c.state, c.detail))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A results page: its ranks, each candidate's name and band, and the basis.
fn describe_results(
    candidates: &[Candidate],
    page: usize,
    pages: usize,
    total: usize,
    basis: &Basis,
    questions_next: bool,
) -> String {
    let ranks = match (candidates.first(), candidates.last()) {
        (Some(a), Some(b)) if a.rank == b.rank => format!("rank {}", a.rank),
        (Some(a), Some(b)) => format!("ranks {}-{}", a.rank, b.rank),
        _ => "no ranks".into(),
    };
    let listed = candidates
        .iter()
        .map(|c| format!("{} {}", c.name, c.band.label()))
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "results page {}/{pages}: {ranks} of {total} [{listed}] from {} reference cases{}",
        page + 1,
        basis.reference_cases,
        if basis.demo { " (DEMO gallery)" } else { "" }
    ) + if questions_next {
        "; next: phenotype questions"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_scaled_down_by_block_means_to_fit() {
        // 6x4, left half black, right half white; fit 3x2 → k = 2.
        let img = RgbImage::from_fn(6, 4, |x, _| image::Rgb([if x < 3 { 0 } else { 255 }; 3]));
        let p = Picture::fit(&img, 3, 2);
        assert_eq!(p.0.dimensions(), (3, 2));
        assert_eq!(p.0.get_pixel(0, 0).0, [0; 3]);
        // The middle block straddles the edge: the mean of two black and two white columns.
        assert_eq!(p.0.get_pixel(1, 1).0, [127; 3]);
        assert_eq!(p.0.get_pixel(2, 0).0, [255; 3]);
        // Never scaled up; a 640x480 frame on a 240x240 panel: k = 3.
        assert_eq!(Picture::fit(&img, 100, 100).0.dimensions(), (6, 4));
        let frame = RgbImage::new(640, 480);
        assert_eq!(Picture::fit(&frame, 240, 240).0.dimensions(), (213, 160));
        assert_eq!(format!("{p:?}"), "Picture(3x2)");
    }

    #[test]
    fn a_view_describes_itself_in_one_line() {
        assert_eq!(View::Blank.describe(), "(blank)");
        assert_eq!(
            View::Capturing { photo: 1, of: 2 }.describe(),
            "capturing photo 1 of 2"
        );
        assert_eq!(
            View::Analysing { photos: 3 }.describe(),
            "analysing 3 photo(s)"
        );
        let checks = vec![SelfCheck {
            name: "Camera".into(),
            state: CheckState::Ok,
            detail: "replay: 2 images".into(),
        }];
        assert_eq!(
            View::Starting { checks }.describe(),
            "starting: Camera Ok (replay: 2 images)"
        );
    }
}
