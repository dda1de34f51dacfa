//! The start-up screens: the models and the gallery loading ("Loading model 2 of 3" over a
//! progress bar), then the self-test, one row per check and a summary at the bottom.

use embedded_graphics::{mono_font::MonoFont, prelude::*};

use super::frame::{Heading, Screen};
use crate::ui::{
    view::{CheckState, Loading, SelfCheck},
    widgets::{line_height, text_width},
    Palette,
};

/// The fonts of the check rows and the width of their status column.
#[derive(Clone, Copy)]
struct RowStyle {
    status: &'static MonoFont<'static>,
    name: &'static MonoFont<'static>,
    detail: &'static MonoFont<'static>,
    status_w: i32,
}

/// The overall result of the checks and its colour.
fn summary<C: Palette>(checks: &[SelfCheck]) -> (&'static str, C) {
    let any = |state| checks.iter().any(|c| c.state == state);
    if any(CheckState::Failed) {
        ("Self-test failed", C::BAD)
    } else if any(CheckState::Warning) {
        ("Warning - press a button", C::WARN)
    } else if any(CheckState::Pending) {
        ("Checking...", C::WARN)
    } else {
        ("All checks passed", C::OK)
    }
}

impl<C, D> Screen<'_, D>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    /// Start-up while the models load: which one, and a bar over the models and the gallery.
    pub(super) fn loading(&mut self, loading: &Loading) -> Result<(), D::Error> {
        self.open(Heading::plain("gestaltcam starting"))?;
        let (fonts, top, h) = (self.fonts, self.top, self.height());
        let what = loading.text();
        let note = "This can take a minute";
        let small_h = line_height(fonts.small) as i32;
        let (lines, bar) = if self.compact() {
            let lines = [
                ("Please wait", top + 3, fonts.large, C::TEXT),
                (what.as_str(), top + 16, fonts.body, C::TEXT),
                (note, h - small_h - 1, fonts.small, C::TEXT),
            ];
            (lines, (top + 27, 7))
        } else {
            let mid = top + (h - top) / 2;
            let lines = [
                ("Please wait", mid - 44, fonts.large, C::TEXT),
                (what.as_str(), mid - 14, fonts.header, C::ACCENT),
                (note, h - small_h - 6, fonts.small, C::MUTED),
            ];
            (lines, (mid + 14, 14))
        };
        self.centred_lines(&lines)?;
        self.progress_bar(loading.permille(), bar.0, bar.1)
    }

    /// The self-test: each check's state, name and detail, as many as fit, and the overall
    /// result at the bottom.
    pub(super) fn starting(&mut self, checks: &[SelfCheck]) -> Result<(), D::Error> {
        self.open(Heading::plain("gestaltcam self-test"))?;
        let fonts = self.fonts;
        let (status, name, detail, row_h) = if self.compact() {
            (fonts.body, fonts.body, fonts.body, 10)
        } else {
            (fonts.header, fonts.large, fonts.small, 36)
        };
        let style = RowStyle {
            status,
            name,
            detail,
            status_w: text_width("FAIL", status) as i32 + 6,
        };
        let summary_h = line_height(fonts.body) as i32 + 4;
        let first = self.top + 4;
        let fit_rows = ((self.height() - summary_h - first) / row_h).max(0) as usize;
        for (i, check) in checks.iter().take(fit_rows).enumerate() {
            self.check_row(check, first + i as i32 * row_h, style)?;
        }
        let (summary, colour) = summary(checks);
        let y = self.height() - summary_h + 2;
        self.centred_lines(&[(summary, y, fonts.body, colour)])
    }

    /// One check at row `y`: its state word, then its name and detail.
    fn check_row(&mut self, check: &SelfCheck, y: i32, style: RowStyle) -> Result<(), D::Error> {
        let (word, colour) = match check.state {
            CheckState::Ok => ("ok", C::OK),
            CheckState::Failed => ("FAIL", C::BAD),
            CheckState::Warning => ("WARN", C::WARN),
            CheckState::Pending => ("...", C::WARN),
        };
        let status_at = Point::new(self.pad, y);
        self.text(word, status_at, style.status_w as u32, style.status, colour)?;
        let at = Point::new(self.pad + style.status_w, y);
        if self.compact() {
            self.compact_check(check, at, style)
        } else {
            self.full_check(check, at, style)
        }
    }

    /// The large layout's name and detail: the detail below the name, coloured by the state.
    fn full_check(&mut self, c: &SelfCheck, at: Point, row: RowStyle) -> Result<(), D::Error> {
        let avail = (self.right() - at.x).max(0) as u32;
        self.text(&c.name, at, avail, row.name, C::TEXT)?;
        let dy = at.y + line_height(row.name) as i32 + 1;
        let colour = match c.state {
            CheckState::Failed => C::BAD,
            CheckState::Warning => C::WARN,
            _ => C::MUTED,
        };
        let detail_at = Point::new(at.x, dy);
        self.text(&c.detail, detail_at, avail, row.detail, colour)?;
        Ok(())
    }

    /// The small layout's name and detail, side by side on one line.
    fn compact_check(&mut self, c: &SelfCheck, at: Point, row: RowStyle) -> Result<(), D::Error> {
        let avail = (self.right() - at.x).max(0) as u32;
        let name_col = text_width("Gallery", row.name);
        let name_w = self.text(&c.name, at, avail.min(name_col), row.name, C::TEXT)?;
        let dx = at.x + name_col.max(name_w) as i32 + 4;
        let avail = (self.right() - dx).max(0) as u32;
        let detail_at = Point::new(dx, at.y);
        self.text(&c.detail, detail_at, avail, row.detail, C::TEXT)?;
        Ok(())
    }
}
