//! The phenotype question screen.

use embedded_graphics::prelude::*;

use super::frame::Screen;
use crate::ui::{view::Basis, widgets::line_height, Palette};

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// Question `number` of `max`, yes/no: the question large, the three buttons' meaning
    /// below it, the disclaimer and basis (with the HPO release) at the bottom.
    pub(super) fn question(
        &mut self,
        (number, max): (usize, usize),
        question: &str,
        basis: &Basis,
    ) -> Result<(), D::Error> {
        let counter = format!("{number}/{max}");
        self.open_with_basis("Question", Some(&counter), basis)?;
        let (fonts, p, w) = (self.fonts, self.pad, self.width);
        let (font, gap, legend): (_, u32, &[&str]) = if self.compact() {
            (fonts.body, 0, &["cap:yes nxt:no hold:?"])
        } else {
            let legend = &["capture: yes", "next: no", "hold clear: don't know"];
            (fonts.large, 2, legend)
        };
        let small_h = line_height(fonts.small) as i32 + 1;
        let legend_top = self.bottom - 1 - legend.len() as i32 * small_h;
        let y = self.top + 2 * gap as i32 + 2;
        let lines = ((legend_top - y) / (line_height(font) + gap) as i32).clamp(1, 4) as usize;
        self.wrapped(question, Point::new(p, y), w, (lines, gap), font, C::TEXT)?;
        let mut y = legend_top;
        for l in legend {
            self.text(l, Point::new(p, y), w, fonts.small, C::ACCENT)?;
            y += small_h;
        }
        Ok(())
    }
}
