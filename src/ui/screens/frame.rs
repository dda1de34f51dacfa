//! The opening every screen shares: the header bar, the margins, and for the screens that
//! show a result the disclaimer and basis footer. [`Screen`] is a screen being drawn: the
//! target, the measures and the area left below the header, with the text helpers the
//! screens draw with.

use embedded_graphics::{
    mono_font::MonoFont,
    prelude::*,
    primitives::{Line, PrimitiveStyle},
};

use crate::ui::{
    text::pack_segments,
    view::{Basis, DISCLAIMER},
    widgets::{
        centered_text, chars_fitting, fitted_text, header, line_height, text_width, wrapped_text,
    },
    Fonts, Layout, LayoutStyle, Palette,
};

/// What a screen's header bar says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heading<'a> {
    /// Screen title, left.
    pub title: &'a str,
    /// Counter on the right ("2/3", "Photo 1/3"), if any.
    pub counter: Option<&'a str>,
    /// Shows the DEMO badge.
    pub demo: bool,
}

impl<'a> Heading<'a> {
    /// A title alone: no counter, no DEMO badge.
    pub fn plain(title: &'a str) -> Self {
        Heading {
            title,
            counter: None,
            demo: false,
        }
    }
}

/// One centred line: text, top row, font and colour.
pub(super) type Centred<'a, C> = (&'a str, i32, &'a MonoFont<'static>, C);

/// A screen being drawn on `target`: its layout, fonts and margins, and the rows between
/// its header and its bottom.
pub(super) struct Screen<'t, D> {
    target: &'t mut D,
    pub layout: Layout,
    pub fonts: Fonts,
    /// Inner margin from the panel edge.
    pub pad: i32,
    /// Width available for text between the margins.
    pub width: u32,
    /// First row below the header bar (0 until it is drawn).
    pub top: i32,
    /// The panel's height, or the rule above the footer on screens with one.
    pub bottom: i32,
}

impl<'t, C, D> Screen<'t, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// A screen of `layout` on `target`; nothing drawn yet.
    pub fn new(layout: &Layout, target: &'t mut D) -> Self {
        Screen {
            target,
            layout: *layout,
            fonts: layout.fonts(),
            pad: pad(layout),
            width: inner_width(layout),
            top: 0,
            bottom: layout.size.height as i32,
        }
    }

    /// Draws the header bar in the usual colours.
    pub fn open(&mut self, heading: Heading<'_>) -> Result<(), D::Error> {
        self.open_in(heading, (C::HEADER_BG, C::HEADER_TEXT))
    }

    /// Draws the header bar in the alarm colours (error screens).
    pub fn open_alarm(&mut self, title: &str) -> Result<(), D::Error> {
        self.open_in(Heading::plain(title), (C::BAD, C::ON_BAD))
    }

    /// Draws the header bar (with the DEMO badge when the basis is a demo) and the
    /// disclaimer and basis footer; the screen then ends at the rule above the footer.
    pub fn open_with_basis(
        &mut self,
        title: &str,
        counter: Option<&str>,
        basis: &Basis,
    ) -> Result<(), D::Error> {
        let demo = basis.demo;
        self.open(Heading {
            title,
            counter,
            demo,
        })?;
        self.bottom = if self.compact() {
            self.compact_footer(basis)?
        } else {
            self.full_footer(basis)?
        };
        Ok(())
    }

    fn open_in(&mut self, heading: Heading<'_>, (bar, ink): (C, C)) -> Result<(), D::Error> {
        let Heading {
            title,
            counter,
            demo,
        } = heading;
        let layout = &self.layout;
        self.top = header(self.target, layout, title, counter, demo, bar, ink)? as i32;
        Ok(())
    }

    /// The small layout (one candidate a page, small fonts).
    pub fn compact(&self) -> bool {
        self.layout.style == LayoutStyle::Compact
    }

    /// The panel's height in pixels.
    pub fn height(&self) -> i32 {
        self.layout.size.height as i32
    }

    /// The right margin's column: the panel's width less the margin.
    pub fn right(&self) -> i32 {
        self.layout.size.width as i32 - self.pad
    }

    /// The target, for drawing what the text helpers do not.
    pub fn target(&mut self) -> &mut D {
        self.target
    }

    /// `s` from `at`, truncated to `width`; returns the width drawn.
    pub fn text(
        &mut self,
        s: &str,
        at: Point,
        width: u32,
        font: &MonoFont<'_>,
        colour: C,
    ) -> Result<u32, D::Error> {
        fitted_text(self.target, s, at, width, font, colour)
    }

    /// `s` wrapped into at most `lines` lines `gap` apart from `at` down; returns the row
    /// below the last line.
    pub fn wrapped(
        &mut self,
        s: &str,
        at: Point,
        width: u32,
        (lines, gap): (usize, u32),
        font: &MonoFont<'_>,
        colour: C,
    ) -> Result<i32, D::Error> {
        wrapped_text(self.target, s, at, width, lines, gap, font, colour)
    }

    /// Draws each `(text, y, font, colour)` centred between the margins.
    pub fn centred_lines(&mut self, lines: &[Centred<'_, C>]) -> Result<(), D::Error> {
        for &(text, y, font, colour) in lines {
            centered_text(self.target, text, self.pad, self.width, y, font, colour)?;
        }
        Ok(())
    }

    /// A horizontal rule between the margins at row `y`.
    pub fn rule(&mut self, y: i32) -> Result<(), D::Error> {
        let right = self.layout.size.width as i32 - 1 - self.pad;
        Line::new(Point::new(self.pad, y), Point::new(right, y))
            .into_styled(PrimitiveStyle::with_stroke(C::RULE, 1))
            .draw(self.target)
    }

    /// The footer of the large layout: the disclaimer, then the basis packed into up to
    /// four lines of the small font; returns the row of the rule above them.
    fn full_footer(&mut self, basis: &Basis) -> Result<i32, D::Error> {
        let (fonts, pad, width) = (self.fonts, self.pad, self.width);
        let small_h = line_height(fonts.small) as i32;
        let mut segments = vec![
            format!("{} reference cases", basis.reference_cases),
            plural(basis.syndromes, "syndrome", "syndromes"),
            plural(basis.photos, "photo", "photos"),
            format!("model {}", basis.model_version),
            format!("gallery {}", basis.gallery_version),
        ];
        segments.extend(basis.phenotype.clone());
        let lines = pack_segments(&segments, chars_fitting(width, fonts.small), 4);
        let top_basis = self.height() - 3 - lines.len() as i32 * (small_h + 1);
        let disclaimer_y = top_basis - line_height(fonts.body) as i32 - 2;
        let rule_y = disclaimer_y - 3;
        self.rule(rule_y)?;
        self.centred_lines(&[(DISCLAIMER, disclaimer_y, fonts.body, C::WARN)])?;
        let mut y = top_basis;
        for line in &lines {
            self.text(line, Point::new(pad, y), width, fonts.small, C::MUTED)?;
            y += small_h + 1;
        }
        Ok(rule_y)
    }

    /// The footer of the small layout: three tight lines of the small font (disclaimer,
    /// cases + model, gallery + photos or HPO release); returns the row of the rule above.
    fn compact_footer(&mut self, basis: &Basis) -> Result<i32, D::Error> {
        let (fonts, pad, width) = (self.fonts, self.pad, self.width);
        let small_h = line_height(fonts.small) as i32;
        let line3_y = self.height() - small_h;
        let line2_y = line3_y - small_h;
        let disclaimer_y = line2_y - small_h;
        let rule_y = disclaimer_y - 2;
        self.rule(rule_y)?;
        // The full disclaimer when it fits in the small font, else the essential part.
        let disclaimer = if text_width(DISCLAIMER, fonts.small) <= width {
            DISCLAIMER
        } else {
            "Not a diagnosis"
        };
        let line2 = format!("{} cases m:{}", basis.reference_cases, basis.model_version);
        let line3 = match &basis.phenotype {
            // The HPO release replaces the photo count (the header says the rest).
            Some(hpo) => format!("g:{} {hpo}", basis.gallery_version),
            None => format!(
                "g:{} {}",
                basis.gallery_version,
                plural(basis.photos, "photo", "photos")
            ),
        };
        for (text, y) in [
            (disclaimer, disclaimer_y),
            (line2.as_str(), line2_y),
            (line3.as_str(), line3_y),
        ] {
            self.text(text, Point::new(pad, y), width, fonts.small, C::TEXT)?;
        }
        Ok(rule_y)
    }
}

/// Inner margin from the panel edge.
fn pad(layout: &Layout) -> i32 {
    match layout.style {
        LayoutStyle::Full => 6,
        LayoutStyle::Compact => 2,
    }
}

/// Width available for text between the margins.
fn inner_width(layout: &Layout) -> u32 {
    layout.size.width.saturating_sub(2 * pad(layout) as u32)
}

/// `n` with the singular or plural noun.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
