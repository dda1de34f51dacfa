//! Displays: an in-memory PNG framebuffer and the real panels, generic over embedded-hal 1.0.
//!
//! Nothing here opens a device: [`crate::hw`] builds the `SpiDevice`/`OutputPin`/`I2c`
//! objects and hands them to [`St7789Panel::new`] or [`Ssd1306Panel::new`]. Every panel
//! implements [`Panel`], so the app holds a `Box<dyn Panel>` and calls
//! [`Panel::draw_view`].
//!
//! Panel quirks (size, offset, inversion, colour order, rotation, SPI write limit, I2C address)
//! are data in a [`PanelConfig`].
//!
//! # Bring-up and troubleshooting (for the person wiring the board)
//! Show the test pattern ([`Panel::test_pattern`]) and compare with
//! `tests/golden/<panel>/test_pattern.png`:
//!
//! | what you see | what to change in `[display]` |
//! |---|---|
//! | nothing at all | wiring, `spidev`/`i2c` enabled, backlight pin high; SSD1306: `i2cdetect -y 1` shows 0x3c or 0x3d (`i2c_address`) |
//! | white background, black text | `invert_colors` (most IPS ST7789 modules need `true`) |
//! | top-left corner blue instead of red | `color_order = "bgr"` |
//! | picture shifted, border missing on one side, garbage strip | `offset_x` / `offset_y` (240x240 modules rotated 180: `offset_y = 80`) |
//! | corners in the wrong places, image sideways or mirrored | `rotation` (0/90/180/270), `mirrored` |
//! | `EMSGSIZE`/"Message too long" on SPI | `spi_max_write` above spidev's `bufsiz` (default 4096) |
//! | noise, or the ST7789 only works after re-plugging | SPI mode: modules without a CS pin need mode 3; slow the clock (e.g. 32 MHz) |

pub mod config;
mod framebuffer;
pub mod sink;
pub mod ssd1306;
pub mod st7789;

use std::path::PathBuf;

use embedded_graphics::{
    pixelcolor::{BinaryColor, Rgb565},
    prelude::*,
};

pub use config::{ColorOrder, Controller, PanelConfig, PanelConfigError, SPIDEV_DEFAULT_BUFSIZ};
pub use framebuffer::{FrameBuffer, MonoPngDisplay, PngDisplay};
pub use sink::{LoggedSink, PanelSink, PngFileSink, PngScreen, PANEL_RETRY_EVERY};
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

/// The colours a PNG framebuffer is drawn in, and the names its [`Panel`] goes by.
pub trait PngColor: ui::Palette {
    /// [`Panel::name`] of a framebuffer in this colour.
    const PANEL_NAME: &'static str;
    /// The name the test pattern shows.
    const PATTERN_NAME: &'static str;
}

impl PngColor for Rgb565 {
    const PANEL_NAME: &'static str = "PNG";
    const PATTERN_NAME: &'static str = "PNG display";
}

impl PngColor for BinaryColor {
    const PANEL_NAME: &'static str = "PNG mono";
    const PATTERN_NAME: &'static str = "PNG mono";
}

/// [`PngDisplay`] and [`MonoPngDisplay`]: drawing never fails (the framebuffer is memory).
impl<C: PngColor> Panel for FrameBuffer<C> {
    fn name(&self) -> &str {
        C::PANEL_NAME
    }

    fn resolution(&self) -> Size {
        OriginDimensions::size(self)
    }

    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        let layout = Layout::new(self.size());
        if let Err(never) = ui::draw(view, &layout, self) {
            match never {}
        }
        Ok(())
    }

    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        if let Err(never) = ui::test_pattern::<C, _>(C::PATTERN_NAME, self) {
            match never {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_displays_work_as_trait_objects_and_save() {
        let dir = tempfile::tempdir().unwrap();
        let mut panels: Vec<Box<dyn Panel>> = vec![
            Box::new(PngDisplay::new(240, 240)),
            Box::new(MonoPngDisplay::new(128, 64)),
        ];
        for p in &mut panels {
            p.draw_view(&View::Analysing {
                photos: 1,
                progress: None,
            })
            .unwrap();
            p.test_pattern().unwrap();
        }
        assert_eq!(panels[1].resolution(), Size::new(128, 64));

        let mut fb = PngDisplay::new(32, 16);
        fb.draw_view(&View::Blank).unwrap();
        let path = dir.path().join("blank.png");
        fb.save_png(&path).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (32, 16));
        assert!(back.pixels().all(|p| p.0 == [0, 0, 0]));

        let err = fb
            .save_png(dir.path().join("missing/dir/x.png"))
            .unwrap_err();
        assert!(
            matches!(err, DisplayError::Png { path: Some(_), .. }),
            "{err}"
        );
    }
}
