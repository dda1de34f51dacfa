//! The panel bring-up test pattern (no header: it shows the panel's true edges).

use embedded_graphics::{
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
};

use crate::ui::{
    widgets::{centered_text, line_height},
    Layout, LayoutStyle, Palette,
};

/// Panel bring-up pattern: a 1-pixel border on the outermost pixels, marked corners
/// (colour panels: top-left red, top-right green, bottom-left blue, bottom-right white),
/// eight colour bars (white, yellow, cyan, green, magenta, red, blue, black), the panel
/// `name` and its size. A wrong offset shows as a missing border, a wrong rotation as
/// moved corners, swapped RGB/BGR as a blue top-left corner, wrong inversion as a white
/// background.
pub fn test_pattern<C, D>(name: &str, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let size = target.bounding_box().size;
    let layout = Layout::new(size);
    let fonts = layout.fonts();
    let (w, h) = (size.width as i32, size.height as i32);
    target.clear(C::BACKGROUND)?;
    Rectangle::new(Point::zero(), size)
        .into_styled(PrimitiveStyle::with_stroke(C::TEXT, 1))
        .draw(target)?;
    let s = (size.width.min(size.height) / 10).max(4);
    let corners = C::test_corners();
    let inset = 2;
    let at = [
        Point::new(inset, inset),
        Point::new(w - inset - s as i32, inset),
        Point::new(inset, h - inset - s as i32),
        Point::new(w - inset - s as i32, h - inset - s as i32),
    ];
    for (p, c) in at.iter().zip(corners) {
        Rectangle::new(*p, Size::new(s, s))
            .into_styled(PrimitiveStyle::with_fill(c))
            .draw(target)?;
    }
    let bars = C::test_bars();
    let bar_top = s as i32 + 2 * inset;
    let bar_h = (h / 2 - bar_top).max(1) as u32;
    let inner = w - 2 * inset;
    for (i, c) in bars.iter().enumerate() {
        let x0 = inset + inner * i as i32 / 8;
        let x1 = inset + inner * (i as i32 + 1) / 8;
        Rectangle::new(Point::new(x0, bar_top), Size::new((x1 - x0) as u32, bar_h))
            .into_styled(PrimitiveStyle::with_fill(*c))
            .draw(target)?;
    }
    let text_left = s as i32 + 2 * inset + 1;
    let text_w = (w - 2 * text_left).max(0) as u32;
    let mut y = bar_top + bar_h as i32 + 2;
    centered_text(target, name, text_left, text_w, y, fonts.large, C::TEXT)?;
    y += line_height(fonts.large) as i32 + 1;
    let dims = format!("{}x{}", size.width, size.height);
    centered_text(target, &dims, text_left, text_w, y, fonts.body, C::TEXT)?;
    if layout.style == LayoutStyle::Full {
        y += line_height(fonts.body) as i32 + 2;
        for legend in ["TL red  TR green", "BL blue  BR white"] {
            centered_text(target, legend, text_left, text_w, y, fonts.small, C::MUTED)?;
            y += line_height(fonts.small) as i32 + 1;
        }
    }
    Ok(())
}
