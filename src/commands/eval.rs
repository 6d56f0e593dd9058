//! `peephole eval`: measure a trained predictor on records it has not seen
//! and draw predicted against measured accuracy (the paper's figure 5).
//!
//! Prints MSE, Kendall's tau, Spearman's rho and R^2 (accuracies as
//! fractions) and, with `--plot FILE.png` (or `.svg`), writes a scatter plot with the
//! diagonal drawn in.

use std::path::PathBuf;

use anyhow::Context;
use model::predictor::Checkpoint;
use model::predictor::fit;
use model::quality::Quality;

use super::fit::RecordSource;

/// Arguments of `peephole eval`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: RecordSource,
    /// The predictor checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Write a scatter plot of predicted vs measured accuracy (`.png` or
    /// `.svg`, by the extension).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Evaluate every record, not only each architecture's last epoch.
    #[arg(long)]
    whole_curve: bool,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Predicts every record and reports quality.
pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let predictor = &checkpoint.predictor;
    let records = args.source.load()?;
    let selected = fit::select_records(&records, args.whole_curve);

    let mut predicted = Vec::with_capacity(selected.len());
    let mut measured = Vec::with_capacity(selected.len());
    for (i, record) in selected.iter().enumerate() {
        let tokens = predictor
            .encode(&record.arch)
            .with_context(|| format!("record {} ({})", i + 1, record.arch.id()))?;
        let p = predictor
            .predict_tokens(&[&tokens], record.epoch)
            .with_context(|| format!("record {}", i + 1))?;
        predicted.push(p[0].accuracy);
        measured.push(record.accuracy);
    }
    let quality = Quality::measure(&predicted, &measured)?;

    if args.json {
        let out = serde_json::json!({
            "records": selected.len(),
            "mse": quality.mse,
            "kendall_tau": quality.kendall_tau,
            "spearman": quality.spearman,
            "r2": quality.r2,
        });
        println!("{out}");
    } else {
        println!("records      {}", selected.len());
        println!("MSE          {:.6}", quality.mse);
        println!("Kendall tau  {:.4}", quality.kendall_tau);
        println!("Spearman     {:.4}", quality.spearman);
        println!("R^2          {:.4}", quality.r2);
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} on {} (tau {:.3})",
            args.model.display(),
            args.source.records.display(),
            quality.kendall_tau
        );
        crate::figures::scatter(path, &measured, &predicted, &title)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
