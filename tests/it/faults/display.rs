//! Display bus errors: I2C (embedded-hal-mock, the SSD1306) and SPI (ST7789) outages.

use super::*;

/// The SSD1306 traffic of a view (the bus protocol itself: `common::ssd1306`).
mod ssd1306_bus {
    use super::*;
    pub use common::ssd1306::init;
    use common::ssd1306::{cmd, gddram};
    use embedded_hal_mock::eh1::i2c::Transaction as I2cTransaction;

    /// A full-screen update showing `view`.
    pub fn frame(addr: u8, view: Option<&View>) -> Vec<I2cTransaction> {
        let mut mono = MonoPngDisplay::new(128, 64);
        if let Some(v) = view {
            ui::draw(v, &Layout::new(Size::new(128, 64)), &mut mono).unwrap();
        }
        common::ssd1306::frame(addr, &gddram(&mono))
    }

    /// A frame whose first write fails on the bus (NAK, arbitration loss, ...).
    pub fn failing(addr: u8) -> I2cTransaction {
        cmd(addr, &[0x21, 0, 127]).with_error(embedded_hal::i2c::ErrorKind::Other)
    }
}

#[test]
fn display_i2c_errors_are_logged_once_and_the_view_is_redrawn() {
    use embedded_hal_mock::eh1::i2c::Mock as I2cMock;
    use ssd1306_bus::{failing, frame, init};
    logs::start();
    let a = 0x3C;
    let v1 = View::Analysing {
        photos: 1,
        progress: None,
    };
    let v2 = View::Analysing {
        photos: 2,
        progress: None,
    };
    let v3 = View::Error {
        kind: ErrorKind::CameraMissing,
        technical: String::new(),
    };
    let v4 = View::Blank;
    let mut expected = init(a);
    expected.extend(frame(a, None)); // blanking at start
    expected.extend(frame(a, Some(&v1)));
    expected.push(failing(a)); // v2
    expected.push(failing(a)); // v3
    expected.push(failing(a)); // v3, first retry
    expected.extend(frame(a, Some(&v3))); // v3, second retry: the bus is back
    expected.extend(frame(a, Some(&v4)));
    expected.push(failing(a)); // a second outage
    let mut i2c = I2cMock::new(&expected);
    let panel = Ssd1306Panel::new(i2c.clone(), &PanelConfig::ssd1306_128x64()).unwrap();
    let mut sink = PanelSink::new(Box::new(panel));

    sink.show(&v1);
    assert!(!sink.is_failing());
    sink.show(&v2);
    sink.show(&v3);
    assert!(sink.is_failing());
    assert_eq!((sink.failed_draws(), sink.outages()), (2, 1));
    for _ in 0..PANEL_RETRY_EVERY {
        sink.idle();
    }
    assert_eq!(sink.failed_draws(), 3);
    for _ in 0..PANEL_RETRY_EVERY {
        sink.idle();
    }
    assert!(
        !sink.is_failing(),
        "the retry drew the view once the bus was back"
    );
    for _ in 0..3 * PANEL_RETRY_EVERY {
        sink.idle(); // nothing pending: no bus traffic
    }
    sink.show(&v4);
    sink.show(&View::Analysing {
        photos: 3,
        progress: None,
    });
    assert_eq!((sink.failed_draws(), sink.outages()), (4, 2));
    drop(sink);
    i2c.done();

    let l = logs::from("gestaltcam::display::sink");
    let errors: Vec<_> = l
        .iter()
        .filter(|(lv, _)| *lv == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 2, "one line per outage, not per frame: {l:?}");
    assert!(
        errors[0].1.starts_with("display SSD1306 128x64:"),
        "{}",
        errors[0].1
    );
    assert!(l
        .iter()
        .any(|(lv, m)| *lv == log::Level::Info
            && m == "display: working again after 3 failed draw(s)"));
}

/// An SPI bus that fails every transaction while `down` is set, and records what it sends.
#[derive(Clone, Default)]
struct FlakySpi {
    down: Rc<Cell<bool>>,
    sent: Rc<RefCell<Vec<u8>>>,
}

impl embedded_hal::spi::ErrorType for FlakySpi {
    type Error = embedded_hal::spi::ErrorKind;
}

impl embedded_hal::spi::SpiDevice for FlakySpi {
    fn transaction(
        &mut self,
        ops: &mut [embedded_hal::spi::Operation<'_, u8>],
    ) -> Result<(), Self::Error> {
        if self.down.get() {
            return Err(embedded_hal::spi::ErrorKind::Other);
        }
        for op in ops {
            if let embedded_hal::spi::Operation::Write(b) = op {
                self.sent.borrow_mut().extend_from_slice(b);
            }
        }
        Ok(())
    }
}

struct NopPin;
impl embedded_hal::digital::ErrorType for NopPin {
    type Error = std::convert::Infallible;
}
impl embedded_hal::digital::OutputPin for NopPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

struct NoDelay;
impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

/// Takes the SPI bus down while the camera delivers frames `down`.
struct BusCutter {
    inner: gestaltcam::camera::ReplayCamera,
    n: u64,
    down: std::ops::Range<u64>,
    bus: Rc<Cell<bool>>,
}

impl Camera for BusCutter {
    fn frame(&mut self) -> Result<Frame, CameraError> {
        self.bus.set(self.down.contains(&self.n));
        self.n += 1;
        self.inner.frame()
    }
}

struct Recording {
    sink: PanelSink,
    views: Vec<View>,
}

impl ViewSink for Recording {
    fn show(&mut self, view: &View) {
        self.views.push(view.clone());
        self.sink.show(view);
    }
    fn idle(&mut self) {
        self.sink.idle();
    }
}

#[test]
fn display_spi_outage_does_not_stop_the_device() {
    logs::start();
    let ctx = ctx(2);
    let script = [(3, Capture), (6, Capture)];
    let device = |down: std::ops::Range<u64>| {
        let spi = FlakySpi::default();
        let panel = St7789Panel::new(
            spi.clone(),
            NopPin,
            NopPin,
            &mut NoDelay,
            &PanelConfig::st7789_240x240(),
        )
        .unwrap();
        let mut dev = Device {
            camera: BusCutter {
                inner: replay(RgbImage::new(16, 12)),
                n: 0,
                down,
                bus: spi.down.clone(),
            },
            buttons: ScriptedButtons::at_frames(script),
            clock: ManualClock::new(),
            analyzer: FakeAnalyzer,
            display: Recording {
                sink: PanelSink::new(Box::new(panel)),
                views: Vec::new(),
            },
            notifier: gestaltcam::app::NullNotifier,
        };
        let report = run_device(&mut dev, &ctx, &opts(30));
        (report, dev.display, spi)
    };
    let (clean, clean_sink, _) = device(0..0);
    assert_eq!(clean_sink.sink.failed_draws(), 0);
    // The bus fails from the second capture through the analysis and the results.
    let (report, rec, spi) = device(5..12);
    assert_eq!(
        report, clean,
        "the device did exactly the same with a failing display"
    );
    assert_eq!(report.final_mode, "results");
    assert_eq!(report.analyses, 1);
    assert_eq!(tags(&rec.views), tags(&clean_sink.views));
    assert!(rec.sink.failed_draws() >= 3, "{}", rec.sink.failed_draws());
    assert_eq!(rec.sink.outages(), 1);
    assert!(!rec.sink.is_failing());
    // The glass shows the results: the last frame sent is the results screen, in full.
    let last = rec.views.last().unwrap();
    assert_eq!(tag(last), "results");
    let mut fb = PngDisplay::new(240, 240);
    ui::draw(last, &Layout::new(Size::new(240, 240)), &mut fb).unwrap();
    let want: Vec<u8> = fb.pixels().iter().flat_map(|p| p.to_be_bytes()).collect();
    let sent = spi.sent.borrow();
    assert_eq!(&sent[sent.len() - want.len()..], want.as_slice());
    let errors = logs::from("gestaltcam::display::sink")
        .into_iter()
        .filter(|(l, _)| *l == log::Level::Error)
        .count();
    assert_eq!(errors, 1, "one outage, one log line");
}
