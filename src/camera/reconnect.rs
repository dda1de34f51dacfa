//! [`Reconnecting`]: wraps a camera; when it reports `Disconnected`, reopens it through a
//! factory on later polls, with exponential backoff measured on the injected clock.

use std::time::Duration;

use super::{Camera, CameraError, Clock, Frame};

/// Backoff between reopen attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(4),
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
                log::info!("camera opened");
                Ok(())
            }
            Err(e) => {
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
                Ok(f)
            }
            Err(CameraError::Disconnected(m)) => {
                log::warn!("camera lost: {m}");
                self.inner = None;
                // First reopen attempt on the next poll, then back off.
                self.next_try = self.clock.now();
                self.delay = self.backoff.initial;
                Err(CameraError::Disconnected(m))
            }
            Err(e) => Err(e),
        }
    }
}
