//! `analyze`, `gallery …`, `calibrate`, `eval`: the commands that work on photos and galleries.

use super::ModelArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use gestaltcam::config::Config;
use gestaltcam::gallery::answer::GestaltMatcherAnswer;
use gestaltcam::gallery::Ranking;
use gestaltcam::gallery::{self, CalibrationRule, FusionMode, Gallery, Storage};
use gestaltcam::hpo::{
    Answer, Candidate, Differential, FaceLikelihood, HpoIndex, LrModel, TermId, TOP_N,
};
use gestaltcam::lab::{self, CalibrateOptions, EvalOptions};
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::ui::view::DISCLAIMER;
use std::path::{Path, PathBuf};

fn threads(m: &ModelArgs) -> usize {
    m.threads()
}

/// Runs `f` with a progress callback that draws a bar on stderr (count, rate, time left),
/// cleared when `f` returns; no bar when `quiet`.
fn with_progress<T>(what: &str, quiet: bool, f: impl FnOnce(Option<lab::Progress<'_>>) -> T) -> T {
    if quiet {
        return f(None);
    }
    let bar = progress_bar(0, what);
    let tick = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let out = f(Some(&tick));
    bar.finish_and_clear();
    out
}

fn progress_bar(total: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {what}  {{per_sec}}  ETA {{eta}}"
    )) {
        bar.set_style(style);
    }
    bar
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Photos of ONE patient (several are combined into one ranking).
    #[arg(required = true)]
    photos: Vec<PathBuf>,
    #[arg(long)]
    gallery: PathBuf,
    /// Refuse the gallery unless it is signed by this ed25519 public key (PEM).
    #[arg(long)]
    pubkey: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// How several photos combine: mean-embedding, min-distance, mean-distance.
    #[arg(long, default_value = "mean-embedding")]
    fusion: FusionMode,
    /// Phenotype answers that re-rank the face candidates: HPO terms present, `-` for excluded,
    /// e.g. `HP:0001631,-HP:0001250` (needs a calibrated gallery: its same/different distance
    /// histograms are the face likelihood).
    #[arg(long, allow_hyphen_values = true)]
    hpo: Option<String>,
    /// Folder with the unmodified HPO release files (hp.obo, phenotype.hpoa). Default: the
    /// installed /usr/share/gestaltcam/hpo, else `data/hpo` beside or above the executable.
    #[arg(long)]
    hpo_data: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// The JSON's shape: `gestaltcam` (this tool's keys) or `gestaltmatcher` (GestaltMatcher-Arc's
    /// service answer: suggested syndromes and genes).
    #[arg(long, value_enum, default_value_t = JsonFormat::Gestaltcam, requires = "json", conflicts_with = "hpo")]
    format: JsonFormat,
    #[command(flatten)]
    models: ModelArgs,
}

/// The shapes `analyze --json` can print.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFormat {
    /// This tool's keys (candidates, ranking, genes, …).
    Gestaltcam,
    /// GestaltMatcher-Arc's service answer (`gallery::answer`).
    Gestaltmatcher,
}

/// One used photo in `analyze --json`'s `photos`: its position (1-based) and how it was
/// embedded (landmarks in photo pixels, alignment mode, each (model, variant) norm before
/// normalisation).
fn photo_json(index: usize, trace: gestaltcam::pipeline::PhotoTrace) -> serde_json::Value {
    let mut v = serde_json::json!(trace);
    v["photo"] = serde_json::json!(index + 1);
    v
}

/// `analyze --hpo`: the face ranking re-ranked by the answers (JSON with per-term contributions).
fn analyze_with_hpo(
    a: &AnalyzeArgs,
    gallery: &Gallery,
    vectors: &[Vec<f32>],
    terms: &str,
) -> Result<()> {
    use gestaltcam::hpo::{FaceLikelihood, HpoIndex, TOP_N};
    let terms = parse_hpo_arg(terms)?;
    let dir = super::hpo_data_dir(a.hpo_data.as_deref()).map_err(anyhow::Error::msg)?;
    let index = HpoIndex::load(&dir).with_context(|| format!("HPO data in {}", dir.display()))?;
    let ranking = gallery.rank_photos(vectors, TOP_N.max(a.top), a.fusion)?;
    let (_, _, session) = gallery.session_threshold(vectors.len(), Some(a.fusion));
    let Some(session) = session else {
        bail!(
            "--hpo needs a gallery calibrated for {} photo(s) fused by {} (`gestaltcam calibrate`): \
             its distance histograms are the face likelihood",
            vectors.len(),
            a.fusion
        );
    };
    let face = FaceLikelihood::from_session(session)?;
    let mut out = rerank_json(&index, &ranking, &terms, &face)?;
    out["no_close_match"] = serde_json::json!(!ranking.close_match);
    out["threshold_photos"] = serde_json::json!(ranking.threshold_photos);
    out["photos_used"] = serde_json::json!(vectors.len());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{DISCLAIMER}");
        println!(
            "{} (face ranking re-ranked by {} answer(s))",
            out["hpo_release"].as_str().unwrap_or("HPO"),
            terms.len()
        );
        if !ranking.close_match {
            println!("NO CLOSE MATCH on the face; the ranking below is for reference only");
        }
        for c in out["ranking"].as_array().into_iter().flatten().take(a.top) {
            println!(
                "{:>3}. {:<50} posterior {:.3}{}",
                c["rank"],
                c["name"].as_str().unwrap_or(""),
                c["posterior"].as_f64().unwrap_or(0.0),
                if c["face_only"].as_bool() == Some(true) {
                    "  (face only: no annotations)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

pub fn analyze(a: AnalyzeArgs) -> Result<()> {
    let pipeline = a.models.load_pipeline_for_gallery(&a.gallery)?;
    let recipe = pipeline.embedding_recipe();
    let gallery = Gallery::load_for_recipe(&a.gallery, &recipe, a.pubkey.as_deref())?;
    let mut vectors = Vec::new();
    let mut traces = Vec::new();
    let mut problems = Vec::new();
    for (i, path) in a.photos.iter().enumerate() {
        // Patient photo names are not logged: photos are referred to by their position.
        match lab::embed_image_traced(&pipeline, path) {
            Ok((v, trace)) => {
                vectors.push(v);
                traces.push(photo_json(i, trace));
            }
            Err(reason) => problems.push(format!("photo {}: {reason}", i + 1)),
        }
    }
    for p in &problems {
        eprintln!("skipped {p}");
    }
    if vectors.is_empty() {
        bail!("no usable face in any of the {} photo(s)", a.photos.len());
    }
    if let Some(terms) = &a.hpo {
        return analyze_with_hpo(&a, &gallery, &vectors, terms);
    }
    let ranking = gallery.rank_photos(&vectors, a.top, a.fusion)?;
    if let Some(n) = ranking.threshold_photos.filter(|&n| n != vectors.len()) {
        eprintln!(
            "note: the gallery has no calibration for {} photo(s); the {n}-photo threshold and bands are used",
            vectors.len()
        );
    }
    let genes = gallery.rank_genes_photos(&vectors, a.top, a.fusion)?;
    if a.json && a.format == JsonFormat::Gestaltmatcher {
        let answer =
            GestaltMatcherAnswer::new(&pipeline.embedder().entry().id, &gallery, &ranking, &genes);
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else if a.json {
        let out = serde_json::json!({
            "disclaimer": DISCLAIMER,
            "gallery": gallery.name(),
            "reference_cases": gallery.len(),
            "photos_used": vectors.len(),
            "photos_skipped": problems,
            "no_close_match": !ranking.close_match,
            "threshold_photos": ranking.threshold_photos,
            "candidates": ranking.candidates(),
            "ranking": ranking,
            "genes": genes,
            "photos": traces,
            "embedding": recipe,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{DISCLAIMER}");
        println!(
            "gallery {} ({} reference cases, {} syndromes); {} of {} photo(s) used",
            gallery.name(),
            gallery.len(),
            gallery.labels().len(),
            vectors.len(),
            a.photos.len()
        );
        print!("{ranking}");
        let nearest: Vec<String> = genes
            .iter()
            .map(|g| format!("{} d={:.4}", g.name, g.distance))
            .collect();
        if !nearest.is_empty() {
            println!("genes, nearest first: {}", nearest.join(", "));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum GalleryCommand {
    /// Embed labelled reference photos into a gallery file.
    Build(Box<BuildArgs>),
    /// Import GestaltMatcher-Arc's encodings into a gallery bound to a manifest ensemble.
    Import(Box<super::ImportArgs>),
    /// Print a gallery's header and cases per syndrome.
    Info {
        gallery: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make an ed25519 key pair for signing galleries.
    Keygen {
        #[arg(long)]
        secret: PathBuf,
        #[arg(long)]
        public: PathBuf,
    },
    /// Sign a gallery (writes <gallery>.sig).
    Sign {
        gallery: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify a gallery's signature.
    Verify {
        gallery: PathBuf,
        #[arg(long)]
        pubkey: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Folder the label file's image paths are relative to.
    #[arg(long)]
    images: PathBuf,
    /// `image,label[,omim,genes,subject,case_id]` CSV, or a GestaltMatcher DB split CSV
    /// (`image_id,subject,label[,split]`) together with --syndromes.
    #[arg(long)]
    labels: PathBuf,
    #[command(flatten)]
    gmdb: GmdbArgs,
    #[arg(long)]
    out: PathBuf,
    /// Gallery name/version shown on the device.
    #[arg(long, default_value = "gallery")]
    name: String,
    /// Store embeddings as int8 with a per-case scale (4x smaller).
    #[arg(long)]
    int8: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    models: ModelArgs,
}

pub fn gallery(c: GalleryCommand) -> Result<()> {
    match c {
        GalleryCommand::Build(a) => build(*a),
        GalleryCommand::Import(_) => unreachable!("`gallery import` is dispatched by cmd::run"),
        GalleryCommand::Info { gallery, json } => {
            let g = Gallery::load(&gallery)?;
            let info = lab::info(&g);
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{info}");
            }
            Ok(())
        }
        GalleryCommand::Keygen { secret, public } => {
            gallery::write_keypair(&secret, &public)?;
            println!(
                "secret key {} (keep it off the device), public key {}",
                secret.display(),
                public.display()
            );
            Ok(())
        }
        GalleryCommand::Sign { gallery, key } => {
            let key = gallery::read_signing_key(&key)?;
            let sig = gallery::sign(&gallery, &key)?;
            println!("signed: {}", sig.display());
            Ok(())
        }
        GalleryCommand::Verify { gallery, pubkey } => {
            let key = gallery::read_verifying_key(&pubkey)?;
            gallery::verify(&gallery, &key)?;
            println!("signature OK: {}", gallery.display());
            Ok(())
        }
    }
}

fn build(a: BuildArgs) -> Result<()> {
    let labels = a.gmdb.read(&a.labels)?;
    let pipeline = a.models.load_pipeline()?;
    let opts = lab::BuildOptions {
        name: a.name.clone(),
        storage: if a.int8 { Storage::Int8 } else { Storage::F32 },
        created_unix: None,
        threads: threads(&a.models),
    };
    let (g, summary) = with_progress("images", a.quiet, |p| {
        lab::build_gallery(&pipeline, &labels, &a.images, &opts, p)
    })?;
    g.save(&a.out)?;
    print!("{summary}");
    println!(
        "wrote {} ({} cases, {} syndromes)",
        a.out.display(),
        g.len(),
        g.labels().len()
    );
    Ok(())
}

/// The GestaltMatcher Database forms of a label file: with `--syndromes`, the label file is a
/// GMDB split CSV.
#[derive(Args, Debug)]
pub struct GmdbArgs {
    /// GestaltMatcher DB syndromes TSV (`syndrome_id, syndrome_name, OMIM`); the label file is
    /// then a GMDB split CSV.
    #[arg(long)]
    syndromes: Option<PathBuf>,
    /// File name of a GMDB image id.
    #[arg(long, default_value = "{image_id}.jpg")]
    image_pattern: String,
    /// GMDB rare sets: use only the images of this split (the `split` column; an image listed
    /// in several splits is one image).
    #[arg(long, requires = "syndromes")]
    split: Option<String>,
    /// GM-Arc's image → disorder/genes metadata, converted by models/tools/gmarc_convert.py
    /// (docs/gm-arc.md): each image's genes are kept with it and in its syndrome's gene list.
    #[arg(long, requires = "syndromes")]
    metadata: Option<PathBuf>,
}

impl GmdbArgs {
    /// The label file `labels` in the form these arguments say, with `--split` and
    /// `--metadata` applied.
    fn read(&self, labels: &Path) -> Result<lab::LabelSet> {
        let mut set = match &self.syndromes {
            Some(tsv) => lab::read_gmdb(labels, tsv, &self.image_pattern)?,
            None => lab::read_label_csv(labels)?,
        };
        if let Some(split) = &self.split {
            set = set.in_split(split, labels)?;
        }
        if let Some(path) = &self.metadata {
            lab::attach_metadata(&mut set, &lab::read_metadata(path)?);
        }
        Ok(set)
    }
}

/// A labelled CSV, optionally filtered by role; or GestaltMatcher Database files.
#[derive(Args, Debug)]
pub struct LabelledSet {
    /// Labelled photos: CSV with `image` and `label` (or `identity`/`syndrome`) columns,
    /// optional `subject`, `case_id`, `role`; or a GMDB split CSV with --syndromes.
    #[arg(long)]
    pub probes: PathBuf,
    /// Use only rows with this role (e.g. `probe` in ../shared/faces/dev.csv).
    #[arg(long)]
    pub role: Option<String>,
    /// Folder the image paths start from (default: the label file's folder).
    #[arg(long)]
    pub images: Option<PathBuf>,
    #[command(flatten)]
    pub gmdb: GmdbArgs,
}

impl LabelledSet {
    /// Every row of the file (of the chosen GMDB split).
    fn read_all(&self) -> Result<lab::LabelSet> {
        self.gmdb.read(&self.probes)
    }

    /// The rows of `all` (the file, read once) with `--role`; all of them without it.
    fn select(&self, all: lab::LabelSet) -> Result<lab::LabelSet> {
        match &self.role {
            Some(r) => Ok(all.with_role(r, &self.probes)?),
            None => Ok(all),
        }
    }

    /// The folder the file's image paths start from: `--images`, else the file's folder.
    fn root(&self) -> PathBuf {
        match &self.images {
            Some(dir) => dir.clone(),
            None => lab::LabelSet::root_of(&self.probes),
        }
    }
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[arg(long)]
    gallery: PathBuf,
    #[command(flatten)]
    set: LabelledSet,
    /// Target false-match rate on probes whose syndrome is not in the gallery; or `eer`.
    #[arg(long, default_value = "0.05")]
    rule: String,
    #[command(flatten)]
    sessions: SessionArgs,
    #[command(flatten)]
    models: ModelArgs,
}

/// The sessions calibration and the open-set report measure.
#[derive(Args, Debug)]
pub struct SessionArgs {
    /// Session sizes 1..=N photos are measured (the device's `photos_per_patient`).
    #[arg(long, default_value_t = Config::default().photos_per_patient)]
    session_photos: usize,
    /// How the device fuses a session's photos.
    #[arg(long, default_value = "mean-embedding")]
    session_fusion: FusionMode,
    /// Seed of the session draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl SessionArgs {
    fn calibrate_options(&self, rule: CalibrationRule) -> CalibrateOptions {
        CalibrateOptions {
            rule,
            max_photos: self.session_photos.max(1),
            fusion: self.session_fusion,
            seed: self.seed,
        }
    }

    fn eval_options(&self) -> EvalOptions {
        EvalOptions {
            session_photos: self.session_photos.max(1),
            session_fusion: self.session_fusion,
            session_seed: self.seed.wrapping_add(1),
            ..EvalOptions::default()
        }
    }
}

fn parse_rule(s: &str) -> Result<CalibrationRule> {
    if s.eq_ignore_ascii_case("eer") {
        return Ok(CalibrationRule::EqualError);
    }
    let r: f32 = s
        .parse()
        .with_context(|| format!("--rule `{s}`: a rate like 0.05, or eer"))?;
    Ok(CalibrationRule::TargetFalseMatchRate(r))
}

pub fn calibrate(a: CalibrateArgs) -> Result<()> {
    let pipeline = a.models.load_pipeline_for_gallery(&a.gallery)?;
    let mut g = Gallery::load_for_recipe(&a.gallery, &pipeline.embedding_recipe(), None)?;
    let set = a.set.select(a.set.read_all()?)?;
    let (probes, skipped) = embed_set(&pipeline, &set, &a.set.root(), threads(&a.models))?;
    let opts = a.sessions.calibrate_options(parse_rule(&a.rule)?);
    let report = lab::calibrate(&mut g, &probes, &opts)?;
    g.save(&a.gallery)?;
    print!("{report}");
    println!(
        "({} probe photos skipped); wrote the thresholds and bands into {}",
        skipped,
        a.gallery.display()
    );
    if gallery::sig_path(&a.gallery).exists() {
        println!("note: the gallery changed, so its signature no longer matches: sign it again");
    }
    Ok(())
}

/// Embeds a labelled set as probes (progress bar on stderr); returns them and how many photos
/// were skipped.
fn embed_set(
    pipeline: &FacePipeline,
    set: &lab::LabelSet,
    root: &Path,
    threads: usize,
) -> Result<(Vec<lab::Probe>, usize)> {
    let (probes, summary) = with_progress("photos", false, |p| {
        lab::embed_probes(pipeline, set, root, threads, p)
    })?;
    if !summary.skipped.is_empty() {
        eprintln!("probe photos skipped: {:?}", summary.skipped_by_reason);
    }
    Ok((probes, summary.skipped.len()))
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The gallery to evaluate. Without it, the gallery is built in memory from the rows of
    /// --probes whose role is `gallery` (and the probes are the rows whose role is `probe`).
    #[arg(long)]
    gallery: Option<PathBuf>,
    #[command(flatten)]
    pub set: LabelledSet,
    /// Store the in-memory gallery as int8 (to measure int8 storage).
    #[arg(long)]
    int8: bool,
    /// Open-set protocol (with the in-memory gallery): leave every Nth person/syndrome out of
    /// the gallery; calibrate the "no close match" threshold on half of the left-out ones and
    /// half of the other probes, and report on the other halves, per session size.
    #[arg(long)]
    holdout: Option<usize>,
    /// With --holdout: the calibration rule, a target false-match rate like 0.05, or `eer`.
    #[arg(long, default_value = "0.05")]
    rule: String,
    #[command(flatten)]
    sessions: SessionArgs,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub hpo: super::HpoSimArgs,
    #[command(flatten)]
    pub models: ModelArgs,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let pipeline = match &a.gallery {
        Some(gallery) => a.models.load_pipeline_for_gallery(gallery)?,
        None => a.models.load_pipeline()?,
    };
    let threads = threads(&a.models);
    if let Some(n) = a.holdout {
        return eval_open_set(&a, &pipeline, n.max(2), threads);
    }
    let all = a.set.read_all()?;
    let root = a.set.root();
    let (g, probes) = match &a.gallery {
        Some(path) => (
            Gallery::load_for_recipe(path, &pipeline.embedding_recipe(), None)?,
            a.set.select(all)?,
        ),
        None => {
            let g = build_in_memory(
                &pipeline,
                &all.with_role("gallery", &a.set.probes)?,
                &root,
                a.int8,
                threads,
            )?;
            let role = a.set.role.as_deref().unwrap_or("probe");
            (g, all.with_role(role, &a.set.probes)?)
        }
    };
    let (probes, skipped) = embed_set(&pipeline, &probes, &root, threads)?;
    let opts = match g.threshold() {
        Some(_) => a.sessions.eval_options(),
        None => EvalOptions::default(),
    };
    let report = lab::evaluate(&g, &probes, &opts)?;
    if a.json {
        let out = serde_json::json!({ "skipped_probes": skipped, "report": report });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{skipped} probe photo(s) skipped (no usable face)");
        print!("{report}");
    }
    Ok(())
}

fn build_in_memory(
    pipeline: &FacePipeline,
    set: &lab::LabelSet,
    root: &Path,
    int8: bool,
    threads: usize,
) -> Result<Gallery> {
    let opts = lab::BuildOptions {
        name: "eval".into(),
        storage: if int8 { Storage::Int8 } else { Storage::F32 },
        created_unix: None,
        threads,
    };
    let (g, summary) = with_progress("gallery photos", false, |p| {
        lab::build_gallery(pipeline, set, root, &opts, p)
    })?;
    eprintln!(
        "gallery: {} cases, {} skipped {:?}",
        g.len(),
        summary.skipped.len(),
        summary.skipped_by_reason
    );
    Ok(g)
}

/// The open-set protocol of `eval --holdout N`: every Nth label leaves the gallery; those
/// people's photos (all of them, gallery role included) are the unknown patients, split by
/// label into calibration and test halves; the known probes are split by subject the same way.
/// The threshold and bands are calibrated per session size on one half and reported on the
/// other.
fn eval_open_set(a: &EvalArgs, pipeline: &FacePipeline, n: usize, threads: usize) -> Result<()> {
    if a.gallery.is_some() {
        bail!("--holdout builds its own gallery from the rows with role `gallery`: leave out --gallery");
    }
    let all = a.set.read_all()?;
    let root = a.set.root();
    let gallery_rows = all.with_role("gallery", &a.set.probes)?;
    let mut labels: Vec<&str> = Vec::new();
    for c in &gallery_rows.cases {
        let l = gallery_rows.label_name(c);
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    // Every nth label is left out; alternate left-out labels go to calibration and to test.
    let held: Vec<&str> = labels
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| i % n == 0)
        .map(|(_, l)| l)
        .collect();
    let is_held = |c: &lab::CaseEntry| held.contains(&all.label_name(c));
    let kept = gallery_rows.filter(|c| !is_held(c));
    let mut g = build_in_memory(pipeline, &kept, &root, a.int8, threads)?;
    let role = a.set.role.clone().unwrap_or_else(|| "probe".into());
    let mut rows = all.with_role(&role, &a.set.probes)?;
    // A left-out person's gallery photo is one more photo of an unknown patient.
    rows.cases
        .extend(gallery_rows.cases.iter().filter(|c| is_held(c)).cloned());
    let (probes, skipped) = embed_set(pipeline, &rows, &root, threads)?;
    let mut subjects: Vec<(String, String)> = Vec::new();
    let mut to_calibration = |p: &lab::Probe| match held.iter().position(|h| *h == p.label) {
        Some(k) => k % 2 == 0,
        None => {
            let i = subjects
                .iter()
                .position(|(s, l)| *s == p.subject && *l == p.label)
                .unwrap_or_else(|| {
                    subjects.push((p.subject.clone(), p.label.clone()));
                    subjects.len() - 1
                });
            i % 2 == 0
        }
    };
    let (cal, test): (Vec<_>, Vec<_>) = probes.iter().cloned().partition(|p| to_calibration(p));
    let calibration = lab::calibrate(
        &mut g,
        &cal,
        &a.sessions.calibrate_options(parse_rule(&a.rule)?),
    )?;
    let report = lab::evaluate(&g, &test, &a.sessions.eval_options())?;
    if a.json {
        let out = serde_json::json!({
            "held_out_labels": held.len(),
            "skipped_probes": skipped,
            "calibration_photos": cal.len(),
            "test_photos": test.len(),
            "calibration": calibration,
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "open set: {} of {} labels left out of the gallery; calibration on {} photos, test on {}",
            held.len(),
            labels.len(),
            cal.len(),
            test.len()
        );
        print!("{calibration}");
        print!("{report}");
    }
    Ok(())
}

/// Parses `--hpo HP:0001631,-HP:0001250`: present terms, and excluded ones with a leading `-`.
pub fn parse_hpo_arg(s: &str) -> Result<Vec<(TermId, Answer)>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (answer, id) = match t.strip_prefix('-') {
                Some(rest) => (Answer::No, rest),
                None => (Answer::Yes, t.strip_prefix('+').unwrap_or(t)),
            };
            Ok((id.parse::<TermId>()?, answer))
        })
        .collect()
}

/// Re-ranks a face ranking (its matches should be the top [`TOP_N`]) with the given answers and
/// returns the JSON for `analyze --hpo … --json`: the new order, per candidate its posterior,
/// face ln LR and per-term ln LR contributions, and whether it is face-only.
pub fn rerank_json(
    index: &HpoIndex,
    ranking: &Ranking,
    terms: &[(TermId, Answer)],
    face: &FaceLikelihood,
) -> Result<serde_json::Value> {
    if ranking.matches.is_empty() {
        bail!("the face ranking is empty");
    }
    let candidates = Candidate::from_ranking(ranking);
    let mut diff = Differential::new(index, LrModel::default(), face, &candidates, &[], TOP_N);
    let mut used = Vec::new();
    for &(id, answer) in terms {
        let term = index.query_term(id, None)?;
        used.push(serde_json::json!({
            "term": id.to_string(), "name": term.name, "answer": answer,
        }));
        diff.answer_term(&term, answer);
    }
    let ranked: Vec<serde_json::Value> = diff
        .ranked()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({
                "rank": i + 1,
                "face_rank": candidates.iter().position(|c| c.label == s.label).map(|p| p + 1),
                "name": s.name,
                "omim": s.omim,
                "distance": s.distance,
                "posterior": s.posterior,
                "face_only": s.face_only,
                "face_log_lr": s.face_log_lr,
                "contributions": s.contributions,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "disclaimer": DISCLAIMER,
        "hpo_release": index.release.basis_line(),
        "hpo_release_pinned": index.release.pinned,
        "terms": used,
        "ranking": ranked,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpo_arg_present_and_excluded() {
        let t = parse_hpo_arg("HP:0001631,-HP:0001250, +HP:0004322").unwrap();
        assert_eq!(
            t,
            vec![
                (TermId(1631), Answer::Yes),
                (TermId(1250), Answer::No),
                (TermId(4322), Answer::Yes)
            ]
        );
        assert!(parse_hpo_arg("HP:1,x").is_err());
    }
}
