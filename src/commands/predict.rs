//! `peephole predict`: predicted accuracy of one or many architectures,
//! from a trained checkpoint, without training anything.
//!
//! Input is one architecture JSON document or JSON Lines of them (as
//! `peephole sample` prints), from a file or `-` for stdin. Output is one
//! line per architecture: its id, the predicted accuracy and, for an
//! ensemble, the members' standard deviation as uncertainty.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use model::Architecture;
use model::predictor::Checkpoint;

/// Arguments of `peephole predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture file (one JSON document or JSON Lines), or `-`.
    input: String,
    /// The predictor checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Epoch to predict at (default: the last epoch it was trained on).
    #[arg(long)]
    epoch: Option<usize>,
    /// Print JSON Lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Reads architectures from `text`: a single document, or one per line.
fn parse_architectures(text: &str, source: &str) -> anyhow::Result<Vec<Architecture>> {
    if text.trim().is_empty() {
        anyhow::bail!("{source}: no architectures in the input");
    }
    if let Ok(arch) = Architecture::from_json(text) {
        return Ok(vec![arch]);
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            Architecture::from_json(line).with_context(|| format!("{source}:{}", i + 1))
        })
        .collect()
}

/// Predicts and prints.
pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let predictor = checkpoint.predictor;
    let mut text = String::new();
    if args.input == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
    } else {
        text = std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input))?;
    }
    let archs = parse_architectures(&text, &args.input)?;
    let epoch = args.epoch.unwrap_or_else(|| predictor.max_epoch());
    let predictions = predictor.predict(&archs, epoch)?;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.json {
        writeln!(
            out,
            "{:<16}  {:>8}  {:>11}",
            "id", "accuracy", "uncertainty"
        )?;
    }
    for (arch, p) in archs.iter().zip(&predictions) {
        if args.json {
            let line = serde_json::json!({
                "id": arch.id().to_string(),
                "epoch": epoch,
                "accuracy": p.accuracy,
                "uncertainty": p.uncertainty,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{:<16}  {:>8.4}  {:>11.4}",
                arch.id().to_string(),
                p.accuracy,
                p.uncertainty
            )?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}
