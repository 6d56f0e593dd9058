//! `peephole fit`: train a predictor (or an ensemble) on training records
//! and save it as a checkpoint.
//!
//! Records are JSON Lines (`{"arch": ..., "epoch": T, "accuracy": a}`, see
//! `docs/predictor.md`) or, with `--csv`, a benchmark table whose rows all
//! count as measured at `--epoch`. This module also holds the pieces the
//! other predictor commands share: loading records from either source and
//! the training progress bar.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use model::predictor::checkpoint::DataSummary;
use model::predictor::fit::{self, EpochReport, FitConfig, Record};
use model::predictor::{Checkpoint, Encoding};
use model::table::BenchTable;
use tracing::info;

/// Where training or evaluation records come from.
#[derive(clap::Args, Debug, Clone)]
pub struct RecordSource {
    /// JSON Lines file of records, or a CSV table with `--csv`.
    pub records: PathBuf,
    /// Read RECORDS as a benchmark CSV table instead of JSON Lines.
    #[arg(long)]
    pub csv: bool,
    /// Search space of the table's architecture column (with `--csv`).
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// Architecture column of the table (with `--csv`).
    #[arg(long, default_value = "arch_str")]
    pub arch_column: String,
    /// Accuracy column of the table (with `--csv`); percent or fraction.
    #[arg(long, default_value = "cifar10_test")]
    pub accuracy_column: String,
    /// Epoch at which the table's accuracies were measured (with `--csv`).
    #[arg(long, default_value_t = 200)]
    pub epoch: usize,
}

impl RecordSource {
    /// Reads every record.
    pub fn load(&self) -> anyhow::Result<Vec<Record>> {
        if !self.csv {
            return Ok(fit::read_records(&self.records)?);
        }
        let table = BenchTable::load_csv(
            &self.records,
            &self.space,
            &self.arch_column,
            &self.accuracy_column,
        )?;
        Ok(table
            .rows
            .into_iter()
            .map(|row| Record {
                arch: row.arch,
                epoch: self.epoch,
                accuracy: row.accuracy,
            })
            .collect())
    }
}

/// Arguments of `peephole fit`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: RecordSource,
    /// Where to write the checkpoint.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Input encoding: auto (positional for NAS-Bench-201 cells, the
    /// paper's sequential one otherwise), sequential or positional.
    #[arg(long, default_value = "auto")]
    encoding: String,
    /// Ensemble members, each trained with its own seed.
    #[arg(long, default_value_t = 1)]
    members: usize,
    /// Most passes over the training data.
    #[arg(long, default_value_t = FitConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = FitConfig::default().batch_size)]
    batch_size: usize,
    #[arg(long, default_value_t = FitConfig::default().learning_rate)]
    learning_rate: f64,
    /// Epochs without a lower validation MSE before stopping.
    #[arg(long, default_value_t = FitConfig::default().patience)]
    patience: usize,
    /// Share of the data held out for early stopping (0: none).
    #[arg(long, default_value_t = FitConfig::default().val_fraction)]
    val_fraction: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on every epoch of every curve, not only the last.
    #[arg(long)]
    whole_curve: bool,
}

/// Picks the encoding named on the command line, or the one that suits
/// the records.
pub fn choose_encoding(name: &str, records: &[&Record]) -> anyhow::Result<Encoding> {
    if name != "auto" {
        return Ok(name.parse()?);
    }
    let Some(first) = records.first() else {
        bail!("no records to choose an encoding for");
    };
    Ok(model::predictor::default_encoding(&first.arch))
}

/// A progress bar for `members` members of `epochs` epochs each, showing
/// loss and validation MSE and tau. Hidden when stderr is not a terminal.
pub fn progress_bar(members: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new((members * epochs) as u64);
    let style = ProgressStyle::with_template(
        "{spinner} member {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
    )
    // The template is a constant and valid.
    .expect("valid progress template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Advances `bar` for one epoch report (early stopping skips ahead).
pub fn show_progress(bar: &ProgressBar, report: &EpochReport) {
    bar.set_prefix(format!("{}", report.member + 1));
    bar.set_position((report.member * report.epochs + report.epoch) as u64);
    let val = match (report.val_mse, report.best_mse, report.val_tau) {
        (Some(m), Some(b), Some(t)) => format!(" val MSE {m:.5} (best {b:.5}) tau {t:.3}"),
        _ => String::new(),
    };
    bar.set_message(format!("loss {:.4}{val}", report.train_loss));
}

/// Trains and saves.
pub fn run(args: Args) -> anyhow::Result<()> {
    let records = args.source.load()?;
    let selected = fit::select_records(&records, args.whole_curve);
    let encoding = choose_encoding(&args.encoding, &selected)?;
    let samples = fit::samples(&selected, encoding)
        .with_context(|| format!("encoding {}", args.source.records.display()))?;
    let config = FitConfig {
        encoding,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        patience: args.patience,
        val_fraction: args.val_fraction,
        seed: args.seed,
        members: args.members,
        whole_curve: args.whole_curve,
    };
    info!(
        records = records.len(),
        samples = samples.len(),
        encoding = encoding.name(),
        members = args.members,
        "training predictor"
    );

    let started = Instant::now();
    let bar = progress_bar(config.members, config.epochs);
    let fitted = fit::fit(&samples, &config, &mut |r| show_progress(&bar, r))?;
    bar.finish_and_clear();

    let points: Vec<(usize, f64)> = samples.iter().map(|s| (s.epoch, s.accuracy)).collect();
    let checkpoint = Checkpoint {
        predictor: fitted.predictor,
        data: DataSummary::of(&args.source.records.display().to_string(), &points),
        config,
        reports: fitted.reports,
    };
    save(&checkpoint, &args.out)?;
    for (m, report) in checkpoint.reports.iter().enumerate() {
        let val = report
            .val
            .map(|q| format!("val tau {:.4}, val MSE {:.5}", q.kendall_tau, q.mse))
            .unwrap_or_else(|| "no validation split".to_string());
        println!(
            "member {}: kept epoch {} of {}, {val}",
            m + 1,
            report.best_epoch,
            report.epochs_run
        );
    }
    println!(
        "saved {} ({} samples, {:.1}s)",
        args.out.display(),
        samples.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn save(checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(checkpoint.save(path)?)
}
