//! The injected clock: real time on the device, manual time in tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock. `sleep` lets the run loop pace itself; a manual clock just advances.
pub trait Clock {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
    /// Waits `d` (real clock) or advances by `d` (manual clock).
    fn sleep(&self, d: Duration);
}

impl<K: Clock + ?Sized> Clock for &K {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

impl<K: Clock + ?Sized> Clock for Arc<K> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

/// Wall time since construction.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// Test clock: clones share the same time; `sleep` and `advance` move it forward.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn advance(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(us, Ordering::SeqCst);
    }
    pub fn set(&self, t: Duration) {
        let us = u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
        self.micros.store(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_millis(250));
        b.sleep(Duration::from_millis(50));
        assert_eq!(a.now(), Duration::from_millis(300));
        assert_eq!(b.now(), Duration::from_millis(300));
    }
}
