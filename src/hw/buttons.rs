//! Push buttons on GPIO lines through the GPIO character device. A background thread samples
//! the lines every few milliseconds and runs the pure [`Debouncer`]s.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use linux_embedded_hal::gpio_cdev::{Chip, LineHandle, LineRequestFlags};

use super::{open_error, HwError};
use crate::app::buttons::{map_press, ButtonError, ButtonEvent, ButtonRole, Buttons, Debouncer};
use crate::config::ButtonsConfig;

/// How often the lines are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Buttons on GPIO lines. Pull-ups must be configured by the board (e.g. `gpio=17,22,23=ip,pu`
/// in the Raspberry Pi `config.txt`): the character device of this kernel ABI sets no bias.
pub struct GpioButtons {
    rx: Receiver<Result<ButtonEvent, String>>,
    stop: Arc<AtomicBool>,
}

impl GpioButtons {
    /// Requests the configured lines as inputs and starts sampling.
    pub fn open(cfg: &ButtonsConfig) -> Result<Self, HwError> {
        let chip_path = cfg.gpiochip.as_path();
        let mut chip = Chip::new(chip_path).map_err(|e| open_error(chip_path, e))?;
        let mut lines = vec![
            (
                ButtonRole::Capture,
                request(&mut chip, chip_path, cfg.capture_pin, cfg.active_low)?,
            ),
            (
                ButtonRole::Next,
                request(&mut chip, chip_path, cfg.next_pin, cfg.active_low)?,
            ),
        ];
        if let Some(pin) = cfg.clear_pin {
            lines.push((
                ButtonRole::Clear,
                request(&mut chip, chip_path, pin, cfg.active_low)?,
            ));
        }
        let debounce = Duration::from_millis(cfg.debounce_ms);
        let long = Duration::from_millis(cfg.long_press_ms);
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("gpio-buttons".into())
            .spawn(move || {
                let origin = Instant::now();
                let mut state: Vec<(ButtonRole, LineHandle, Debouncer)> = lines
                    .drain(..)
                    .map(|(r, h)| (r, h, Debouncer::new(debounce, long)))
                    .collect();
                while !stop_thread.load(Ordering::Relaxed) {
                    let now = origin.elapsed();
                    for (role, handle, deb) in state.iter_mut() {
                        // ACTIVE_LOW is requested from the kernel, so 1 = pressed.
                        let msg = match handle.get_value() {
                            Ok(v) => deb
                                .update(v == 1, now)
                                .and_then(|p| map_press(*role, p))
                                .map(Ok),
                            Err(e) => Some(Err(e.to_string())),
                        };
                        if let Some(m) = msg {
                            if tx.send(m).is_err() {
                                return;
                            }
                        }
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
            .map_err(|e| HwError::Open {
                path: chip_path.to_path_buf(),
                reason: format!("cannot start the button thread: {e}"),
            })?;
        Ok(GpioButtons { rx, stop })
    }
}

fn request(
    chip: &mut Chip,
    path: &Path,
    line: u32,
    active_low: bool,
) -> Result<LineHandle, HwError> {
    let gpio_err = |e: linux_embedded_hal::gpio_cdev::Error| HwError::Gpio {
        chip: path.to_path_buf(),
        line,
        reason: e.to_string(),
    };
    let mut flags = LineRequestFlags::INPUT;
    if active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    chip.get_line(line)
        .map_err(gpio_err)?
        .request(flags, 0, "gestaltcam-button")
        .map_err(gpio_err)
}

impl Buttons for GpioButtons {
    fn poll(&mut self, _: Duration, _: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(Ok(ev)) => out.push(ev),
                Ok(Err(e)) => return Err(ButtonError::Io(e)),
                Err(TryRecvError::Empty) => return Ok(out),
                Err(TryRecvError::Disconnected) => {
                    return if out.is_empty() {
                        Err(ButtonError::Closed)
                    } else {
                        Ok(out)
                    }
                }
            }
        }
    }
}

impl Drop for GpioButtons {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_chip_is_not_found() {
        let cfg = ButtonsConfig {
            gpiochip: "/dev/gestaltcam-test-no-gpiochip".into(),
            ..ButtonsConfig::default()
        };
        assert!(matches!(
            GpioButtons::open(&cfg),
            Err(HwError::NotFound { .. })
        ));
    }
}
