//! Buttons: the [`Buttons`] trait, a pure [`Debouncer`] with long-press detection, stdin keys
//! for a laptop, and [`ScriptedButtons`] for tests. GPIO buttons live in `crate::hw`.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

/// What the clinician asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonEvent {
    /// Take a photo (capture button).
    Capture,
    /// Next page of results; during capture: finish early with the photos taken so far.
    Next,
    /// Wipe the session (long press).
    Clear,
}

/// Why buttons could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ButtonError {
    #[error("button input closed")]
    Closed,
    #[error("button input failed: {0}")]
    Io(String),
}

/// Anything that yields button events. `poll` must not block.
pub trait Buttons {
    /// Events since the last poll. `now` is the run loop's clock, `frame` the number of loop
    /// iterations so far.
    fn poll(&mut self, now: Duration, frame: u64) -> Result<Vec<ButtonEvent>, ButtonError>;
}

impl<B: Buttons + ?Sized> Buttons for Box<B> {
    fn poll(&mut self, now: Duration, frame: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        (**self).poll(now, frame)
    }
}

/// No buttons at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoButtons;

impl Buttons for NoButtons {
    fn poll(&mut self, _: Duration, _: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        Ok(Vec::new())
    }
}

/// A debounced press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// Pressed and released before the long-press time.
    Short,
    /// Held for the long-press time (reported while still held, once).
    Long,
}

/// Debounces one button line. Feed it `(pressed, now)` samples; it reports a [`Press`] when a
/// short press is released or when a press has been held for `long_press`.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    long_press: Duration,
    /// Debounced state.
    stable: bool,
    /// Raw level and when it was last seen to change.
    raw: bool,
    raw_since: Duration,
    pressed_at: Duration,
    long_sent: bool,
}

impl Debouncer {
    pub fn new(debounce: Duration, long_press: Duration) -> Self {
        Debouncer {
            debounce,
            long_press,
            stable: false,
            raw: false,
            raw_since: Duration::ZERO,
            pressed_at: Duration::ZERO,
            long_sent: false,
        }
    }

    /// Debounced level.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }

    /// One sample: `pressed` is the logical level (already corrected for active-low wiring).
    pub fn update(&mut self, pressed: bool, now: Duration) -> Option<Press> {
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_since = now;
        }
        if self.raw != self.stable && now.saturating_sub(self.raw_since) >= self.debounce {
            self.stable = self.raw;
            if self.stable {
                // The press started when the level first changed, not when it settled.
                self.pressed_at = self.raw_since;
                self.long_sent = false;
            } else if !self.long_sent {
                return Some(Press::Short);
            }
        }
        if self.stable && !self.long_sent && now.saturating_sub(self.pressed_at) >= self.long_press
        {
            self.long_sent = true;
            return Some(Press::Long);
        }
        None
    }
}

/// Which physical button a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonRole {
    Capture,
    Next,
    Clear,
}

/// The mapping from a debounced press to an event: capture → Capture; next → Next, or Clear when
/// held; the optional clear button → Clear only when held (no accidental wipes).
pub fn map_press(role: ButtonRole, press: Press) -> Option<ButtonEvent> {
    match (role, press) {
        (ButtonRole::Capture, Press::Short) => Some(ButtonEvent::Capture),
        (ButtonRole::Capture, Press::Long) => None,
        (ButtonRole::Next, Press::Short) => Some(ButtonEvent::Next),
        (ButtonRole::Next, Press::Long) => Some(ButtonEvent::Clear),
        (ButtonRole::Clear, Press::Long) => Some(ButtonEvent::Clear),
        (ButtonRole::Clear, Press::Short) => None,
    }
}

/// When a scripted event fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// At or after this clock time.
    At(Duration),
    /// At or after this loop iteration.
    Frame(u64),
}

/// Events at given times or frame numbers, for tests and demos. Each fires once, in order.
#[derive(Debug, Clone, Default)]
pub struct ScriptedButtons {
    script: VecDeque<(Trigger, ButtonEvent)>,
}

impl ScriptedButtons {
    pub fn new(script: impl IntoIterator<Item = (Trigger, ButtonEvent)>) -> Self {
        ScriptedButtons {
            script: script.into_iter().collect(),
        }
    }
    /// Shorthand: events at frame numbers.
    pub fn at_frames(script: impl IntoIterator<Item = (u64, ButtonEvent)>) -> Self {
        Self::new(script.into_iter().map(|(f, e)| (Trigger::Frame(f), e)))
    }
    /// Events not yet fired.
    pub fn remaining(&self) -> usize {
        self.script.len()
    }
}

impl Buttons for ScriptedButtons {
    fn poll(&mut self, now: Duration, frame: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        let mut out = Vec::new();
        while let Some((trigger, ev)) = self.script.front().copied() {
            let due = match trigger {
                Trigger::At(t) => now >= t,
                Trigger::Frame(f) => frame >= f,
            };
            if !due {
                break;
            }
            out.push(ev);
            self.script.pop_front();
        }
        Ok(out)
    }
}

/// Parses one typed line: `c`/empty → Capture, `n` → Next, `x`/`clear` → Clear.
pub fn parse_key_line(line: &str) -> Option<ButtonEvent> {
    match line.trim().to_ascii_lowercase().as_str() {
        "" | "c" | "capture" => Some(ButtonEvent::Capture),
        "n" | "next" => Some(ButtonEvent::Next),
        "x" | "clear" => Some(ButtonEvent::Clear),
        _ => None,
    }
}

/// Laptop buttons: lines typed on stdin (read by a background thread), see [`parse_key_line`].
pub struct KeyboardButtons {
    rx: Receiver<ButtonEvent>,
    closed: bool,
}

impl KeyboardButtons {
    /// Spawns the stdin reader.
    pub fn stdin() -> Self {
        Self::from_reader(std::io::stdin())
    }

    /// Reads lines from any reader (tests use a byte slice).
    pub fn from_reader<R: std::io::Read + Send + 'static>(reader: R) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                match parse_key_line(&line) {
                    Some(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    None => log::warn!("unknown key {line:?}: c=capture, n=next, x=clear"),
                }
            }
        });
        KeyboardButtons { rx, closed: false }
    }

    /// Whether the input has ended (end of file) and every typed key has been polled.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Buttons for KeyboardButtons {
    fn poll(&mut self, _: Duration, _: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        let mut out = Vec::new();
        if self.closed {
            return Ok(out);
        }
        loop {
            match self.rx.try_recv() {
                Ok(ev) => out.push(ev),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // End of input is not an error for the device: keep running without keys.
                    self.closed = true;
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn feed(d: &mut Debouncer, samples: &[(bool, u64)]) -> Vec<(u64, Press)> {
        samples
            .iter()
            .filter_map(|&(l, t)| d.update(l, ms(t)).map(|p| (t, p)))
            .collect()
    }

    #[test]
    fn short_press_reported_on_release() {
        let mut d = Debouncer::new(ms(20), ms(1000));
        let got = feed(
            &mut d,
            &[
                (true, 0),
                (true, 10),
                (true, 25),
                (false, 200),
                (false, 230),
            ],
        );
        assert_eq!(got, vec![(230, Press::Short)]);
    }

    #[test]
    fn bounces_are_ignored() {
        let mut d = Debouncer::new(ms(20), ms(1000));
        let got = feed(
            &mut d,
            &[
                (true, 0),
                (false, 5),
                (true, 8),
                (false, 12),
                (false, 40),
                (false, 80),
            ],
        );
        assert!(got.is_empty(), "{got:?}");
        assert!(!d.is_pressed());
    }

    #[test]
    fn long_press_fires_once_while_held_and_no_short_on_release() {
        let mut d = Debouncer::new(ms(20), ms(1000));
        let mut samples: Vec<(bool, u64)> = (0..=150).map(|i| (true, i * 10)).collect();
        samples.extend([(false, 1510), (false, 1540)]);
        let got = feed(&mut d, &samples);
        assert_eq!(got, vec![(1000, Press::Long)]);
    }

    #[test]
    fn press_mapping() {
        assert_eq!(
            map_press(ButtonRole::Next, Press::Long),
            Some(ButtonEvent::Clear)
        );
        assert_eq!(map_press(ButtonRole::Clear, Press::Short), None);
        assert_eq!(
            map_press(ButtonRole::Capture, Press::Short),
            Some(ButtonEvent::Capture)
        );
    }

    #[test]
    fn scripted_fires_in_order() {
        let mut b = ScriptedButtons::new([
            (Trigger::Frame(2), ButtonEvent::Capture),
            (Trigger::At(ms(500)), ButtonEvent::Next),
        ]);
        assert!(b.poll(ms(0), 1).unwrap().is_empty());
        assert_eq!(b.poll(ms(0), 2).unwrap(), vec![ButtonEvent::Capture]);
        assert!(b.poll(ms(499), 3).unwrap().is_empty());
        assert_eq!(b.poll(ms(500), 3).unwrap(), vec![ButtonEvent::Next]);
        assert_eq!(b.remaining(), 0);
    }

    #[test]
    fn keyboard_lines() {
        let mut k = KeyboardButtons::from_reader(&b"c\nn\nbogus\nclear\n"[..]);
        let mut got = Vec::new();
        for _ in 0..200 {
            got.extend(k.poll(Duration::ZERO, 0).unwrap());
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(ms(2));
        }
        assert_eq!(
            got,
            vec![ButtonEvent::Capture, ButtonEvent::Next, ButtonEvent::Clear]
        );
        // End of input: closed once every key has been polled, and polling stays quiet.
        for _ in 0..200 {
            assert!(k.poll(Duration::ZERO, 0).unwrap().is_empty());
            if k.is_closed() {
                break;
            }
            std::thread::sleep(ms(2));
        }
        assert!(k.is_closed());
    }
}
