//! The Refitter actor: fits a new predictor on the results so far and
//! measures it, and the one in use, on results neither was trained on.
//!
//! Takes: [`Refit`]. Replies: [`RefitDone`]. Runs on its own thread (a
//! one-thread `SyncArbiter`): a fit takes seconds to minutes.

use std::time::Instant;

use actix::{Actor, Handler, SyncContext};
use model::predictor::checkpoint::{Checkpoint, DataSummary};
use model::predictor::fit::{FitConfig, Sample, fit};
use model::predictor::{Predictor, default_encoding};
use model::quality::kendall_tau;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use runtime::config::RefitterSection;
use runtime::metrics as m;

use crate::messages::{Refit, RefitDone};

pub struct Refitter {
    pub config: RefitterSection,
}

impl Actor for Refitter {
    type Context = SyncContext<Self>;
}

/// Kendall tau of `predictor` on `holdout`, if it can score them all.
fn heldout_tau(predictor: &Predictor, holdout: &[(model::Architecture, f64)]) -> Option<f64> {
    let archs: Vec<_> = holdout.iter().map(|(a, _)| a.clone()).collect();
    let preds = predictor.predict(&archs, predictor.max_epoch()).ok()?;
    let predicted: Vec<f64> = preds.iter().map(|p| p.accuracy).collect();
    let measured: Vec<f64> = holdout.iter().map(|(_, y)| *y).collect();
    Some(kendall_tau(&predicted, &measured))
}

impl Handler<Refit> for Refitter {
    type Result = RefitDone;

    fn handle(&mut self, msg: Refit, _: &mut SyncContext<Self>) -> RefitDone {
        metrics::counter!(m::MESSAGES, "actor" => "refitter").increment(1);
        let start = Instant::now();
        let trained_on = msg.results.len();

        // Hold out a random share that neither predictor has seen.
        let mut results = msg.results;
        results.shuffle(&mut ChaCha8Rng::seed_from_u64(msg.seed));
        let n_hold = ((results.len() as f64) * self.config.holdout).ceil();
        let n_hold = (n_hold as usize).clamp(2, results.len() - 2);
        let (holdout, train) = results.split_at(n_hold);

        let fitted = (|| {
            let encoding = default_encoding(&train[0].0);
            let samples = train
                .iter()
                .map(|(arch, accuracy)| {
                    let tokens = encoding.encode(arch).map_err(|e| e.to_string())?;
                    Ok(Sample {
                        tokens,
                        epoch: 0,
                        accuracy: *accuracy,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let config = FitConfig {
                encoding,
                epochs: self.config.epochs,
                members: self.config.members,
                // Small stores cannot spare a validation split as well.
                val_fraction: if samples.len() >= 60 { 0.1 } else { 0.0 },
                batch_size: 32.min(samples.len()).max(2),
                seed: msg.seed,
                ..FitConfig::default()
            };
            let out = fit(&samples, &config, &mut |_| {}).map_err(|e| e.to_string())?;
            let points: Vec<(usize, f64)> = samples.iter().map(|s| (s.epoch, s.accuracy)).collect();
            Ok(Checkpoint {
                predictor: out.predictor,
                data: DataSummary::of("search store", &points),
                config,
                reports: out.reports,
            })
        })();

        let new_tau = fitted
            .as_ref()
            .ok()
            .and_then(|c: &Checkpoint| heldout_tau(&c.predictor, holdout));
        let old_tau = msg.current.as_ref().and_then(|p| heldout_tau(p, holdout));
        let seconds = start.elapsed().as_secs_f64();
        metrics::histogram!(m::REFIT_SECONDS).record(seconds);
        RefitDone {
            fitted,
            new_tau,
            old_tau,
            trained_on,
            seconds,
        }
    }
}
