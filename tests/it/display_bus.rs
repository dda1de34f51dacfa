//! Bus-level tests of the panel drivers with embedded-hal-mock expectations.
//!
//! Expected transactions are written from the controllers' datasheets:
//! - ST7789 (4-line SPI): D/C low for the command byte, high for parameters and pixel data;
//!   hardware reset = RST low then high; SLPOUT (0x11), MADCTL (0x36), INVON (0x21),
//!   COLMOD (0x3A, 0x55 = 16 bit/pixel), NORON (0x13), DISPON (0x29); a frame is CASET (0x2A),
//!   RASET (0x2B), RAMWR (0x2C) then RGB565 big-endian pixel data. spidev refuses single
//!   transfers over 4096 bytes, so pixel data must arrive in chunks of at most 4096.
//! - SSD1306 (I2C at 0x3C): every write starts with a control byte, 0x00 = commands follow,
//!   0x40 = display data follows; GDDRAM is 8 pages of 128 bytes, bit n of a byte = row 8p+n.

use std::cell::RefCell;
use std::rc::Rc;

use embedded_graphics::{pixelcolor::raw::ToBytes, prelude::*};
use embedded_hal::delay::DelayNs;
use embedded_hal_mock::eh1::{
    digital::{Mock as PinMock, State, Transaction as PinTransaction},
    i2c::Mock as I2cMock,
    spi::{Mock as SpiMock, Transaction as SpiTransaction},
};
use gestaltcam::{
    display::{MonoPngDisplay, Panel, PanelConfig, PngDisplay, Ssd1306Panel, St7789Panel},
    ui::{
        self,
        view::{ErrorKind, View},
        Layout,
    },
};

/// Records every requested delay in nanoseconds.
#[derive(Clone, Default)]
struct RecordingDelay(Rc<RefCell<Vec<u64>>>);

impl DelayNs for RecordingDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().push(u64::from(ns));
    }
    fn delay_us(&mut self, us: u32) {
        self.0.borrow_mut().push(u64::from(us) * 1_000);
    }
    fn delay_ms(&mut self, ms: u32) {
        self.0.borrow_mut().push(u64::from(ms) * 1_000_000);
    }
}

/// Expected SPI and D/C activity of an ST7789 session.
#[derive(Default)]
struct St7789Script {
    spi: Vec<SpiTransaction<u8>>,
    dc: Vec<PinTransaction>,
}

impl St7789Script {
    /// One SpiDevice::write = one transaction with a single write.
    fn write(&mut self, bytes: &[u8]) {
        self.spi.push(SpiTransaction::transaction_start());
        self.spi.push(SpiTransaction::write_vec(bytes.to_vec()));
        self.spi.push(SpiTransaction::transaction_end());
    }

    /// A command: D/C low for the command byte, high for its parameters.
    fn command(&mut self, cmd: u8, params: &[u8]) {
        self.dc.push(PinTransaction::set(State::Low));
        self.write(&[cmd]);
        self.dc.push(PinTransaction::set(State::High));
        if !params.is_empty() {
            self.write(params);
        }
    }

    /// The datasheet power-on sequence for RGB565.
    fn init(&mut self, madctl: u8, inverted: bool) {
        self.command(0x11, &[]); // SLPOUT
        self.command(0x36, &[madctl]); // MADCTL
        self.command(if inverted { 0x21 } else { 0x20 }, &[]); // INVON / INVOFF
        self.command(0x3A, &[0x55]); // COLMOD: 65K colours, 16 bit/pixel
        self.command(0x13, &[]); // NORON
        self.command(0x29, &[]); // DISPON
    }

    /// A full-frame window and its pixel data, `chunk` bytes per write at most.
    fn frame(&mut self, cols: (u16, u16), rows: (u16, u16), pixels: &[u8], chunk: usize) {
        let be = |a: u16, b: u16| {
            let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
            [a[0], a[1], b[0], b[1]]
        };
        self.command(0x2A, &be(cols.0, cols.1)); // CASET
        self.command(0x2B, &be(rows.0, rows.1)); // RASET
        self.command(0x2C, &[]); // RAMWR
        for c in pixels.chunks(chunk) {
            self.write(c);
        }
    }
}

fn rgb565_bytes(fb: &PngDisplay) -> Vec<u8> {
    fb.pixels().iter().flat_map(|p| p.to_be_bytes()).collect()
}

fn expected_frame(view: &View, w: u32, h: u32) -> Vec<u8> {
    let mut fb = PngDisplay::new(w, h);
    ui::draw(view, &Layout::new(Size::new(w, h)), &mut fb).unwrap();
    rgb565_bytes(&fb)
}

fn analysing() -> View {
    View::Analysing {
        photos: 2,
        progress: None,
    }
}

#[test]
fn st7789_240x240_init_and_full_frame_in_4096_byte_writes() {
    let cfg = PanelConfig::st7789_240x240();
    let pixels = expected_frame(&analysing(), 240, 240);
    assert_eq!(pixels.len(), 240 * 240 * 2);

    let mut script = St7789Script::default();
    script.init(0x00, true); // portrait, RGB order, IPS panel needs inversion
    script.frame((0, 239), (0, 239), &pixels, 4096);

    // The property the kernel needs, checked on the expectation itself.
    let writes: Vec<usize> = pixels.chunks(4096).map(<[u8]>::len).collect();
    assert_eq!(writes.len(), 29, "115200 bytes = 28 x 4096 + 512");
    assert!(writes.iter().all(|&n| n <= 4096));
    assert_eq!(writes.iter().sum::<usize>(), 115_200);

    let mut spi = SpiMock::new(&script.spi);
    let mut dc = PinMock::new(&script.dc);
    // Hardware reset: RST pulled low, then released high.
    let mut rst = PinMock::new(&[
        PinTransaction::set(State::Low),
        PinTransaction::set(State::High),
    ]);
    let delays = RecordingDelay::default();
    let mut delay = delays.clone();

    let mut panel =
        St7789Panel::new(spi.clone(), dc.clone(), rst.clone(), &mut delay, &cfg).unwrap();
    panel.draw_view(&analysing()).unwrap();

    // Datasheet timing: reset pulse >= 10 us; >= 120 ms after reset before SLPOUT;
    // >= 5 ms after SLPOUT. The driver only delays, so the total must cover them all.
    let d = delays.0.borrow().clone();
    assert!(
        d.first().is_some_and(|&ns| ns >= 10_000),
        "reset pulse {d:?}"
    );
    assert!(d.iter().sum::<u64>() >= 125_000_000, "delays {d:?}");

    drop(panel);
    spi.done();
    dc.done();
    rst.done();
}

#[test]
fn st7789_320x240_landscape_and_custom_chunk() {
    // 240x320 glass rotated 90 degrees: MADCTL MV (swap) | MX (mirror columns) = 0x60, columns
    // run over the 320-pixel axis; a 1001-byte limit sends whole pixels (1000 bytes) per write.
    let mut cfg = PanelConfig::st7789_320x240();
    cfg.spi_max_write = 1001;
    let view = View::Error {
        kind: ErrorKind::CameraMissing,
        technical: "No camera at /dev/video0".into(),
    };
    let pixels = expected_frame(&view, 320, 240);

    let mut script = St7789Script::default();
    script.init(0x60, true);
    script.frame((0, 319), (0, 239), &pixels, 1000);

    let mut spi = SpiMock::new(&script.spi);
    let mut dc = PinMock::new(&script.dc);
    let mut rst = PinMock::new(&[
        PinTransaction::set(State::Low),
        PinTransaction::set(State::High),
    ]);
    let mut delay = RecordingDelay::default();
    let mut panel =
        St7789Panel::new(spi.clone(), dc.clone(), rst.clone(), &mut delay, &cfg).unwrap();
    assert_eq!(panel.resolution(), Size::new(320, 240));
    panel.draw_view(&view).unwrap();
    drop(panel);
    spi.done();
    dc.done();
    rst.done();
}

#[test]
fn st7789_240x240_upside_down_uses_the_mirrored_row_offset() {
    // 240 visible rows of a 320-row controller rotated 180 degrees: MADCTL MY|MX = 0xC0 and
    // the rows start at 320 - 240 = 80 (the classic 240x240 module quirk).
    let mut cfg = PanelConfig::st7789_240x240();
    cfg.rotation = 180;
    cfg.invert_colors = false;
    let view = View::Blank;
    let pixels = expected_frame(&view, 240, 240);
    let mut script = St7789Script::default();
    script.init(0xC0, false);
    script.frame((0, 239), (80, 319), &pixels, 4096);

    let mut spi = SpiMock::new(&script.spi);
    let mut dc = PinMock::new(&script.dc);
    let mut rst = PinMock::new(&[
        PinTransaction::set(State::Low),
        PinTransaction::set(State::High),
    ]);
    let mut delay = RecordingDelay::default();
    let mut panel =
        St7789Panel::new(spi.clone(), dc.clone(), rst.clone(), &mut delay, &cfg).unwrap();
    panel.draw_view(&view).unwrap();
    drop(panel);
    spi.done();
    dc.done();
    rst.done();
}

#[test]
fn st7789_rejects_a_bad_config_before_touching_the_bus() {
    let mut cfg = PanelConfig::st7789_240x240();
    cfg.offset_y = 200;
    let mut spi = SpiMock::new(&[]);
    let mut dc = PinMock::new(&[]);
    let mut rst = PinMock::new(&[]);
    let mut delay = RecordingDelay::default();
    let r = St7789Panel::new(spi.clone(), dc.clone(), rst.clone(), &mut delay, &cfg);
    assert!(r.is_err());
    spi.done();
    dc.done();
    rst.done();
}

// ------------------------------------------------------------------------------- SSD1306

use crate::common::ssd1306::{frame as ssd1306_frame, gddram, init as ssd1306_init};

#[test]
fn ssd1306_init_blank_and_flush_a_view() {
    let view = View::NoCloseMatch {
        basis: gestaltcam::ui::view::Basis {
            reference_cases: 120,
            syndromes: 12,
            photos: 1,
            model_version: "gm-1.0".into(),
            gallery_version: "demo-0.3".into(),
            demo: true,
            phenotype: None,
        },
    };
    let mut mono = MonoPngDisplay::new(128, 64);
    ui::draw(&view, &Layout::new(Size::new(128, 64)), &mut mono).unwrap();
    let image = gddram(&mono);
    assert!(image.iter().any(|&b| b != 0), "the view draws something");

    let mut expected = ssd1306_init(0x3C);
    expected.extend(ssd1306_frame(0x3C, &[0u8; 1024])); // blanking after init
    expected.extend(ssd1306_frame(0x3C, &image));

    let mut i2c = I2cMock::new(&expected);
    let mut panel = Ssd1306Panel::new(i2c.clone(), &PanelConfig::ssd1306_128x64()).unwrap();
    assert_eq!(panel.resolution(), Size::new(128, 64));
    panel.draw_view(&view).unwrap();
    drop(panel);
    i2c.done();

    let data_writes = expected.len() - ssd1306_init(0x3C).len() - 4;
    assert_eq!(
        data_writes,
        2 * 64,
        "1024 bytes in 16-byte data writes, twice"
    );
}

#[test]
fn ssd1306_alternate_address_and_test_pattern() {
    // SA0 high: address 0x3D; everything else identical.
    let mut cfg = PanelConfig::ssd1306_128x64();
    cfg.i2c_address = 0x3D;
    cfg.name = "OLED".into();
    let mut pattern = MonoPngDisplay::new(128, 64);
    ui::test_pattern("OLED", &mut pattern).unwrap();
    let image = gddram(&pattern);
    // The outermost pixels are lit: the border shows a wrong offset at a glance.
    assert_eq!(image[0] & 1, 1);
    assert_eq!(image[7 * 128 + 127] & 0x80, 0x80);

    let mut expected = ssd1306_init(0x3D);
    expected.extend(ssd1306_frame(0x3D, &[0u8; 1024]));
    expected.extend(ssd1306_frame(0x3D, &image));
    let mut i2c = I2cMock::new(&expected);
    let mut panel = Ssd1306Panel::new(i2c.clone(), &cfg).unwrap();
    panel.test_pattern().unwrap();
    drop(panel);
    i2c.done();
}

#[test]
fn ssd1306_rejects_an_st7789_config() {
    let mut i2c = I2cMock::new(&[]);
    assert!(Ssd1306Panel::new(i2c.clone(), &PanelConfig::st7789_240x240()).is_err());
    i2c.done();
}
