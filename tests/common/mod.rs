//! Helpers shared by several integration-test files (`mod common;` in each). Not every file uses
//! every helper.
#![allow(dead_code)]

use gestaltcam::app::{Notice, Notifier, ViewSink};
use gestaltcam::ui::view::View;

/// Deterministic splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A display that keeps every view it was sent.
#[derive(Default)]
pub struct Screen(pub Vec<View>);

impl ViewSink for Screen {
    fn show(&mut self, view: &View) {
        self.0.push(view.clone());
    }
}

/// A notifier that keeps every notice.
#[derive(Default)]
pub struct Notices(pub Vec<Notice>);

impl Notifier for Notices {
    fn notify(&mut self, n: &Notice) {
        self.0.push(n.clone());
    }
}

/// Drops every DHT (FF C4) segment before the scan: an MJPEG frame as many UVC cameras send it.
pub fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA {
        let len = usize::from(jpeg[i + 2]) << 8 | usize::from(jpeg[i + 3]);
        if jpeg[i + 1] != 0xC4 {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out.extend_from_slice(&jpeg[i..]);
    out
}
