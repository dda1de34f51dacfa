//! systemd notifications (`READY=1`, `STATUS=`, `WATCHDOG=1`) through `sd_notify`. Without
//! `NOTIFY_SOCKET` (not started by systemd) they are no-ops.

use crate::app::{Notice, Notifier};

/// Sends [`Notice`]s to systemd; failures are logged once and otherwise ignored.
#[derive(Debug, Default)]
pub struct SystemdNotifier {
    warned: bool,
}

impl SystemdNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether systemd asked for watchdog pings, and how often they are due.
    pub fn watchdog_interval() -> Option<std::time::Duration> {
        let mut usec = 0u64;
        if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
            // Ping at half the deadline, as systemd recommends.
            Some(std::time::Duration::from_micros(usec / 2))
        } else {
            None
        }
    }

    /// Start-up goes on (`what`: "Loading model 2 of 3"): the status line says so, and the
    /// start-up timeout is extended by [`LOADING_STEP_GRACE`] from now.
    pub fn loading(&mut self, what: &str) {
        use sd_notify::NotifyState;
        let grace = LOADING_STEP_GRACE.as_micros() as u32;
        let states = [
            NotifyState::Status(what),
            NotifyState::ExtendTimeoutUsec(grace),
        ];
        if let Err(e) = sd_notify::notify(false, &states) {
            if !self.warned {
                log::warn!("sd_notify failed: {e}");
                self.warned = true;
            }
        }
    }
}

/// How long one step of start-up (one model's plan) may take before systemd gives up on it.
pub const LOADING_STEP_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

impl Notifier for SystemdNotifier {
    fn notify(&mut self, notice: &Notice) {
        use sd_notify::NotifyState;
        let result = match notice {
            Notice::Ready => sd_notify::notify(false, &[NotifyState::Ready]),
            Notice::Status(s) => sd_notify::notify(false, &[NotifyState::Status(s)]),
            Notice::Watchdog => sd_notify::notify(false, &[NotifyState::Watchdog]),
        };
        if let Err(e) = result {
            if !self.warned {
                log::warn!("sd_notify failed: {e}");
                self.warned = true;
            }
        }
    }
}
