//! [`Reconnecting`]: wraps a camera; when it reports `Disconnected`, or fails
//! [`REOPEN_AFTER`] times in a row (timeouts or stream errors: a camera that stopped sending
//! frames, or whose stream died), reopens it through a factory on later polls, with exponential
//! backoff measured on the injected clock.

use std::time::Duration;

use super::{Camera, CameraError, Clock, Frame};

/// Consecutive timeouts or stream errors after which the camera is closed and reopened.
pub const REOPEN_AFTER: u32 = 3;

/// Backoff between reopen attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// Looking for a missing camera is cheap (the node does not exist, or one failed open), so
    /// the wait stays short: a replugged camera is back within a second.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(1),
        }
    }
}

/// A camera that heals itself: while the device is gone every `frame()` returns
/// [`CameraError::Disconnected`] at once (no sleeping) and, when the backoff allows, tries the
/// factory again. Sequence numbers continue across reconnects.
pub struct Reconnecting<C, F, K> {
    inner: Option<C>,
    factory: F,
    clock: K,
    backoff: Backoff,
    delay: Duration,
    next_try: Duration,
    reopened: u32,
    sequence: u64,
    /// Timeouts and stream errors in a row.
    failures: u32,
    /// Why the last open failed, logged once per new reason (not once per retry).
    last_open_error: Option<String>,
}

impl<C, F, K> Reconnecting<C, F, K>
where
    C: Camera,
    F: FnMut() -> Result<C, CameraError>,
    K: Clock,
{
    /// Starts without a camera: the first `frame()` opens it.
    pub fn new(factory: F, clock: K, backoff: Backoff) -> Self {
        Reconnecting {
            inner: None,
            factory,
            clock,
            backoff,
            delay: backoff.initial,
            next_try: Duration::ZERO,
            reopened: 0,
            sequence: 0,
            failures: 0,
            last_open_error: None,
        }
    }

    /// Starts with an already opened camera.
    pub fn with_camera(camera: C, factory: F, clock: K, backoff: Backoff) -> Self {
        let mut r = Self::new(factory, clock, backoff);
        r.inner = Some(camera);
        r
    }

    /// Whether a camera is open now.
    pub fn is_connected(&self) -> bool {
        self.inner.is_some()
    }

    /// Successful (re)opens so far.
    pub fn opens(&self) -> u32 {
        self.reopened
    }

    fn try_open(&mut self) -> Result<(), CameraError> {
        let now = self.clock.now();
        if now < self.next_try {
            return Err(CameraError::Disconnected("waiting to reconnect".into()));
        }
        match (self.factory)() {
            Ok(cam) => {
                self.inner = Some(cam);
                self.reopened += 1;
                self.delay = self.backoff.initial;
                self.last_open_error = None;
                log::info!("camera opened");
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                if self.last_open_error.as_deref() == Some(why.as_str()) {
                    log::debug!("camera still not open: {why}");
                } else {
                    log::warn!("camera not open: {why}; retrying");
                    self.last_open_error = Some(why);
                }
                self.next_try = now + self.delay;
                self.delay = (self.delay * 2).min(self.backoff.max);
                Err(match e {
                    CameraError::Disconnected(m) => CameraError::Disconnected(m),
                    other => CameraError::Disconnected(other.to_string()),
                })
            }
        }
    }
}

impl<C, F, K> Reconnecting<C, F, K>
where
    K: Clock,
{
    /// Closes the camera; the first reopen attempt is on the next poll, then it backs off.
    fn lost(&mut self, why: String) -> CameraError {
        log::warn!("camera lost: {why}; reopening it");
        self.inner = None;
        self.failures = 0;
        self.next_try = self.clock.now();
        self.delay = self.backoff.initial;
        CameraError::Disconnected(why)
    }
}

impl<C, F, K> Camera for Reconnecting<C, F, K>
where
    C: Camera,
    F: FnMut() -> Result<C, CameraError>,
    K: Clock,
{
    fn frame(&mut self) -> Result<Frame, CameraError> {
        if self.inner.is_none() {
            self.try_open()?;
        }
        let Some(cam) = self.inner.as_mut() else {
            return Err(CameraError::Disconnected("no camera".into()));
        };
        match cam.frame() {
            Ok(mut f) => {
                f.sequence = self.sequence;
                self.sequence += 1;
                self.failures = 0;
                Ok(f)
            }
            Err(CameraError::Disconnected(m)) => Err(self.lost(m)),
            Err(e @ (CameraError::Timeout | CameraError::Other(_) | CameraError::Config(_))) => {
                self.failures += 1;
                if self.failures >= REOPEN_AFTER {
                    let why = format!("{} failures in a row, last: {e}", self.failures);
                    return Err(self.lost(why));
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::ManualClock;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Times out forever (a camera that stopped sending frames).
    struct Stalled;

    impl Camera for Stalled {
        fn frame(&mut self) -> Result<Frame, CameraError> {
            Err(CameraError::Timeout)
        }
    }

    #[test]
    fn repeated_timeouts_reopen_the_camera() {
        let opens = Rc::new(Cell::new(0));
        let counted = opens.clone();
        let factory = move || {
            counted.set(counted.get() + 1);
            Ok(Stalled)
        };
        let mut cam = Reconnecting::new(factory, ManualClock::new(), Backoff::default());
        let errors: Vec<_> = (0..REOPEN_AFTER)
            .map(|_| cam.frame().unwrap_err())
            .collect();
        assert!(matches!(errors[0], CameraError::Timeout));
        assert!(
            matches!(&errors[REOPEN_AFTER as usize - 1], CameraError::Disconnected(m) if m.contains("in a row")),
            "{errors:?}"
        );
        assert!(!cam.is_connected());
        // The next poll opens it again.
        assert!(matches!(cam.frame(), Err(CameraError::Timeout)));
        assert_eq!(opens.get(), 2);
        assert!(cam.is_connected());
    }
}
