//! The waiting screens: capturing the photos, and analysing them ("Analysing photo 2 of 3"
//! over a progress bar once the analyzer reports). The bar is shared with the start-up
//! screen's model loading.

use embedded_graphics::{
    prelude::*,
    primitives::{Circle, PrimitiveStyle, Rectangle},
};

use super::frame::{plural, Heading, Screen};
use crate::ui::{view::Progress, widgets::line_height, Palette};

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// "Hold still" while photo `photo` of `of` (0: no set count) is taken, with progress
    /// dots.
    pub(super) fn capturing(&mut self, photo: usize, of: usize) -> Result<(), D::Error> {
        self.open(Heading::plain("Capturing"))?;
        let (fonts, top) = (self.fonts, self.top);
        let line = if of == 0 {
            format!("Photo {photo}")
        } else {
            format!("Photo {photo} of {of}")
        };
        let hold = "Hold still";
        let (lines, dots_y) = if self.compact() {
            let lines = [
                (hold, top + 4, fonts.large, C::TEXT),
                (line.as_str(), top + 17, fonts.body, C::TEXT),
            ];
            (lines, top + 30)
        } else {
            let mid = top + (self.height() - top) / 2;
            let lines = [
                (hold, mid - 44, fonts.large, C::TEXT),
                (line.as_str(), mid - 14, fonts.header, C::ACCENT),
            ];
            (lines, mid + 16)
        };
        self.centred_lines(&lines)?;
        self.progress_dots(photo, of, dots_y)
    }

    /// "Please wait" while `photos` photos are compared with the gallery, on this device; with
    /// the analyzer's progress, which photo and a bar.
    pub(super) fn analysing(
        &mut self,
        photos: usize,
        progress: Option<&Progress>,
    ) -> Result<(), D::Error> {
        if let Some(p) = progress {
            return self.analysing_progress(p);
        }
        self.open(Heading::plain("Analysing"))?;
        let (fonts, top, h) = (self.fonts, self.top, self.height());
        let what = format!("Comparing {}", plural(photos, "photo", "photos"));
        let (wait, offline) = ("Please wait", "Offline - on this device");
        let small_h = line_height(fonts.small) as i32;
        let lines = if self.compact() {
            [
                (wait, top + 4, fonts.large, C::TEXT),
                (what.as_str(), top + 18, fonts.body, C::TEXT),
                ("with the gallery", top + 27, fonts.body, C::TEXT),
                (offline, h - small_h - 1, fonts.small, C::TEXT),
            ]
        } else {
            let mid = top + (h - top) / 2;
            [
                (wait, mid - 40, fonts.large, C::TEXT),
                (what.as_str(), mid - 10, fonts.body, C::TEXT),
                ("with the reference gallery", mid + 6, fonts.body, C::TEXT),
                (offline, h - small_h - 6, fonts.small, C::MUTED),
            ]
        };
        self.centred_lines(&lines)
    }

    /// "Analysing photo 2 of 3" and a bar of the passes done over all photos.
    fn analysing_progress(&mut self, p: &Progress) -> Result<(), D::Error> {
        self.open(Heading::plain("Analysing"))?;
        let (fonts, top, h) = (self.fonts, self.top, self.height());
        let what = format!("Analysing photo {} of {}", p.photo, p.photos);
        let (wait, offline) = ("Please wait", "Offline - on this device");
        let small_h = line_height(fonts.small) as i32;
        let (lines, bar) = if self.compact() {
            let lines = [
                (wait, top + 3, fonts.large, C::TEXT),
                (what.as_str(), top + 16, fonts.body, C::TEXT),
                (offline, h - small_h - 1, fonts.small, C::TEXT),
            ];
            (lines, (top + 27, 7))
        } else {
            let mid = top + (h - top) / 2;
            let lines = [
                (wait, mid - 44, fonts.large, C::TEXT),
                (what.as_str(), mid - 14, fonts.header, C::ACCENT),
                (offline, h - small_h - 6, fonts.small, C::MUTED),
            ];
            (lines, (mid + 14, 14))
        };
        self.centred_lines(&lines)?;
        self.progress_bar(p.permille(), bar.0, bar.1)
    }

    /// A bar between the margins at row `y`, `height` high, filled `permille` thousandths.
    pub(super) fn progress_bar(
        &mut self,
        permille: u32,
        y: i32,
        height: u32,
    ) -> Result<(), D::Error> {
        let (x, w) = (self.pad, self.width);
        let outline = Rectangle::new(Point::new(x, y), Size::new(w, height));
        outline
            .into_styled(PrimitiveStyle::with_stroke(C::MUTED, 1))
            .draw(self.target())?;
        let inner = w.saturating_sub(4);
        let filled = (u64::from(inner) * u64::from(permille.min(1000)) / 1000) as u32;
        if filled > 0 {
            let fill = Rectangle::new(Point::new(x + 2, y + 2), Size::new(filled, height - 4));
            fill.into_styled(PrimitiveStyle::with_fill(C::ACCENT))
                .draw(self.target())?;
        }
        Ok(())
    }

    /// A centred row of dots at row `y`, one per photo wanted, the first `done` filled.
    fn progress_dots(&mut self, done: usize, total: usize, y: i32) -> Result<(), D::Error> {
        let (d, gap) = if self.compact() {
            (6, 4)
        } else {
            (14u32, 10u32)
        };
        let fit = ((self.width + gap) / (d + gap)) as usize;
        let total = total.min(fit);
        if total == 0 {
            return Ok(());
        }
        let row_w = total as u32 * d + (total as u32 - 1) * gap;
        let x0 = (self.layout.size.width.saturating_sub(row_w) / 2) as i32;
        for i in 0..total {
            let circle = Circle::new(Point::new(x0 + (i as u32 * (d + gap)) as i32, y), d);
            let style = if i < done {
                PrimitiveStyle::with_fill(C::ACCENT)
            } else {
                PrimitiveStyle::with_stroke(C::MUTED, 1)
            };
            circle.into_styled(style).draw(self.target())?;
        }
        Ok(())
    }
}
