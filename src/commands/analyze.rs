//! `peephole analyze`: the paper's analyses of a set of trained networks,
//! from a search store or a JSON Lines records file.
//!
//! Writes into `--out DIR`:
//! - `scatter.svg`: predicted against measured accuracy (figure 5), drawn
//!   by `eval::scatter_svg`; predictions come from `--model` when given,
//!   otherwise from the store's screening predictions;
//! - `stats.md` and `stats.json`: count, mean, standard deviation, min and
//!   max of the accuracies (the paper's table 2), measured and predicted.
//!
//! Limits: the LSTM cell-response figure and the t-SNE map of structural
//! features (figures 6 and 7) are not produced yet.
// TODO: cell responses and t-SNE; they need the predictor to expose its
// per-layer hidden states, which `model::predictor` does not yet do.

use std::path::PathBuf;

use anyhow::Context;
use model::Architecture;
use model::predictor::{Checkpoint, fit};
use model::quality::Quality;
use runtime::store::Store;
use serde::Serialize;

use super::eval::scatter_svg;

/// Arguments of `peephole analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Store URL whose completed results to analyse.
    #[arg(long, conflicts_with = "records", required_unless_present = "records")]
    store: Option<String>,
    /// JSON Lines records file (each architecture's last epoch is used).
    #[arg(long)]
    records: Option<PathBuf>,
    /// Predictor checkpoint; without it, a store's own predictions are used.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Epoch to predict store results at (default: the predictor's last).
    #[arg(long)]
    epoch: Option<usize>,
    /// Directory for the figures and tables.
    #[arg(long)]
    out: PathBuf,
}

/// One trained network: what it is, when it was measured, how it did.
struct Sample {
    arch: Architecture,
    epoch: Option<usize>,
    measured: f64,
    predicted: Option<f64>,
}

/// Summary statistics of one set of accuracies (the paper's table 2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub count: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for one
    /// value.
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Statistics of `values`, or `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        let std = if values.len() > 1 {
            (ss / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Some(Stats {
            count: values.len(),
            mean,
            std,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// Loads the samples, predicts them if asked, writes the figures/tables.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut samples = match (&args.store, &args.records) {
        (_, Some(path)) => from_records(path)?,
        (Some(url), None) => from_store(url)?,
        // clap requires one of the two.
        (None, None) => anyhow::bail!("give --store or --records"),
    };
    anyhow::ensure!(!samples.is_empty(), "no trained networks to analyse");

    // A checkpoint replaces whatever predictions the source carried.
    if let Some(path) = &args.model {
        let checkpoint = Checkpoint::load(path)?;
        let predictor = &checkpoint.predictor;
        let default_epoch = args.epoch.unwrap_or_else(|| predictor.max_epoch());
        for (i, s) in samples.iter_mut().enumerate() {
            let epoch = s.epoch.unwrap_or(default_epoch);
            let p = predictor
                .predict(std::slice::from_ref(&s.arch), epoch)
                .with_context(|| format!("predicting network {} ({})", i + 1, s.arch.id()))?;
            s.predicted = Some(p[0].accuracy);
        }
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let measured: Vec<f64> = samples.iter().map(|s| s.measured).collect();
    let pairs: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.predicted.map(|p| (s.measured, p)))
        .collect();
    let predicted: Vec<f64> = pairs.iter().map(|p| p.1).collect();

    // Table 2: statistics of the network set.
    let rows = [
        ("measured", Stats::of(&measured)),
        ("predicted", Stats::of(&predicted)),
    ];
    let mut table = String::from(
        "| accuracy | count | mean | std | min | max |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (name, stats) in &rows {
        if let Some(s) = stats {
            table += &format!(
                "| {name} | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
                s.count, s.mean, s.std, s.min, s.max
            );
        }
    }
    print!("{table}");
    std::fs::write(args.out.join("stats.md"), &table)?;
    let json = serde_json::json!({
        "measured": rows[0].1,
        "predicted": rows[1].1,
    });
    std::fs::write(
        args.out.join("stats.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;

    // Figure 5: the scatter, when there is anything to scatter.
    if pairs.is_empty() {
        eprintln!("no predictions: give --model to draw the scatter plot");
        return Ok(());
    }
    let measured_p: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut title = format!("{} networks", pairs.len());
    if pairs.len() >= 2 {
        let q = Quality::measure(&predicted, &measured_p)?;
        println!("Kendall tau {:.4}  MSE {:.6}", q.kendall_tau, q.mse);
        title += &format!(" (tau {:.3})", q.kendall_tau);
    }
    let path = args.out.join("scatter.svg");
    std::fs::write(&path, scatter_svg(&measured_p, &predicted, &title))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Each architecture's last record.
fn from_records(path: &std::path::Path) -> anyhow::Result<Vec<Sample>> {
    let records = fit::read_records(path)?;
    Ok(fit::select_records(&records, false)
        .into_iter()
        .map(|r| Sample {
            arch: r.arch.clone(),
            epoch: Some(r.epoch),
            measured: r.accuracy,
            predicted: None,
        })
        .collect())
}

/// Every completed result, with the prediction it was screened with.
fn from_store(url: &str) -> anyhow::Result<Vec<Sample>> {
    let rt = tokio::runtime::Runtime::new()?;
    let rows = rt.block_on(async {
        let store = Store::open(url).await?;
        anyhow::Ok(store.results().await?)
    })?;
    rows.into_iter()
        .filter(|r| r.status == "completed")
        .map(|r| {
            let arch = Architecture::from_json(&r.arch)
                .with_context(|| format!("stored architecture {}", r.arch_id))?;
            Ok(Sample {
                arch,
                epoch: None,
                measured: r.accuracy,
                predicted: r.predicted,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_numpy() {
        // numpy: a = [0.5, 0.7, 0.9, 0.6]; a.mean() = 0.675,
        // a.std(ddof=1) = 0.17078251276599332
        let s = Stats::of(&[0.5, 0.7, 0.9, 0.6]).unwrap();
        assert_eq!(s.count, 4);
        assert!((s.mean - 0.675).abs() < 1e-12);
        assert!((s.std - 0.17078251276599332).abs() < 1e-12);
        assert_eq!((s.min, s.max), (0.5, 0.9));
        assert_eq!(Stats::of(&[0.3]).unwrap().std, 0.0);
        assert!(Stats::of(&[]).is_none());
    }
}
