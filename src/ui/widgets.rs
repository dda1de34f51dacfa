//! Small building blocks of the screens: fitted text, header bar, similarity band indicator.

use embedded_graphics::{
    mono_font::{MonoFont, MonoTextStyle},
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
    text::{Baseline, Text},
};

use super::{text, view::Band, Layout, LayoutStyle, Palette};

/// Horizontal advance of one character of `font` in pixels.
pub fn char_width(font: &MonoFont<'_>) -> u32 {
    font.character_size.width + font.character_spacing
}

/// Height of one line of `font` in pixels.
pub fn line_height(font: &MonoFont<'_>) -> u32 {
    font.character_size.height
}

/// Width in pixels of `s` drawn in `font`.
pub fn text_width(s: &str, font: &MonoFont<'_>) -> u32 {
    let n = s.chars().count() as u32;
    if n == 0 {
        0
    } else {
        n * char_width(font) - font.character_spacing
    }
}

/// How many characters of `font` fit in `width` pixels.
pub fn chars_fitting(width: u32, font: &MonoFont<'_>) -> usize {
    ((width + font.character_spacing) / char_width(font)) as usize
}

/// Draw `s` with its top-left corner at `at`, truncated to `max_width` pixels.
/// Returns the width drawn.
pub fn fitted_text<C, D>(
    target: &mut D,
    s: &str,
    at: Point,
    max_width: u32,
    font: &MonoFont<'_>,
    color: C,
) -> Result<u32, D::Error>
where
    C: PixelColor,
    D: DrawTarget<Color = C>,
{
    let line = text::truncate(&text::sanitize(s), chars_fitting(max_width, font));
    if line.is_empty() {
        return Ok(0);
    }
    let style = MonoTextStyle::new(font, color);
    Text::with_baseline(&line, at, style, Baseline::Top).draw(target)?;
    Ok(text_width(&line, font))
}

/// Draw `s` centred horizontally in `[left, left + width)` with its top at `y`, truncated to
/// the width.
pub fn centered_text<C, D>(
    target: &mut D,
    s: &str,
    left: i32,
    width: u32,
    y: i32,
    font: &MonoFont<'_>,
    color: C,
) -> Result<(), D::Error>
where
    C: PixelColor,
    D: DrawTarget<Color = C>,
{
    let line = text::truncate(&text::sanitize(s), chars_fitting(width, font));
    let w = text_width(&line, font);
    let x = left + (width.saturating_sub(w) / 2) as i32;
    fitted_text(target, &line, Point::new(x, y), width, font, color).map(|_| ())
}

/// Word-wrap `s` into at most `max_lines` lines within `max_width` pixels (abbreviating or
/// truncating as needed) and draw it from `at` downwards. Returns the y just below the
/// last line drawn.
#[allow(clippy::too_many_arguments)]
pub fn wrapped_text<C, D>(
    target: &mut D,
    s: &str,
    at: Point,
    max_width: u32,
    max_lines: usize,
    line_gap: u32,
    font: &MonoFont<'_>,
    color: C,
) -> Result<i32, D::Error>
where
    C: PixelColor,
    D: DrawTarget<Color = C>,
{
    let lines = text::wrap_fit(
        &text::sanitize(s),
        chars_fitting(max_width, font),
        max_lines,
    );
    let step = (line_height(font) + line_gap) as i32;
    let mut y = at.y;
    for line in &lines {
        fitted_text(target, line, Point::new(at.x, y), max_width, font, color)?;
        y += step;
    }
    Ok(y)
}

/// Draw `s` inside a filled box (a badge) whose top-right corner is at `top_right`.
/// Returns the badge width.
pub fn badge<C, D>(
    target: &mut D,
    s: &str,
    top_right: Point,
    font: &MonoFont<'_>,
    fill: C,
    ink: C,
) -> Result<u32, D::Error>
where
    C: PixelColor,
    D: DrawTarget<Color = C>,
{
    let w = text_width(s, font) + 4;
    let h = line_height(font) + 2;
    let top_left = Point::new(top_right.x - w as i32, top_right.y);
    Rectangle::new(top_left, Size::new(w, h))
        .into_styled(PrimitiveStyle::with_fill(fill))
        .draw(target)?;
    let style = MonoTextStyle::new(font, ink);
    Text::with_baseline(s, top_left + Point::new(2, 1), style, Baseline::Top).draw(target)?;
    Ok(w)
}

/// Height of the header bar of `layout`.
pub fn header_height(layout: &Layout) -> u32 {
    match layout.style {
        LayoutStyle::Full => 24,
        LayoutStyle::Compact => 10,
    }
}

/// The header bar: `title` on the left; on the right an optional `right` text (page or photo
/// counter) and, when `demo`, a DEMO badge. Returns the bar height.
pub fn header<C, D>(
    target: &mut D,
    layout: &Layout,
    title: &str,
    right: Option<&str>,
    demo: bool,
    bar: C,
    ink: C,
) -> Result<u32, D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let h = header_height(layout);
    let width = layout.size.width;
    Rectangle::new(Point::zero(), Size::new(width, h))
        .into_styled(PrimitiveStyle::with_fill(bar))
        .draw(target)?;
    let pad = match layout.style {
        LayoutStyle::Full => 6,
        LayoutStyle::Compact => 2,
    };
    let text_y = (h.saturating_sub(line_height(fonts.header)) / 2) as i32;
    let mut right_edge = width as i32 - pad;
    let badge_font = match layout.style {
        LayoutStyle::Full => fonts.header,
        LayoutStyle::Compact => fonts.body,
    };
    if let Some(r) = right {
        // Never wider than the bar less the DEMO badge (a long counter is cut, not drawn off
        // the panel).
        let badge_w = if demo {
            text_width("DEMO", badge_font) as i32 + 4 + pad
        } else {
            0
        };
        let w = (text_width(r, fonts.header) as i32).min(right_edge - pad - badge_w);
        fitted_text(
            target,
            r,
            Point::new(right_edge - w, text_y),
            w as u32,
            fonts.header,
            ink,
        )?;
        right_edge -= w + pad;
    }
    if demo {
        let font = badge_font;
        let badge_y = (h.saturating_sub(line_height(font) + 2) / 2) as i32;
        let w = badge(
            target,
            "DEMO",
            Point::new(right_edge, badge_y),
            font,
            C::DEMO_BG,
            C::DEMO_TEXT,
        )?;
        right_edge -= w as i32 + pad;
    }
    let title_width = (right_edge - pad).max(0) as u32;
    fitted_text(
        target,
        title,
        Point::new(pad, text_y),
        title_width,
        fonts.header,
        ink,
    )?;
    Ok(h)
}

/// Number of filled cells of the band indicator (out of 3).
pub fn band_level(band: Band) -> usize {
    band.level()
}

/// The similarity band indicator: three cells of `cell` size, `gap` apart, the first
/// [`band_level`] filled with `fill`, the rest outlined with `outline`.
/// Returns its total width.
pub fn band_indicator<C, D>(
    target: &mut D,
    band: Band,
    top_left: Point,
    cell: Size,
    gap: u32,
    fill: C,
    outline: C,
) -> Result<u32, D::Error>
where
    C: PixelColor,
    D: DrawTarget<Color = C>,
{
    let level = band_level(band);
    for i in 0..3usize {
        let x = top_left.x + (i as u32 * (cell.width + gap)) as i32;
        let rect = Rectangle::new(Point::new(x, top_left.y), cell);
        let style = if i < level {
            PrimitiveStyle::with_fill(fill)
        } else {
            PrimitiveStyle::with_stroke(outline, 1)
        };
        rect.into_styled(style).draw(target)?;
    }
    Ok(3 * cell.width + 2 * gap)
}
