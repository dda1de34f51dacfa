//! The result-code screen: the result's summary as a QR code for a phone, dark modules on a
//! light field that includes the quiet zone, and what the buttons do.

use embedded_graphics::{
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
};

use super::frame::Screen;
use crate::handoff::Code;
use crate::ui::{widgets::line_height, Palette};

/// Quiet zone, in modules, around the code where the panel has room for it (the QR standard's
/// four). The small panel's height leaves less above and below; its sides keep four.
pub const QUIET: u32 = 4;

/// The hint of the large layout, below the code.
const HINT: &str = "Scan with a phone. Any button: back";
const HINT_DEMO: &str = "DEMO gallery. Any button: back";

/// The hint of the small layout, right of the code, one short line each.
const HINT_LINES: [&str; 4] = ["Scan with", "a phone.", "Any button", "= back"];

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// The code as large as the panel allows (whole pixels a module), or, when the app could
    /// not fit the result into this panel's code, a sentence saying so.
    pub(super) fn result_code(&mut self, code: Option<&Code>, demo: bool) -> Result<(), D::Error> {
        let Some((code, m)) = code.map(|c| (c, self.module_px(c))).filter(|&(_, m)| m > 0) else {
            let font = self.fonts.body;
            let (p, w) = (self.pad, self.width);
            let msg = "This result does not fit a code on this panel. Any button: back.";
            self.wrapped(msg, Point::new(p, p), w, (4, 1), font, C::TEXT)?;
            return Ok(());
        };
        let (w, h) = (self.layout.size.width, self.layout.size.height);
        if self.compact() {
            let field = Size::new((code.width + 2 * QUIET) * m, h);
            let at = Point::new(QUIET as i32 * m as i32, (h - code.width * m) as i32 / 2);
            self.code_field(code, Rectangle::new(Point::zero(), field), at, m)?;
            let (font, x) = (self.fonts.body, field.width as i32 + self.pad);
            let room = (w as i32 - x - self.pad).max(0) as u32;
            let mut lines = HINT_LINES.to_vec();
            if demo {
                lines.insert(0, "DEMO");
            }
            for (i, line) in lines.iter().enumerate() {
                let y = self.pad + i as i32 * (line_height(font) as i32 + 2);
                self.text(line, Point::new(x, y), room, font, C::TEXT)?;
            }
            return Ok(());
        }
        let small = self.fonts.small;
        let hint_y = (h - line_height(small) - 1) as i32;
        let side = (code.width + 2 * QUIET) * m;
        let corner = Point::new((w - side) as i32 / 2, (hint_y - side as i32) / 2);
        let field = Rectangle::new(corner, Size::new(side, side));
        let at = corner + Point::new((QUIET * m) as i32, (QUIET * m) as i32);
        self.code_field(code, field, at, m)?;
        let hint = if demo { HINT_DEMO } else { HINT };
        self.centred_lines(&[(hint, hint_y, small, C::WARN)])
    }

    /// Pixels a module of `code` on this panel (0: it does not fit): the small layout uses the
    /// whole height with one module of quiet zone above and below, the large one keeps
    /// [`QUIET`] modules all round and a hint line below.
    fn module_px(&self, code: &Code) -> u32 {
        let (w, h) = (self.layout.size.width, self.layout.size.height);
        if self.compact() {
            let by_height = h / (code.width + 2);
            let by_width = w / (code.width + 2 * QUIET);
            return by_height.min(by_width);
        }
        let area = w.min(h.saturating_sub(line_height(self.fonts.small) + 2));
        area / (code.width + 2 * QUIET)
    }

    /// The light `field` (the quiet zone), then the dark modules from `at`, `m` pixels each.
    fn code_field(
        &mut self,
        code: &Code,
        field: Rectangle,
        at: Point,
        m: u32,
    ) -> Result<(), D::Error> {
        let target = self.target();
        field
            .into_styled(PrimitiveStyle::with_fill(C::TEXT))
            .draw(target)?;
        let dark = PrimitiveStyle::with_fill(C::BACKGROUND);
        for y in 0..code.width {
            for x in (0..code.width).filter(|&x| code.is_dark(x, y)) {
                let corner = at + Point::new((x * m) as i32, (y * m) as i32);
                Rectangle::new(corner, Size::new(m, m))
                    .into_styled(dark)
                    .draw(target)?;
            }
        }
        Ok(())
    }
}
