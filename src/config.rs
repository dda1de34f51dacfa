//! The device's TOML configuration: every field has a default, unknown keys are collected as
//! warnings (a typo must not silently change nothing), and errors name the line and key.
//!
//! `board/default-config.toml` is the commented default; a test checks it parses to
//! [`Config::default`] but for `hpo_data`, which it sets to the HPO files the package installs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::camera::PixelFormat;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type; `line` is 1-based when known.
    #[error("config line {}: {message}", line.map_or("?".to_string(), |l| l.to_string()))]
    Parse {
        line: Option<usize>,
        message: String,
    },
    /// A well-formed value that makes no sense.
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// A key the program does not know (probably a typo), with its 1-based line when found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted path, e.g. `camera.fromat`.
    pub key: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: unknown config key `{}` (ignored)", self.key),
            None => write!(f, "unknown config key `{}` (ignored)", self.key),
        }
    }
}

/// Which camera device: an index (`/dev/videoN`) or a path such as `/dev/v4l/by-id/...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CameraDevice {
    Index(u32),
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    pub device: CameraDevice,
    /// Preferred pixel format; the other supported ones are accepted if the camera lacks it.
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Development and tests: replay still images instead of opening the V4L2 camera, at `fps`
    /// frames per second, looping. A folder (every PNG/JPEG, sorted by name) or a list file (one
    /// image path per line, relative to the list; `#` comments).
    pub replay: Option<PathBuf>,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            device: CameraDevice::Index(0),
            format: PixelFormat::Yuyv,
            width: 640,
            height: 480,
            fps: 15,
            replay: None,
        }
    }
}

/// Panel kinds the display module drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PanelKind {
    #[serde(rename = "st7789-240x240")]
    St7789_240x240,
    #[serde(rename = "st7789-320x240")]
    St7789_320x240,
    #[serde(rename = "ssd1306-128x64")]
    Ssd1306_128x64,
    /// No panel: each view is written as a PNG (development).
    #[serde(rename = "png")]
    Png,
}

impl PanelKind {
    pub fn uses_spi(self) -> bool {
        matches!(self, PanelKind::St7789_240x240 | PanelKind::St7789_320x240)
    }
    pub fn uses_i2c(self) -> bool {
        matches!(self, PanelKind::Ssd1306_128x64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisplayConfig {
    pub panel: PanelKind,
    /// SPI panels: the spidev node.
    pub spi_device: PathBuf,
    /// SPI clock in Hz.
    pub spi_hz: u32,
    /// GPIO chip for the panel's control lines.
    pub gpiochip: PathBuf,
    /// Data/command line offset (SPI panels).
    pub dc_pin: u32,
    /// Reset line offset, if wired.
    pub rst_pin: Option<u32>,
    /// Backlight line offset, if wired.
    pub backlight_pin: Option<u32>,
    /// I2C panels: the i2c-dev node and 7-bit address.
    pub i2c_device: PathBuf,
    pub i2c_address: u8,
    /// `png` panel: the file rewritten with each view.
    pub png_path: PathBuf,
    /// The PNG panel also draws the camera picture on the preview (the laptop demo, with its
    /// licence-clean photos). Off by default: a PNG panel is a file, and no patient picture may
    /// reach a disk.
    pub png_picture: bool,
    /// Panel quirks (offsets, inversion, colour order, rotation): defined by the display module,
    /// passed through untouched.
    pub quirks: toml::Table,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            panel: PanelKind::St7789_240x240,
            spi_device: PathBuf::from("/dev/spidev0.0"),
            spi_hz: 40_000_000,
            gpiochip: PathBuf::from("/dev/gpiochip0"),
            dc_pin: 25,
            rst_pin: Some(27),
            backlight_pin: Some(18),
            i2c_device: PathBuf::from("/dev/i2c-1"),
            i2c_address: 0x3C,
            png_path: PathBuf::from("/run/gestaltcam/screen.png"),
            png_picture: false,
            quirks: toml::Table::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ButtonsConfig {
    /// Where presses come from: `auto` (the GPIO lines, or the keyboard when the panel is a PNG
    /// file), `gpio` or `keyboard`.
    pub input: ButtonInput,
    pub gpiochip: PathBuf,
    pub capture_pin: u32,
    pub next_pin: u32,
    /// A third button that clears the session when held; optional.
    pub clear_pin: Option<u32>,
    /// Buttons pull the line to ground when pressed (with a pull-up).
    pub active_low: bool,
    pub debounce_ms: u64,
    pub long_press_ms: u64,
}

impl Config {
    /// Whether the preview shows the camera picture on a panel `height` pixels high: colour
    /// panels do (128×64 monochrome ones keep the face box), a PNG file only with
    /// `display.png_picture`.
    pub fn shows_picture(&self, height: u32) -> bool {
        height > 64 && (self.display.panel != PanelKind::Png || self.display.png_picture)
    }

    /// Whether button presses come from the keyboard (stdin) rather than GPIO lines.
    pub fn keyboard_buttons(&self) -> bool {
        match self.buttons.input {
            ButtonInput::Auto => self.display.panel == PanelKind::Png,
            ButtonInput::Keyboard => true,
            ButtonInput::Gpio => false,
        }
    }
}

/// See [`ButtonsConfig::input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonInput {
    #[default]
    Auto,
    Gpio,
    Keyboard,
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            input: ButtonInput::Auto,
            gpiochip: PathBuf::from("/dev/gpiochip0"),
            capture_pin: 17,
            next_pin: 22,
            clear_pin: Some(23),
            active_low: true,
            debounce_ms: 30,
            long_press_ms: 1500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SavingConfig {
    /// Off by default: no patient photo leaves RAM.
    pub enabled: bool,
    /// Where captures go when enabled (created 0700, files 0600).
    pub directory: PathBuf,
}

impl Default for SavingConfig {
    fn default() -> Self {
        SavingConfig {
            enabled: false,
            directory: PathBuf::from("/var/lib/gestaltcam/captures"),
        }
    }
}

/// `embedder = "auto"`: the device picks the embedder (see [`Config::embedder`]).
pub const AUTO_EMBEDDER: &str = "auto";

/// The live preview's detector input side by default (`preview_detector_side`).
pub const DEFAULT_PREVIEW_DETECTOR_SIDE: usize = 192;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder with the models and `MANIFEST.toml`.
    pub models_dir: PathBuf,
    /// Which embedder runs: `auto` (chosen for the CPU among the models the galleries were
    /// made by: [`crate::setup::choose_model`]) or a manifest id: a model's, or an
    /// `[[ensemble]]`'s (the device then runs the whole set and its variants).
    pub embedder: String,
    /// The gallery file.
    pub gallery: PathBuf,
    /// The same reference cases built by other embedders (`gestaltcam gallery build --embedder
    /// ID`): the device uses the file made by the embedder it runs.
    pub gallery_variants: Vec<PathBuf>,
    /// Public key the gallery must be signed with; none = unsigned galleries accepted.
    pub gallery_public_key: Option<PathBuf>,
    /// The device's own writable folder (systemd `StateDirectory`): the last gallery that loaded
    /// and verified is kept here, and used when the configured one is refused.
    pub state_dir: PathBuf,
    /// Folder of the public keys (`*.pub`, PEM as `gestaltcam gallery keygen` writes them) whose
    /// content bundles the device accepts (`gestaltcam bundle import`; see docs/bundles.md).
    pub trusted_keys_dir: PathBuf,
    pub photos_per_patient: usize,
    /// Candidates listed on the results screens.
    pub top_k: usize,
    /// Test-time augmentation: also embed the mirrored face and average (better ranking, a
    /// second inference per photo).
    pub flip_tta: bool,
    /// Threads each model inference uses (tract's matrix products); 0 = one per core (4 on a
    /// Pi 4/5 and a Zero 2 W), 1 = single-threaded.
    pub inference_threads: usize,
    /// Input side (pixels, square) of the detector plan the live preview runs: smaller than the
    /// model's 320 makes each preview frame cheaper (it only needs a face box for guidance), and
    /// every capture is then detected again by the full model on a crop around the face. A
    /// multiple of 32; 0 or 320 = one plan for both.
    pub preview_detector_side: usize,
    /// Folder with the HPO release files (`hp.obo`, `phenotype.hpoa`; `data/hpo/fetch.sh`) for
    /// the phenotype questions after a result; unset = no questions. Missing or malformed files
    /// keep the device face-only, with a warning on the start screen.
    pub hpo_data: Option<PathBuf>,
    /// Most candidates per results page: a page holds what the panel fits (2 on 240×240 and
    /// 320×240, 3 on 240×320, 1 on 128×64); this may only lower it.
    pub results_per_page: usize,
    /// Seconds without a button press before results are blanked and the session wiped.
    pub idle_timeout_s: u64,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    pub camera: CameraConfig,
    pub display: DisplayConfig,
    pub buttons: ButtonsConfig,
    pub saving: SavingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            models_dir: PathBuf::from("/usr/share/gestaltcam/models"),
            embedder: AUTO_EMBEDDER.into(),
            gallery: PathBuf::from("/usr/share/gestaltcam/gallery.gmg"),
            gallery_variants: Vec::new(),
            gallery_public_key: None,
            state_dir: PathBuf::from("/var/lib/gestaltcam"),
            trusted_keys_dir: PathBuf::from("/etc/gestaltcam/trusted-keys"),
            photos_per_patient: 3,
            top_k: 10,
            flip_tta: true,
            inference_threads: 0,
            preview_detector_side: DEFAULT_PREVIEW_DETECTOR_SIDE,
            hpo_data: None,
            results_per_page: 3,
            idle_timeout_s: 120,
            log_level: "info".into(),
            camera: CameraConfig::default(),
            display: DisplayConfig::default(),
            buttons: ButtonsConfig::default(),
            saving: SavingConfig::default(),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "models_dir",
    "embedder",
    "gallery",
    "gallery_variants",
    "gallery_public_key",
    "state_dir",
    "trusted_keys_dir",
    "photos_per_patient",
    "top_k",
    "flip_tta",
    "inference_threads",
    "preview_detector_side",
    "hpo_data",
    "results_per_page",
    "idle_timeout_s",
    "log_level",
    "camera",
    "display",
    "buttons",
    "saving",
];
const CAMERA_KEYS: &[&str] = &["device", "format", "width", "height", "fps", "replay"];
const DISPLAY_KEYS: &[&str] = &[
    "panel",
    "spi_device",
    "spi_hz",
    "gpiochip",
    "dc_pin",
    "rst_pin",
    "backlight_pin",
    "i2c_device",
    "i2c_address",
    "png_path",
    "png_picture",
    "quirks",
];
const BUTTONS_KEYS: &[&str] = &[
    "input",
    "gpiochip",
    "capture_pin",
    "next_pin",
    "clear_pin",
    "active_low",
    "debounce_ms",
    "long_press_ms",
];
const SAVING_KEYS: &[&str] = &["enabled", "directory"];

/// A parsed configuration and the unknown keys that were ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<UnknownKey>,
}

impl Config {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses TOML text: unknown keys become warnings, then the known ones are deserialised
    /// with defaults and validated.
    pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        let warnings = strip_unknown(&mut table, text);
        // Re-serialise the known keys and parse again so errors keep their line numbers only
        // when there were no unknown keys; otherwise report the key path.
        let config: Config = if warnings.is_empty() {
            toml::from_str(text).map_err(|e| parse_error(text, &e))?
        } else {
            // Parse the known keys as TOML text again, so a wrong type still names its key;
            // the line is then looked up in the original text.
            let known = match toml::to_string(&table) {
                Ok(k) => k,
                Err(_) => {
                    return Config::deserialize(toml::Value::Table(table))
                        .map_err(|e| ConfigError::Parse {
                            line: None,
                            message: e.to_string().trim().to_string(),
                        })
                        .and_then(|config| {
                            config.validate()?;
                            Ok(Loaded { config, warnings })
                        })
                }
            };
            toml::from_str(&known).map_err(|e| match error_key(&known, &e) {
                Some((table, key)) => ConfigError::Parse {
                    line: find_line(text, table.as_deref(), &key),
                    message: format!(
                        "`{}`: {}",
                        table.map_or(key.clone(), |t| format!("{t}.{key}")),
                        e.message()
                    ),
                },
                None => ConfigError::Parse {
                    line: None,
                    message: e.message().to_string(),
                },
            })?
        };
        config.validate()?;
        Ok(Loaded { config, warnings })
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.photos_per_patient == 0 || self.photos_per_patient > 10 {
            return bad("photos_per_patient", "must be 1 to 10");
        }
        if self.top_k == 0 {
            return bad("top_k", "must be at least 1");
        }
        if self.embedder.trim().is_empty() {
            return bad("embedder", "must be \"auto\" or a model id of the manifest");
        }
        if self.results_per_page == 0 {
            return bad("results_per_page", "must be at least 1");
        }
        if self.preview_detector_side % 32 != 0 {
            return bad(
                "preview_detector_side",
                "must be a multiple of 32 (0 = the detector's own input)",
            );
        }
        if self.camera.width == 0 || self.camera.width % 2 != 0 || self.camera.height == 0 {
            return bad(
                "camera.width",
                "width must be even and non-zero, height non-zero",
            );
        }
        if self.camera.fps == 0 || self.camera.fps > 120 {
            return bad("camera.fps", "must be 1 to 120");
        }
        if self
            .camera
            .replay
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad(
                "camera.replay",
                "must name a folder or a list file (remove the key to use the camera)",
            );
        }
        if self.buttons.long_press_ms <= self.buttons.debounce_ms {
            return bad("buttons.long_press_ms", "must be longer than debounce_ms");
        }
        if self.display.i2c_address > 0x7F {
            return bad("display.i2c_address", "must be a 7-bit address");
        }
        if !matches!(
            self.log_level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace" | "off"
        ) {
            return bad(
                "log_level",
                "must be error, warn, info, debug, trace or off",
            );
        }
        if self.state_dir.as_os_str().is_empty() {
            return bad("state_dir", "must be a folder the device can write");
        }
        if self.state_dir == self.saving.directory {
            return bad(
                "state_dir",
                "must not be the captures folder (saving.directory)",
            );
        }
        if self.saving.enabled && self.saving.directory.as_os_str().is_empty() {
            return bad("saving.directory", "must be set when saving is enabled");
        }
        Ok(())
    }
}

fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let line = error_line(text, e);
    let message = match error_key(text, e) {
        Some((table, key)) => format!(
            "`{}`: {}",
            table.map_or(key.clone(), |t| format!("{t}.{key}")),
            e.message()
        ),
        None => e.message().to_string(),
    };
    ConfigError::Parse { line, message }
}

/// 1-based line of the error's span.
fn error_line(text: &str, e: &toml::de::Error) -> Option<usize> {
    e.span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
}

/// The (table, key) assigned on the error's line, e.g. `(Some("camera"), "fps")`.
fn error_key(text: &str, e: &toml::de::Error) -> Option<(Option<String>, String)> {
    let line = error_line(text, e)?;
    let mut table = None;
    for raw in text.lines().take(line - 1) {
        let l = raw.trim();
        if l.starts_with('[') {
            table = Some(l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        }
    }
    let here = text.lines().nth(line - 1)?.trim();
    let (key, _) = here.split_once('=')?;
    let key = key.trim().trim_matches('"').to_string();
    (!key.is_empty() && !key.starts_with('[')).then_some((table, key))
}

/// 1-based line where `key` is assigned (or its table header) after the header of `table`.
fn find_line(text: &str, table: Option<&str>, key: &str) -> Option<usize> {
    let mut in_table = table.is_none();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_matches(|c| c == '[' || c == ']').trim();
            if table.is_none() && name == key {
                return Some(i + 1);
            }
            in_table = Some(name) == table || table.is_some_and(|t| name == format!("{t}.{key}"));
            if table.is_some_and(|t| name == format!("{t}.{key}")) {
                return Some(i + 1);
            }
            continue;
        }
        if in_table {
            if let Some(rest) = line.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// Removes keys the program does not know from `table`, returning them.
fn strip_unknown(table: &mut toml::Table, text: &str) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    let mut strip = |t: &mut toml::Table, prefix: Option<&str>, known: &[&str]| {
        let unknown: Vec<String> = t
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            t.remove(&k);
            out.push(UnknownKey {
                key: prefix.map_or(k.clone(), |p| format!("{p}.{k}")),
                line: find_line(text, prefix, &k),
            });
        }
    };
    strip(table, None, TOP_KEYS);
    for (name, known) in [
        ("camera", CAMERA_KEYS),
        ("display", DISPLAY_KEYS),
        ("buttons", BUTTONS_KEYS),
        ("saving", SAVING_KEYS),
    ] {
        if let Some(toml::Value::Table(t)) = table.get_mut(name) {
            strip(t, Some(name), known);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_drawn_on_colour_panels_and_png_files_only_when_asked() {
        let mut c = Config::default();
        c.display.panel = PanelKind::Png;
        assert!(
            !c.shows_picture(240),
            "a PNG panel is a file: off by default"
        );
        c.display.png_picture = true;
        assert!(c.shows_picture(240));
        assert!(!c.shows_picture(64), "128x64 monochrome: face box only");
        let c = Config::parse("[display]\npanel = \"st7789-240x240\"\n")
            .unwrap()
            .config;
        assert!(c.shows_picture(240));
        let c = Config::parse("[buttons]\ninput = \"gpio\"\n[display]\npanel = \"png\"\n")
            .unwrap()
            .config;
        assert!(!c.keyboard_buttons());
        let c = Config::parse("[display]\npanel = \"png\"\n")
            .unwrap()
            .config;
        assert!(c.keyboard_buttons(), "auto: the keyboard with a PNG panel");
    }

    #[test]
    fn board_default_config_is_the_defaults() {
        let text = include_str!("../board/default-config.toml");
        let l = Config::parse(text).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let shipped = Config {
            hpo_data: Some(PathBuf::from("/usr/share/gestaltcam/hpo")),
            ..Config::default()
        };
        assert_eq!(l.config, shipped);
    }

    #[test]
    fn empty_text_gives_defaults() {
        let l = Config::parse("").unwrap();
        assert_eq!(l.config, Config::default());
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn unknown_keys_are_warnings_with_lines() {
        let text = "top_k = 4\ncolour = 1\n[camera]\nwidth = 320\nfromat = \"nv12\"\n";
        let l = Config::parse(text).unwrap();
        assert_eq!(l.config.top_k, 4);
        assert_eq!(l.config.camera.width, 320);
        assert_eq!(
            l.warnings,
            vec![
                UnknownKey {
                    key: "colour".into(),
                    line: Some(2)
                },
                UnknownKey {
                    key: "camera.fromat".into(),
                    line: Some(5)
                },
            ]
        );
    }

    #[test]
    fn type_error_names_line_and_key() {
        let text = "top_k = 4\n\n[camera]\nwidth = \"wide\"\n";
        match Config::parse(text) {
            Err(ConfigError::Parse { line, message }) => {
                assert_eq!(line, Some(4));
                assert!(message.contains("string"), "{message}");
                let shown = ConfigError::Parse { line, message }.to_string();
                assert!(shown.starts_with("config line 4"), "{shown}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn device_by_index_or_path_and_quirks_passthrough() {
        let text = "[camera]\ndevice = \"/dev/v4l/by-id/usb-cam\"\n[display.quirks]\ninvert = true\noffset_x = 80\n";
        let c = Config::parse(text).unwrap().config;
        assert_eq!(
            c.camera.device,
            CameraDevice::Path("/dev/v4l/by-id/usb-cam".into())
        );
        assert_eq!(
            c.display.quirks.get("offset_x"),
            Some(&toml::Value::Integer(80))
        );
        let c = Config::parse("[camera]\ndevice = 2\n").unwrap().config;
        assert_eq!(c.camera.device, CameraDevice::Index(2));
        assert_eq!(c.camera.replay, None);
        let l = Config::parse("[camera]\nreplay = \"demo/patient.txt\"\n").unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(
            l.config.camera.replay,
            Some(PathBuf::from("demo/patient.txt"))
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(matches!(
            Config::parse("photos_per_patient = 0"),
            Err(ConfigError::Invalid { key, .. }) if key == "photos_per_patient"
        ));
        assert!(matches!(
            Config::parse("preview_detector_side = 100"),
            Err(ConfigError::Invalid { key, .. }) if key == "preview_detector_side"
        ));
        assert!(matches!(
            Config::parse("[camera]\nreplay = \"\"\n"),
            Err(ConfigError::Invalid { key, .. }) if key == "camera.replay"
        ));
        assert!(matches!(
            Config::parse("[buttons]\ndebounce_ms = 50\nlong_press_ms = 40\n"),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            Config::parse("[display]\npanel = \"hd44780\"\n"),
            Err(ConfigError::Parse { line: Some(2), .. })
        ));
    }
}
