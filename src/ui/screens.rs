//! One function per screen.

use crate::vision::quality::Issue;
use embedded_graphics::{
    mono_font::MonoFont,
    prelude::*,
    primitives::{Circle, Line, PrimitiveStyle, Rectangle},
};

use super::{
    view::{
        Basis, Candidate, CheckState, ErrorKind, Guidance, Picture, SelfCheck, View, DISCLAIMER,
    },
    widgets::{
        band_indicator, centered_text, char_width, fitted_text, header, line_height, text_width,
        wrapped_text,
    },
    Layout, LayoutStyle, Palette,
};

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

pub(super) fn draw_view<C, D>(view: &View, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    target.clear(C::BACKGROUND)?;
    match view {
        View::Blank => Ok(()),
        View::Starting { checks } => starting(checks, layout, target),
        View::Preview {
            face_box,
            guidance,
            photos_taken,
            photos_wanted,
            not_taken,
            picture,
        } => preview(
            *face_box,
            *guidance,
            (*photos_taken, *photos_wanted),
            *not_taken,
            picture.as_ref(),
            layout,
            target,
        ),
        View::Capturing { photo, of } => capturing(*photo, *of, layout, target),
        View::Analysing { photos } => analysing(*photos, layout, target),
        View::Results {
            candidates,
            page,
            pages,
            basis,
            questions_next,
            ..
        } => results(
            candidates,
            (*page, *pages),
            *questions_next,
            basis,
            layout,
            target,
        ),
        View::Question {
            number,
            max,
            question: q,
            basis,
        } => question(*number, *max, q, basis, layout, target),
        View::NoCloseMatch { basis } => no_close_match(basis, layout, target),
        View::Error { kind, technical } => error(*kind, technical, layout, target),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn h_rule<C, D>(target: &mut D, layout: &Layout, y: i32) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let p = pad(layout);
    Line::new(
        Point::new(p, y),
        Point::new(layout.size.width as i32 - 1 - p, y),
    )
    .into_styled(PrimitiveStyle::with_stroke(C::RULE, 1))
    .draw(target)
}

// ---------------------------------------------------------------- footer (disclaimer + basis)

/// Draws the disclaimer and the basis at the bottom; returns the y of the rule above them.
fn footer<C, D>(basis: &Basis, layout: &Layout, target: &mut D) -> Result<i32, D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let width = inner_width(layout);
    let bottom = layout.size.height as i32;
    let small_h = line_height(fonts.small) as i32;
    match layout.style {
        LayoutStyle::Full => {
            let max_chars = super::widgets::chars_fitting(width, fonts.small);
            let mut segments = vec![
                format!("{} reference cases", basis.reference_cases),
                plural(basis.syndromes, "syndrome", "syndromes"),
                plural(basis.photos, "photo", "photos"),
                format!("model {}", basis.model_version),
                format!("gallery {}", basis.gallery_version),
            ];
            segments.extend(basis.phenotype.clone());
            let lines = super::text::pack_segments(&segments, max_chars, 4);
            let top_basis = bottom - 3 - lines.len() as i32 * (small_h + 1);
            let disclaimer_y = top_basis - line_height(fonts.body) as i32 - 2;
            let rule_y = disclaimer_y - 3;
            h_rule(target, layout, rule_y)?;
            centered_text(
                target,
                DISCLAIMER,
                p,
                width,
                disclaimer_y,
                fonts.body,
                C::WARN,
            )?;
            let mut y = top_basis;
            for line in &lines {
                fitted_text(target, line, Point::new(p, y), width, fonts.small, C::MUTED)?;
                y += small_h + 1;
            }
            Ok(rule_y)
        }
        LayoutStyle::Compact => {
            // Three tight lines of the small font: disclaimer, cases + model, gallery + photos.
            let line3_y = bottom - small_h;
            let line2_y = line3_y - small_h;
            let disclaimer_y = line2_y - small_h;
            let rule_y = disclaimer_y - 2;
            h_rule(target, layout, rule_y)?;
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
                fitted_text(target, text, Point::new(p, y), width, fonts.small, C::TEXT)?;
            }
            Ok(rule_y)
        }
    }
}

// ---------------------------------------------------------------- results

/// One page of candidates, as the app paged them (it never sends more than the layout fits).
/// `(page, pages)`: 0-based page and the page count; `questions_next`: "next" on this page
/// starts the phenotype questions, and the screen says so.
fn results<C, D>(
    shown: &[Candidate],
    (page, pages): (usize, usize),
    questions_next: bool,
    basis: &Basis,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let per_page = layout.candidates_per_page();
    let shown = &shown[..shown.len().min(per_page)];
    // Bounded so the header always has room for it (real rankings have a few pages).
    let pages = pages.clamp(1, 999);
    let mut counter = format!("{}/{pages}", page.saturating_add(1).min(pages));
    if questions_next && layout.style == LayoutStyle::Compact {
        counter.push_str(" Q>");
    }
    let title = match (layout.style, shown.first()) {
        (LayoutStyle::Compact, Some(c)) => format!("Rank #{}", c.rank),
        _ => "Candidates".to_string(),
    };
    let top = header(
        target,
        layout,
        &title,
        Some(&counter),
        basis.demo,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let mut rule_y = footer(basis, layout, target)?;
    if questions_next && layout.style == LayoutStyle::Full {
        let fonts = layout.fonts();
        let y = rule_y - line_height(fonts.small) as i32 - 2;
        fitted_text(
            target,
            "Next: refine with questions",
            Point::new(pad(layout), y),
            inner_width(layout),
            fonts.small,
            C::ACCENT,
        )?;
        rule_y = y - 1;
    }
    if shown.is_empty() {
        let fonts = layout.fonts();
        centered_text(
            target,
            "No candidates",
            pad(layout),
            inner_width(layout),
            top + 4,
            fonts.body,
            C::TEXT,
        )?;
        return Ok(());
    }
    let gap = match layout.style {
        LayoutStyle::Full => 4,
        LayoutStyle::Compact => 1,
    };
    let slot_h = ((rule_y - gap) - (top + gap)) / per_page as i32;
    for (i, c) in shown.iter().enumerate() {
        let y = top + gap + i as i32 * slot_h;
        if i > 0 && layout.style == LayoutStyle::Full {
            h_rule(target, layout, y - gap / 2 - 1)?;
        }
        candidate(c, y, slot_h, layout, target)?;
    }
    Ok(())
}

fn candidate<C, D>(
    c: &Candidate,
    top: i32,
    slot_h: i32,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let right = layout.size.width as i32 - p;
    match layout.style {
        LayoutStyle::Full => {
            let rank = format!("{}", c.rank);
            let rank_col = text_width("99", fonts.large) as i32 + 6;
            fitted_text(
                target,
                &rank,
                Point::new(p, top),
                rank_col as u32,
                fonts.large,
                C::ACCENT,
            )?;
            let x = p + rank_col;
            let name_w = (right - x).max(0) as u32;
            // Reserve room for the band line, genes, nearest case (and what the phenotype
            // answers did) below the name.
            let small_lines = if c.evidence.is_some() { 3 } else { 2 };
            let below = line_height(fonts.body) as i32
                + small_lines * (line_height(fonts.small) as i32 + 1)
                + 3;
            let name_lines = ((slot_h - below) / line_height(fonts.name) as i32).clamp(1, 2);
            let y = wrapped_text(
                target,
                &c.name,
                Point::new(x, top),
                name_w,
                name_lines as usize,
                0,
                fonts.name,
                C::TEXT,
            )? + 2;
            band_line(c, x, y, right, fonts.body, Size::new(8, 9), 2, target)?;
            let mut y = y + line_height(fonts.body) as i32 + 2;
            if !c.genes.is_empty() {
                fitted_text(
                    target,
                    &format!("genes: {}", c.genes.join(", ")),
                    Point::new(x, y),
                    name_w,
                    fonts.small,
                    C::TEXT,
                )?;
                y += line_height(fonts.small) as i32 + 1;
            }
            fitted_text(
                target,
                &format!("nearest case: {}", c.nearest_case),
                Point::new(x, y),
                name_w,
                fonts.small,
                C::MUTED,
            )?;
            if let Some(e) = &c.evidence {
                let y = y + line_height(fonts.small) as i32 + 1;
                fitted_text(target, e, Point::new(x, y), name_w, fonts.small, C::ACCENT)?;
            }
        }
        LayoutStyle::Compact => {
            let w = inner_width(layout);
            let small_h = line_height(fonts.small) as i32;
            // Two name lines when the slot has room for them and the line below.
            let room = slot_h - line_height(fonts.body) as i32 - small_h;
            let name_lines = (room / line_height(fonts.name) as i32).clamp(1, 2) as usize;
            let y = wrapped_text(
                target,
                &c.name,
                Point::new(p, top),
                w,
                name_lines,
                0,
                fonts.name,
                C::TEXT,
            )?;
            band_line(c, p, y, right, fonts.body, Size::new(4, 6), 1, target)?;
            let y = y + line_height(fonts.body) as i32;
            // Genes and the nearest case share the last line; after phenotype questions it
            // says what the answers did instead.
            let last = match (&c.evidence, c.genes.is_empty()) {
                (Some(e), _) => e.clone(),
                (None, true) => format!("nearest: {}", c.nearest_case),
                (None, false) => format!("{} | {}", c.genes.join(","), c.nearest_case),
            };
            fitted_text(target, &last, Point::new(p, y), w, fonts.small, C::TEXT)?;
        }
    }
    Ok(())
}

/// Band indicator, band label and OMIM id (right-aligned) on one line.
#[allow(clippy::too_many_arguments)]
fn band_line<C, D>(
    c: &Candidate,
    x: i32,
    y: i32,
    right: i32,
    font: &MonoFont<'_>,
    cell: Size,
    gap: u32,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let cell_y = y + (line_height(font).saturating_sub(cell.height) / 2) as i32;
    let w = band_indicator(
        target,
        c.band,
        Point::new(x, cell_y),
        cell,
        gap,
        C::ACCENT,
        C::MUTED,
    )?;
    let label_x = x + w as i32 + 2 * gap as i32 + 2;
    let label_w = fitted_text(
        target,
        c.band.label(),
        Point::new(label_x, y),
        (right - label_x).max(0) as u32,
        font,
        C::TEXT,
    )?;
    if let Some(omim) = &c.omim {
        let omim = format!("OMIM {omim}");
        let after_label = label_x + label_w as i32 + char_width(font) as i32;
        let avail = (right - after_label).max(0) as u32;
        let ow = text_width(&omim, font).min(avail);
        fitted_text(
            target,
            &omim,
            Point::new(right - ow as i32, y),
            avail,
            font,
            C::MUTED,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- no close match

fn no_close_match<C, D>(basis: &Basis, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let top = header(
        target,
        layout,
        "No close match",
        None,
        basis.demo,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let rule_y = footer(basis, layout, target)?;
    let p = pad(layout);
    let w = inner_width(layout);
    let (msg, font, gap) = match layout.style {
        LayoutStyle::Full => (
            "No syndrome in the reference gallery resembles this face closely.",
            fonts.large,
            2,
        ),
        LayoutStyle::Compact => ("Nothing in the gallery looks close.", fonts.body, 0),
    };
    let room = |y: i32, f: &MonoFont<'_>| ((rule_y - 2 - y) / (line_height(f) + gap) as i32).max(0);
    let y = top + 2 * gap as i32 + 2;
    // Keep a line for the note below.
    let lines = (room(y, font) - 1).clamp(1, 4) as usize;
    let y = wrapped_text(target, msg, Point::new(p, y), w, lines, gap, font, C::TEXT)? + gap as i32;
    let note = match layout.style {
        LayoutStyle::Full => "This does not rule out a genetic condition.",
        LayoutStyle::Compact => "This rules nothing out.",
    };
    let lines = room(y, fonts.body).min(2) as usize;
    if lines > 0 {
        wrapped_text(
            target,
            note,
            Point::new(p, y),
            w,
            lines,
            gap,
            fonts.body,
            C::WARN,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- phenotype question

/// One yes/no question: the question large, the three buttons' meaning below it, the
/// disclaimer and basis (with the HPO release) at the bottom.
fn question<C, D>(
    number: usize,
    max: usize,
    question: &str,
    basis: &Basis,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let counter = format!("{number}/{max}");
    let top = header(
        target,
        layout,
        "Question",
        Some(&counter),
        basis.demo,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let rule_y = footer(basis, layout, target)?;
    let p = pad(layout);
    let w = inner_width(layout);
    let (font, gap, legend): (_, u32, &[&str]) = match layout.style {
        LayoutStyle::Full => (
            fonts.large,
            2,
            &["capture: yes", "next: no", "hold clear: don't know"],
        ),
        LayoutStyle::Compact => (fonts.body, 0, &["cap:yes nxt:no hold:?"]),
    };
    let small_h = line_height(fonts.small) as i32 + 1;
    let legend_top = rule_y - 1 - legend.len() as i32 * small_h;
    let y = top + 2 * gap as i32 + 2;
    let lines = ((legend_top - y) / (line_height(font) + gap) as i32).clamp(1, 4) as usize;
    wrapped_text(
        target,
        question,
        Point::new(p, y),
        w,
        lines,
        gap,
        font,
        C::TEXT,
    )?;
    let mut y = legend_top;
    for l in legend {
        fitted_text(target, l, Point::new(p, y), w, fonts.small, C::ACCENT)?;
        y += small_h;
    }
    Ok(())
}

// ---------------------------------------------------------------- start-up self-test

fn starting<C, D>(checks: &[SelfCheck], layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let top = header(
        target,
        layout,
        "gestaltcam self-test",
        None,
        false,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let bottom = layout.size.height as i32;
    let (status_font, name_font, detail_font, row_h) = match layout.style {
        LayoutStyle::Full => (fonts.header, fonts.large, fonts.small, 36),
        LayoutStyle::Compact => (fonts.body, fonts.body, fonts.body, 10),
    };
    let summary_h = line_height(fonts.body) as i32 + 4;
    let first = top + 4;
    let fit_rows = ((bottom - summary_h - first) / row_h).max(0) as usize;
    let status_w = text_width("FAIL", status_font) as i32 + 6;
    for (i, check) in checks.iter().take(fit_rows).enumerate() {
        let y = first + i as i32 * row_h;
        let (word, color) = match check.state {
            CheckState::Ok => ("ok", C::OK),
            CheckState::Failed => ("FAIL", C::BAD),
            CheckState::Warning => ("WARN", C::WARN),
            CheckState::Pending => ("...", C::WARN),
        };
        fitted_text(
            target,
            word,
            Point::new(p, y),
            status_w as u32,
            status_font,
            color,
        )?;
        let x = p + status_w;
        let avail = (layout.size.width as i32 - p - x).max(0) as u32;
        match layout.style {
            LayoutStyle::Full => {
                fitted_text(
                    target,
                    &check.name,
                    Point::new(x, y),
                    avail,
                    name_font,
                    C::TEXT,
                )?;
                let dy = y + line_height(name_font) as i32 + 1;
                let color = match check.state {
                    CheckState::Failed => C::BAD,
                    CheckState::Warning => C::WARN,
                    _ => C::MUTED,
                };
                fitted_text(
                    target,
                    &check.detail,
                    Point::new(x, dy),
                    avail,
                    detail_font,
                    color,
                )?;
            }
            LayoutStyle::Compact => {
                let name_w = fitted_text(
                    target,
                    &check.name,
                    Point::new(x, y),
                    avail.min(text_width("Gallery", name_font)),
                    name_font,
                    C::TEXT,
                )?;
                let dx = x + text_width("Gallery", name_font).max(name_w) as i32 + 4;
                let avail = (layout.size.width as i32 - p - dx).max(0) as u32;
                fitted_text(
                    target,
                    &check.detail,
                    Point::new(dx, y),
                    avail,
                    detail_font,
                    C::TEXT,
                )?;
            }
        }
    }
    let (summary, color) = if checks.iter().any(|c| c.state == CheckState::Failed) {
        ("Self-test failed", C::BAD)
    } else if checks.iter().any(|c| c.state == CheckState::Warning) {
        ("Warning - press a button", C::WARN)
    } else if checks.iter().any(|c| c.state == CheckState::Pending) {
        ("Checking...", C::WARN)
    } else {
        ("All checks passed", C::OK)
    };
    centered_text(
        target,
        summary,
        p,
        inner_width(layout),
        bottom - summary_h + 2,
        fonts.body,
        color,
    )
}

// ---------------------------------------------------------------- preview

fn guidance_color<C: Palette>(g: Guidance) -> C {
    if g == Guidance::Ready {
        C::OK
    } else {
        C::WARN
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

fn photo_counter(taken: usize, wanted: usize) -> String {
    if wanted == 0 {
        format!("Photo {}", taken + 1)
    } else {
        format!("Photo {}/{}", (taken + 1).min(wanted), wanted)
    }
}

fn preview<C, D>(
    face_box: Option<[f32; 4]>,
    guidance: Guidance,
    (taken, wanted): (usize, usize),
    not_taken: bool,
    picture: Option<&Picture>,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let counter = photo_counter(taken, wanted);
    let color: C = guidance_color(guidance);
    let (title, right) = match layout.style {
        LayoutStyle::Full => ("Preview", Some(counter.as_str())),
        LayoutStyle::Compact => (counter.as_str(), None),
    };
    let top = header(
        target,
        layout,
        title,
        right,
        false,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let w = layout.size.width as i32;
    let h = layout.size.height as i32;
    let (area, text_at, text_w, text_font, text_lines) = match layout.style {
        LayoutStyle::Full => {
            let text_h = 2 * line_height(fonts.large) as i32 + 6;
            let area = Rectangle::new(
                Point::new(p, top + 4),
                Size::new((w - 2 * p) as u32, (h - text_h - top - 8).max(0) as u32),
            );
            (
                area,
                Point::new(p, h - text_h + 2),
                inner_width(layout),
                fonts.large,
                2,
            )
        }
        LayoutStyle::Compact => {
            let area_h = (h - top - 3).max(0);
            let area_w = area_h * 4 / 3;
            let area = Rectangle::new(
                Point::new(p, top + 2),
                Size::new(area_w as u32, area_h as u32),
            );
            let x = p + area_w + 4;
            let lines = (area_h / line_height(fonts.body) as i32).max(1) as usize;
            (
                area,
                Point::new(x, top + 3),
                (w - p - x).max(0) as u32,
                fonts.body,
                lines,
            )
        }
    };
    let mut frame = frame_in(area);
    // The viewfinder: the picture letterboxed in the frame; the face box then follows the
    // picture's own shape.
    if let Some(pic) = picture.filter(|_| C::picture([0, 0, 0]).is_some()) {
        frame = draw_picture(&pic.0, frame, target)?;
    }
    frame
        .into_styled(PrimitiveStyle::with_stroke(C::RULE, 1))
        .draw(target)?;
    if let Some(face) = face_box.and_then(|b| face_rect(frame, b)) {
        let stroke = match layout.style {
            LayoutStyle::Full => 2,
            LayoutStyle::Compact => 1,
        };
        face.into_styled(PrimitiveStyle::with_stroke(color, stroke))
            .draw(target)?;
    }
    // A capture press that took nothing says so, with the reason.
    let text = if not_taken {
        format!("Not taken: {}", guidance.text())
    } else {
        guidance.text().to_string()
    };
    match layout.style {
        LayoutStyle::Full => {
            let lines = super::text::wrap_fit(
                &text,
                super::widgets::chars_fitting(text_w, text_font),
                text_lines,
            );
            let mut y = text_at.y;
            if lines.len() == 1 {
                y += line_height(text_font) as i32 / 2;
            }
            for line in &lines {
                centered_text(target, line, p, text_w, y, text_font, color)?;
                y += line_height(text_font) as i32 + 2;
            }
        }
        LayoutStyle::Compact => {
            wrapped_text(
                target, &text, text_at, text_w, text_lines, 0, text_font, color,
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- capturing / analysing

fn progress_dots<C, D>(
    done: usize,
    total: usize,
    y: i32,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let (d, gap) = match layout.style {
        LayoutStyle::Full => (14u32, 10u32),
        LayoutStyle::Compact => (6, 4),
    };
    let fit = ((inner_width(layout) + gap) / (d + gap)) as usize;
    let total = total.min(fit);
    if total == 0 {
        return Ok(());
    }
    let row_w = total as u32 * d + (total as u32 - 1) * gap;
    let x0 = (layout.size.width.saturating_sub(row_w) / 2) as i32;
    for i in 0..total {
        let circle = Circle::new(Point::new(x0 + (i as u32 * (d + gap)) as i32, y), d);
        let style = if i < done {
            PrimitiveStyle::with_fill(C::ACCENT)
        } else {
            PrimitiveStyle::with_stroke(C::MUTED, 1)
        };
        circle.into_styled(style).draw(target)?;
    }
    Ok(())
}

fn capturing<C, D>(photo: usize, of: usize, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let w = inner_width(layout);
    let top = header(
        target,
        layout,
        "Capturing",
        None,
        false,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let h = layout.size.height as i32;
    let line = if of == 0 {
        format!("Photo {photo}")
    } else {
        format!("Photo {photo} of {of}")
    };
    match layout.style {
        LayoutStyle::Full => {
            let mid = top + (h - top) / 2;
            centered_text(target, "Hold still", p, w, mid - 44, fonts.large, C::TEXT)?;
            centered_text(target, &line, p, w, mid - 14, fonts.header, C::ACCENT)?;
            progress_dots(photo, of, mid + 16, layout, target)
        }
        LayoutStyle::Compact => {
            centered_text(target, "Hold still", p, w, top + 4, fonts.large, C::TEXT)?;
            centered_text(target, &line, p, w, top + 17, fonts.body, C::TEXT)?;
            progress_dots(photo, of, top + 30, layout, target)
        }
    }
}

fn analysing<C, D>(photos: usize, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let w = inner_width(layout);
    let top = header(
        target,
        layout,
        "Analysing",
        None,
        false,
        C::HEADER_BG,
        C::HEADER_TEXT,
    )? as i32;
    let h = layout.size.height as i32;
    let what = format!("Comparing {}", plural(photos, "photo", "photos"));
    match layout.style {
        LayoutStyle::Full => {
            let mid = top + (h - top) / 2;
            centered_text(target, "Please wait", p, w, mid - 40, fonts.large, C::TEXT)?;
            centered_text(target, &what, p, w, mid - 10, fonts.body, C::TEXT)?;
            centered_text(
                target,
                "with the reference gallery",
                p,
                w,
                mid + 6,
                fonts.body,
                C::TEXT,
            )?;
            centered_text(
                target,
                "Offline - on this device",
                p,
                w,
                h - line_height(fonts.small) as i32 - 6,
                fonts.small,
                C::MUTED,
            )
        }
        LayoutStyle::Compact => {
            centered_text(target, "Please wait", p, w, top + 4, fonts.large, C::TEXT)?;
            centered_text(target, &what, p, w, top + 18, fonts.body, C::TEXT)?;
            centered_text(
                target,
                "with the gallery",
                p,
                w,
                top + 27,
                fonts.body,
                C::TEXT,
            )?;
            centered_text(
                target,
                "Offline - on this device",
                p,
                w,
                h - line_height(fonts.small) as i32 - 1,
                fonts.small,
                C::TEXT,
            )
        }
    }
}

// ---------------------------------------------------------------- errors

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
            let (full, compact) = match issue {
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
            };
            ("Retake photos", full, compact)
        }
        ErrorKind::AnalysisFailed => (
            "Analysis failed",
            "The photos could not be analysed. Press a button and take them again; if this repeats, restart the device.",
            "Not analysed. Press, retake; restart if it repeats.",
        ),
        ErrorKind::Other => (
            "Error",
            "No result was produced. Press a button to go back.",
            "No result. Press a button.",
        ),
    }
}

fn error<C, D>(
    kind: ErrorKind,
    technical: &str,
    layout: &Layout,
    target: &mut D,
) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    let fonts = layout.fonts();
    let p = pad(layout);
    let w = inner_width(layout);
    let (title, full, compact) = error_text(kind);
    let hint = match layout.style {
        LayoutStyle::Full => full,
        LayoutStyle::Compact => compact,
    };
    let top = header(target, layout, title, None, false, C::BAD, C::ON_BAD)? as i32;
    let h = layout.size.height as i32;
    let small_h = line_height(fonts.small) as i32;
    let technical = technical.trim();
    // The technician's line sits at the bottom, in the small font; the rest is the clinician's.
    let bottom = if technical.is_empty() {
        h
    } else {
        h - small_h - 3
    };
    let (hint_font, gap) = match layout.style {
        LayoutStyle::Full => (fonts.large, 2u32),
        LayoutStyle::Compact => (fonts.body, 0),
    };
    let step = (line_height(hint_font) + gap) as i32;
    let hint_lines = ((bottom - top - 4) / step).max(1) as usize;
    wrapped_text(
        target,
        hint,
        Point::new(p, top + 4),
        w,
        hint_lines,
        gap,
        hint_font,
        C::TEXT,
    )?;
    if !technical.is_empty() {
        h_rule(target, layout, bottom)?;
        fitted_text(
            target,
            technical,
            Point::new(p, bottom + 2),
            w,
            fonts.small,
            C::MUTED,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- test pattern

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
