//! The update notice: what a USB stick's content bundle did, in the clinician's words, and
//! what happens next.

use embedded_graphics::prelude::*;

use super::frame::{Heading, Screen};
use crate::ui::{widgets::line_height, Palette};

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// The notice: "Update" in the usual header when it was taken, in the alarm colours when
    /// it was refused; the clinician's line in the large font, then what happens next.
    pub(super) fn notice(
        &mut self,
        accepted: bool,
        text: &str,
        next: &str,
    ) -> Result<(), D::Error> {
        if accepted {
            self.open(Heading::plain("Update"))?;
        } else {
            self.open_alarm("Update")?;
        }
        let (fonts, p, w, top) = (self.fonts, self.pad, self.width, self.top);
        let (font, gap) = if self.compact() {
            (fonts.body, 0)
        } else {
            (fonts.large, 2u32)
        };
        let next = next.trim();
        let next_h = if next.is_empty() {
            0
        } else {
            line_height(fonts.body) as i32 * 2 + 4
        };
        let bottom = self.height() - next_h;
        let step = (line_height(font) + gap) as i32;
        let lines = ((bottom - top - 4) / step).max(1) as usize;
        self.wrapped(text, Point::new(p, top + 4), w, (lines, gap), font, C::TEXT)?;
        if !next.is_empty() {
            self.rule(bottom)?;
            let at = Point::new(p, bottom + 3);
            self.wrapped(next, at, w, (2, 0), fonts.body, C::MUTED)?;
        }
        Ok(())
    }
}
