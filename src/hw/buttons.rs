//! Push buttons on GPIO lines through the GPIO character device. A background thread samples
//! the lines every few milliseconds and runs the pure [`Debouncer`]s.
//!
//! Presses and line failures travel over a bounded channel ([`CHANNEL_CAPACITY`]). A line
//! that fails is reported once per outage (not every 5 ms), and again only after it has read
//! successfully; presses are never dropped for an error and an error never hides the presses
//! that came with it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use linux_embedded_hal::gpio_cdev::{Chip, LineHandle, LineRequestFlags};

use super::{open_error, HwError};
use crate::app::buttons::{map_press, ButtonError, ButtonEvent, ButtonRole, Buttons, Debouncer};
use crate::config::ButtonsConfig;

/// How often the lines are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Messages the sampling thread may queue before it waits for the run loop (a press is ~2
/// messages a second at most; the loop drains the queue every iteration).
pub const CHANNEL_CAPACITY: usize = 64;

/// What the sampling thread sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineMessage {
    Press(ButtonEvent),
    /// A line started failing (sent once per outage).
    Failed(String),
    /// A failed line reads again.
    Recovered(String),
}

/// Tracks one line's outages: `report` turns every read into at most one message per change.
#[derive(Debug, Default)]
pub struct OutageTracker {
    failing: bool,
}

impl OutageTracker {
    /// The message for a failed read, if this read starts an outage.
    pub fn failed(&mut self, what: impl FnOnce() -> String) -> Option<LineMessage> {
        (!std::mem::replace(&mut self.failing, true)).then(|| LineMessage::Failed(what()))
    }

    /// The message for a good read, if it ends an outage.
    pub fn ok(&mut self, what: impl FnOnce() -> String) -> Option<LineMessage> {
        std::mem::replace(&mut self.failing, false).then(|| LineMessage::Recovered(what()))
    }
}

/// Sends `m`; presses wait for room (never lost), status messages are dropped when the queue
/// is full (the next outage change reports again). `false` when the receiver is gone.
pub fn send_line_message(tx: &SyncSender<LineMessage>, m: LineMessage) -> bool {
    match m {
        LineMessage::Press(_) => tx.send(m).is_ok(),
        other => !matches!(tx.try_send(other), Err(TrySendError::Disconnected(_))),
    }
}

/// Drains the queue: the presses, and the first failure among the messages (recoveries are
/// logged).
pub fn drain_line_messages(rx: &Receiver<LineMessage>) -> (Vec<ButtonEvent>, Option<String>, bool) {
    let mut presses = Vec::new();
    let mut failure = None;
    loop {
        match rx.try_recv() {
            Ok(LineMessage::Press(ev)) => presses.push(ev),
            Ok(LineMessage::Failed(e)) => {
                failure.get_or_insert(e);
            }
            Ok(LineMessage::Recovered(what)) => log::info!("buttons: {what} reads again"),
            Err(TryRecvError::Empty) => return (presses, failure, false),
            Err(TryRecvError::Disconnected) => return (presses, failure, true),
        }
    }
}

/// Buttons on GPIO lines. Pull-ups must be configured by the board (e.g. `gpio=17,22,23=ip,pu`
/// in the Raspberry Pi `config.txt`): the character device of this kernel ABI sets no bias.
pub struct GpioButtons {
    rx: Receiver<LineMessage>,
    stop: Arc<AtomicBool>,
    /// A failure that came with presses, reported at the next poll.
    pending_error: Option<String>,
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
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("gpio-buttons".into())
            .spawn(move || {
                let origin = Instant::now();
                let mut state: Vec<(ButtonRole, LineHandle, Debouncer, OutageTracker)> = lines
                    .drain(..)
                    .map(|(r, h)| {
                        (
                            r,
                            h,
                            Debouncer::new(debounce, long),
                            OutageTracker::default(),
                        )
                    })
                    .collect();
                while !stop_thread.load(Ordering::Relaxed) {
                    let now = origin.elapsed();
                    for (role, handle, deb, outage) in state.iter_mut() {
                        let line = handle.line().offset();
                        // ACTIVE_LOW is requested from the kernel, so 1 = pressed.
                        let msgs = match handle.get_value() {
                            Ok(v) => [
                                outage.ok(|| format!("{role:?} button (line {line})")),
                                deb.update(v == 1, now)
                                    .and_then(|p| map_press(*role, p))
                                    .map(LineMessage::Press),
                            ],
                            Err(e) => [
                                outage.failed(|| {
                                    format!("{role:?} button (line {line}) cannot be read: {e}")
                                }),
                                None,
                            ],
                        };
                        for m in msgs.into_iter().flatten() {
                            if !send_line_message(&tx, m) {
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
        Ok(GpioButtons {
            rx,
            stop,
            pending_error: None,
        })
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
        if let Some(e) = self.pending_error.take() {
            return Err(ButtonError::Io(e));
        }
        let (presses, failure, closed) = drain_line_messages(&self.rx);
        match (presses.is_empty(), failure, closed) {
            (true, Some(e), _) => Err(ButtonError::Io(e)),
            (true, None, true) => Err(ButtonError::Closed),
            (_, failure, _) => {
                // Presses first; the failure that came with them is reported next time.
                self.pending_error = failure;
                Ok(presses)
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
    fn an_outage_is_reported_once_and_presses_survive_it() {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let mut outage = OutageTracker::default();
        // 100 failed reads in a row: one message.
        let failures: Vec<_> = (0..100)
            .filter_map(|i| outage.failed(|| format!("read {i} failed")))
            .collect();
        assert_eq!(failures, vec![LineMessage::Failed("read 0 failed".into())]);
        for m in failures {
            assert!(send_line_message(&tx, m));
        }
        assert_eq!(
            outage.ok(|| "line".into()),
            Some(LineMessage::Recovered("line".into()))
        );
        assert_eq!(outage.ok(|| "line".into()), None);
        // A full queue drops status messages, never presses.
        for _ in 0..CHANNEL_CAPACITY - 2 {
            assert!(send_line_message(
                &tx,
                LineMessage::Press(ButtonEvent::Next)
            ));
        }
        assert!(send_line_message(
            &tx,
            LineMessage::Press(ButtonEvent::Capture)
        ));
        assert!(send_line_message(
            &tx,
            LineMessage::Failed("dropped".into())
        ));
        let (presses, failure, closed) = drain_line_messages(&rx);
        assert_eq!(presses.len(), CHANNEL_CAPACITY - 1);
        assert_eq!(presses.last(), Some(&ButtonEvent::Capture));
        assert_eq!(failure.as_deref(), Some("read 0 failed"));
        assert!(!closed);
        drop(tx);
        assert!(drain_line_messages(&rx).2);
    }

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
