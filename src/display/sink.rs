//! Where the device's views go: decorators over a [`ViewSink`] and the sinks that draw on a
//! [`Panel`] or into a PNG file.
//!
//! - [`PanelSink`]: shows views on a panel; a failing display bus is logged once per outage,
//!   never stops the device, and the view that failed is redrawn once the bus works again.
//! - [`LoggedSink`]: each screen also written to the log at debug level ([`View::describe`]).
//! - [`PngScreen`] and [`PngFileSink`]: a laptop's stand-in for the panel, a framebuffer saved
//!   as a PNG file after each view.

use std::path::{Path, PathBuf};

use super::{DisplayError, MonoPngDisplay, Panel, PngDisplay};
use crate::app::ViewSink;
use crate::ui::view::View;

/// The device's display, each screen also logged at debug level (no patient data: a screen
/// shows no photo and no file name). Forwards `idle` so a panel can redraw after a bus error.
pub struct LoggedSink(Box<dyn ViewSink>);

impl LoggedSink {
    /// Logs each view shown on `inner`.
    pub fn new(inner: Box<dyn ViewSink>) -> Self {
        LoggedSink(inner)
    }
}

impl ViewSink for LoggedSink {
    fn show(&mut self, view: &View) {
        log::debug!("screen: {}", view.describe());
        self.0.show(view);
    }
    fn idle(&mut self) {
        self.0.idle();
    }
}

/// A laptop screen: a colour or (at most 64 pixels high) monochrome framebuffer saved as PNG.
pub enum PngScreen {
    Colour(PngDisplay),
    Mono(MonoPngDisplay),
}

impl PngScreen {
    /// A blank screen of `width` × `height` pixels: monochrome up to 64 pixels high (the
    /// 128×64 OLED), colour above.
    pub fn new(width: u32, height: u32) -> Self {
        if height <= 64 {
            PngScreen::Mono(MonoPngDisplay::new(width, height))
        } else {
            PngScreen::Colour(PngDisplay::new(width, height))
        }
    }

    /// Draws `view` and writes the screen to `path`.
    pub fn show(&mut self, view: &View, path: &Path) -> Result<(), DisplayError> {
        self.panel().draw_view(view)?;
        self.save_png(path)
    }

    /// Draws the bring-up test pattern and writes the screen to `path`.
    pub fn test_pattern(&mut self, path: &Path) -> Result<(), DisplayError> {
        self.panel().test_pattern()?;
        self.save_png(path)
    }

    fn panel(&mut self) -> &mut dyn Panel {
        match self {
            PngScreen::Colour(fb) => fb,
            PngScreen::Mono(fb) => fb,
        }
    }

    fn save_png(&self, path: &Path) -> Result<(), DisplayError> {
        match self {
            PngScreen::Colour(fb) => fb.save_png(path),
            PngScreen::Mono(fb) => fb.save_png(path),
        }
    }
}

/// The `png` panel of the configuration: each view drawn on a [`PngScreen`] and written to
/// one file (the latest screen); a failed write is logged and the device keeps running.
pub struct PngFileSink {
    screen: PngScreen,
    path: PathBuf,
}

impl PngFileSink {
    /// A `width` × `height` screen written to `path`.
    pub fn new(width: u32, height: u32, path: PathBuf) -> Self {
        PngFileSink {
            screen: PngScreen::new(width, height),
            path,
        }
    }
}

impl ViewSink for PngFileSink {
    fn show(&mut self, view: &View) {
        if let Err(e) = self.screen.show(view, &self.path) {
            log::error!("display: {}", error_chain(&e));
        }
    }
}

/// An error and its sources, `outer: inner: ...`, as a log line gives them.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Shows views on a panel. A failing bus is logged once per outage (not once per frame), the
/// device keeps running, and the view that could not be drawn is retried from
/// [`ViewSink::idle`] so the glass is right again as soon as the bus recovers (the app only
/// sends a view when it changes).
pub struct PanelSink {
    panel: Box<dyn Panel>,
    /// The view that failed to draw, kept for the retry.
    pending: Option<View>,
    failed_draws: u64,
    outages: u64,
    failed_in_outage: u64,
    idle_calls: u64,
}

/// While the bus fails, [`PanelSink::idle`] retries every this many loop iterations.
pub const PANEL_RETRY_EVERY: u64 = 8;

impl PanelSink {
    pub fn new(panel: Box<dyn Panel>) -> Self {
        PanelSink {
            panel,
            pending: None,
            failed_draws: 0,
            outages: 0,
            failed_in_outage: 0,
            idle_calls: 0,
        }
    }

    pub fn panel(&self) -> &dyn Panel {
        self.panel.as_ref()
    }

    /// Draws that failed so far (including retries).
    pub fn failed_draws(&self) -> u64 {
        self.failed_draws
    }

    /// Runs of consecutive failed draws; each was logged once.
    pub fn outages(&self) -> u64 {
        self.outages
    }

    /// Whether the last draw failed.
    pub fn is_failing(&self) -> bool {
        self.pending.is_some()
    }

    fn draw(&mut self, view: &View) {
        match self.panel.draw_view(view) {
            Ok(()) => {
                if self.pending.take().is_some() {
                    log::info!(
                        "display: working again after {} failed draw(s)",
                        self.failed_in_outage
                    );
                }
                self.failed_in_outage = 0;
            }
            Err(e) => {
                self.failed_draws += 1;
                self.failed_in_outage += 1;
                if self.pending.is_none() {
                    self.outages += 1;
                    self.idle_calls = 0;
                    log::error!(
                        "{e} (the device keeps running; retrying, not logged again until the \
                         display works)"
                    );
                }
                self.pending = Some(view.clone());
            }
        }
    }
}

impl ViewSink for PanelSink {
    fn show(&mut self, view: &View) {
        self.draw(view);
    }

    fn idle(&mut self) {
        if self.pending.is_none() {
            return;
        }
        self.idle_calls += 1;
        if self.idle_calls % PANEL_RETRY_EVERY == 0 {
            if let Some(v) = self.pending.clone() {
                self.draw(&v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_screen_is_mono_up_to_64_rows_and_writes_each_view() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(PngScreen::new(128, 64), PngScreen::Mono(_)));
        let path = dir.path().join("screen.png");
        let mut sink = PngFileSink::new(240, 240, path.clone());
        sink.show(&View::Blank);
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (240, 240));
        assert!(back.pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn an_error_chain_names_every_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = DisplayError::Png {
            path: None,
            source: image::ImageError::IoError(io),
        };
        assert_eq!(error_chain(&e), "writing PNG: gone: gone");
    }
}
