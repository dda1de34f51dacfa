//! `eval --hpo-sim`: the phenotype-question simulation (`gestaltcam::hpo::sim`) on a labelled
//! photo set, its table or JSON. (`analyze --hpo HP:…,-HP:…`, the re-ranking of one patient's
//! ranking by answered terms, is part of `analyze` in `analysis.rs`.)

use super::{HpoSimArgs, ModelArgs};
use anyhow::{Context, Result};
use gestaltcam::hpo::{sim, HpoIndex};
use gestaltcam::lab::{self, BuildOptions, LabelSet};
use std::path::Path;

/// `eval --probes SET.csv --hpo-sim --seed S [--json]`: the gallery from the rows with role
/// `gallery`, probes from the rows with role `probe` (or `--role`).
pub fn eval_hpo_sim(
    models: &ModelArgs,
    csv: &Path,
    role: Option<&str>,
    a: &HpoSimArgs,
    json: bool,
) -> Result<()> {
    let pipeline = &models.load_pipeline()?;
    let threads = models.threads();
    let dir = super::hpo_data_dir(a.hpo_data.as_deref()).map_err(anyhow::Error::msg)?;
    let index =
        HpoIndex::load(&dir).with_context(|| format!("loading HPO data from {}", dir.display()))?;
    let all = lab::read_label_csv(csv)?;
    let root = LabelSet::root_of(csv);
    let opts = BuildOptions {
        name: "hpo-sim".into(),
        threads,
        ..Default::default()
    };
    let (gallery, _) = lab::build_gallery(
        pipeline,
        &all.with_role("gallery", csv)?,
        &root,
        &opts,
        None,
    )?;
    let probe_rows = all.with_role(role.unwrap_or("probe"), csv)?;
    let (probes, skipped) = lab::embed_probes(pipeline, &probe_rows, &root, threads, None)?;
    let cfg = sim::SimConfig {
        seed: a.hpo_seed,
        ..Default::default()
    };
    let report = sim::run_report(&index, &gallery, &probes, &cfg)?;
    print_sim(&report, skipped.skipped.len(), json)
}

/// Prints a simulation report (JSON: `report.hpo_sim` is the list of entries).
pub fn print_sim(report: &sim::SimReport, skipped: usize, json: bool) -> Result<()> {
    if json {
        let out = serde_json::json!({
            "skipped_probes": skipped,
            "report": { "hpo_sim": report.entries },
            "hpo_sim_details": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}", report.simulation);
    println!(
        "{}; seed {}; gm noise sigma {:.4} (face-only top-1 {:.1}% on the bisection subset); {} probes fit the face likelihood, {} scored",
        report.hpo_release,
        report.seed,
        report.gm_sigma,
        100.0 * report.gm_bisection_top1,
        report.fit_probes,
        report.scored_probes
    );
    println!("difficulty chooser questions  top-1  top-5");
    for e in &report.entries {
        println!(
            "{:<10} {:<7} {:>9}  {:>5.1}% {:>5.1}%",
            e.difficulty,
            e.chooser,
            e.questions,
            100.0 * e.top1,
            100.0 * e.top5
        );
    }
    Ok(())
}
