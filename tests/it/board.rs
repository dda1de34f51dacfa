//! Board support files: the per-board pin maps fit the configuration schema, and the systemd
//! unit and udev rule say what the device relies on.

use gestaltcam::config::{Config, PanelKind};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[test]
fn pin_maps_merge_into_a_valid_config() {
    for board in ["rpi4", "rpi5"] {
        let mut cfg: toml::Table =
            toml::from_str(&read("board/default-config.toml")).expect("default config");
        let pins: toml::Table =
            toml::from_str(&read(&format!("board/{board}/pins.toml"))).expect("pins.toml");
        merge(&mut cfg, pins);
        let loaded = Config::parse(&toml::to_string(&cfg).expect("serialise"))
            .unwrap_or_else(|e| panic!("{board}: {e}"));
        assert!(loaded.warnings.is_empty(), "{board}: {:?}", loaded.warnings);
        let c = loaded.config;
        assert_eq!(c.display.panel, PanelKind::St7789_240x240);
        // Display and buttons never share a line.
        let mut lines = vec![c.display.dc_pin, c.buttons.capture_pin, c.buttons.next_pin];
        lines.extend(c.display.rst_pin);
        lines.extend(c.display.backlight_pin);
        lines.extend(c.buttons.clear_pin);
        let n = lines.len();
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), n, "{board}: a GPIO line is used twice");
        // The button pull-ups in config.txt cover every button line.
        let txt = read(&format!("board/{board}/config.txt"));
        for pin in [
            Some(c.buttons.capture_pin),
            Some(c.buttons.next_pin),
            c.buttons.clear_pin,
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                txt.lines()
                    .any(|l| l.starts_with("gpio=") && l.contains(&pin.to_string())),
                "{board}: no pull-up for GPIO{pin}"
            );
        }
        assert!(txt.contains("dtparam=spi=on") && txt.contains("dtparam=i2c_arm=on"));
    }
}

#[test]
fn systemd_unit_is_notify_watchdogged_and_offline() {
    let unit = read("board/systemd/gestaltcam.service");
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=always",
        "PrivateNetwork=yes",
        "RestrictAddressFamilies=AF_UNIX",
        "ProtectSystem=strict",
        "StateDirectory=gestaltcam",
        "RuntimeDirectory=gestaltcam",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "ExecStart=/usr/bin/gestaltcam run --config /etc/gestaltcam/config.toml",
    ] {
        assert!(
            unit.lines()
                .any(|l| l.trim() == needed || l.trim().starts_with(needed)),
            "unit lacks {needed}"
        );
    }
    // The PNG panel's default path is in the unit's RuntimeDirectory, the one place in /run it
    // may write under ProtectSystem=strict (the VM's systemd-notify scenario checks the file).
    let cfg = Config::parse(&read("board/default-config.toml"))
        .expect("default config")
        .config;
    assert!(
        cfg.display.png_path.starts_with("/run/gestaltcam/"),
        "{}",
        cfg.display.png_path.display()
    );
}

#[test]
fn udev_rule_names_the_camera() {
    let rule = read("board/udev/99-gestaltcam.rules");
    assert!(
        rule.contains("SUBSYSTEM==\"video4linux\"")
            && rule.contains("SYMLINK+=\"gestaltcam-camera\"")
    );
}
