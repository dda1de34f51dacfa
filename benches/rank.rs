//! Ranking speed: one 128-d query against 10k / 100k / 1M gallery cases (1,000 syndromes), f32
//! and int8 storage, top-30. Target: 100k × 128-d in ≤ 5 ms on one x86 core.
//!
//! `cargo bench --bench rank` (set `RANK_BENCH_MAX=100000` to skip the 1M case when memory is
//! short: 1M × 128 f32 is 512 MB).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gestaltcam::gallery::{Case, Gallery, GalleryMeta, Label, Storage};
use gestaltcam::manifest::Metric;
use std::hint::black_box;

const DIM: usize = 128;
const LABELS: usize = 1000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn gallery(n: usize, metric: Metric, storage: Storage) -> Gallery {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let labels = (0..LABELS)
        .map(|i| Label {
            name: format!("syndrome {i}"),
            omim: None,
            genes: vec![],
        })
        .collect();
    let cases = (0..n)
        .map(|i| Case {
            case_id: format!("c{i}"),
            subject: format!("s{i}"),
            label: (i % LABELS) as u32,
        })
        .collect();
    let emb = (0..n * DIM).map(|_| rng.f32()).collect();
    let meta = GalleryMeta {
        embedder_id: "bench".into(),
        metric,
        name: "bench".into(),
        created_unix: 0,
        threshold: Some(0.5),
        storage,
    };
    Gallery::from_parts(meta, labels, cases, DIM, emb).expect("bench gallery")
}

fn bench_rank(c: &mut Criterion) {
    let max: usize = std::env::var("RANK_BENCH_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng(42);
    let query: Vec<f32> = (0..DIM).map(|_| rng.f32()).collect();
    let mut group = c.benchmark_group("rank_top30_128d");
    group.sample_size(20);
    for n in [10_000usize, 100_000, 1_000_000] {
        if n > max {
            continue;
        }
        group.throughput(Throughput::Elements(n as u64));
        for (metric, storage) in [
            (Metric::Cosine, Storage::F32),
            (Metric::Cosine, Storage::Int8),
            (Metric::Euclidean, Storage::F32),
            (Metric::Euclidean, Storage::Int8),
        ] {
            let g = gallery(n, metric, storage);
            let id = format!("{metric:?}-{storage:?}").to_lowercase();
            group.bench_with_input(BenchmarkId::new(id, n), &g, |b, g| {
                b.iter(|| g.rank(black_box(&query), 30).expect("rank"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_rank);
criterion_main!(benches);
