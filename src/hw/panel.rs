//! Opens the configured display panel: the SPI/I2C bus and GPIO control lines, handed to the
//! drivers in [`crate::display`] (which are generic over embedded-hal and tested with mocks).

use super::{open_i2c, open_output_pin, open_spi, HwError};
use crate::config::{DisplayConfig, PanelKind};
use crate::display::{DisplayError, Panel, PanelConfig, Ssd1306Panel, St7789Panel};
use crate::ui::view::View;
use embedded_graphics::prelude::Size;

/// The panel's quirks: the preset for its kind, with the `[display.quirks]` table laid over it.
pub fn panel_config(cfg: &DisplayConfig) -> Result<PanelConfig, HwError> {
    let preset = match cfg.panel {
        PanelKind::St7789_240x240 => "st7789-240x240",
        PanelKind::St7789_320x240 => "st7789-320x240",
        PanelKind::Ssd1306_128x64 => "ssd1306-128x64",
        PanelKind::Png => "st7789-240x240",
    };
    let bad = |reason: String| HwError::Config {
        path: "[display.quirks]".into(),
        reason,
    };
    let base = PanelConfig::preset(preset).map_err(|e| bad(e.to_string()))?;
    let mut table = toml::Table::try_from(&base).map_err(|e| bad(e.to_string()))?;
    for (k, v) in &cfg.quirks {
        table.insert(k.clone(), v.clone());
    }
    if cfg.panel.uses_i2c() {
        table.insert(
            "i2c_address".into(),
            toml::Value::Integer(i64::from(cfg.i2c_address)),
        );
    }
    let merged: PanelConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    merged.validate().map_err(|e| bad(e.to_string()))?;
    Ok(merged)
}

/// A panel plus the GPIO lines that must stay requested while it is in use (the backlight).
struct WithBacklight<P> {
    panel: P,
    _backlight: Option<linux_embedded_hal::CdevPin>,
}

impl<P: Panel> Panel for WithBacklight<P> {
    fn name(&self) -> &str {
        self.panel.name()
    }
    fn resolution(&self) -> Size {
        self.panel.resolution()
    }
    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        self.panel.draw_view(view)
    }
    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        self.panel.test_pattern()
    }
}

/// Opens the SPI or I2C panel named by the config. (`png` is not a hardware panel: the caller
/// makes a PNG display for it.)
pub fn open_panel(cfg: &DisplayConfig) -> Result<Box<dyn Panel>, HwError> {
    let pc = panel_config(cfg)?;
    let init_err = |path: &std::path::Path, e: &dyn std::fmt::Debug| HwError::Open {
        path: path.to_path_buf(),
        reason: format!("panel did not initialise: {e:?}"),
    };
    match cfg.panel {
        PanelKind::St7789_240x240 | PanelKind::St7789_320x240 => {
            let spi = open_spi(&cfg.spi_device, cfg.spi_hz)?;
            let dc = open_output_pin(&cfg.gpiochip, cfg.dc_pin, false)?;
            let rst_line = cfg.rst_pin.ok_or_else(|| HwError::Config {
                path: "[display] rst_pin".into(),
                reason: "the ST7789 driver needs the panel's reset line (rst_pin)".into(),
            })?;
            let rst = open_output_pin(&cfg.gpiochip, rst_line, true)?;
            let backlight = cfg
                .backlight_pin
                .map(|line| open_output_pin(&cfg.gpiochip, line, true))
                .transpose()?;
            let mut delay = linux_embedded_hal::Delay;
            let panel = St7789Panel::new(spi, dc, rst, &mut delay, &pc)
                .map_err(|e| init_err(&cfg.spi_device, &e))?;
            Ok(Box::new(WithBacklight {
                panel,
                _backlight: backlight,
            }))
        }
        PanelKind::Ssd1306_128x64 => {
            let i2c = open_i2c(&cfg.i2c_device)?;
            let panel = Ssd1306Panel::new(i2c, &pc).map_err(|e| init_err(&cfg.i2c_device, &e))?;
            Ok(Box::new(panel))
        }
        PanelKind::Png => Err(HwError::Config {
            path: "[display] panel".into(),
            reason: "`png` is not a hardware panel".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirks_override_the_preset() {
        let mut cfg = DisplayConfig {
            panel: PanelKind::St7789_240x240,
            ..DisplayConfig::default()
        };
        cfg.quirks
            .insert("invert_colors".into(), toml::Value::Boolean(false));
        cfg.quirks
            .insert("rotation".into(), toml::Value::Integer(180));
        let pc = panel_config(&cfg).expect("valid quirks");
        assert!(!pc.invert_colors);
        assert_eq!(pc.rotation, 180);
        assert_eq!((pc.width, pc.height), (240, 240));
    }

    #[test]
    fn bad_quirks_are_named() {
        let mut cfg = DisplayConfig {
            panel: PanelKind::St7789_320x240,
            ..DisplayConfig::default()
        };
        cfg.quirks
            .insert("rotaton".into(), toml::Value::Integer(90));
        let err = panel_config(&cfg).expect_err("unknown quirk refused");
        assert!(err.to_string().contains("rotaton"), "{err}");
    }

    #[test]
    fn missing_bus_is_not_found() {
        let cfg = DisplayConfig {
            panel: PanelKind::Ssd1306_128x64,
            i2c_device: "/dev/i2c-does-not-exist".into(),
            ..DisplayConfig::default()
        };
        let err = open_panel(&cfg).err().expect("no such bus");
        assert!(matches!(err, HwError::NotFound { .. }), "{err}");
    }
}
