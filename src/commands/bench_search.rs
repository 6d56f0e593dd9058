//! `peephole bench search`: does screening pay? Simulated searches on a
//! benchmark table, three strategies side by side, over several seeds.
//!
//! - `random`: architectures in random order (sampling without
//!   replacement).
//! - `evolution`: regularized evolution (Real et al. 2019): a population
//!   of 20, tournaments of 5, the winner mutated, the oldest removed.
//! - `peephole`: what the daemon does. 20 random trainings (cold start),
//!   then rounds: draw `--batch` candidates (30% mutations of the five
//!   best so far), drop trained ones, score them with the predictor, train
//!   the `--forward` best (each pick random with probability 0.1), refit
//!   on all results every `--refit-every` new results.
//!
//! Reported per strategy (median over seeds): best accuracy after 50, 100
//! and 200 trainings, trainings until within 0.5 percentage points of the
//! table's best, and until the best itself.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::bail;
use model::Architecture;
use model::predictor::default_encoding;
use model::predictor::fit::{FitConfig, Sample, fit};
use model::space::Space;
use model::table::BenchTable;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arguments of `peephole bench search`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    table: super::bench::TableArgs,
    /// Simulated searches per strategy.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Training budget of each evolution and Peephole search.
    #[arg(long, default_value_t = 300)]
    max_trainings: usize,
    /// Candidates scored per Peephole round.
    #[arg(long, default_value_t = 300)]
    batch: usize,
    /// Candidates trained per Peephole round.
    #[arg(long, default_value_t = 4)]
    forward: usize,
    /// New results between refits.
    #[arg(long, default_value_t = 10)]
    refit_every: usize,
    /// Epochs of each refit.
    #[arg(long, default_value_t = 100)]
    fit_epochs: usize,
}

/// The best-so-far curve of one search: `curve[i]` is the best accuracy
/// after `i + 1` trainings.
type Curve = Vec<f64>;

fn best_curve(accuracies: impl IntoIterator<Item = f64>) -> Curve {
    let mut best = f64::NEG_INFINITY;
    accuracies
        .into_iter()
        .map(|a| {
            best = best.max(a);
            best
        })
        .collect()
}

fn random_search(table: &BenchTable, seed: u64) -> Curve {
    let mut order: Vec<f64> = table.rows.iter().map(|r| r.accuracy).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    best_curve(order)
}

fn evolution(table: &BenchTable, space: &Space, seed: u64, budget: usize) -> Curve {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lookup = |a: &Architecture| table.accuracy(a).unwrap_or(0.0);
    let mut population = std::collections::VecDeque::new();
    let mut history = Vec::new();
    while history.len() < budget {
        let child = if population.len() < 20 {
            space.sample(&mut rng)
        } else {
            // Tournament of 5 drawn with replacement; mutate the winner.
            let parent = (0..5)
                .map(|_| &population[rng.random_range(0..population.len())])
                .max_by(|a: &&(Architecture, f64), b| a.1.total_cmp(&b.1))
                .map(|(a, _)| a.clone())
                .expect("population is not empty");
            space.mutate(&parent, &mut rng)
        };
        let acc = lookup(&child);
        history.push(acc);
        population.push_back((child, acc));
        if population.len() > 20 {
            population.pop_front();
        }
    }
    best_curve(history)
}

fn peephole(table: &BenchTable, space: &Space, seed: u64, args: &Args) -> anyhow::Result<Curve> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut trained: Vec<(Architecture, f64)> = Vec::new();
    let mut seen = HashSet::new();
    let mut predictor = None;
    let mut since_refit = 0;
    let train = |arch: Architecture,
                 trained: &mut Vec<(Architecture, f64)>,
                 seen: &mut HashSet<model::ArchId>| {
        if seen.insert(arch.id()) {
            let acc = table.accuracy(&arch).unwrap_or(0.0);
            trained.push((arch, acc));
            true
        } else {
            false
        }
    };

    // Cold start.
    while trained.len() < 20 {
        let arch = space.sample(&mut rng);
        train(arch, &mut trained, &mut seen);
    }
    since_refit += 20;

    while trained.len() < args.max_trainings {
        if since_refit >= args.refit_every || predictor.is_none() {
            let encoding = default_encoding(&trained[0].0);
            let samples = trained
                .iter()
                .map(|(a, y)| {
                    Ok(Sample {
                        tokens: encoding.encode(a)?,
                        epoch: 0,
                        accuracy: *y,
                    })
                })
                .collect::<Result<Vec<_>, model::predictor::PredictorError>>()?;
            let config = FitConfig {
                encoding,
                epochs: args.fit_epochs,
                val_fraction: 0.0,
                batch_size: 32,
                seed: seed.wrapping_add(trained.len() as u64),
                ..FitConfig::default()
            };
            predictor = Some(fit(&samples, &config, &mut |_| {})?.predictor);
            since_refit = 0;
        }
        let Some(p) = &predictor else {
            unreachable!("fitted above")
        };

        // Draw, drop what is trained, score, train the best few.
        let mut best: Vec<_> = trained.clone();
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        best.truncate(5);
        let mut pool: Vec<Architecture> = (0..args.batch)
            .map(|_| {
                if rng.random_bool(0.3) {
                    let parent = &best[rng.random_range(0..best.len())].0;
                    space.mutate(parent, &mut rng)
                } else {
                    space.sample(&mut rng)
                }
            })
            .filter(|a| !seen.contains(&a.id()))
            .collect();
        if pool.is_empty() {
            continue;
        }
        let preds = p.predict(&pool, p.max_epoch())?;
        let mut scored: Vec<(f64, Architecture)> = preds
            .iter()
            .map(|p| p.accuracy)
            .zip(pool.drain(..))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut picked = 0;
        while picked < args.forward && !scored.is_empty() {
            let i = if rng.random_bool(0.1) {
                rng.random_range(0..scored.len())
            } else {
                0
            };
            let (_, arch) = scored.remove(i);
            if train(arch, &mut trained, &mut seen) {
                picked += 1;
                since_refit += 1;
            }
            if trained.len() >= args.max_trainings {
                break;
            }
        }
    }
    Ok(best_curve(trained.iter().map(|(_, a)| *a)))
}

/// Trainings until the curve reaches `target`, if it does.
fn reach(curve: &Curve, target: f64) -> Option<usize> {
    curve
        .iter()
        .position(|b| *b >= target - 1e-9)
        .map(|i| i + 1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the simulations and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let space = Space::parse(&args.table.space)?;
    if space != Space::Nb201 {
        bail!(
            "--space {}: only nb201 has benchmark tables",
            args.table.space
        );
    }
    let table = args.table.load()?;
    let best = table.best();
    println!(
        "{} architectures, best {:.2}%; {} seeds; budget {} trainings \
         (random search runs to the end of the table)",
        table.rows.len(),
        best * 100.0,
        args.seeds,
        args.max_trainings
    );

    let mut rows = Vec::new();
    for method in ["random", "evolution", "peephole"] {
        let start = Instant::now();
        let mut curves = Vec::new();
        for s in 0..args.seeds {
            let seed = 1000 + s;
            curves.push(match method {
                "random" => random_search(&table, seed),
                "evolution" => evolution(&table, &space, seed, args.max_trainings),
                _ => peephole(&table, &space, seed, &args)?,
            });
        }
        rows.push((method, curves, start.elapsed().as_secs_f64()));
    }

    println!(
        "\n{:<10} {:>8} {:>8} {:>8} {:>12} {:>10} {:>9}",
        "method", "best@50", "best@100", "best@200", "to -0.5pp", "to best", "seconds"
    );
    for (method, curves, seconds) in rows {
        let at = |n: usize| {
            let v: Vec<f64> = curves
                .iter()
                .filter_map(|c| c.get(n - 1).copied())
                .collect();
            if v.is_empty() {
                "-".into()
            } else {
                format!("{:.2}", median(v) * 100.0)
            }
        };
        let steps = |target: f64| {
            // Unreached counts as infinite, so the median says ">budget".
            let v: Vec<f64> = curves
                .iter()
                .map(|c| reach(c, target).map_or(f64::INFINITY, |n| n as f64))
                .collect();
            let m = median(v);
            if m.is_finite() {
                format!("{m:.0}")
            } else {
                format!(">{}", curves.iter().map(|c| c.len()).max().unwrap_or(0))
            }
        };
        println!(
            "{:<10} {:>8} {:>8} {:>8} {:>12} {:>10} {:>9.1}",
            method,
            at(50),
            at(100),
            at(200),
            steps(best - 0.005),
            steps(best),
            seconds
        );
    }
    Ok(())
}
