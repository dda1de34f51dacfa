//! ST7789 colour TFT over SPI (mipidsi), with every SPI write capped at the spidev limit.

use embedded_graphics::{pixelcolor::Rgb565, prelude::*};
use embedded_hal::{delay::DelayNs, digital::OutputPin, spi::SpiDevice};
use mipidsi::{
    interface::{Interface, InterfaceKind},
    models::ST7789,
    options::{ColorInversion, Orientation, Rotation},
};

use super::{
    config::{ColorOrder, Controller, PanelConfigError},
    DisplayError, FrameBuffer, Panel, PanelConfig,
};
use crate::ui::{self, view::View, Layout};

/// Errors of the ST7789 driver: the SPI bus, a GPIO pin (DC or RST), or the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error<CommE: core::fmt::Debug, PinE: core::fmt::Debug> {
    #[error("SPI write failed: {0:?}")]
    Comm(CommE),
    #[error("GPIO pin (DC/RST) failed: {0:?}")]
    Pin(PinE),
    #[error(transparent)]
    Config(#[from] PanelConfigError),
    #[error("controller rejected the configuration: {0}")]
    Init(String),
}

/// A 4-wire SPI interface for mipidsi (DC low = command, DC high = parameters/pixels) that
/// never hands the bus a write longer than `max_write` bytes: spidev refuses transfers over
/// its `bufsiz` (4096 by default).
pub struct ChunkedSpi<SPI, DC> {
    spi: SPI,
    dc: DC,
    buffer: Vec<u8>,
}

impl<SPI: SpiDevice, DC: OutputPin> ChunkedSpi<SPI, DC> {
    /// `max_write` is clamped to at least 2 bytes (one RGB565 pixel).
    pub fn new(spi: SPI, dc: DC, max_write: usize) -> Self {
        ChunkedSpi {
            spi,
            dc,
            buffer: vec![0; max_write.max(2)],
        }
    }

    /// Give back the bus and the DC pin.
    pub fn release(self) -> (SPI, DC) {
        (self.spi, self.dc)
    }

    fn write_chunked(&mut self, bytes: &[u8]) -> Result<(), Error<SPI::Error, DC::Error>> {
        for chunk in bytes.chunks(self.buffer.len()) {
            self.spi.write(chunk).map_err(Error::Comm)?;
        }
        Ok(())
    }

    /// Send the buffer's first `len` bytes.
    fn flush_buffer(&mut self, len: usize) -> Result<(), Error<SPI::Error, DC::Error>> {
        if len > 0 {
            self.spi.write(&self.buffer[..len]).map_err(Error::Comm)?;
        }
        Ok(())
    }
}

impl<SPI: SpiDevice, DC: OutputPin> Interface for ChunkedSpi<SPI, DC> {
    type Word = u8;
    type Error = Error<SPI::Error, DC::Error>;

    const KIND: InterfaceKind = InterfaceKind::Serial4Line;

    fn send_command(&mut self, command: u8, args: &[u8]) -> Result<(), Self::Error> {
        self.dc.set_low().map_err(Error::Pin)?;
        self.spi.write(&[command]).map_err(Error::Comm)?;
        self.dc.set_high().map_err(Error::Pin)?;
        self.write_chunked(args)
    }

    fn send_pixels<const N: usize>(
        &mut self,
        pixels: impl IntoIterator<Item = [u8; N]>,
    ) -> Result<(), Self::Error> {
        // Whole pixels per write, so a pixel never straddles two transfers.
        let cap = (self.buffer.len() / N).max(1) * N;
        if self.buffer.len() < cap {
            self.buffer.resize(cap, 0);
        }
        let mut len = 0;
        for px in pixels {
            if len + N > cap {
                self.flush_buffer(len)?;
                len = 0;
            }
            self.buffer[len..len + N].copy_from_slice(&px);
            len += N;
        }
        self.flush_buffer(len)
    }

    fn send_repeated_pixel<const N: usize>(
        &mut self,
        pixel: [u8; N],
        count: u32,
    ) -> Result<(), Self::Error> {
        self.send_pixels((0..count).map(|_| pixel))
    }
}

/// The mipidsi display type the panel drives.
pub type St7789Display<SPI, DC, RST> = mipidsi::Display<ChunkedSpi<SPI, DC>, ST7789, RST>;

/// An ST7789 panel: a back buffer the screens draw into, flushed as one full-frame window.
pub struct St7789Panel<SPI, DC, RST>
where
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
{
    display: St7789Display<SPI, DC, RST>,
    frame: FrameBuffer<Rgb565>,
    name: String,
}

fn orientation(cfg: &PanelConfig) -> Result<Orientation, PanelConfigError> {
    let rotation = match cfg.rotation {
        0 => Rotation::Deg0,
        90 => Rotation::Deg90,
        180 => Rotation::Deg180,
        270 => Rotation::Deg270,
        other => return Err(PanelConfigError::Rotation(other)),
    };
    let o = Orientation::new().rotate(rotation);
    Ok(if cfg.mirrored { o.flip_horizontal() } else { o })
}

impl<SPI, DC, RST, PinE> St7789Panel<SPI, DC, RST>
where
    SPI: SpiDevice,
    DC: OutputPin<Error = PinE>,
    RST: OutputPin<Error = PinE>,
    PinE: core::fmt::Debug,
{
    /// Reset (RST low, then high) and initialise the controller as `cfg` says.
    ///
    /// `spi` is the SPI device with its chip select (mode 0; ST7789 modules without CS
    /// need mode 3), `dc` the data/command GPIO, `rst` the reset GPIO.
    pub fn new(
        spi: SPI,
        dc: DC,
        rst: RST,
        delay: &mut impl DelayNs,
        cfg: &PanelConfig,
    ) -> Result<Self, Error<SPI::Error, PinE>> {
        cfg.validate()?;
        if cfg.controller != Controller::St7789 {
            return Err(Error::Init(format!(
                "panel config is for {:?}, not ST7789",
                cfg.controller
            )));
        }
        let (nw, nh) = cfg.native_size();
        let di = ChunkedSpi::new(spi, dc, cfg.spi_max_write);
        let display = mipidsi::Builder::new(ST7789, di)
            .reset_pin(rst)
            .display_size(nw, nh)
            .display_offset(cfg.offset_x, cfg.offset_y)
            .invert_colors(if cfg.invert_colors {
                ColorInversion::Inverted
            } else {
                ColorInversion::Normal
            })
            .color_order(match cfg.color_order {
                ColorOrder::Rgb => mipidsi::options::ColorOrder::Rgb,
                ColorOrder::Bgr => mipidsi::options::ColorOrder::Bgr,
            })
            .orientation(orientation(cfg)?)
            .init(delay)
            .map_err(|e| match e {
                mipidsi::InitError::Interface(e) => e,
                mipidsi::InitError::ResetPin(e) => Error::Pin(e),
                mipidsi::InitError::InvalidConfiguration(c) => Error::Init(format!("{c:?}")),
            })?;
        let name = if cfg.name.is_empty() {
            format!("ST7789 {}x{}", cfg.width, cfg.height)
        } else {
            cfg.name.clone()
        };
        Ok(St7789Panel {
            display,
            frame: FrameBuffer::new(u32::from(cfg.width), u32::from(cfg.height)),
            name,
        })
    }

    /// The back buffer (what the last draw left).
    pub fn frame(&self) -> &FrameBuffer<Rgb565> {
        &self.frame
    }

    /// Send the whole back buffer to the panel.
    pub fn flush(&mut self) -> Result<(), Error<SPI::Error, PinE>> {
        let Size { width, height } = self.frame.size();
        if width == 0 || height == 0 {
            return Ok(());
        }
        let (ex, ey) = (width as u16 - 1, height as u16 - 1);
        self.display
            .set_pixels(0, 0, ex, ey, self.frame.pixels().iter().copied())
    }

    /// Draw `view` into the back buffer and flush it.
    pub fn draw(&mut self, view: &View) -> Result<(), Error<SPI::Error, PinE>> {
        let layout = Layout::new(self.frame.size());
        // The back buffer is infallible.
        if let Err(never) = ui::draw(view, &layout, &mut self.frame) {
            match never {}
        }
        self.flush()
    }

    /// Draw the bring-up test pattern and flush it.
    pub fn draw_test_pattern(&mut self) -> Result<(), Error<SPI::Error, PinE>> {
        if let Err(never) = ui::test_pattern(&self.name, &mut self.frame) {
            match never {}
        }
        self.flush()
    }

    /// Give back the parts.
    pub fn release(self) -> (SPI, DC, Option<RST>) {
        let (di, _, rst) = self.display.release();
        let (spi, dc) = di.release();
        (spi, dc, rst)
    }
}

fn bus_error<E: core::fmt::Debug, P: core::fmt::Debug>(
    panel: &str,
    e: Error<E, P>,
) -> DisplayError {
    DisplayError::Bus {
        panel: panel.to_string(),
        detail: e.to_string(),
    }
}

impl<SPI, DC, RST, PinE> Panel for St7789Panel<SPI, DC, RST>
where
    SPI: SpiDevice,
    DC: OutputPin<Error = PinE>,
    RST: OutputPin<Error = PinE>,
    PinE: core::fmt::Debug,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn resolution(&self) -> Size {
        self.frame.size()
    }

    fn draw_view(&mut self, view: &View) -> Result<(), DisplayError> {
        self.draw(view).map_err(|e| bus_error(&self.name, e))
    }

    fn test_pattern(&mut self) -> Result<(), DisplayError> {
        self.draw_test_pattern()
            .map_err(|e| bus_error(&self.name, e))
    }
}
