//! Stand-ins for the Linux-only openers on other systems (macOS laptops running the demo):
//! the buttons and panels fail to open with [`HwError::NotLinux`], and there is no systemd to
//! notify.

use super::HwError;
use crate::app::buttons::{ButtonError, ButtonEvent, Buttons};
use crate::app::{Notice, Notifier};
use crate::config::{ButtonsConfig, DisplayConfig};
use crate::display::Panel;
use std::time::Duration;

/// GPIO buttons: cannot be opened off Linux.
#[derive(Debug)]
pub enum GpioButtons {}

impl GpioButtons {
    /// Always [`HwError::NotLinux`].
    pub fn open(_: &ButtonsConfig) -> Result<Self, HwError> {
        Err(HwError::NotLinux {
            what: "GPIO buttons",
        })
    }
}

impl Buttons for GpioButtons {
    fn poll(&mut self, _: Duration, _: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        match *self {}
    }
}

/// An SPI or I2C panel: cannot be opened off Linux.
pub fn open_panel(_: &DisplayConfig) -> Result<Box<dyn Panel>, HwError> {
    Err(HwError::NotLinux {
        what: "the display panel",
    })
}

/// No systemd off Linux: every notice is dropped.
#[derive(Debug, Default)]
pub struct SystemdNotifier;

impl SystemdNotifier {
    pub fn new() -> Self {
        Self
    }

    /// Never: there is no systemd watchdog.
    pub fn watchdog_interval() -> Option<Duration> {
        None
    }

    /// No start-up timeout to extend.
    pub fn loading(&mut self, _: &str) {}
}

impl Notifier for SystemdNotifier {
    fn notify(&mut self, _: &Notice) {}
}
