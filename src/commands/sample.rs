//! `peephole sample`: draw architectures from a search space and print one
//! canonical JSON object per line.

use std::io::Write;

use anyhow::Context;
use model::space::Space;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Arguments of `peephole sample`.
#[derive(clap::Args)]
pub struct Args {
    /// Search space: peephole-mnist, peephole-cifar10 or nb201.
    #[arg(long, default_value = "peephole-cifar10")]
    space: String,
    /// Number of architectures.
    #[arg(short = 'n', long, default_value_t = 10)]
    count: usize,
    /// Seed of the generator; the same seed prints the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Prints `count` sampled architectures as JSON Lines on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    let space = Space::parse(&args.space)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..args.count {
        let arch = space.sample(&mut rng);
        writeln!(out, "{}", arch.to_json()).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}
