//! Panel quirks as data: size, offset, inversion, colour order, rotation, bus limits.

use serde::{Deserialize, Serialize};

/// spidev's default `bufsiz`: the largest single SPI transfer the kernel accepts.
pub const SPIDEV_DEFAULT_BUFSIZ: usize = 4096;

/// The display controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    /// Sitronix ST7789 colour TFT on SPI (RGB565).
    St7789,
    /// Solomon SSD1306 monochrome OLED on I2C.
    Ssd1306,
}

/// Subpixel order of the panel glass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    #[default]
    Rgb,
    Bgr,
}

/// Everything that differs between panels of the same controller, selected by the device
/// configuration (`[display]` table) or one of the presets ([`PanelConfig::preset`]).
///
/// ```toml
/// controller = "st7789"
/// name = "Waveshare 1.3in 240x240"
/// width = 240
/// height = 240
/// invert_colors = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelConfig {
    pub controller: Controller,
    /// Shown by the test pattern and in logs.
    #[serde(default)]
    pub name: String,
    /// Visible width in pixels as the screens see it (after rotation).
    pub width: u16,
    /// Visible height in pixels as the screens see it (after rotation).
    pub height: u16,
    /// Offset of the visible area in the controller's memory, in the controller's native
    /// (unrotated) orientation; the driver mirrors it for rotated/flipped orientations.
    #[serde(default)]
    pub offset_x: u16,
    #[serde(default)]
    pub offset_y: u16,
    /// Most IPS ST7789 modules need colour inversion on.
    #[serde(default)]
    pub invert_colors: bool,
    #[serde(default)]
    pub color_order: ColorOrder,
    /// Clockwise rotation in degrees: 0, 90, 180 or 270.
    #[serde(default)]
    pub rotation: u16,
    /// Mirror the image horizontally.
    #[serde(default)]
    pub mirrored: bool,
    /// Largest single SPI write in bytes (spidev `bufsiz`), at most 4096 unless the kernel's
    /// `spidev.bufsiz` was raised.
    #[serde(default = "default_spi_max_write")]
    pub spi_max_write: usize,
    /// 7-bit I2C address (SSD1306: 0x3C, or 0x3D with SA0 high).
    #[serde(default = "default_i2c_address")]
    pub i2c_address: u8,
}

fn default_spi_max_write() -> usize {
    SPIDEV_DEFAULT_BUFSIZ
}

fn default_i2c_address() -> u8 {
    0x3C
}

/// A panel configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanelConfigError {
    #[error("rotation must be 0, 90, 180 or 270 degrees, not {0}")]
    Rotation(u16),
    #[error("{controller:?} cannot show {width}x{height} at offset ({offset_x}, {offset_y})")]
    Size {
        controller: Controller,
        width: u16,
        height: u16,
        offset_x: u16,
        offset_y: u16,
    },
    #[error("spi_max_write must be between 2 and 65536 bytes, not {0}")]
    SpiMaxWrite(usize),
    #[error("I2C address {0:#04x} is not a 7-bit address")]
    I2cAddress(u8),
    #[error("unknown panel preset {0:?} (known: st7789-240x240, st7789-320x240, ssd1306-128x64)")]
    UnknownPreset(String),
}

impl PanelConfig {
    /// 1.3"/1.54" 240×240 IPS ST7789 modules (e.g. Waveshare, Adafruit): inverted colours.
    pub fn st7789_240x240() -> Self {
        PanelConfig {
            controller: Controller::St7789,
            name: "ST7789 240x240".into(),
            width: 240,
            height: 240,
            offset_x: 0,
            offset_y: 0,
            invert_colors: true,
            color_order: ColorOrder::Rgb,
            rotation: 0,
            mirrored: false,
            spi_max_write: SPIDEV_DEFAULT_BUFSIZ,
            i2c_address: default_i2c_address(),
        }
    }

    /// 2.0" 240×320 IPS ST7789 modules used in landscape (320×240, rotated 90°).
    pub fn st7789_320x240() -> Self {
        PanelConfig {
            name: "ST7789 320x240".into(),
            width: 320,
            height: 240,
            rotation: 90,
            ..Self::st7789_240x240()
        }
    }

    /// 0.96" 128×64 SSD1306 OLED on I2C address 0x3C.
    pub fn ssd1306_128x64() -> Self {
        PanelConfig {
            controller: Controller::Ssd1306,
            name: "SSD1306 128x64".into(),
            width: 128,
            height: 64,
            invert_colors: false,
            ..Self::st7789_240x240()
        }
    }

    /// A preset by name: `st7789-240x240`, `st7789-320x240` or `ssd1306-128x64`.
    pub fn preset(name: &str) -> Result<Self, PanelConfigError> {
        match name {
            "st7789-240x240" => Ok(Self::st7789_240x240()),
            "st7789-320x240" => Ok(Self::st7789_320x240()),
            "ssd1306-128x64" => Ok(Self::ssd1306_128x64()),
            other => Err(PanelConfigError::UnknownPreset(other.to_string())),
        }
    }

    /// Whether the rotation swaps width and height relative to the controller.
    pub fn swaps_axes(&self) -> bool {
        self.rotation % 180 == 90
    }

    /// The visible size in the controller's native orientation.
    pub fn native_size(&self) -> (u16, u16) {
        if self.swaps_axes() {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// Check that the driver can honour this configuration.
    pub fn validate(&self) -> Result<(), PanelConfigError> {
        if !matches!(self.rotation, 0 | 90 | 180 | 270) {
            return Err(PanelConfigError::Rotation(self.rotation));
        }
        let (nw, nh) = self.native_size();
        let size_err = || PanelConfigError::Size {
            controller: self.controller,
            width: self.width,
            height: self.height,
            offset_x: self.offset_x,
            offset_y: self.offset_y,
        };
        match self.controller {
            Controller::St7789 => {
                // ST7789 memory is 240 columns × 320 rows.
                let fits = nw > 0
                    && nh > 0
                    && u32::from(nw) + u32::from(self.offset_x) <= 240
                    && u32::from(nh) + u32::from(self.offset_y) <= 320;
                if !fits {
                    return Err(size_err());
                }
                if !(2..=65536).contains(&self.spi_max_write) {
                    return Err(PanelConfigError::SpiMaxWrite(self.spi_max_write));
                }
            }
            Controller::Ssd1306 => {
                if (nw, nh) != (128, 64) || self.offset_x != 0 || self.offset_y != 0 {
                    return Err(size_err());
                }
                if self.i2c_address > 0x7F {
                    return Err(PanelConfigError::I2cAddress(self.i2c_address));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for name in ["st7789-240x240", "st7789-320x240", "ssd1306-128x64"] {
            let cfg = PanelConfig::preset(name).unwrap();
            assert_eq!(cfg.validate(), Ok(()), "{name}");
        }
        assert_eq!(PanelConfig::st7789_320x240().native_size(), (240, 320));
        assert!(matches!(
            PanelConfig::preset("nope"),
            Err(PanelConfigError::UnknownPreset(_))
        ));
    }

    #[test]
    fn deserialises_from_toml_with_defaults() {
        let cfg: PanelConfig = toml::from_str(
            "controller = \"st7789\"\nwidth = 240\nheight = 240\noffset_y = 80\nrotation = 180\ncolor_order = \"bgr\"\n",
        )
        .unwrap();
        assert_eq!(cfg.spi_max_write, 4096);
        assert_eq!(cfg.color_order, ColorOrder::Bgr);
        assert_eq!(cfg.offset_y, 80);
        assert!(!cfg.invert_colors);
        assert_eq!(cfg.validate(), Ok(()));
        assert!(toml::from_str::<PanelConfig>(
            "controller = \"st7789\"\nwidth = 1\nheight = 1\nbogus = 1\n"
        )
        .is_err());
    }

    #[test]
    fn rejects_impossible_panels() {
        let mut cfg = PanelConfig::st7789_240x240();
        cfg.rotation = 45;
        assert_eq!(cfg.validate(), Err(PanelConfigError::Rotation(45)));
        let mut cfg = PanelConfig::st7789_240x240();
        cfg.offset_y = 81;
        assert!(matches!(cfg.validate(), Err(PanelConfigError::Size { .. })));
        let mut cfg = PanelConfig::ssd1306_128x64();
        cfg.width = 64;
        assert!(matches!(cfg.validate(), Err(PanelConfigError::Size { .. })));
        let mut cfg = PanelConfig::st7789_240x240();
        cfg.spi_max_write = 1;
        assert_eq!(cfg.validate(), Err(PanelConfigError::SpiMaxWrite(1)));
    }
}
