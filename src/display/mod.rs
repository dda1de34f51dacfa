//! Displays: an in-memory PNG framebuffer and the real panels, generic over embedded-hal 1.0.
//!
//! Nothing here opens a device: [`crate::hw`] builds the `SpiDevice`/`OutputPin`/`I2c`
//! objects and hands them to [`St7789Panel::new`] or [`Ssd1306Panel::new`]. Every panel
//! implements [`Panel`], so the app holds a `Box<dyn Panel>` and calls
//! [`Panel::draw_view`].
//!
//! Panel quirks (size, offset, inversion, colour order, rotation, SPI write limit, I2C address)
//! are data in a [`PanelConfig`].

pub mod config;
mod framebuffer;
pub mod ssd1306;
pub mod st7789;

use std::path::PathBuf;

use embedded_graphics::{
    pixelcolor::{BinaryColor, Rgb565},
    prelude::*,
};

pub use config::{ColorOrder, ConfigError, Controller, PanelConfig, SPIDEV_DEFAULT_BUFSIZ};
pub use framebuffer::{FrameBuffer, MonoPngDisplay, PngDisplay};
pub use ssd1306::Ssd1306Panel;
pub use st7789::{ChunkedSpi, St7789Panel};

use crate::ui::{self, view::View, Layout};

/// Errors of a display.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The bus (SPI/I2C) or a control pin failed.
    #[error("display {panel}: {detail}")]
    Bus { panel: String, detail: String },
    /// The panel configuration cannot work.
    #[error("display configuration: {0}")]
    Config(String),
    /// Encoding or writing a PNG failed.
    #[error("writing PNG{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Png {
        path: Option<PathBuf>,
        source: image::ImageError,
    },
}

/// Anything the app can show a [`View`] on.
pub trait Panel {
    /// Human-readable panel name (logs, test pattern).
    fn name(&self) -> &str;
    /// Visible size in pixels (after rotation).
    fn resolution(&self) -> Size;
    /// Draw the view and push it to the glass.
    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError>;
    /// Draw the bring-up test pattern (colour bars, marked corners, panel name) and push it.
    fn test_pattern(&mut self) -> Result<(), DisplayError>;
}

fn draw_into<C: ui::Palette>(fb: &mut FrameBuffer<C>, view: &View) {
    let layout = Layout::new(fb.size());
    if let Err(never) = ui::draw(view, &layout, fb) {
        match never {}
    }
}

impl Panel for PngDisplay {
    fn name(&self) -> &str {
        "PNG"
    }

    fn resolution(&self) -> Size {
        OriginDimensions::size(self)
    }

    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        draw_into(self, view);
        Ok(())
    }

    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        if let Err(never) = ui::test_pattern::<Rgb565, _>("PNG display", self) {
            match never {}
        }
        Ok(())
    }
}

impl Panel for MonoPngDisplay {
    fn name(&self) -> &str {
        "PNG mono"
    }

    fn resolution(&self) -> Size {
        OriginDimensions::size(self)
    }

    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        draw_into(self, view);
        Ok(())
    }

    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        if let Err(never) = ui::test_pattern::<BinaryColor, _>("PNG mono", self) {
            match never {}
        }
        Ok(())
    }
}
