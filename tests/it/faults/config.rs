//! A configuration file with wrong types, unknown keys or bad values.

use super::*;

#[test]
fn config_wrong_types_name_key_and_line() {
    let cases: &[(&str, &str, usize)] = &[
        ("top_k = \"ten\"\n", "`top_k`", 1),
        ("top_k = 4\n\n[camera]\nfps = 1.5\n", "`camera.fps`", 4),
        ("[saving]\nenabled = \"yes\"\n", "`saving.enabled`", 2),
        ("state_dir = 5\n", "`state_dir`", 1),
        ("[buttons]\ncapture_pin = -3\n", "`buttons.capture_pin`", 2),
        ("flip_tta = 1\n", "`flip_tta`", 1),
        ("[display]\ni2c_address = 300\n", "`display.i2c_address`", 2),
        // With an unknown key elsewhere the line still points into the original file.
        (
            "colour = 1\n[camera]\nwidth = \"wide\"\n",
            "`camera.width`",
            3,
        ),
    ];
    for (text, key, line) in cases {
        match Config::parse(text) {
            Err(e @ ConfigError::Parse { .. }) => {
                let shown = e.to_string();
                assert!(
                    shown.starts_with(&format!("config line {line}: {key}: ")),
                    "{text:?} -> {shown}"
                );
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn config_unknown_keys_are_warnings_and_ignored() {
    // A typo must not silently switch a safety-relevant default: `enabeld` leaves saving off.
    let text = "top_k = 5\nstate_dri = \"/tmp/x\"\n[saving]\nenabeld = true\n";
    let loaded = Config::parse(text).unwrap();
    assert_eq!(loaded.config.top_k, 5);
    assert!(!loaded.config.saving.enabled);
    assert_eq!(loaded.config.state_dir, Config::default().state_dir);
    let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "line 2: unknown config key `state_dri` (ignored)",
            "line 4: unknown config key `saving.enabeld` (ignored)"
        ]
    );
}

#[test]
fn config_bad_values_are_refused() {
    for (text, key) in [
        ("state_dir = \"\"\n", "state_dir"),
        (
            "state_dir = \"/var/lib/x\"\n[saving]\ndirectory = \"/var/lib/x\"\n",
            "state_dir",
        ),
        ("photos_per_patient = 11\n", "photos_per_patient"),
        ("[camera]\nwidth = 641\n", "camera.width"),
        ("log_level = \"loud\"\n", "log_level"),
    ] {
        match Config::parse(text) {
            Err(ConfigError::Invalid { key: k, reason }) => {
                assert_eq!(k, key, "{text:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{text:?}: expected Invalid, got {other:?}"),
        }
    }
    // The shipped default configuration is valid and names the default state folder; its one
    // setting off the defaults is the HPO folder the package installs.
    let text = std::fs::read_to_string(repo().join("board/default-config.toml")).unwrap();
    assert!(text.contains("# state_dir = \"/var/lib/gestaltcam\""));
    let shipped = Config {
        hpo_data: Some("/usr/share/gestaltcam/hpo".into()),
        ..Config::default()
    };
    assert_eq!(Config::parse(&text).unwrap().config, shipped);
}
