//! The checks of `gestaltcam doctor`, one function per part of the device, each returning its
//! rows ([`DoctorRow`]); the command prints them in order and counts the failures. The wording
//! of each row is what bring-up notes and the VM harness (`board/vm`) look for.

use std::path::{Path, PathBuf};

use super::{choose_model, ModelChoice};
use crate::config::Config;
use crate::counters::{self, CountersError, DeviceKey};
use crate::embed::EmbedOptions;
use crate::gallery::Gallery;
use crate::hw;
use crate::manifest::{CpuFeatures, Manifest};
use crate::pipeline::FacePipeline;

/// One line of `doctor`: a part, whether it passed and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorRow {
    pub ok: bool,
    /// The part: "config", "model", "camera", ...
    pub what: &'static str,
    pub detail: String,
}

impl DoctorRow {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        DoctorRow {
            ok: true,
            what,
            detail: detail.into(),
        }
    }

    fn fail(what: &'static str, detail: impl ToString) -> Self {
        DoctorRow {
            ok: false,
            what,
            detail: detail.to_string(),
        }
    }
}

/// `ok   config     /etc/gestaltcam/config.toml`, `FAIL camera     ...`.
impl std::fmt::Display for DoctorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{status} {:<10} {}", self.what, self.detail)
    }
}

/// The configuration file: read (a row per warning), or the row saying why not and no
/// configuration to check the rest with.
pub fn check_config(path: &Path) -> (Vec<DoctorRow>, Option<Config>) {
    match Config::load(path) {
        Ok(loaded) => {
            let mut rows = vec![DoctorRow::ok("config", path.display().to_string())];
            rows.extend(loaded.warnings.iter().map(|w| DoctorRow::fail("config", w)));
            (rows, Some(loaded.config))
        }
        Err(e) => (vec![DoctorRow::fail("config", e)], None),
    }
}

/// Every part after the configuration, in order; `each` gets each part's rows as soon as they
/// are known (the camera check can take seconds).
pub fn check_parts(cfg: &Config, mut each: impl FnMut(Vec<DoctorRow>)) {
    let (rows, choice) = check_models(cfg);
    each(rows);
    each(check_pipeline(cfg, choice.as_ref()));
    #[cfg(feature = "camera-v4l")]
    if cfg.camera.replay.is_none() {
        each(check_camera(cfg));
    }
    each(check_device_nodes(cfg));
    each(check_saving(cfg));
    each(check_device_key(cfg));
}

/// The model files against the manifest's hashes, and the embedder the device would run (with
/// the gallery file that goes with it).
pub fn check_models(cfg: &Config) -> (Vec<DoctorRow>, Option<ModelChoice>) {
    let m = match Manifest::load_dir(&cfg.models_dir) {
        Ok(m) => m,
        Err(e) => return (vec![DoctorRow::fail("models", e)], None),
    };
    let mut rows: Vec<DoctorRow> = m
        .models
        .iter()
        .map(|entry| match m.verify_file(entry) {
            Ok(bytes) => DoctorRow::ok(
                "model",
                format!("{} ({} bytes, sha256 ok)", entry.id, bytes.len()),
            ),
            Err(e) => DoctorRow::fail("model", e),
        })
        .collect();
    match choose_model(cfg, &m, CpuFeatures::detect()) {
        Ok(c) => {
            rows.push(DoctorRow::ok(
                "embedder",
                format!("{} ({})", c.embedder, c.why),
            ));
            (rows, Some(c))
        }
        Err(e) => {
            rows.push(DoctorRow::fail("embedder", e));
            (rows, None)
        }
    }
}

/// The pipeline loaded as the device loads it: the preview's detector plan, and the gallery
/// (`choice`'s, else the configured one) verified for that pipeline.
pub fn check_pipeline(cfg: &Config, choice: Option<&ModelChoice>) -> Vec<DoctorRow> {
    let (embedder, gallery) = match choice {
        Some(c) => (Some(c.embedder.as_str()), c.gallery.clone()),
        None => (None, cfg.gallery.clone()),
    };
    let opts = EmbedOptions {
        flip_tta: cfg.flip_tta,
    };
    let side = cfg.preview_detector_side;
    match FacePipeline::load_with_preview(&cfg.models_dir, embedder, opts, side) {
        Ok((p, preview)) => vec![
            preview_row(&p, preview, side),
            gallery_row(&gallery, &p, cfg.gallery_public_key.as_deref()),
        ],
        Err(e) => vec![DoctorRow::fail("pipeline", e)],
    }
}

/// The detector sizes on the preview and on captures, or why the preview plan is not used.
fn preview_row<E: std::fmt::Display>(
    p: &FacePipeline,
    preview: Result<(), E>,
    side: usize,
) -> DoctorRow {
    match preview {
        Ok(()) => DoctorRow::ok(
            "preview",
            format!(
                "detector at {}×{} on the live preview, {}×{} on captures",
                p.preview_detector().input_hw().1,
                p.preview_detector().input_hw().0,
                p.detector().input_hw().1,
                p.detector().input_hw().0
            ),
        ),
        Err(e) => DoctorRow::fail(
            "preview",
            format!(
                "preview_detector_side = {side} not usable (the preview runs the full \
                 detector): {e}"
            ),
        ),
    }
}

/// The gallery: its size, threshold and the target it was calibrated for, or why it is refused.
fn gallery_row(path: &Path, p: &FacePipeline, public_key: Option<&Path>) -> DoctorRow {
    match Gallery::load_for_recipe(path, &p.embedding_recipe(), public_key) {
        Ok(g) => DoctorRow::ok(
            "gallery",
            format!(
                "{}: {} cases, {} syndromes, threshold {:?}{}",
                g.name(),
                g.len(),
                g.labels().len(),
                g.threshold(),
                g.calibration()
                    .map_or(String::new(), |c| format!(", {}", c.operating_point()))
            ),
        ),
        Err(e) => DoctorRow::fail("gallery", e),
    }
}

/// The camera: what it offers and the mode chosen (one open, as the device does it), then one
/// real frame, described by 8 decoded pixels along its middle row (enough to check colours
/// against a known test pattern; no picture is written).
#[cfg(feature = "camera-v4l")]
pub fn check_camera(cfg: &Config) -> Vec<DoctorRow> {
    let mut camera = match hw::V4lCamera::open(&cfg.camera) {
        Ok(c) => c,
        Err(e) => return vec![DoctorRow::fail("camera", e)],
    };
    let opened = DoctorRow::ok(
        "camera",
        format!("{}; chose {}", camera.probe(), camera.choice()),
    );
    vec![opened, frame_row(&mut camera)]
}

/// One frame of `camera` (a bad or late first frame is not yet a fault: up to 5 are tried).
#[cfg(feature = "camera-v4l")]
fn frame_row(camera: &mut hw::V4lCamera) -> DoctorRow {
    use crate::camera::Camera;
    let mut last = None;
    for _ in 0..5 {
        match camera.frame() {
            Ok(f) => {
                let (format, w, h) = camera.format();
                let y = h / 2;
                let samples: Vec<String> = (0..8)
                    .map(|i| {
                        let p = f.image.get_pixel((2 * i + 1) * w / 16, y).0;
                        format!("{},{},{}", p[0], p[1], p[2])
                    })
                    .collect();
                let detail = format!(
                    "{w}x{h} {}, row h/2 at x=(2i+1)w/16: {}",
                    format.name(),
                    samples.join(" ")
                );
                return DoctorRow::ok("frame", detail);
            }
            Err(e) => last = Some(e),
        }
    }
    DoctorRow::fail(
        "frame",
        last.map_or_else(|| "no frame".into(), |e| e.to_string()),
    )
}

/// The display's and the buttons' device nodes: may this process open them?
pub fn check_device_nodes(cfg: &Config) -> Vec<DoctorRow> {
    let mut nodes: Vec<(&'static str, PathBuf)> = Vec::new();
    if cfg.display.panel.uses_spi() {
        nodes.push(("display", cfg.display.spi_device.clone()));
        nodes.push(("display", cfg.display.gpiochip.clone()));
    }
    if cfg.display.panel.uses_i2c() {
        nodes.push(("display", cfg.display.i2c_device.clone()));
    }
    if !cfg.keyboard_buttons() {
        nodes.push(("buttons", cfg.buttons.gpiochip.clone()));
    }
    nodes
        .into_iter()
        .map(|(what, path)| match hw::check_node(&path) {
            Ok(()) => DoctorRow::ok(what, format!("{} (read/write ok)", path.display())),
            Err(e) => DoctorRow::fail(what, e),
        })
        .collect()
}

/// Whether captures are saved (never a failure, but worth seeing).
pub fn check_saving(cfg: &Config) -> Vec<DoctorRow> {
    let detail = if cfg.saving.enabled {
        format!(
            "ENABLED: captures are written to {}",
            cfg.saving.directory.display()
        )
    } else {
        "disabled: no patient photo or embedding is written".into()
    };
    vec![DoctorRow::ok("saving", detail)]
}

/// The device's own key: its id and public key (what a programme registers to check the
/// device's usage reports). None yet is no failure: the device makes it when it first starts.
pub fn check_device_key(cfg: &Config) -> Vec<DoctorRow> {
    match DeviceKey::load(&cfg.state_dir) {
        Ok(key) => vec![
            DoctorRow::ok("device", format!("id {}", key.device_id())),
            DoctorRow::ok(
                "device",
                format!(
                    "public key {} ({})",
                    hex::encode(key.public().as_bytes()),
                    cfg.state_dir.join(counters::key::PUBLIC_FILE).display()
                ),
            ),
        ],
        Err(CountersError::NoKey { .. }) => vec![DoctorRow::ok(
            "device",
            "no key yet: the device makes it when it first starts",
        )],
        Err(e) => vec![DoctorRow::fail("device", e)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_key_row_names_the_id_and_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            state_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let rows = check_device_key(&cfg);
        assert!(matches!(rows.as_slice(), [r] if r.ok && r.detail.contains("no key yet")));
        let key = DeviceKey::load_or_create(dir.path()).unwrap();
        let rows = check_device_key(&cfg);
        assert_eq!(
            rows[0].to_string(),
            format!("ok   device     id {}", key.device_id())
        );
        assert!(rows[1]
            .detail
            .contains(&hex::encode(key.public().as_bytes())));
        std::fs::write(dir.path().join(counters::key::SECRET_FILE), b"damaged").unwrap();
        assert!(matches!(check_device_key(&cfg).as_slice(), [r] if !r.ok));
    }

    #[test]
    fn a_row_prints_as_doctor_always_printed_it() {
        assert_eq!(
            DoctorRow::ok("config", "/etc/x.toml").to_string(),
            "ok   config     /etc/x.toml"
        );
        assert_eq!(
            DoctorRow::fail("camera", "gone").to_string(),
            "FAIL camera     gone"
        );
    }

    #[test]
    fn saving_and_a_missing_config_are_reported() {
        let cfg = Config::default();
        let rows = check_saving(&cfg);
        assert_eq!(
            rows,
            vec![DoctorRow::ok(
                "saving",
                "disabled: no patient photo or embedding is written"
            )]
        );
        let (rows, cfg) = check_config(Path::new("/nonexistent/gestaltcam.toml"));
        assert!(cfg.is_none());
        assert!(
            matches!(rows.as_slice(), [r] if !r.ok && r.what == "config"),
            "{rows:?}"
        );
    }
}
