//! The device and its imported content (`<state_dir>/content/`, [`crate::bundle`]):
//!
//! - [`DeviceCheck`]: the checks a staged bundle must pass before the import switches it in:
//!   the models load and match their manifest, the galleries bind to a model or ensemble of
//!   it (the one the device will run fully: [`Gallery::load_for_recipe`]), the HPO files
//!   parse, the configuration fragment holds only allowed keys.
//! - [`start`]: at start-up, `current`'s content (verified again: signature and hashes) takes
//!   the place of the configured files; content that fails (not verified, models or gallery
//!   refused) is rolled back to `previous` (then to the configured files), which the start-up
//!   screen says on a Warning line and the log says in full.
//! - [`NoticeSink`]: the panel shows a new `notice.json` for a while; when the notice says new
//!   content was switched in, the device then stops so that systemd starts it again with it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{analyzer_for, choose_model};
use crate::analysis::Analyzer;
use crate::app::ViewSink;
use crate::bundle::import::ContentCheck;
use crate::bundle::notice::{Notice, NoticeSource, Outcome};
use crate::bundle::store::{self, ContentStore};
use crate::bundle::{BundleError, BundleManifest, EntryKind};
use crate::config::Config;
use crate::embed::EmbedOptions;
use crate::gallery::Gallery;
use crate::manifest::{CpuFeatures, Manifest, Role};
use crate::pipeline::{self, Members};
use crate::screening::{Phenotype, PipelineAnalyzer};
use crate::ui::view::{CheckState, SelfCheck, View};

/// The device's checks of staged content, against the device's configuration.
pub struct DeviceCheck<'a> {
    pub cfg: &'a Config,
}

fn failed(what: &str, e: impl std::fmt::Display) -> BundleError {
    BundleError::Check {
        what: what.into(),
        message: e.to_string(),
    }
}

impl ContentCheck for DeviceCheck<'_> {
    fn check(&self, dir: &Path, manifest: &BundleManifest) -> Result<String, BundleError> {
        let cfg = store::content_config(self.cfg, dir, manifest)?;
        let models = Manifest::load_dir(&cfg.models_dir).map_err(|e| failed("models", e))?;
        let choice =
            choose_model(&cfg, &models, CpuFeatures::detect()).map_err(|e| failed("models", e))?;
        let opts = EmbedOptions {
            flip_tta: cfg.flip_tta,
        };
        let p = pipeline::load_models(&cfg.models_dir, Some(&choice.embedder), opts)
            .map_err(|e| failed("models", e))?;
        let gallery = Gallery::load_for_recipe(&choice.gallery, &p.embedding_recipe(), None)
            .map_err(|e| failed("gallery", e))?;
        let known = gallery_ids(&models);
        for path in std::iter::once(&cfg.gallery).chain(&cfg.gallery_variants) {
            if *path == choice.gallery {
                continue;
            }
            let g = Gallery::load(path).map_err(|e| failed("gallery variant", e))?;
            if !known.iter().any(|id| id == g.embedder_id()) {
                return Err(failed(
                    "gallery variant",
                    format!(
                        "{}: made for a model the manifest does not have",
                        path.display()
                    ),
                ));
            }
        }
        if manifest.entry(EntryKind::Hpo).is_some() {
            let hpo = cfg.hpo_data.as_deref().unwrap_or(dir);
            Phenotype::load(hpo).map_err(|e| failed("HPO files", e))?;
        }
        Ok(if manifest.entry(EntryKind::Gallery).is_some() {
            format!(
                "Gallery updated: {}, {} cases",
                gallery.name(),
                thousands(gallery.len())
            )
        } else {
            format!("Content updated: {} {}", manifest.name, manifest.version)
        })
    }
}

/// The gallery ids the manifest's embedders and ensembles make.
fn gallery_ids(m: &Manifest) -> Vec<String> {
    let models = m
        .models
        .iter()
        .filter(|e| e.role == Role::Embedder)
        .map(|e| e.embedder_id());
    let ensembles = m.ensembles.iter().filter_map(|e| {
        Members::named(m, &e.id)
            .ok()
            .and_then(|s| s.recipe())
            .map(|r| r.gallery_id())
    });
    models.chain(ensembles).collect()
}

/// `7459` → `7,459`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The device's configuration and analyzer with its content: `current`'s when it verifies and
/// starts, else `previous`'s, else the configured files. A roll-back adds a Warning line to
/// the start-up screen.
pub fn start(cfg: &Config) -> (Config, PipelineAnalyzer) {
    let store = ContentStore::new(&cfg.state_dir);
    let mut rolled_back: Option<&str> = None;
    // current, then previous (after one roll-back), then the configured files.
    for _ in 0..2 {
        let Some(dir) = store.current() else { break };
        match try_content(cfg, &dir) {
            Ok((eff, mut analyzer)) => {
                log::info!("content: using {}", dir.display());
                analyzer.extra_checks.extend(rolled_back.map(warning));
                return (eff, analyzer);
            }
            Err(why) => {
                log::error!("content {} refused at start-up: {why}", dir.display());
                match store.roll_back() {
                    Ok(true) => rolled_back = Some("failed, previous gallery used"),
                    Ok(false) => {
                        rolled_back = Some("failed, original gallery used");
                        break;
                    }
                    Err(e) => {
                        log::error!("content: cannot roll back: {e}");
                        rolled_back = Some("failed, original gallery used");
                        break;
                    }
                }
            }
        }
    }
    let mut analyzer = analyzer_for(cfg);
    analyzer.extra_checks.extend(rolled_back.map(warning));
    (cfg.clone(), analyzer)
}

fn warning(detail: &str) -> SelfCheck {
    SelfCheck {
        name: "Update".into(),
        state: CheckState::Warning,
        detail: detail.into(),
    }
}

/// The content in `dir`, verified against the trusted keys and started: its analyzer when
/// the models and the gallery were accepted.
fn try_content(cfg: &Config, dir: &Path) -> Result<(Config, PipelineAnalyzer), String> {
    let keys = store::trusted_keys(&cfg.trusted_keys_dir).map_err(|e| e.to_string())?;
    let manifest = store::verify_dir(dir, &keys).map_err(|e| e.to_string())?;
    let eff = store::content_config(cfg, dir, &manifest).map_err(|e| e.to_string())?;
    let mut analyzer = analyzer_for(&eff);
    if let Some(why) = &analyzer.gallery_refused {
        return Err(format!("gallery refused: {why}"));
    }
    if analyzer.pipeline().is_none() || analyzer.gallery().is_none() {
        let failed: Vec<String> = analyzer
            .self_test()
            .into_iter()
            .filter(|c| c.state == CheckState::Failed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        return Err(format!("refused: {}", failed.join("; ")));
    }
    Ok((eff, analyzer))
}

/// How long a notice stays on the panel.
pub const NOTICE_SHOWN: Duration = Duration::from_secs(8);

/// A view sink that puts new update notices on the panel for [`NOTICE_SHOWN`], then the app's
/// own screen again; after a notice that switched in content other than the content running,
/// it sets `restart` and `shutdown`, so the loop ends (blanking the panel) and `gestaltcam run`
/// exits for systemd to start it again.
pub struct NoticeSink<N> {
    inner: Box<dyn ViewSink>,
    source: N,
    /// The content folder (name) the device started with.
    running: Option<String>,
    shown_for: Duration,
    /// The notice on the panel since, and whether a restart follows it.
    showing: Option<(Instant, bool)>,
    /// The app's last view, shown again after the notice.
    last: Option<View>,
    pub restart: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
}

impl<N: NoticeSource> NoticeSink<N> {
    pub fn new(
        inner: Box<dyn ViewSink>,
        source: N,
        running: Option<String>,
        shutdown: Arc<AtomicBool>,
    ) -> Self {
        NoticeSink {
            inner,
            source,
            running,
            shown_for: NOTICE_SHOWN,
            showing: None,
            last: None,
            restart: Arc::new(AtomicBool::new(false)),
            shutdown,
        }
    }

    /// How long each notice stays (tests shorten it).
    pub fn shown_for(mut self, d: Duration) -> Self {
        self.shown_for = d;
        self
    }

    fn put_up(&mut self, n: &Notice) {
        let restart = n.switched && n.content.is_some() && n.content != self.running;
        let next = match (n.outcome, restart) {
            (Outcome::Imported, true) => "Restarting with the new content",
            (Outcome::Imported, false) => "Already in use",
            (Outcome::Refused, _) => "Nothing was changed",
        };
        log::info!("update notice: {} ({next}); {}", n.text, n.detail);
        self.inner.show(&View::Notice {
            accepted: n.outcome == Outcome::Imported,
            text: n.text.clone(),
            next: next.into(),
        });
        self.showing = Some((Instant::now(), restart));
    }
}

impl<N: NoticeSource> ViewSink for NoticeSink<N> {
    fn show(&mut self, view: &View) {
        let stopping = self.shutdown.load(Ordering::SeqCst) && *view == View::Blank;
        self.last = Some(view.clone());
        if self.showing.is_none() || stopping {
            self.inner.show(view);
        }
    }

    fn idle(&mut self) {
        self.inner.idle();
        if let Some(n) = self.source.poll().filter(|n| !n.text.is_empty()) {
            self.put_up(&n);
        }
        let Some((since, restart)) = self.showing else {
            return;
        };
        if since.elapsed() < self.shown_for {
            return;
        }
        if restart {
            log::warn!(
                "new content switched in: stopping so that the service starts again with it"
            );
            self.restart.store(true, Ordering::SeqCst);
            self.shutdown.store(true, Ordering::SeqCst);
            // The notice stays until the loop blanks the panel.
            return;
        }
        if let Some(v) = self.last.clone() {
            self.inner.show(&v);
        }
        self.showing = None;
    }
}
