//! The preview screen: the viewfinder with the face box, and what to do to take a photo.

use embedded_graphics::{
    mono_font::MonoFont,
    prelude::*,
    primitives::{PrimitiveStyle, Rectangle},
};

use super::frame::{Heading, Screen};
use crate::ui::{
    text::wrap_fit,
    view::{Guidance, Picture},
    widgets::{centered_text, chars_fitting, line_height},
    LayoutStyle, Palette,
};

/// What the preview shows, from [`crate::ui::view::View::Preview`].
pub(super) struct Viewfinder<'a> {
    /// The face's box, as fractions of the frame.
    pub face_box: Option<[f32; 4]>,
    pub guidance: Guidance,
    /// Photos taken so far and wanted (0: no set count).
    pub taken: usize,
    pub wanted: usize,
    /// A capture press took nothing (the guidance says why).
    pub not_taken: bool,
    pub picture: Option<&'a Picture>,
}

/// Where the guidance text goes: its top-left, width, font and line budget.
struct TextBox {
    at: Point,
    width: u32,
    font: &'static MonoFont<'static>,
    lines: usize,
}

fn guidance_color<C: Palette>(g: Guidance) -> C {
    if g == Guidance::Ready {
        C::OK
    } else {
        C::WARN
    }
}

fn photo_counter(taken: usize, wanted: usize) -> String {
    if wanted == 0 {
        format!("Photo {}", taken + 1)
    } else {
        format!("Photo {}/{}", (taken + 1).min(wanted), wanted)
    }
}

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// The preview: the photo counter in the header, the viewfinder, and the guidance
    /// (below the viewfinder on the large layout, beside it on the small one).
    pub(super) fn preview(&mut self, view: Viewfinder<'_>) -> Result<(), D::Error> {
        let counter = photo_counter(view.taken, view.wanted);
        let colour: C = guidance_color(view.guidance);
        self.open(match self.layout.style {
            LayoutStyle::Full => Heading {
                counter: Some(counter.as_str()),
                ..Heading::plain("Preview")
            },
            LayoutStyle::Compact => Heading::plain(counter.as_str()),
        })?;
        let (area, text) = if self.compact() {
            self.compact_areas()
        } else {
            self.full_areas()
        };
        self.draw_viewfinder(&view, area, colour)?;
        // A capture press that took nothing says so, with the reason.
        let guidance = if view.not_taken {
            format!("Not taken: {}", view.guidance.text())
        } else {
            view.guidance.text().to_string()
        };
        self.draw_guidance(&guidance, &text, colour)
    }

    /// The large layout: the viewfinder across the panel, two lines of large text below it.
    fn full_areas(&self) -> (Rectangle, TextBox) {
        let (fonts, p, top, h) = (self.fonts, self.pad, self.top, self.height());
        let w = self.layout.size.width as i32;
        let text_h = 2 * line_height(fonts.large) as i32 + 6;
        let area = Rectangle::new(
            Point::new(p, top + 4),
            Size::new((w - 2 * p) as u32, (h - text_h - top - 8).max(0) as u32),
        );
        let text = TextBox {
            at: Point::new(p, h - text_h + 2),
            width: self.width,
            font: fonts.large,
            lines: 2,
        };
        (area, text)
    }

    /// The small layout: a 4:3 viewfinder on the left, the text beside it.
    fn compact_areas(&self) -> (Rectangle, TextBox) {
        let (fonts, p, top, h) = (self.fonts, self.pad, self.top, self.height());
        let area_h = (h - top - 3).max(0);
        let area_w = area_h * 4 / 3;
        let area = Rectangle::new(
            Point::new(p, top + 2),
            Size::new(area_w as u32, area_h as u32),
        );
        let x = p + area_w + 4;
        let text = TextBox {
            at: Point::new(x, top + 3),
            width: (self.right() - x).max(0) as u32,
            font: fonts.body,
            lines: (area_h / line_height(fonts.body) as i32).max(1) as usize,
        };
        (area, text)
    }

    /// The viewfinder in `area`: the picture letterboxed in its frame, the frame's outline,
    /// and the face box in the guidance colour.
    fn draw_viewfinder(
        &mut self,
        view: &Viewfinder<'_>,
        area: Rectangle,
        colour: C,
    ) -> Result<(), D::Error> {
        let stroke = if self.compact() { 1 } else { 2 };
        let target = self.target();
        let mut frame = frame_in(area);
        // The face box follows the picture's own shape.
        if let Some(pic) = view.picture.filter(|_| C::picture([0, 0, 0]).is_some()) {
            frame = draw_picture(&pic.0, frame, target)?;
        }
        frame
            .into_styled(PrimitiveStyle::with_stroke(C::RULE, 1))
            .draw(target)?;
        if let Some(face) = view.face_box.and_then(|b| face_rect(frame, b)) {
            face.into_styled(PrimitiveStyle::with_stroke(colour, stroke))
                .draw(target)?;
        }
        Ok(())
    }

    /// The guidance in `text`: centred lines on the large layout, wrapped on the small one.
    fn draw_guidance(&mut self, guidance: &str, text: &TextBox, colour: C) -> Result<(), D::Error> {
        let TextBox {
            at,
            width,
            font,
            lines,
        } = *text;
        if self.compact() {
            self.wrapped(guidance, at, width, (lines, 0), font, colour)?;
            return Ok(());
        }
        let lines = wrap_fit(guidance, chars_fitting(width, font), lines);
        let mut y = at.y;
        if lines.len() == 1 {
            y += line_height(font) as i32 / 2;
        }
        let left = self.pad;
        for line in &lines {
            centered_text(self.target(), line, left, width, y, font, colour)?;
            y += line_height(font) as i32 + 2;
        }
        Ok(())
    }
}

/// The largest 4:3 rectangle centred in `area`.
fn frame_in(area: Rectangle) -> Rectangle {
    let Size { width, height } = area.size;
    let (w, h) = if width * 3 >= height * 4 {
        (height * 4 / 3, height)
    } else {
        (width, width * 3 / 4)
    };
    let x = area.top_left.x + ((width - w) / 2) as i32;
    let y = area.top_left.y + ((height - h) / 2) as i32;
    Rectangle::new(Point::new(x, y), Size::new(w, h))
}

/// Draws `image` scaled (nearest pixel) to fit `within`, centred; returns where it went.
fn draw_picture<C, D>(
    image: &image::RgbImage,
    within: Rectangle,
    target: &mut D,
) -> Result<Rectangle, D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let (iw, ih) = image.dimensions();
    let Size { width, height } = within.size;
    if iw == 0 || ih == 0 || width == 0 || height == 0 {
        return Ok(within);
    }
    let (w, h) = if u64::from(width) * u64::from(ih) <= u64::from(height) * u64::from(iw) {
        (
            width,
            ((u64::from(width) * u64::from(ih)) / u64::from(iw)).max(1) as u32,
        )
    } else {
        (
            ((u64::from(height) * u64::from(iw)) / u64::from(ih)).max(1) as u32,
            height,
        )
    };
    let at = within.top_left + Point::new(((width - w) / 2) as i32, ((height - h) / 2) as i32);
    let rect = Rectangle::new(at, Size::new(w, h));
    let colours = (0..h).flat_map(|y| {
        let sy = (u64::from(y) * u64::from(ih) / u64::from(h)) as u32;
        (0..w).map(move |x| {
            let sx = (u64::from(x) * u64::from(iw) / u64::from(w)) as u32;
            C::picture(image.get_pixel(sx, sy).0).unwrap_or(C::BACKGROUND)
        })
    });
    target.fill_contiguous(&rect, colours)?;
    Ok(rect)
}

/// The face box (fractions of the frame) inside `frame`, or `None` when the fractions are not
/// finite or the box is empty.
fn face_rect(frame: Rectangle, b: [f32; 4]) -> Option<Rectangle> {
    if b.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let c = |v: f32| v.clamp(0.0, 1.0);
    let (x0, x1) = (c(b[0].min(b[2])), c(b[0].max(b[2])));
    let (y0, y1) = (c(b[1].min(b[3])), c(b[1].max(b[3])));
    let fw = frame.size.width as f32;
    let fh = frame.size.height as f32;
    let left = (x0 * fw).round() as u32;
    let top = (y0 * fh).round() as u32;
    let right = ((x1 * fw).round() as u32).min(frame.size.width);
    let bottom = ((y1 * fh).round() as u32).min(frame.size.height);
    if right <= left + 1 || bottom <= top + 1 {
        return None;
    }
    Some(Rectangle::new(
        frame.top_left + Point::new(left as i32, top as i32),
        Size::new(right - left, bottom - top),
    ))
}
