//! The typed messages the actors exchange.

use std::sync::Arc;

use actix::Message;
use model::Architecture;
use model::predictor::{Prediction, Predictor};

use crate::backend::Outcome;

/// Sampler: draw `count` candidates; `best` seeds mutations.
#[derive(Message)]
#[rtype(result = "Candidates")]
pub struct Draw {
    pub count: usize,
    pub best: Vec<Architecture>,
}

/// Candidate architectures, in draw order.
#[derive(Debug, Clone, actix::MessageResponse)]
pub struct Candidates(pub Vec<Architecture>);

/// Screener: score these candidates and pick which to train.
#[derive(Message)]
#[rtype(result = "Screened")]
pub struct Screen {
    pub candidates: Vec<Architecture>,
}

/// The screener's decision for one batch.
#[derive(Debug, Clone, actix::MessageResponse)]
pub struct Screened {
    /// Forwarded candidates with their prediction (none at cold start).
    pub forwarded: Vec<(Architecture, Option<Prediction>)>,
    /// Rejected candidates with their prediction.
    pub rejected: Vec<(Architecture, Option<Prediction>)>,
    /// Predictor version used, if any.
    pub version: Option<i64>,
}

/// Screener: use this predictor from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PredictorUpdated {
    pub predictor: Arc<Predictor>,
    pub version: i64,
    pub heldout_tau: Option<f64>,
}

/// Trainer: train one architecture.
#[derive(Message)]
#[rtype(result = "TrainingDone")]
pub struct TrainJob {
    pub arch_id: String,
    pub arch: Architecture,
}

/// A finished (or failed) training.
#[derive(Debug, Clone, actix::MessageResponse)]
pub struct TrainingDone {
    pub arch_id: String,
    pub arch: Architecture,
    pub outcome: Result<Outcome, String>,
}

/// Refitter: fit a new predictor on `results` and compare it with
/// `current` on a held-out share.
#[derive(Message)]
#[rtype(result = "RefitDone")]
pub struct Refit {
    pub results: Vec<(Architecture, f64)>,
    pub current: Option<Arc<Predictor>>,
    pub seed: u64,
}

/// The refit's verdict.
#[derive(actix::MessageResponse)]
pub struct RefitDone {
    /// The new predictor, or why fitting failed.
    pub fitted: Result<model::predictor::checkpoint::Checkpoint, String>,
    /// Held-out Kendall tau of the new and the current predictor.
    pub new_tau: Option<f64>,
    pub old_tau: Option<f64>,
    pub trained_on: usize,
    pub seconds: f64,
}
