//! `peephole analyze`: the paper's analyses of a set of trained networks,
//! from a search store or a JSON Lines records file.
//!
//! Writes into `--out DIR` (figures as PNG or SVG, `--format`):
//! - `scatter.*`: predicted against measured accuracy (figure 5);
//!   predictions come from `--model` when given, otherwise from the store's
//!   screening predictions;
//! - `cells.*` and `cells.json`: the response of the predictor's most
//!   type-selective LSTM unit along the layers of a few architectures
//!   (figure 6; the paper found a unit that rises at every convolution);
//! - `tsne.*` and `tsne.csv`: a 2-D t-SNE map of the structural features
//!   (the LSTM's last hidden state), coloured by measured accuracy
//!   (figure 7);
//! - `stats.md` and `stats.json`: count, mean, standard deviation, min and
//!   max of the accuracies (the paper's table 2), measured and predicted.
//!
//! The cell and t-SNE figures read a predictor's hidden states: the one
//! `--model` names, else a store's latest accepted predictor (when its
//! checkpoint file is still there); the scatter of a store without
//! `--model` uses the prediction each candidate was screened with.
//!
//! How the unit is chosen: for every hidden unit and every layer type, the
//! separation `d' = (mean over layers of that type - mean over the other
//! layers) / pooled standard deviation` of the unit's response, over all
//! layers of all analysed networks; the unit with the largest `|d'|` wins.

use std::path::{Path, PathBuf};

use anyhow::Context;
use model::Architecture;
use model::predictor::{Checkpoint, Predictor, fit};
use model::quality::Quality;
use model::ulc::type_name;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runtime::store::Store;
use serde::Serialize;

use crate::figures::{self, Format, Trace};

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
    /// Image format of the figures.
    #[arg(long, value_enum, default_value = "png")]
    format: Format,
    /// Architectures drawn in the cell-response figure (among those with
    /// layers of the unit's type, spread from the best measured to the
    /// worst).
    #[arg(
        long,
        default_value_t = 4,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    traces: usize,
    /// Seed of the t-SNE starting positions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
    let (mut samples, store_predictor) = match (&args.store, &args.records) {
        (_, Some(path)) => (from_records(path)?, None),
        (Some(url), None) => from_store(url)?,
        // clap requires one of the two.
        (None, None) => anyhow::bail!("give --store or --records"),
    };
    anyhow::ensure!(!samples.is_empty(), "no trained networks to analyse");

    // A checkpoint replaces whatever predictions the source carried.
    let checkpoint = args
        .model
        .as_ref()
        .map(|p| Checkpoint::load(p))
        .transpose()?;
    if let Some(checkpoint) = &checkpoint {
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

    write_stats(&args.out, &measured, &predicted)?;
    if pairs.is_empty() {
        eprintln!("no predictions: give --model to draw the scatter plot");
    } else {
        scatter_figure(&args, &pairs)?;
    }

    // Figures 6 and 7 look inside a predictor: the one given, else the
    // store's latest accepted one. (The scatter keeps the screening
    // predictions: the latest predictor has seen these results.)
    let inside = match (checkpoint, store_predictor) {
        (Some(checkpoint), _) => checkpoint,
        (None, Some(path)) => match Checkpoint::load(&path) {
            Ok(checkpoint) => {
                eprintln!("cell and t-SNE figures: predictor {}", path.display());
                checkpoint
            }
            Err(e) => {
                eprintln!("the store's predictor cannot be read ({e}); give --model");
                return Ok(());
            }
        },
        (None, None) => {
            eprintln!("no predictor: the cell-response and t-SNE figures need --model");
            return Ok(());
        }
    };
    let traced = trace_all(&inside.predictor, &samples)?;
    cell_figure(&args, &samples, &traced)?;
    tsne_figure(&args, &samples, &traced)?;
    Ok(())
}

/// Table 2: statistics of the measured and predicted accuracies, printed
/// and written as `stats.md` and `stats.json`.
fn write_stats(out: &Path, measured: &[f64], predicted: &[f64]) -> anyhow::Result<()> {
    let rows = [
        ("measured", Stats::of(measured)),
        ("predicted", Stats::of(predicted)),
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
    write(&out.join("stats.md"), table)?;
    let json = serde_json::json!({
        "measured": rows[0].1,
        "predicted": rows[1].1,
    });
    write(
        &out.join("stats.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
}

/// Figure 5 from `(measured, predicted)` pairs, with tau in the title.
fn scatter_figure(args: &Args, pairs: &[(f64, f64)]) -> anyhow::Result<()> {
    let (measured, predicted): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let mut title = format!("{} networks", pairs.len());
    if pairs.len() >= 2 {
        let q = Quality::measure(&predicted, &measured)?;
        println!("Kendall tau {:.4}  MSE {:.6}", q.kendall_tau, q.mse);
        title += &format!(" (tau {:.3})", q.kendall_tau);
    }
    let path = args
        .out
        .join(format!("scatter.{}", args.format.extension()));
    figures::scatter(&path, &measured, &predicted, &title)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// One network's walk through the predictor: layer types and the hidden
/// state after each layer.
struct Traced {
    types: Vec<u8>,
    states: Vec<Vec<f32>>,
}

fn trace_all(predictor: &Predictor, samples: &[Sample]) -> anyhow::Result<Vec<Traced>> {
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let context = || format!("network {} ({})", i + 1, s.arch.id());
            let tokens = predictor.encode(&s.arch).with_context(context)?;
            let states = predictor.hidden_states(&s.arch).with_context(context)?;
            let types = tokens.iter().map(|t| t.code.ty).collect();
            Ok(Traced { types, states })
        })
        .collect()
}

/// The unit whose response best separates one layer type from the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selective {
    pub unit: usize,
    /// Type code the unit responds to (see `model::ulc::ty`).
    pub layer_type: u8,
    /// Signed separation d' of that type's responses from the others'.
    pub separation: f64,
}

/// Mean and population variance.
fn moments(values: impl Iterator<Item = f64>) -> (f64, f64, usize) {
    let (mut n, mut sum, mut sq) = (0usize, 0.0, 0.0);
    for v in values {
        n += 1;
        sum += v;
        sq += v * v;
    }
    let mean = sum / n.max(1) as f64;
    (mean, (sq / n.max(1) as f64 - mean * mean).max(0.0), n)
}

/// The most type-selective unit over all layers of `traced`, or `None`
/// when no type has at least two layers both in and out of it.
fn most_selective(traced: &[Traced]) -> Option<Selective> {
    let hidden = traced.iter().find_map(|t| t.states.first())?.len();
    let mut types: Vec<u8> = traced.iter().flat_map(|t| t.types.clone()).collect();
    types.sort_unstable();
    types.dedup();
    let mut best: Option<Selective> = None;
    for unit in 0..hidden {
        let responses = || {
            traced.iter().flat_map(move |t| {
                t.types
                    .iter()
                    .zip(&t.states)
                    .map(move |(&ty, h)| (ty, f64::from(h[unit])))
            })
        };
        for &ty in &types {
            let (m_in, v_in, n_in) = moments(responses().filter(|r| r.0 == ty).map(|r| r.1));
            let (m_out, v_out, n_out) = moments(responses().filter(|r| r.0 != ty).map(|r| r.1));
            if n_in < 2 || n_out < 2 {
                continue;
            }
            let pooled = ((v_in + v_out) / 2.0).sqrt().max(1e-6);
            let separation = (m_in - m_out) / pooled;
            if best
                .as_ref()
                .is_none_or(|b| separation.abs() > b.separation.abs())
            {
                best = Some(Selective {
                    unit,
                    layer_type: ty,
                    separation,
                });
            }
        }
    }
    best
}

/// Up to `k` of the `candidates` (indices into `samples`) spread evenly
/// over them sorted by measured accuracy, best first.
fn spread(samples: &[Sample], candidates: &[usize], k: usize) -> Vec<usize> {
    let mut order = candidates.to_vec();
    order.sort_by(|&a, &b| samples[b].measured.total_cmp(&samples[a].measured));
    let k = k.min(order.len());
    if k <= 1 {
        return order.into_iter().take(k).collect();
    }
    let mut picked: Vec<usize> = (0..k)
        .map(|i| order[i * (order.len() - 1) / (k - 1)])
        .collect();
    picked.dedup();
    picked
}

/// Figure 6 and its numbers in `cells.json`.
fn cell_figure(args: &Args, samples: &[Sample], traced: &[Traced]) -> anyhow::Result<()> {
    let Some(best) = most_selective(traced) else {
        eprintln!("too few layers of distinct types to pick a selective cell");
        return Ok(());
    };
    let name = type_name(best.layer_type);
    println!(
        "most type-selective LSTM unit: {} ({name}, d' {:+.2})",
        best.unit, best.separation
    );
    // Only networks that have layers of the unit's type show what it
    // responds to; there is at least one, or no unit would be selective.
    let holders: Vec<usize> = (0..samples.len())
        .filter(|&i| traced[i].types.contains(&best.layer_type))
        .collect();
    let picked = spread(samples, &holders, args.traces);
    let traces: Vec<Trace> = picked
        .iter()
        .map(|&i| Trace {
            label: format!(
                "{} (acc {:.3})",
                &samples[i].arch.id().to_string()[..8],
                samples[i].measured
            ),
            values: traced[i]
                .states
                .iter()
                .map(|h| f64::from(h[best.unit]))
                .collect(),
            marked: traced[i]
                .types
                .iter()
                .map(|&t| t == best.layer_type)
                .collect(),
        })
        .collect();
    let title = format!(
        "LSTM unit {}: {name} layers (filled), d' {:+.2}",
        best.unit, best.separation
    );
    let path = args.out.join(format!("cells.{}", args.format.extension()));
    figures::responses(&path, &traces, &title)?;
    eprintln!("wrote {}", path.display());

    let json = serde_json::json!({
        "unit": best.unit,
        "layer_type": best.layer_type,
        "layer_type_name": name,
        "separation": best.separation,
        "traces": picked.iter().zip(&traces).map(|(&i, t)| serde_json::json!({
            "arch_id": samples[i].arch.id().to_string(),
            "measured": samples[i].measured,
            "layer_types": traced[i].types,
            "responses": t.values,
        })).collect::<Vec<_>>(),
    });
    write(
        &args.out.join("cells.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
}

/// Figure 7 and the embedded points in `tsne.csv`.
fn tsne_figure(args: &Args, samples: &[Sample], traced: &[Traced]) -> anyhow::Result<()> {
    let features: Vec<&[f32]> = traced
        .iter()
        .filter_map(|t| t.states.last().map(|h| h.as_slice()))
        .collect();
    let n = features.len();
    if n < 4 {
        eprintln!("t-SNE needs at least 4 networks, got {n}: no map drawn");
        return Ok(());
    }
    let points = tsne(&features, args.seed, EXACT_TSNE_LIMIT);
    let accuracy: Vec<f64> = samples.iter().map(|s| s.measured).collect();
    let path = args.out.join(format!("tsne.{}", args.format.extension()));
    let title = format!("structural features of {n} networks (t-SNE)");
    figures::map(&path, &points, &accuracy, &title, "measured accuracy")?;
    eprintln!("wrote {}", path.display());

    let mut csv = String::from("arch_id,x,y,measured,predicted\n");
    for (s, (x, y)) in samples.iter().zip(&points) {
        let predicted = s.predicted.map_or(String::new(), |p| p.to_string());
        csv += &format!("{},{x},{y},{},{predicted}\n", s.arch.id(), s.measured);
    }
    write(&args.out.join("tsne.csv"), csv)
}

/// Most points embedded with exact t-SNE; beyond, the pairwise matrices
/// grow large and Barnes-Hut takes over.
const EXACT_TSNE_LIMIT: usize = 2000;

/// Exact t-SNE (van der Maaten and Hinton, 2008) of `features` to 2-D with
/// the `bhtsne` crate: Euclidean distances, perplexity 20 or less when
/// there are few points (the crate needs `n - 1 >= 3 perplexity`), 1000
/// iterations, seeded starting positions (uniform in +-1e-4). Barnes-Hut
/// (theta 0.5) above `exact_limit` points. Needs at least 4 points.
fn tsne(features: &[&[f32]], seed: u64, exact_limit: usize) -> Vec<(f64, f64)> {
    let n = features.len();
    let perplexity = ((n - 1) / 3).min(20) as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1e-4..1e-4)).collect();
    let distance = |a: &&[f32], b: &&[f32]| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    let mut tsne: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(features);
    tsne.perplexity(perplexity)
        .epochs(1000)
        .initial_embedding(start);
    if n <= exact_limit {
        tsne.exact(distance);
    } else {
        tsne.barnes_hut(0.5, distance);
    }
    tsne.embedding()
        .chunks_exact(2)
        .map(|p| (f64::from(p[0]), f64::from(p[1])))
        .collect()
}

fn write(path: &Path, text: String) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
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

/// Every completed result, with the prediction it was screened with, and
/// the checkpoint of the store's latest accepted predictor if it is still
/// on disk.
fn from_store(url: &str) -> anyhow::Result<(Vec<Sample>, Option<PathBuf>)> {
    let rt = tokio::runtime::Runtime::new()?;
    let (rows, predictors) = rt.block_on(async {
        let store = Store::open(url).await?;
        anyhow::Ok((store.results().await?, store.predictors().await?))
    })?;
    let samples = rows
        .into_iter()
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
        .collect::<anyhow::Result<_>>()?;
    let predictor = predictors
        .iter()
        .rev()
        .filter(|p| p.accepted)
        .filter_map(|p| p.checkpoint.as_ref().map(PathBuf::from))
        .find(|path| path.is_file());
    Ok((samples, predictor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_that_follows_convolutions_is_chosen() {
        // Unit 1 is high at convolutions and low elsewhere, with jitter;
        // unit 0 alternates regardless of type; unit 2 is constant.
        let conv = model::ulc::ty::CONV;
        let relu = model::ulc::ty::RELU;
        let traced: Vec<Traced> = (0..5)
            .map(|k| {
                let types = vec![conv, relu, conv, relu, relu, conv];
                let states = types
                    .iter()
                    .enumerate()
                    .map(|(i, &ty)| {
                        let jitter = 0.01 * ((i + k) % 3) as f32;
                        let unit1 = if ty == conv { 0.8 } else { 0.1 } + jitter;
                        vec![(i % 2) as f32, unit1, 0.5]
                    })
                    .collect();
                Traced { types, states }
            })
            .collect();
        let best = most_selective(&traced).unwrap();
        assert_eq!((best.unit, best.layer_type), (1, conv), "{best:?}");
        assert!(best.separation > 10.0, "{best:?}");

        // One type alone separates nothing.
        let single = vec![Traced {
            types: vec![conv; 4],
            states: vec![vec![0.1]; 4],
        }];
        assert_eq!(most_selective(&single), None);
    }

    #[test]
    fn traces_spread_from_best_to_worst() {
        let sample = |measured| Sample {
            arch: Architecture::nb201(model::nb201::Cell::from_index(0)),
            epoch: None,
            measured,
            predicted: None,
        };
        let samples: Vec<Sample> = [0.3, 0.9, 0.5, 0.7, 0.1].map(sample).into();
        let all = [0, 1, 2, 3, 4];
        assert_eq!(spread(&samples, &all, 3), vec![1, 2, 4]);
        assert_eq!(spread(&samples, &all, 1), vec![1]);
        assert_eq!(spread(&samples, &all, 9).len(), 5);
        assert!(spread(&samples, &all, 0).is_empty());
        // Only the candidates are drawn.
        assert_eq!(spread(&samples, &[0, 2, 3], 2), vec![3, 0]);
    }

    #[test]
    fn tsne_keeps_two_far_clusters_apart() {
        // Two clusters of 15 points in 8-D, 100 apart, spread 0.1 inside:
        // each point's nearest embedded neighbours must be its own
        // cluster's, on both the exact and the Barnes-Hut path.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let data: Vec<Vec<f32>> = (0..30)
            .map(|i| {
                let centre = if i < 15 { 0.0 } else { 100.0 };
                (0..8)
                    .map(|_| centre + rng.random_range(-0.1..0.1))
                    .collect()
            })
            .collect();
        let features: Vec<&[f32]> = data.iter().map(|v| v.as_slice()).collect();
        for exact_limit in [usize::MAX, 0] {
            let points = tsne(&features, 1, exact_limit);
            assert_eq!(points.len(), 30);
            let dist = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);
            for i in 0..30 {
                let nearest = (0..30)
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| {
                        dist(points[i], points[a]).total_cmp(&dist(points[i], points[b]))
                    })
                    .unwrap();
                assert_eq!(i < 15, nearest < 15, "point {i} (limit {exact_limit})");
            }
        }
    }

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
