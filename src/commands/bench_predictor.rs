//! `peephole bench predictor`: prediction quality on a table of really
//! trained architectures, the way predictor papers measure it.
//!
//! Protocol: for each repeat `r` (seed `seed + r`), shuffle the table, train
//! on the first `--train-size` rows, predict all the others, and measure
//! Kendall's tau, Spearman's rho, MSE and R^2 on them. Report mean and
//! standard deviation over repeats for every method:
//!
//! - `gbt`: gradient-boosted trees on a fixed-length encoding (one-hot edge
//!   ops for NAS-Bench-201), the baseline;
//! - `gbt-live-cell`: the same trees on the cell with dead edges set to
//!   `none`, as the positional encoding sees it, so that the table shows
//!   how much of the predictor's lead is the encoding and how much the
//!   network;
//! - `peephole`: one predictor network;
//! - `peephole-ensemble-N`: the mean of N networks with different seeds
//!   (the first of which is the single network above).

use std::time::Instant;

use anyhow::bail;
use model::baseline::{self, BoostConfig, GradientBoosting};
use model::predictor::encoding::live_cell;
use model::predictor::fit::{self, FitConfig, Record};
use model::predictor::{Predictor, Token};
use model::quality::Quality;
use model::{Architecture, Body};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::fit::{choose_encoding, progress_bar, show_progress};

/// Arguments of `peephole bench predictor`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: super::bench::TableArgs,
    /// Architectures to train on in each repeat.
    #[arg(long, default_value_t = 781)]
    train_size: usize,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Networks in the ensemble (1: no ensemble row).
    #[arg(long, default_value_t = 5)]
    members: usize,
    /// Encoding: auto, sequential or positional.
    #[arg(long, default_value = "auto")]
    encoding: String,
    /// Epoch index the table's accuracies are taken to be measured at.
    #[arg(long, default_value_t = 200)]
    epoch: usize,
    /// Most training passes per network.
    #[arg(long, default_value_t = FitConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = FitConfig::default().patience)]
    patience: usize,
    #[arg(long, default_value_t = FitConfig::default().val_fraction)]
    val_fraction: f64,
    #[arg(long, default_value_t = FitConfig::default().learning_rate)]
    learning_rate: f64,
    #[arg(long, default_value_t = FitConfig::default().batch_size)]
    batch_size: usize,
}

/// Quality of one method over the repeats.
struct MethodResult {
    name: String,
    runs: Vec<Quality>,
    seconds: f64,
}

fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Runs the protocol and prints the table (or JSON).
pub fn run(args: Args) -> anyhow::Result<()> {
    let table = args.table.load()?;
    let rows = table.rows.len();
    if args.train_size < 4 || args.train_size + 2 > rows {
        bail!(
            "--train-size {} must be at least 4 and leave 2 of the {rows} rows to test",
            args.train_size
        );
    }
    if args.repeats == 0 || args.members == 0 {
        bail!("--repeats and --members must be at least 1");
    }
    let records: Vec<Record> = table
        .rows
        .iter()
        .map(|r| Record {
            arch: r.arch.clone(),
            epoch: args.epoch,
            accuracy: r.accuracy,
        })
        .collect();
    let all: Vec<&Record> = records.iter().collect();
    let encoding = choose_encoding(&args.encoding, &all)?;
    let samples = fit::samples(&all, encoding)?;
    let features = table
        .rows
        .iter()
        .map(|r| baseline::features(&r.arch))
        .collect::<Result<Vec<_>, _>>()?;

    let live_features = table
        .rows
        .iter()
        .map(|r| match &r.arch.body {
            Body::Cell(cell) => baseline::features(&Architecture::nb201(live_cell(cell))),
            Body::Block(_) => baseline::features(&r.arch),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let ensemble_name = format!("peephole-ensemble-{}", args.members);
    let mut results = vec![
        MethodResult {
            name: "gbt".into(),
            runs: vec![],
            seconds: 0.0,
        },
        MethodResult {
            name: "gbt-live-cell".into(),
            runs: vec![],
            seconds: 0.0,
        },
        MethodResult {
            name: "peephole".into(),
            runs: vec![],
            seconds: 0.0,
        },
    ];
    if args.members > 1 {
        results.push(MethodResult {
            name: ensemble_name,
            runs: vec![],
            seconds: 0.0,
        });
    }

    for repeat in 0..args.repeats {
        let seed = args.seed + repeat as u64;
        let mut order: Vec<usize> = (0..rows).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (train, test) = order.split_at(args.train_size);
        let truth: Vec<f64> = test.iter().map(|&i| samples[i].accuracy).collect();

        // Baselines.
        for (slot, features) in [(0, &features), (1, &live_features)] {
            let started = Instant::now();
            let x: Vec<Vec<f32>> = train.iter().map(|&i| features[i].clone()).collect();
            let y: Vec<f64> = train.iter().map(|&i| samples[i].accuracy).collect();
            let config = BoostConfig {
                seed,
                ..BoostConfig::default()
            };
            let gbt = GradientBoosting::fit(&x, &y, &config);
            let predicted: Vec<f64> = test.iter().map(|&i| gbt.predict(&features[i])).collect();
            results[slot]
                .runs
                .push(Quality::measure(&predicted, &truth)?);
            results[slot].seconds += started.elapsed().as_secs_f64();
        }

        // Peephole: train the members once; the first alone is the single
        // network, all of them the ensemble.
        let started = Instant::now();
        let train_samples: Vec<_> = train.iter().map(|&i| samples[i].clone()).collect();
        let config = FitConfig {
            encoding,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            patience: args.patience,
            val_fraction: args.val_fraction,
            seed,
            members: args.members,
            whole_curve: false,
        };
        let bar = progress_bar(config.members, config.epochs);
        bar.println(format!("repeat {}/{}", repeat + 1, args.repeats));
        let fitted = fit::fit(&train_samples, &config, &mut |r| show_progress(&bar, r))?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let tokens: Vec<&[Token]> = test.iter().map(|&i| samples[i].tokens.as_slice()).collect();
        let members = fitted.predictor.members();
        let single = Predictor::new(encoding, members[..1].to_vec());
        let predicted: Vec<f64> = single
            .predict_tokens(&tokens, args.epoch)?
            .iter()
            .map(|p| p.accuracy)
            .collect();
        results[2].runs.push(Quality::measure(&predicted, &truth)?);
        results[2].seconds += seconds / args.members as f64;
        if args.members > 1 {
            let predicted: Vec<f64> = fitted
                .predictor
                .predict_tokens(&tokens, args.epoch)?
                .iter()
                .map(|p| p.accuracy)
                .collect();
            results[3].runs.push(Quality::measure(&predicted, &truth)?);
            results[3].seconds += seconds;
        }
        if !args.json {
            let taus: Vec<String> = results
                .iter()
                .map(|m| format!("{} {:.4}", m.name, m.runs[repeat].kendall_tau))
                .collect();
            eprintln!("repeat {}: {}", repeat + 1, taus.join(", "));
        }
    }

    if args.json {
        print_json(&args, encoding.name(), rows, &results);
    } else {
        print_table(&args, encoding.name(), rows, &results);
    }
    Ok(())
}

fn print_json(args: &Args, encoding: &str, rows: usize, results: &[MethodResult]) {
    let stat = |runs: &[Quality], f: fn(&Quality) -> f64| {
        let (mean, std) = mean_std(runs.iter().map(f));
        json!({"mean": mean, "std": std})
    };
    let methods: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|m| {
            let value = json!({
                "kendall_tau": stat(&m.runs, |q| q.kendall_tau),
                "spearman": stat(&m.runs, |q| q.spearman),
                "mse": stat(&m.runs, |q| q.mse),
                "r2": stat(&m.runs, |q| q.r2),
                "train_seconds_per_repeat": m.seconds / m.runs.len().max(1) as f64,
            });
            (m.name.clone(), value)
        })
        .collect();
    let out = json!({
        "protocol": {
            "csv": args.table.csv.display().to_string(),
            "accuracy_column": args.table.accuracy_column,
            "rows": rows,
            "train_size": args.train_size,
            "test_size": rows - args.train_size,
            "repeats": args.repeats,
            "seed": args.seed,
            "encoding": encoding,
            "members": args.members,
        },
        "methods": methods,
    });
    println!("{out}");
}

fn print_table(args: &Args, encoding: &str, rows: usize, results: &[MethodResult]) {
    println!(
        "{} ({}): train {} / test {}, {} repeats from seed {}, encoding {}",
        args.table.csv.display(),
        args.table.accuracy_column,
        args.train_size,
        rows - args.train_size,
        args.repeats,
        args.seed,
        encoding
    );
    println!(
        "| {:<22} | {:>15} | {:>15} | {:>19} | {:>15} | {:>9} |",
        "method", "Kendall tau", "Spearman", "MSE", "R^2", "train s"
    );
    println!(
        "|{:-<24}|{:->17}|{:->17}|{:->21}|{:->17}|{:->11}|",
        "", "", "", "", "", ""
    );
    for m in results {
        let (tau, tau_sd) = mean_std(m.runs.iter().map(|q| q.kendall_tau));
        let (rho, rho_sd) = mean_std(m.runs.iter().map(|q| q.spearman));
        let (mse, mse_sd) = mean_std(m.runs.iter().map(|q| q.mse));
        let (r2, r2_sd) = mean_std(m.runs.iter().map(|q| q.r2));
        println!(
            "| {:<22} | {tau:.4} ± {tau_sd:.4} | {rho:.4} ± {rho_sd:.4} | \
             {mse:.6} ± {mse_sd:.6} | {r2:.4} ± {r2_sd:.4} | {:>9.1} |",
            m.name,
            m.seconds / m.runs.len().max(1) as f64
        );
    }
}
