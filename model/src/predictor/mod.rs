//! The Peephole predictor (SPEC section 3): from an architecture's layer
//! codes and an epoch index to a predicted validation accuracy.
//!
//! - [`encoding`]: architectures to token sequences, padded batches.
//! - [`weights`]: the parameters as plain arrays, and their initialisation.
//! - [`net`]: the network in burn, for training and as the reference.
//! - [`fast`]: the folded plain-Rust inference used for screening.
//! - [`fit`]: training records, splits, the training loop, ensembles.
//! - [`checkpoint`]: saving and loading trained predictors.
//!
//! A [`Predictor`] is an ensemble of one or more trained networks (members
//! trained with different seeds). Its prediction is the members' mean and
//! its uncertainty their standard deviation.
//!
//! This module knows nothing of files formats other than its own
//! checkpoints and training records, and nothing of the command line.

pub mod checkpoint;
pub mod encoding;
pub mod fast;
pub mod fit;
pub mod net;
pub mod weights;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::arch::{Architecture, Body};
use crate::error::ArchError;
use crate::ulc::LayerCode;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use encoding::{Batch, Encoding, Token};
pub use fast::FastNet;
pub use fit::{FitConfig, FitError, Record};
pub use weights::{Dims, Weights};

/// Why an architecture or epoch cannot be fed to a predictor.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PredictorError {
    #[error("layer {index} has code {code}, which is outside the code tables")]
    UnknownLayerCode { index: usize, code: LayerCode },
    #[error("the architecture has no layers to encode")]
    EmptySequence,
    #[error("sequence of {len} layers is longer than the {max} allowed")]
    SequenceTooLong { len: usize, max: usize },
    #[error("unknown encoding '{0}' (known: sequential, positional)")]
    UnknownEncoding(String),
    #[error(
        "epoch {epoch} is outside the predictor's epoch table \
         (0..={max}, the epochs it was trained on)"
    )]
    EpochOutOfRange { epoch: usize, max: usize },
    #[error(
        "sequence of {len} layers is longer than the {max} positions the \
         positional encoding was trained with"
    )]
    PositionOutOfRange { len: usize, max: usize },
    #[error("architecture: {0}")]
    Arch(#[from] ArchError),
}

/// The encoding that suits an architecture when none is asked for:
/// positional for NAS-Bench-201 cells, the paper's for sequential blocks.
pub fn default_encoding(arch: &Architecture) -> Encoding {
    match arch.body {
        Body::Cell(_) => Encoding::Positional,
        Body::Block(_) => Encoding::Sequential,
    }
}

/// One prediction: the members' mean and their spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted accuracy, a fraction.
    pub accuracy: f64,
    /// Standard deviation over ensemble members; 0 for a single network.
    pub uncertainty: f64,
}

/// A trained predictor: one or more member networks and their encoding.
#[derive(Debug, Clone)]
pub struct Predictor {
    encoding: Encoding,
    members: Vec<Weights>,
    fast: Vec<FastNet>,
    threads: usize,
}

impl Predictor {
    /// Wraps trained members; folds them for fast inference. All members
    /// must have the same [`Dims`].
    pub fn new(encoding: Encoding, members: Vec<Weights>) -> Predictor {
        let fast = members.iter().map(FastNet::new).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Predictor {
            encoding,
            members,
            fast,
            threads,
        }
    }

    /// Threads the fast path may use (default: all available).
    pub fn with_threads(mut self, threads: usize) -> Predictor {
        self.threads = threads.max(1);
        self
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn members(&self) -> &[Weights] {
        &self.members
    }

    /// Sizes of the member networks.
    pub fn dims(&self) -> Dims {
        // A predictor is never built without members (checkpoints and fits
        // both guarantee at least one).
        self.members[0].dims
    }

    /// The tokens the predictor reads for `arch`, checked against its
    /// tables.
    pub fn encode(&self, arch: &Architecture) -> Result<Vec<Token>, PredictorError> {
        self.check_tokens(self.encoding.encode(arch)?)
    }

    /// Checks tokens made elsewhere against this predictor's tables.
    pub fn check_tokens(&self, tokens: Vec<Token>) -> Result<Vec<Token>, PredictorError> {
        let dims = self.dims();
        if dims.d_position > 0 && tokens.len() >= dims.positions {
            return Err(PredictorError::PositionOutOfRange {
                len: tokens.len(),
                max: dims.positions - 1,
            });
        }
        Ok(tokens)
    }

    /// Checks that `epoch` has a row in the epoch table.
    pub fn check_epoch(&self, epoch: usize) -> Result<(), PredictorError> {
        let max = self.dims().epochs - 1;
        if epoch > max {
            return Err(PredictorError::EpochOutOfRange { epoch, max });
        }
        Ok(())
    }

    /// Largest epoch index the predictor knows, its default target.
    pub fn max_epoch(&self) -> usize {
        self.dims().epochs - 1
    }

    /// The first member's LSTM hidden state after each layer of `arch`
    /// (`[layers, hidden]`, see [`FastNet::hidden_states`]): the per-layer
    /// cell responses and, in the last row, the structural feature.
    pub fn hidden_states(&self, arch: &Architecture) -> Result<Vec<Vec<f32>>, PredictorError> {
        let tokens = self.encode(arch)?;
        Ok(self.fast[0].hidden_states(&tokens))
    }

    /// Predicts every architecture at `epoch` with the fast path.
    pub fn predict(
        &self,
        archs: &[Architecture],
        epoch: usize,
    ) -> Result<Vec<Prediction>, PredictorError> {
        let tokens = archs
            .iter()
            .map(|a| self.encode(a))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[Token]> = tokens.iter().map(|t| t.as_slice()).collect();
        self.predict_tokens(&refs, epoch)
    }

    /// Predicts checked token sequences at `epoch` with the fast path.
    pub fn predict_tokens(
        &self,
        sequences: &[&[Token]],
        epoch: usize,
    ) -> Result<Vec<Prediction>, PredictorError> {
        self.check_epoch(epoch)?;
        let epochs = vec![epoch; sequences.len()];
        let per_member: Vec<Vec<f64>> = self
            .fast
            .iter()
            .map(|net| net.predict(sequences, &epochs, self.threads))
            .collect();
        Ok((0..sequences.len())
            .map(|i| {
                let values: Vec<f64> = per_member.iter().map(|p| p[i]).collect();
                summarise(&values)
            })
            .collect())
    }
}

/// Mean and (population) standard deviation of member predictions.
pub fn summarise(values: &[f64]) -> Prediction {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Prediction {
        accuracy: mean,
        uncertainty: var.sqrt(),
    }
}
