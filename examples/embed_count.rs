//! Runs one embedder N times on a fixture chip, for instruction counting on ARM without a board:
//!
//! ```sh
//! cargo build --release --example embed_count --target aarch64-unknown-linux-gnu
//! B=target/aarch64-unknown-linux-gnu/release/examples/embed_count
//! ../shared/tools/arm-insn-count $B dlib-resnet-v1-int8 1   # and 3: per inference = (n3 − n1) / 2
//! ```
//! Arguments: MODEL_ID N [MODELS_DIR]. Prints the first value of the embedding (so the work is
//! not optimised away).

use gestaltcam::embed::{EmbedOptions, Embedder};
use gestaltcam::manifest::Manifest;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let id = args.get(1).map_or("dlib-resnet-v1-int8", String::as_str);
    let n: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = args
        .get(3)
        .map_or_else(|| root.join("models"), PathBuf::from);
    let m = Manifest::load_dir(&models)?;
    let e = Embedder::load(&m, m.model(id)?, EmbedOptions::default())?;
    let chip = gestaltcam::photo::load_path(&root.join("tests/fixtures/embed/obama.png"))?;
    let mut first = 0.0;
    for _ in 0..n {
        first = e.embed_chip(&chip)?[0];
    }
    println!("{id} x{n}: {first}");
    Ok(())
}
