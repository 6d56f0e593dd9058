//! The Screener actor: scores candidates with the current predictor and
//! forwards only the promising ones.
//!
//! Takes: [`Screen`] (replies [`Screened`]) and [`PredictorUpdated`].
//! Until a predictor exists (cold start) it forwards random candidates.
//! With one, each forwarded slot is, with probability `explore_share`, a
//! random candidate (exploration) and otherwise the best remaining one by
//! the policy: predicted accuracy (`top_k`) or predicted accuracy plus
//! `ucb_beta` times the ensemble's spread (`ucb`).

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Context, Handler};
use model::Architecture;
use model::predictor::{Prediction, Predictor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runtime::config::{Policy, ScreenerSection};
use runtime::metrics as m;

use crate::messages::{PredictorUpdated, Screen, Screened};

pub struct Screener {
    config: ScreenerSection,
    predictor: Option<(Arc<Predictor>, i64)>,
    rng: ChaCha8Rng,
}

impl Screener {
    pub fn new(config: ScreenerSection, seed: u64) -> Screener {
        Screener {
            config,
            predictor: None,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5c4e),
        }
    }

    fn score(&self, p: &Prediction) -> f64 {
        match self.config.policy {
            Policy::TopK => p.accuracy,
            Policy::Ucb => p.accuracy + self.config.ucb_beta * p.uncertainty,
        }
    }
}

impl Actor for Screener {
    type Context = Context<Self>;
}

impl Handler<PredictorUpdated> for Screener {
    type Result = ();

    fn handle(&mut self, msg: PredictorUpdated, _: &mut Context<Self>) {
        metrics::counter!(m::MESSAGES, "actor" => "screener").increment(1);
        tracing::info!(
            version = msg.version,
            heldout_tau = msg.heldout_tau,
            "screener uses a new predictor"
        );
        self.predictor = Some((msg.predictor, msg.version));
    }
}

impl Handler<Screen> for Screener {
    type Result = Screened;

    fn handle(&mut self, msg: Screen, _: &mut Context<Self>) -> Screened {
        metrics::counter!(m::MESSAGES, "actor" => "screener").increment(1);
        let start = Instant::now();
        let mut pool: Vec<(Architecture, Option<Prediction>)> = match &self.predictor {
            Some((p, _)) => {
                let epoch = p.max_epoch();
                match p.predict(&msg.candidates, epoch) {
                    Ok(preds) => msg
                        .candidates
                        .into_iter()
                        .zip(preds.into_iter().map(Some))
                        .collect(),
                    Err(e) => {
                        // A candidate the predictor cannot encode is
                        // screened as at cold start, not dropped.
                        tracing::warn!(error = %e, "screening failed");
                        msg.candidates.into_iter().map(|a| (a, None)).collect()
                    }
                }
            }
            None => msg.candidates.into_iter().map(|a| (a, None)).collect(),
        };
        let elapsed = start.elapsed().as_secs_f64();
        metrics::histogram!(m::SCREENING_SECONDS).record(elapsed);
        metrics::counter!(m::CANDIDATES_SCREENED).increment(pool.len() as u64);
        for (_, p) in &pool {
            if let Some(p) = p {
                metrics::histogram!(m::PREDICTED_ACCURACY).record(p.accuracy);
            }
        }

        // Best first by the policy's score; unscored pools stay in order.
        pool.sort_by(|a, b| {
            let s = |x: &Option<Prediction>| x.map_or(0.0, |p| self.score(&p));
            s(&b.1).total_cmp(&s(&a.1))
        });
        let cold = self.predictor.is_none();
        let mut forwarded = Vec::new();
        while forwarded.len() < self.config.forward && !pool.is_empty() {
            let explore = cold || self.rng.random_bool(self.config.explore_share);
            let i = if explore {
                self.rng.random_range(0..pool.len())
            } else {
                0
            };
            forwarded.push(pool.remove(i));
        }
        metrics::counter!(m::CANDIDATES_FORWARDED).increment(forwarded.len() as u64);
        metrics::counter!(m::CANDIDATES_REJECTED).increment(pool.len() as u64);
        Screened {
            forwarded,
            rejected: pool,
            version: self.predictor.as_ref().map(|(_, v)| *v),
        }
    }
}
