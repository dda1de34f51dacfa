//! The result screens: a page of candidate syndromes, and "no close match".

use embedded_graphics::{mono_font::MonoFont, prelude::*};

use super::frame::Screen;
use crate::ui::{
    view::{Basis, Candidate},
    widgets::{band_indicator, char_width, line_height, text_width},
    LayoutStyle, Palette,
};

/// The small layout's header says the capture button shows the result code.
const COMPACT_CODE_HINT: &str = " C:QR";

/// The candidate's last line on the small layout: what the phenotype answers did, or the
/// genes and the nearest case.
fn compact_note(c: &Candidate) -> String {
    match (&c.evidence, c.genes.is_empty()) {
        (Some(e), _) => e.clone(),
        (None, true) => format!("nearest: {}", c.nearest_case),
        (None, false) => format!("{} | {}", c.genes.join(","), c.nearest_case),
    }
}

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// One page of candidates, as the app paged them (it never sends more than the layout
    /// fits). `(page, pages)`: 0-based page and the page count; `questions_next`: "next" on
    /// this page starts the phenotype questions, and the screen says so.
    pub(super) fn results(
        &mut self,
        shown: &[Candidate],
        (page, pages): (usize, usize),
        questions_next: bool,
        basis: &Basis,
    ) -> Result<(), D::Error> {
        let per_page = self.layout.candidates_per_page();
        let shown = &shown[..shown.len().min(per_page)];
        // Bounded so the header always has room for it (real rankings have a few pages).
        let pages = pages.clamp(1, 999);
        let mut counter = format!("{}/{pages}", page.saturating_add(1).min(pages));
        if questions_next && self.compact() {
            counter.push_str(" Q>");
        }
        if self.compact() {
            counter.push_str(COMPACT_CODE_HINT);
        }
        let title = match (self.layout.style, shown.first()) {
            (LayoutStyle::Compact, Some(c)) => format!("Rank #{}", c.rank),
            _ => "Candidates".to_string(),
        };
        self.open_with_basis(&title, Some(&counter), basis)?;
        if !self.compact() {
            self.hint_note(questions_next)?;
        }
        if shown.is_empty() {
            let none = ("No candidates", self.top + 4, self.fonts.body, C::TEXT);
            return self.centred_lines(&[none]);
        }
        let gap = if self.compact() { 1 } else { 4 };
        let slot_h = ((self.bottom - gap) - (self.top + gap)) / per_page as i32;
        for (i, c) in shown.iter().enumerate() {
            let y = self.top + gap + i as i32 * slot_h;
            if i > 0 && !self.compact() {
                self.rule(y - gap / 2 - 1)?;
            }
            if self.compact() {
                self.compact_candidate(c, y, slot_h)?;
            } else {
                self.full_candidate(c, y, slot_h)?;
            }
        }
        Ok(())
    }

    /// What the buttons do on a result, above the footer ("Next: refine with questions" when
    /// `questions_next`, and the result code); the screen then ends above it.
    fn hint_note(&mut self, questions_next: bool) -> Result<(), D::Error> {
        let small = self.fonts.small;
        let y = self.bottom - line_height(small) as i32 - 2;
        let note = if questions_next {
            "Next: questions. Capture: QR code"
        } else {
            "Capture: QR code for the notes"
        };
        self.text(note, Point::new(self.pad, y), self.width, small, C::ACCENT)?;
        self.bottom = y - 1;
        Ok(())
    }

    /// The large layout's candidate in a slot of `slot_h` rows from `top`: the rank in its
    /// own column, the name on up to two lines, the band line, then the notes.
    fn full_candidate(&mut self, c: &Candidate, top: i32, slot_h: i32) -> Result<(), D::Error> {
        let fonts = self.fonts;
        let right = self.right();
        let rank_col = text_width("99", fonts.large) as i32 + 6;
        let rank = format!("{}", c.rank);
        let rank_at = Point::new(self.pad, top);
        self.text(&rank, rank_at, rank_col as u32, fonts.large, C::ACCENT)?;
        let x = self.pad + rank_col;
        let name_w = (right - x).max(0) as u32;
        // Reserve room for the band line, genes, nearest case (and what the phenotype
        // answers did) below the name.
        let small_lines = if c.evidence.is_some() { 3 } else { 2 };
        let below = line_height(fonts.body) as i32
            + small_lines * (line_height(fonts.small) as i32 + 1)
            + 3;
        let name_lines = ((slot_h - below) / line_height(fonts.name) as i32).clamp(1, 2) as usize;
        let name_at = Point::new(x, top);
        let y = self.wrapped(
            &c.name,
            name_at,
            name_w,
            (name_lines, 0),
            fonts.name,
            C::TEXT,
        )? + 2;
        self.band_line(c, Point::new(x, y), right, fonts.body, (Size::new(8, 9), 2))?;
        let y = y + line_height(fonts.body) as i32 + 2;
        self.candidate_notes(c, Point::new(x, y), name_w)
    }

    /// Genes (when known), the nearest case and what the phenotype answers did, one line of
    /// the small font each from `at` down.
    fn candidate_notes(&mut self, c: &Candidate, at: Point, width: u32) -> Result<(), D::Error> {
        let font = self.fonts.small;
        let (x, mut y) = (at.x, at.y);
        if !c.genes.is_empty() {
            let genes = format!("genes: {}", c.genes.join(", "));
            self.text(&genes, Point::new(x, y), width, font, C::TEXT)?;
            y += line_height(font) as i32 + 1;
        }
        let nearest = format!("nearest case: {}", c.nearest_case);
        self.text(&nearest, Point::new(x, y), width, font, C::MUTED)?;
        if let Some(e) = &c.evidence {
            let y = y + line_height(font) as i32 + 1;
            self.text(e, Point::new(x, y), width, font, C::ACCENT)?;
        }
        Ok(())
    }

    /// The small layout's candidate in a slot of `slot_h` rows from `top`: the name, the
    /// band line, and one last line (see [`compact_note`]).
    fn compact_candidate(&mut self, c: &Candidate, top: i32, slot_h: i32) -> Result<(), D::Error> {
        let (fonts, p, w) = (self.fonts, self.pad, self.width);
        let small_h = line_height(fonts.small) as i32;
        // Two name lines when the slot has room for them and the line below.
        let room = slot_h - line_height(fonts.body) as i32 - small_h;
        let name_lines = (room / line_height(fonts.name) as i32).clamp(1, 2) as usize;
        let name_at = Point::new(p, top);
        let y = self.wrapped(&c.name, name_at, w, (name_lines, 0), fonts.name, C::TEXT)?;
        let right = self.right();
        self.band_line(c, Point::new(p, y), right, fonts.body, (Size::new(4, 6), 1))?;
        let y = y + line_height(fonts.body) as i32;
        self.text(&compact_note(c), Point::new(p, y), w, fonts.small, C::TEXT)?;
        Ok(())
    }

    /// Band indicator (cells of `cell` size, `gap` apart), band label and OMIM id
    /// (right-aligned at `right`) on one line from `at`.
    fn band_line(
        &mut self,
        c: &Candidate,
        at: Point,
        right: i32,
        font: &MonoFont<'_>,
        (cell, gap): (Size, u32),
    ) -> Result<(), D::Error> {
        let Point { x, y } = at;
        let cell_y = y + (line_height(font).saturating_sub(cell.height) / 2) as i32;
        let cell_at = Point::new(x, cell_y);
        let target = self.target();
        let w = band_indicator(target, c.band, cell_at, cell, gap, C::ACCENT, C::MUTED)?;
        let label_x = x + w as i32 + 2 * gap as i32 + 2;
        let label_room = (right - label_x).max(0) as u32;
        let label_at = Point::new(label_x, y);
        let label_w = self.text(c.band.label(), label_at, label_room, font, C::TEXT)?;
        if let Some(omim) = &c.omim {
            let omim = format!("OMIM {omim}");
            let after_label = label_x + label_w as i32 + char_width(font) as i32;
            let avail = (right - after_label).max(0) as u32;
            let ow = text_width(&omim, font).min(avail);
            self.text(
                &omim,
                Point::new(right - ow as i32, y),
                avail,
                font,
                C::MUTED,
            )?;
        }
        Ok(())
    }

    /// Nothing in the gallery resembles the face closely, and that rules nothing out.
    pub(super) fn no_close_match(&mut self, basis: &Basis) -> Result<(), D::Error> {
        let counter = self.compact().then_some(COMPACT_CODE_HINT.trim_start());
        self.open_with_basis("No close match", counter, basis)?;
        if !self.compact() {
            self.hint_note(false)?;
        }
        let (fonts, p, w, rule_y) = (self.fonts, self.pad, self.width, self.bottom);
        let (msg, note, font, gap) = if self.compact() {
            let msg = "Nothing in the gallery looks close.";
            (msg, "This rules nothing out.", fonts.body, 0)
        } else {
            let msg = "No syndrome in the reference gallery resembles this face closely.";
            let note = "This does not rule out a genetic condition.";
            (msg, note, fonts.large, 2)
        };
        let room =
            |y: i32, f: &MonoFont<'_>| ((rule_y - 2 - y) / (line_height(f) + gap) as i32).max(0);
        let y = self.top + 2 * gap as i32 + 2;
        // Keep a line for the note below.
        let lines = (room(y, font) - 1).clamp(1, 4) as usize;
        let y = self.wrapped(msg, Point::new(p, y), w, (lines, gap), font, C::TEXT)? + gap as i32;
        let lines = room(y, fonts.body).min(2) as usize;
        if lines > 0 {
            self.wrapped(note, Point::new(p, y), w, (lines, gap), fonts.body, C::WARN)?;
        }
        Ok(())
    }
}
