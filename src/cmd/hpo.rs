//! Command-line glue for the phenotype questions (`gestaltcam::hpo`): `eval --hpo-sim` and the
//! re-ranking behind `analyze --hpo HP:…,-HP:…`. The integrator wires `analyze`; `eval` calls
//! [`eval_hpo_sim`] when `--hpo-sim` is given.

use anyhow::{bail, Context, Result};
use clap::Args;
use gestaltcam::gallery::Ranking;
use gestaltcam::hpo::{
    sim, Answer, Candidate, Differential, FaceLikelihood, HpoIndex, LrModel, TermId, TOP_N,
};
use gestaltcam::lab::{self, BuildOptions, LabelSet};
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::ui::view::DISCLAIMER;
use std::path::{Path, PathBuf};

/// `eval` options for the HPO simulation.
#[derive(Args, Debug, Clone)]
pub struct HpoSimArgs {
    /// Run the HPO question SIMULATION (gallery identities stand in for OMIM diseases) and print
    /// its table under `report.hpo_sim`.
    #[arg(long)]
    pub hpo_sim: bool,
    /// Seed of the simulation (disease assignment, person split, answers, noise). Its own
    /// name: `--seed` is the session draw's.
    #[arg(long, default_value_t = 14)]
    pub hpo_seed: u64,
    /// Folder with the unmodified HPO release files hp.obo and phenotype.hpoa (default: the
    /// installed /usr/share/gestaltcam/hpo, else a `data/hpo` folder beside or above the
    /// executable, as a checkout has it after `data/hpo/fetch.sh`).
    #[arg(long)]
    pub hpo_data: Option<PathBuf>,
}

/// `eval --probes SET.csv --hpo-sim --seed S [--json]`: the gallery from the rows with role
/// `gallery`, probes from the rows with role `probe` (or `--role`).
pub fn eval_hpo_sim(
    pipeline: &FacePipeline,
    csv: &Path,
    role: Option<&str>,
    a: &HpoSimArgs,
    threads: usize,
    json: bool,
) -> Result<()> {
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
