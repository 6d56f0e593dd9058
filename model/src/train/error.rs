//! [`TrainError`]: why a training run could not start or run.
//!
//! A run that diverges or is cancelled is *not* an error: it ends with a
//! [`super::Status`] in its [`super::TrainOutcome`], partial curve
//! included, because both are results worth recording.

use crate::data::{DataError, DatasetKind};
use crate::error::ArchError;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The architecture does not expand into a network.
    #[error("architecture: {0}")]
    Arch(#[from] ArchError),

    /// The data could not be read.
    #[error("data: {0}")]
    Data(#[from] DataError),

    /// A layer the native trainer cannot build.
    #[error("layer {layer}: {reason}")]
    Unsupported {
        /// Index of the layer in the expanded network.
        layer: usize,
        /// Why.
        reason: String,
    },

    /// The network's input does not match the data's images.
    #[error(
        "the network takes {network} images but {dataset} images are \
         {data}"
    )]
    InputMismatch {
        /// The data set.
        dataset: DatasetKind,
        /// Input shape of the network, CxHxW.
        network: String,
        /// Image shape of the data, CxHxW.
        data: String,
    },

    /// A configuration value that cannot work.
    #[error("config: {field} = {value}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },

    /// A CUDA device was asked for in a build without the `cuda` feature.
    #[error(
        "device cuda:{0} needs a build with `--features cuda` \
         (this one trains on the CPU only)"
    )]
    CudaNotBuilt(usize),

    /// The worker thread pool could not be started.
    #[error("cannot start {threads} training threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// What rayon reported.
        reason: String,
    },
}
