//! The configuration fragment a bundle may carry (`config.toml`): only the settings a
//! programme decides for all its devices. Device paths, keys, the state folder, the panel,
//! camera and buttons stay the device's own.

use crate::config::Config;

use super::{BundleError, Result};

/// The keys a programme may set, and why they are a programme's choice.
pub const ALLOWED_KEYS: &[&str] = &[
    // Which model (or ensemble) of the manifest runs: follows the bundle's models.
    "embedder",
    // How many candidates, photos and pages: the programme's clinical protocol.
    "top_k",
    "photos_per_patient",
    "results_per_page",
    // Mirrored second inference per photo.
    "flip_tta",
    // The live preview's detector size.
    "preview_detector_side",
    // Seconds before an unattended result is wiped.
    "idle_timeout_s",
];

/// Parses a fragment: TOML whose keys are all in [`ALLOWED_KEYS`] (anything else, tables
/// included, is refused, naming the key).
pub fn parse(text: &str) -> Result<toml::Table> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| BundleError::Fragment(e.message().to_string()))?;
    if let Some(key) = table.keys().find(|k| !ALLOWED_KEYS.contains(&k.as_str())) {
        return Err(BundleError::Fragment(format!(
            "key `{key}` may not be set by a bundle (allowed: {})",
            ALLOWED_KEYS.join(", ")
        )));
    }
    Ok(table)
}

/// `cfg` with the fragment's keys set, validated as a whole configuration.
pub fn apply(cfg: &Config, fragment: &toml::Table) -> Result<Config> {
    let bad = |e: String| BundleError::Fragment(e);
    let mut value = toml::Table::try_from(cfg).map_err(|e| bad(e.to_string()))?;
    for (k, v) in fragment {
        value.insert(k.clone(), v.clone());
    }
    let out: Config = toml::Value::Table(value)
        .try_into()
        .map_err(|e: toml::de::Error| bad(e.message().trim().to_string()))?;
    out.validate().map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_keys_change_the_configuration() {
        let f = parse("top_k = 5\nflip_tta = false\nembedder = \"dlib-resnet-v1-int8\"\n").unwrap();
        let cfg = apply(&Config::default(), &f).unwrap();
        assert_eq!(cfg.top_k, 5);
        assert!(!cfg.flip_tta);
        assert_eq!(cfg.embedder, "dlib-resnet-v1-int8");
        assert_eq!(cfg.state_dir, Config::default().state_dir);
    }

    #[test]
    fn paths_keys_and_tables_are_refused_by_name() {
        for (text, key) in [
            ("state_dir = \"/tmp\"\n", "state_dir"),
            ("gallery_public_key = \"/k.pub\"\n", "gallery_public_key"),
            ("models_dir = \"/x\"\n", "models_dir"),
            ("trusted_keys_dir = \"/x\"\n", "trusted_keys_dir"),
            ("[camera]\nwidth = 320\n", "camera"),
            ("colour = 1\n", "colour"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}` may not be set")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn a_value_the_device_would_refuse_is_refused() {
        let f = parse("photos_per_patient = 11\n").unwrap();
        let err = apply(&Config::default(), &f).unwrap_err();
        assert!(err.to_string().contains("photos_per_patient"), "{err}");
        let f = parse("top_k = \"ten\"\n").unwrap();
        assert!(apply(&Config::default(), &f).is_err());
    }
}
