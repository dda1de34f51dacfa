//! The view model: everything a screen shows, decided by the app, drawn by `ui`.

/// Shown on every result screen.
pub const DISCLAIMER: &str = "Screening aid - not a diagnosis";

use std::sync::Arc;

use image::RgbImage;

pub use crate::gallery::candidate::{Band, Candidate};
pub use crate::handoff::Code;
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

/// How far an analysis has got: photo `photo` (1-based) of `photos` is being analysed and
/// `pass` of its `passes` model passes (embedders × variants) are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub photo: usize,
    pub photos: usize,
    pub pass: usize,
    pub passes: usize,
}

impl Progress {
    /// The progress after `done` passes of `photos` photos of `passes` passes each (the photos
    /// may run side by side: the passes are counted over all of them). All done is the last
    /// photo with all its passes.
    pub fn from_done(done: usize, passes: usize, photos: usize) -> Self {
        let (passes, photos) = (passes.max(1), photos.max(1));
        let all = passes.saturating_mul(photos);
        let done = done.min(all);
        let (photo, pass) = if done == all {
            (photos, passes)
        } else {
            (done / passes + 1, done % passes)
        };
        Progress {
            photo,
            photos,
            pass,
            passes,
        }
    }

    /// The share of the whole analysis done, in thousandths (the progress bar).
    pub fn permille(&self) -> u32 {
        let (passes, pass) = (self.passes as f64, self.pass as f64);
        let total = self.photos.max(1) as f64 * passes.max(1.0);
        let done = self.photo.saturating_sub(1) as f64 * passes + pass;
        (done.min(total) * 1000.0 / total) as u32
    }
}

/// Start-up progress: `loaded` of `models` model files are loaded; then the gallery
/// (`gallery`). The models come first, the gallery last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loading {
    pub loaded: usize,
    pub models: usize,
    /// The models are loaded and the gallery is being read.
    pub gallery: bool,
}

impl Loading {
    /// "Loading model 2 of 3", "Models loaded", or "Loading the gallery".
    pub fn text(&self) -> String {
        if self.gallery {
            "Loading the gallery".into()
        } else if self.models > 0 && self.loaded >= self.models {
            "Models loaded".into()
        } else {
            let next = self.loaded.saturating_add(1);
            format!("Loading model {next} of {}", self.models.max(1))
        }
    }

    /// The share of the loading done, in thousandths (the gallery is one more step).
    pub fn permille(&self) -> u32 {
        let steps = self.models as f64 + 1.0;
        let done = self.loaded.min(self.models) as f64;
        (done * 1000.0 / steps) as u32
    }
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
    /// The board has less memory than the configured models need: they were not loaded.
    TooLittleMemory,
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
        /// How far the models have got; `None` until the analyzer has reported.
        progress: Option<Progress>,
    },
    /// Start-up, before the self-test: the models and the gallery being loaded.
    Loading(Loading),
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
    /// The result as a QR code a phone reads into the patient's notes (the summary of
    /// [`crate::handoff`]); any button goes back to the result.
    ResultCode {
        /// `None`: the result does not fit this panel's largest code (the screen says so).
        code: Option<Code>,
        /// The result is from the demo gallery.
        demo: bool,
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
            View::Analysing {
                photos,
                progress: None,
            } => format!("analysing {photos} photo(s)"),
            View::Analysing {
                progress: Some(p), ..
            } => format!(
                "analysing photo {} of {} ({} of {} passes)",
                p.photo, p.photos, p.pass, p.passes
            ),
            View::Loading(l) => format!("starting: {}", l.text()),
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
            View::ResultCode { code: Some(c), .. } => format!(
                "result code: QR version {}-{}, {} modules, {} lines",
                c.version,
                c.ecc,
                c.width,
                c.text.lines().count()
            ),
            View::ResultCode { code: None, .. } => "result code: does not fit the panel".into(),
            View::Error { kind, technical } => format!("error ({kind:?}): {technical}"),
            View::Notice { text, next, .. } => format!("notice: {text} ({next})"),
        }
    }
}

/// The start-up checks as `name State (detail)`, comma-separated.
/// The start-up checks in one line: `Model Ok (…), Gallery Ok (…), …`.
pub fn describe_checks(checks: &[SelfCheck]) -> String {
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

    /// Passes counted over all photos become "photo i of n, pass j of k"; the bar's share
    /// grows with every pass and ends full.
    #[test]
    fn progress_counts_passes_over_the_photos() {
        let p = |done| Progress::from_done(done, 4, 3);
        assert_eq!((p(0).photo, p(0).pass, p(0).permille()), (1, 0, 0));
        assert_eq!((p(3).photo, p(3).pass), (1, 3));
        assert_eq!((p(4).photo, p(4).pass, p(4).permille()), (2, 0, 333));
        assert_eq!((p(11).photo, p(11).pass), (3, 3));
        assert_eq!((p(12).photo, p(12).pass, p(12).permille()), (3, 4, 1000));
        // More passes than there are (a miscount) stays at the end.
        assert_eq!(p(99), p(12));
        let shares: Vec<u32> = (0..=12).map(|d| p(d).permille()).collect();
        assert!(shares.windows(2).all(|w| w[0] < w[1]), "{shares:?}");
        // No passes (an analyzer that cannot count them): one per photo.
        assert_eq!(Progress::from_done(1, 0, 2).photo, 2);
    }

    #[test]
    fn loading_names_the_next_model_then_the_gallery() {
        let l = |loaded, gallery| Loading {
            loaded,
            models: 3,
            gallery,
        };
        assert_eq!(l(0, false).text(), "Loading model 1 of 3");
        assert_eq!(l(2, false).text(), "Loading model 3 of 3");
        assert_eq!(l(3, false).text(), "Models loaded");
        assert_eq!(l(3, true).text(), "Loading the gallery");
        assert_eq!((l(0, false).permille(), l(2, false).permille()), (0, 500));
        assert_eq!(l(3, true).permille(), 750);
    }

    #[test]
    fn a_view_describes_itself_in_one_line() {
        assert_eq!(View::Blank.describe(), "(blank)");
        assert_eq!(
            View::Capturing { photo: 1, of: 2 }.describe(),
            "capturing photo 1 of 2"
        );
        assert_eq!(
            View::Analysing {
                photos: 3,
                progress: None
            }
            .describe(),
            "analysing 3 photo(s)"
        );
        let progress = Some(Progress::from_done(9, 8, 3));
        assert_eq!(
            View::Analysing {
                photos: 3,
                progress
            }
            .describe(),
            "analysing photo 2 of 3 (1 of 8 passes)"
        );
        let loading = Loading {
            loaded: 1,
            models: 3,
            gallery: false,
        };
        assert_eq!(
            View::Loading(loading).describe(),
            "starting: Loading model 2 of 3"
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
