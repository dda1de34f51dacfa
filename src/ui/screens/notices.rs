//! The error screen: what happened and what to do, for the clinician, and a technical line.

use crate::vision::quality::Issue;
use embedded_graphics::prelude::*;

use super::frame::Screen;
use crate::ui::{view::ErrorKind, widgets::line_height, Palette};

/// What happened and what to do, for the clinician: (title, full text, compact text).
fn error_text(kind: ErrorKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ErrorKind::CameraMissing => (
            "Camera not found",
            "Check the USB camera cable. The device carries on by itself when the camera is back.",
            "Check the camera cable. Resumes by itself.",
        ),
        ErrorKind::ModelRefused => (
            "Model refused",
            "The face model failed its integrity check, so no results can be given. Call the technician.",
            "Model failed its check. No results. Call the technician.",
        ),
        ErrorKind::GalleryRefused => (
            "Gallery refused",
            "The reference gallery failed its checks (damaged, unsigned or from another model), so no results can be given. Call the technician.",
            "Gallery failed its checks. No results. Call the technician.",
        ),
        ErrorKind::Retake(issue) => {
            let (full, compact) = retake_text(issue);
            ("Retake photos", full, compact)
        }
        ErrorKind::AnalysisFailed => (
            "Analysis failed",
            "The photos could not be analysed. Press a button and take them again; if this repeats, restart the device.",
            "Not analysed. Press, retake; restart if it repeats.",
        ),
        ErrorKind::TooLittleMemory => (
            "Not enough memory",
            "This device has too little memory for the face models it is set up with, so no results can be given. Ask your technician to choose smaller models (docs/performance.md).",
            "Too little memory for the models. No results. Ask your technician.",
        ),
        ErrorKind::Other => (
            "Error",
            "No result was produced. Press a button to go back.",
            "No result. Press a button.",
        ),
    }
}

/// Why the photos must be taken again and how: (full text, compact text).
fn retake_text(issue: Issue) -> (&'static str, &'static str) {
    match issue {
        Issue::SeveralFaces => (
            "Two faces in view - only the child should be in the frame. Press a button to retake.",
            "Two faces in view: only the child in frame. Press to retake.",
        ),
        Issue::TooSmall => (
            "The face was too small in the photos - move closer. Press a button to retake.",
            "Face too small: move closer. Press to retake.",
        ),
        Issue::TooDark => (
            "The photos were too dark - add light. Press a button to retake.",
            "Too dark: add light. Press to retake.",
        ),
        Issue::Blurred => (
            "The photos were blurred - hold the camera still. Press a button to retake.",
            "Blurred: hold still. Press to retake.",
        ),
        Issue::TurnedAway => (
            "The face was turned away - the child should look at the camera. Press a button to retake.",
            "Face turned: look at the camera. Press to retake.",
        ),
        Issue::NoFace => (
            "No face was found in the photos - point the camera at the child's face. Press a button to retake.",
            "No face found: aim at the face. Press to retake.",
        ),
    }
}

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// The error screen: the title on an alarm-coloured header, the clinician's hint, and
    /// the technician's line (when there is one) at the bottom in the small font.
    pub(super) fn error(&mut self, kind: ErrorKind, technical: &str) -> Result<(), D::Error> {
        let (title, full, compact) = error_text(kind);
        self.open_alarm(title)?;
        let (fonts, p, w, top) = (self.fonts, self.pad, self.width, self.top);
        let (hint, hint_font, gap) = if self.compact() {
            (compact, fonts.body, 0)
        } else {
            (full, fonts.large, 2u32)
        };
        let technical = technical.trim();
        // The technician's line sits at the bottom, in the small font; the rest is the
        // clinician's.
        let bottom = if technical.is_empty() {
            self.height()
        } else {
            self.height() - line_height(fonts.small) as i32 - 3
        };
        let step = (line_height(hint_font) + gap) as i32;
        let hint_lines = ((bottom - top - 4) / step).max(1) as usize;
        let at = Point::new(p, top + 4);
        self.wrapped(hint, at, w, (hint_lines, gap), hint_font, C::TEXT)?;
        if !technical.is_empty() {
            self.rule(bottom)?;
            self.text(
                technical,
                Point::new(p, bottom + 2),
                w,
                fonts.small,
                C::MUTED,
            )?;
        }
        Ok(())
    }
}
