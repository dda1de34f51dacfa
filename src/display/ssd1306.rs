//! SSD1306 128×64 monochrome OLED over I2C (ssd1306 crate, buffered graphics mode).

use embedded_graphics::prelude::*;
use embedded_hal::i2c::I2c;
use ssd1306::{
    mode::BufferedGraphicsMode, prelude::*, rotation::DisplayRotation, size::DisplaySize128x64,
    I2CDisplayInterface, Ssd1306,
};

use super::{config::Controller, DisplayError, Panel, PanelConfig};
use crate::ui::{self, view::View, Layout};

/// The ssd1306 driver type the panel drives.
pub type Ssd1306Display<I2C> =
    Ssd1306<I2CInterface<I2C>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// An SSD1306 128×64 panel on I2C.
pub struct Ssd1306Panel<I2C> {
    display: Ssd1306Display<I2C>,
    name: String,
}

fn bus(panel: &str, e: display_interface::DisplayError) -> DisplayError {
    DisplayError::Bus {
        panel: panel.to_string(),
        detail: format!("{e:?}"),
    }
}

impl<I2C: I2c> Ssd1306Panel<I2C> {
    /// Initialise the controller at `cfg.i2c_address` (charge pump on, horizontal addressing)
    /// and blank the screen.
    pub fn new(i2c: I2C, cfg: &PanelConfig) -> Result<Self, DisplayError> {
        cfg.validate()
            .map_err(|e| DisplayError::Config(e.to_string()))?;
        if cfg.controller != Controller::Ssd1306 {
            return Err(DisplayError::Config(format!(
                "panel config is for {:?}, not SSD1306",
                cfg.controller
            )));
        }
        let rotation = match cfg.rotation {
            90 => DisplayRotation::Rotate90,
            180 => DisplayRotation::Rotate180,
            270 => DisplayRotation::Rotate270,
            _ => DisplayRotation::Rotate0,
        };
        let name = if cfg.name.is_empty() {
            "SSD1306 128x64".to_string()
        } else {
            cfg.name.clone()
        };
        let interface = I2CDisplayInterface::new_custom_address(i2c, cfg.i2c_address);
        let mut display =
            Ssd1306::new(interface, DisplaySize128x64, rotation).into_buffered_graphics_mode();
        display.init().map_err(|e| bus(&name, e))?;
        // init clears only the buffer; the glass shows power-up garbage until a flush.
        display.flush().map_err(|e| bus(&name, e))?;
        Ok(Ssd1306Panel { display, name })
    }

    /// Draw `view` into the 1 KiB buffer and flush what changed.
    pub fn draw(&mut self, view: &View) -> Result<(), DisplayError> {
        let layout = Layout::new(self.display.size());
        ui::draw(view, &layout, &mut self.display).map_err(|e| bus(&self.name, e))?;
        self.display.flush().map_err(|e| bus(&self.name, e))
    }

    /// Give back the I2C bus.
    pub fn release(self) -> I2C {
        self.display.release().release()
    }
}

impl<I2C: I2c> Panel for Ssd1306Panel<I2C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn resolution(&self) -> Size {
        self.display.size()
    }

    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        self.draw(view)
    }

    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        ui::test_pattern(&self.name.clone(), &mut self.display).map_err(|e| bus(&self.name, e))?;
        self.display.flush().map_err(|e| bus(&self.name, e))
    }
}
