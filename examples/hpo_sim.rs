//! The HPO question simulation on a labelled set, with the embeddings cached so the simulation
//! can be re-run without re-embedding (SIMULATION, see `gestaltcam::hpo::sim`).
//!
//! ```sh
//! cargo run --release --example hpo_sim -- ../shared/faces/dev.csv --seed 14 \
//!     [--cache /tmp/hpo_sim_cache] [--hpo data/hpo] [--every N]
//! cargo run --release --example hpo_sim -- --memory [--hpo data/hpo]   # RSS of the index
//! ```
//! Prints the report as JSON (`{"report": {"hpo_sim": [...]}, ...}`).

use gestaltcam::embed::EmbedOptions;
use gestaltcam::gallery::Gallery;
use gestaltcam::hpo::{sim, HpoIndex};
use gestaltcam::lab::{self, BuildOptions, LabelSet, Probe};
use gestaltcam::pipeline::FacePipeline;
use std::path::{Path, PathBuf};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let hpo_dir = PathBuf::from(
        opt("--hpo")
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/hpo").to_string()),
    );
    if args.iter().any(|a| a == "--memory") {
        let before = rss_kib();
        let t = std::time::Instant::now();
        let index = HpoIndex::load(&hpo_dir)?;
        let bank = index.question_bank()?;
        let after = rss_kib();
        println!(
            "{}",
            serde_json::json!({
                "release": index.release,
                "load_ms": t.elapsed().as_millis(),
                "diseases": index.diseases().len(),
                "terms": index.ontology().len(),
                "questions": bank.len(),
                "rss_before_kib": before,
                "rss_after_kib": after,
                "rss_added_kib": after.saturating_sub(before),
                "heap_estimate_bytes": index.heap_bytes(),
            })
        );
        return Ok(());
    }
    let csv = PathBuf::from(args.first().ok_or("usage: hpo_sim SET.csv [--seed S]")?);
    let seed: u64 = opt("--seed").map_or(Ok(14), |s| s.parse())?;
    let every: usize = opt("--every").map_or(Ok(1), |s| s.parse())?;
    let cache = PathBuf::from(opt("--cache").unwrap_or_else(|| "/tmp/hpo_sim_cache".into()));
    let (gallery, probes) = load_or_embed(&csv, &cache)?;
    // --every N: every Nth gallery label and its probes (a quick subset).
    let probes: Vec<Probe> = if every > 1 {
        let keep: std::collections::HashSet<&str> = gallery
            .labels()
            .iter()
            .step_by(every)
            .map(|l| l.name.as_str())
            .collect();
        probes
            .into_iter()
            .filter(|p| keep.contains(p.label.as_str()))
            .collect()
    } else {
        probes
    };
    let index = HpoIndex::load(&hpo_dir)?;
    let cfg = sim::SimConfig {
        seed,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let report = sim::run_report(&index, &gallery, &probes, &cfg)?;
    eprintln!("simulation took {:.1} s", t.elapsed().as_secs_f64());
    let out = serde_json::json!({
        "report": { "hpo_sim": report.entries },
        "hpo_sim_details": report,
        "config": cfg,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

type Loaded = (Gallery, Vec<Probe>);

fn load_or_embed(csv: &Path, cache: &Path) -> Result<Loaded, Box<dyn std::error::Error>> {
    let g_path = cache.join("gallery.gmg");
    let p_path = cache.join("probes.json");
    if g_path.exists() && p_path.exists() {
        let g = Gallery::load(&g_path)?;
        let raw: Vec<(String, String, Vec<f32>)> =
            serde_json::from_slice(&std::fs::read(&p_path)?)?;
        let probes = raw
            .into_iter()
            .map(|(label, subject, embedding)| Probe {
                label,
                subject,
                embedding,
            })
            .collect();
        eprintln!("embeddings from the cache {}", cache.display());
        return Ok((g, probes));
    }
    let pipeline = FacePipeline::load(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")),
        None,
        EmbedOptions { flip_tta: true },
    )?;
    let threads = lab::default_threads();
    let all = lab::read_label_csv(csv)?;
    let root = LabelSet::root_of(csv);
    let opts = BuildOptions {
        name: "hpo-sim".into(),
        threads,
        ..Default::default()
    };
    let (g, built) = lab::build_gallery(
        &pipeline,
        &all.with_role("gallery", csv)?,
        &root,
        &opts,
        None,
    )?;
    let (probes, skipped) = lab::embed_probes(
        &pipeline,
        &all.with_role("probe", csv)?,
        &root,
        threads,
        None,
    )?;
    eprintln!(
        "embedded {} gallery photos ({} skipped), {} probes ({} skipped)",
        g.len(),
        built.skipped.len(),
        probes.len(),
        skipped.skipped.len()
    );
    // The cache holds embeddings of the evaluation photos: keep it under /tmp, never in the tree.
    std::fs::create_dir_all(cache)?;
    g.save(&g_path)?;
    let raw: Vec<(&str, &str, &[f32])> = probes
        .iter()
        .map(|p| (p.label.as_str(), p.subject.as_str(), p.embedding.as_slice()))
        .collect();
    std::fs::write(&p_path, serde_json::to_vec(&raw)?)?;
    Ok((g, probes))
}
