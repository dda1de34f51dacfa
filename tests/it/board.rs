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

#[test]
fn usb_stick_unit_mounts_as_root_and_imports_as_the_service_user() {
    // udev starts the unit for a USB stick with a FAT or exFAT file system.
    let rule = read("board/udev/99-gestaltcam.rules");
    assert!(rule.contains("ENV{SYSTEMD_WANTS}+=\"gestaltcam-usb@%k.service\""));
    assert!(
        rule.contains("SUBSYSTEMS==\"usb\"") && rule.contains("ENV{ID_FS_TYPE}==\"vfat|exfat\"")
    );
    let unit = read("board/systemd/gestaltcam-usb@.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    let helper = "/usr/lib/gestaltcam/gestaltcam-usb";
    for needed in [
        // Only the mount, the report copy and the unmount run as root ("+"); the import, which
        // reads the bundle, runs as the service user in the sandbox.
        format!("ExecStartPre=+{helper} mount %i"),
        format!("ExecStart={helper} import %i"),
        format!("ExecStart=+{helper} write-report %i"),
        format!("ExecStopPost=+{helper} unmount %i"),
        "User=gestaltcam".into(),
        "BindsTo=dev-%i.device".into(),
        "StateDirectory=gestaltcam".into(),
        "SuccessExitStatus=3".into(),
        "ProtectSystem=strict".into(),
        "PrivateNetwork=yes".into(),
        "PrivateDevices=yes".into(),
        // The device policy covers the "+" steps too: the mount opens the stick.
        "DeviceAllow=block-sd rw".into(),
        "NoNewPrivileges=yes".into(),
    ] {
        assert!(lines.contains(&needed.as_str()), "unit lacks {needed}");
    }
    // The stick is mounted read-only, without set-user-id files, devices or programs.
    let script = read("board/usb/gestaltcam-usb");
    assert!(script.contains("opts=ro,nosuid,nodev,noexec,"));
    // ... in PID 1's mount namespace, which the import's sandbox is built from (systemd gives
    // the "+" steps a namespace of their own: a mount there is invisible to the import).
    assert!(script.contains("exec nsenter --mount=/proc/1/ns/mnt -- \"$0\" \"$step\" \"$name\""));
    // The package installs both, and the HPO files the default config points at.
    let cargo = read("Cargo.toml");
    for asset in [
        "[\"board/systemd/gestaltcam-usb@.service\", \"lib/systemd/system/\", \"644\"]",
        "[\"board/usb/gestaltcam-usb\", \"usr/lib/gestaltcam/\", \"755\"]",
        "[\"data/hpo/hp.obo\", \"usr/share/gestaltcam/hpo/\", \"644\"]",
        "[\"data/hpo/phenotype.hpoa\", \"usr/share/gestaltcam/hpo/\", \"644\"]",
    ] {
        assert!(cargo.contains(asset), "Cargo.toml lacks the asset {asset}");
    }
    let cfg = Config::parse(&read("board/default-config.toml"))
        .expect("default config")
        .config;
    assert_eq!(
        cfg.hpo_data.as_deref(),
        Some(Path::new("/usr/share/gestaltcam/hpo"))
    );
}

#[test]
fn usb_helper_refuses_a_name_that_is_not_a_block_device() {
    // The instance name becomes a path: anything but [a-z0-9] is refused before any step runs.
    for name in ["../etc", "sda/1", "", "SDA"] {
        let out = std::process::Command::new("sh")
            .arg(Path::new(ROOT).join("board/usb/gestaltcam-usb"))
            .args(["mount", name])
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a block device name"), "{name:?}: {err}");
    }
}
