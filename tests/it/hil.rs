//! Hardware-in-the-loop tests, for a wired board only (`--features hil`; see board/README.md).

use gestaltcam::app::Buttons;
use gestaltcam::camera::Camera;
use gestaltcam::config::Config;
use std::time::{Duration, Instant};

fn config() -> Config {
    let path =
        std::env::var("GESTALTCAM_CONFIG").unwrap_or_else(|_| "/etc/gestaltcam/config.toml".into());
    Config::load(path.as_ref()).expect("config").config
}

#[test]
fn panel_shows_the_test_pattern() {
    let mut panel = gestaltcam::hw::open_panel(&config().display).expect("panel opens");
    panel.test_pattern().expect("test pattern drawn");
    eprintln!(
        "look at the panel: colour bars, marked corners, '{}'",
        panel.name()
    );
}

#[cfg(feature = "camera-v4l")]
#[test]
fn camera_gives_frames() {
    let cfg = config();
    let mut cam = gestaltcam::hw::V4lCamera::open(&cfg.camera).expect("camera opens");
    for _ in 0..5 {
        let f = cam.frame().expect("a frame");
        assert!(f.width() > 0 && f.height() > 0);
        // A live frame is not uniform.
        let first = f.image.get_pixel(0, 0).0;
        assert!(f.image.pixels().any(|p| p.0 != first), "uniform frame");
    }
}

#[test]
fn each_button_is_seen() {
    let cfg = config();
    let mut buttons = gestaltcam::hw::GpioButtons::open(&cfg.buttons).expect("buttons open");
    let start = Instant::now();
    let mut seen = Vec::new();
    eprintln!("press capture, then next, within 30 s");
    while seen.len() < 2 && start.elapsed() < Duration::from_secs(30) {
        seen.extend(buttons.poll(start.elapsed(), 0).expect("poll"));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.len() >= 2, "saw only {seen:?}");
}
