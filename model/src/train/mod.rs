//! The native trainer: trains one architecture on MNIST or CIFAR-10 with
//! the paper's recipe and records its validation-accuracy curve.
//!
//! What it owns: building the burn network ([`network`]), the training
//! loop, learning-rate schedule, divergence and cancellation handling,
//! device and thread selection, and the throughput measurement
//! ([`throughput`]). What it does not: reading data (see [`crate::data`]),
//! storing results or scheduling jobs (the `agents` and `runtime` crates
//! call [`train`] from a blocking thread).
//!
//! # The recipe (SPEC section 5)
//!
//! SGD with momentum 0.9 (PyTorch semantics: dampening 0, the first step
//! uses the raw gradient, no Nesterov) and weight decay 1e-4 applied to
//! every parameter, as `torch.optim.SGD(weight_decay=...)` does;
//! learning rate 0.1, multiplied by 0.1 at the milestone epochs (every 80
//! epochs for MNIST, every 60 for CIFAR-10); one pass over the shuffled
//! training set per epoch; cross-entropy loss; He initialisation. The
//! paper gives no batch size: 128 is used. A last batch smaller than the
//! batch size is kept (PyTorch's `drop_last=False`).
//!
//! # Outcomes
//!
//! A run ends [`Status::Completed`], [`Status::Diverged`] (a training loss
//! that is NaN or infinite; training stops at once) or
//! [`Status::Cancelled`] (the caller's flag was set; checked before every
//! batch). In every case the curve holds the epochs that finished.
//!
//! # Devices
//!
//! The CPU (burn's `flex` backend) by default. With the `cuda` cargo
//! feature, [`DeviceChoice::Cuda`] trains on an NVIDIA GPU through burn's
//! CUDA backend. That path is compile-checked only: no GPU was available
//! while it was written, so it is unverified.

mod error;
pub mod network;
mod throughput;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::arch::Architecture;
use crate::data::{Batch, DatasetKind, Datasets, Split};
use crate::network::Network;

pub use error::TrainError;
pub use network::Classifier;
pub use throughput::{Throughput, throughput};

/// Where to train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU, through burn's `flex` backend.
    #[default]
    Cpu,
    /// The NVIDIA GPU of that index (needs the `cuda` feature).
    Cuda(usize),
}

impl DeviceChoice {
    /// The burn device, without autodiff.
    pub fn device(self) -> Result<Device, TrainError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(index) => Ok(Device::cuda(index)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(index) => Err(TrainError::CudaNotBuilt(index)),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// A device name that is neither `cpu`, `cuda` nor `cuda:N`.
#[derive(Debug, thiserror::Error)]
#[error("unknown device {0:?}, expected cpu, cuda or cuda:N")]
pub struct UnknownDevice(String);

impl FromStr for DeviceChoice {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| UnknownDevice(s.to_string())),
        }
    }
}

/// How to train. Serialisable so that a job can carry it to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Learning rate of the first epoch.
    pub learning_rate: f64,
    /// Factor applied to the learning rate at each milestone.
    pub lr_decay: f64,
    /// Epochs (counted from 0) from which the next decay applies, like
    /// PyTorch's `MultiStepLR`: `[60]` trains epochs 0..60 at the base rate.
    pub lr_milestones: Vec<usize>,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 penalty added to every gradient.
    pub weight_decay: f64,
    /// Seeds initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Worker threads; 0 uses every core.
    pub threads: usize,
    /// Where to train.
    pub device: DeviceChoice,
    /// Images per batch when measuring validation accuracy.
    pub eval_batch_size: usize,
}

impl TrainConfig {
    /// The paper's recipe for `dataset` over `epochs` epochs: decay every
    /// 80 epochs (MNIST) or 60 (CIFAR-10).
    pub fn paper(dataset: DatasetKind, epochs: usize) -> Self {
        let every = match dataset {
            DatasetKind::Mnist => 80,
            DatasetKind::Cifar10 => 60,
        };
        Self {
            epochs,
            batch_size: 128,
            learning_rate: 0.1,
            lr_decay: 0.1,
            lr_milestones: (1..)
                .map(|k| k * every)
                .take_while(|&m| m < epochs)
                .collect(),
            momentum: 0.9,
            weight_decay: 1e-4,
            seed: 0,
            threads: 0,
            device: DeviceChoice::Cpu,
            eval_batch_size: 500,
        }
    }

    /// The learning rate of epoch `epoch` (from 0).
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let decays = self.lr_milestones.iter().filter(|&&m| m <= epoch).count();
        self.learning_rate * self.lr_decay.powi(decays as i32)
    }

    /// Rejects values that cannot train.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, value: &dyn fmt::Display, reason| TrainError::Config {
            field,
            value: value.to_string(),
            reason,
        };
        if self.batch_size == 0 {
            return Err(bad("batch_size", &0, "must be at least 1"));
        }
        if self.eval_batch_size == 0 {
            return Err(bad("eval_batch_size", &0, "must be at least 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(bad(
                "learning_rate",
                &self.learning_rate,
                "must be positive",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(bad("momentum", &self.momentum, "must be in [0, 1)"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad("weight_decay", &self.weight_decay, "must be >= 0"));
        }
        Ok(())
    }
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epochs finished, from 1.
    pub epoch: usize,
    /// Fraction of validation images classified correctly, 0..=1.
    pub val_accuracy: f64,
    /// Mean cross-entropy over the epoch's training batches.
    pub train_loss: f64,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
    /// Learning rate used during the epoch.
    pub learning_rate: f64,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Every epoch ran.
    Completed,
    /// The training loss became NaN or infinite in `epoch` (from 1) at
    /// `batch` (from 1); training stopped there.
    Diverged {
        /// Epoch of the bad loss, from 1.
        epoch: usize,
        /// Batch of the bad loss within the epoch, from 1.
        batch: usize,
    },
    /// The caller asked to stop.
    Cancelled,
}

/// The result of a run: how it ended and the curve of finished epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Id of the architecture trained.
    pub arch: String,
    /// The data set.
    pub dataset: DatasetKind,
    /// How the run ended.
    pub status: Status,
    /// One record per finished epoch.
    pub curve: Vec<EpochRecord>,
    /// Trainable parameters of the network.
    pub params: u64,
    /// Training images per second over the whole run (validation
    /// excluded).
    pub images_per_second: f64,
    /// Wall time of the run.
    pub seconds: f64,
    /// The configuration used.
    pub config: TrainConfig,
}

impl TrainOutcome {
    /// Validation accuracy after the last finished epoch.
    pub fn final_accuracy(&self) -> Option<f64> {
        self.curve.last().map(|r| r.val_accuracy)
    }
}

/// What a run reports while it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// A training batch finished.
    Batch {
        /// Epoch, from 1.
        epoch: usize,
        /// Batch within the epoch, from 1.
        batch: usize,
        /// Batches per epoch.
        batches: usize,
        /// Its loss.
        loss: f64,
        /// Training images per second so far in this epoch.
        images_per_second: f64,
    },
    /// Validation started for the epoch (from 1).
    Validating {
        /// Epoch, from 1.
        epoch: usize,
    },
    /// An epoch finished.
    Epoch(EpochRecord),
}

/// Trains `arch` on `data` as `cfg` says, reporting to `progress` and
/// stopping soon after `cancel` becomes true.
///
/// Blocks the calling thread for the whole run: call it from a dedicated
/// thread, never from an async task.
pub fn train(
    arch: &Architecture,
    data: &Datasets,
    cfg: &TrainConfig,
    progress: &mut (dyn FnMut(Progress) + Send),
    cancel: &AtomicBool,
) -> Result<TrainOutcome, TrainError> {
    let net = arch.expand()?;
    let id = arch.id().to_string();
    train_network(&net, &id, data, cfg, progress, cancel)
}

/// [`train`] for an already expanded network; `id` names it in the
/// outcome and the logs.
pub fn train_network(
    net: &Network,
    id: &str,
    data: &Datasets,
    cfg: &TrainConfig,
    progress: &mut (dyn FnMut(Progress) + Send),
    cancel: &AtomicBool,
) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    check_input(net, data)?;
    with_threads(cfg.threads, || run(net, id, data, cfg, progress, cancel))?
}

/// Runs `f` on a pool of `threads` workers (0: one per core), so that the
/// backend's parallel kernels use that many.
pub(crate) fn with_threads<R: Send>(
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> Result<R, TrainError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("peephole-train-{i}"))
        .build()
        .map_err(|e| TrainError::Threads {
            threads,
            reason: e.to_string(),
        })?;
    Ok(pool.install(f))
}

/// The image shape of the network must be the data's.
fn check_input(net: &Network, data: &Datasets) -> Result<(), TrainError> {
    let (c, h, w) = (data.train.channels, data.train.height, data.train.width);
    let i = net.input;
    if (i.c, i.h, i.w) != (c, h, w) {
        return Err(TrainError::InputMismatch {
            dataset: data.kind,
            network: i.to_string(),
            data: format!("{c}x{h}x{w}"),
        });
    }
    Ok(())
}

/// The training loop proper, on the current thread pool.
fn run(
    net: &Network,
    id: &str,
    data: &Datasets,
    cfg: &TrainConfig,
    progress: &mut (dyn FnMut(Progress) + Send),
    cancel: &AtomicBool,
) -> Result<TrainOutcome, TrainError> {
    let started = Instant::now();
    let device = cfg.device.device()?.autodiff();
    let mut model = Classifier::build(net, &device, cfg.seed)?;
    let mut optim = optimizer(cfg);

    // One generator for shuffling and augmentation, separate from the
    // one that drew the weights, so changing augmentation leaves the
    // initial network unchanged.
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_da7a);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let batches = order.len().div_ceil(cfg.batch_size);
    let mut curve = Vec::new();
    let mut trained_images = 0usize;
    let mut train_seconds = 0.0;
    let mut status = Status::Completed;
    info!(
        arch = id,
        dataset = %data.kind,
        params = net.params,
        train = data.train.len(),
        val = data.val.len(),
        epochs = cfg.epochs,
        device = %cfg.device,
        "training started"
    );

    'epochs: for epoch in 0..cfg.epochs {
        let epoch_started = Instant::now();
        let lr = cfg.learning_rate_at(epoch);
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;

        for (b, indices) in order.chunks(cfg.batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                status = Status::Cancelled;
                break 'epochs;
            }

            let batch = data.batch(Split::Train, indices, &mut rng);
            let (images, labels) = tensors(batch, data, &device);
            let (next, loss) = sgd_step(model, &mut optim, images, labels, lr);
            model = next;
            if !loss.is_finite() {
                warn!(
                    arch = id,
                    epoch = epoch + 1,
                    batch = b + 1,
                    loss,
                    "diverged"
                );
                status = Status::Diverged {
                    epoch: epoch + 1,
                    batch: b + 1,
                };
                break 'epochs;
            }
            loss_sum += loss;
            trained_images += indices.len();

            let elapsed = epoch_started.elapsed().as_secs_f64();
            let seen = (b * cfg.batch_size + indices.len()) as f64;
            progress(Progress::Batch {
                epoch: epoch + 1,
                batch: b + 1,
                batches,
                loss,
                images_per_second: seen / elapsed.max(1e-9),
            });
        }
        train_seconds += epoch_started.elapsed().as_secs_f64();

        progress(Progress::Validating { epoch: epoch + 1 });
        let val_accuracy = accuracy(&model, data, Split::Val, cfg.eval_batch_size, &device);
        let record = EpochRecord {
            epoch: epoch + 1,
            val_accuracy,
            train_loss: loss_sum / batches.max(1) as f64,
            seconds: epoch_started.elapsed().as_secs_f64(),
            learning_rate: lr,
        };
        info!(
            arch = id,
            epoch = record.epoch,
            val_accuracy,
            train_loss = record.train_loss,
            seconds = record.seconds,
            "epoch done"
        );
        progress(Progress::Epoch(record.clone()));
        curve.push(record);
    }

    debug!(arch = id, ?status, "training stopped");
    Ok(TrainOutcome {
        arch: id.to_string(),
        dataset: data.kind,
        status,
        curve,
        params: net.params,
        images_per_second: trained_images as f64 / train_seconds.max(1e-9),
        seconds: started.elapsed().as_secs_f64(),
        config: cfg.clone(),
    })
}

/// The optimiser of the recipe: SGD with `cfg`'s momentum and weight
/// decay, as PyTorch defines them (dampening 0, no Nesterov).
pub fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    sgd(cfg).init()
}

/// One training step on one batch: forward pass, cross-entropy, backward
/// pass, SGD update at learning rate `lr`. Returns the updated model and
/// the batch's loss (before the update). A loss that is NaN or infinite
/// is returned with the model unchanged: there is nothing sane to apply.
pub fn sgd_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    labels: Tensor<1, Int>,
    lr: f64,
) -> (Classifier, f64) {
    let device = images.device();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let loss = loss_fn.forward(model.forward(images), labels);

    // Reading the loss syncs the device once per batch; the divergence
    // check and the progress report need it anyway.
    let value = f64::from(loss.clone().into_scalar::<f32>());
    if !value.is_finite() {
        return (model, value);
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optim.step(lr, model, grads), value)
}

/// SGD as PyTorch defines it: dampening 0, no Nesterov.
pub(crate) fn sgd(cfg: &TrainConfig) -> SgdConfig {
    let momentum = MomentumConfig {
        momentum: cfg.momentum,
        dampening: 0.0,
        nesterov: false,
    };
    SgdConfig::new()
        .with_momentum((cfg.momentum > 0.0).then_some(momentum))
        .with_weight_decay(
            (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32)),
        )
}

/// A batch as an image tensor and a label tensor on `device`.
pub(crate) fn tensors(
    batch: Batch,
    data: &Datasets,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let set = &data.train;
    let shape = [batch.len, set.channels, set.height, set.width];
    let images = Tensor::from_data(TensorData::new(batch.images, shape), device);
    let labels = Tensor::from_data(TensorData::new(batch.labels, [batch.len]), device);
    (images, labels)
}

/// Fraction of `split` that `model` classifies correctly, with batch
/// norm in inference mode and no autodiff graph.
pub fn accuracy(
    model: &Classifier,
    data: &Datasets,
    split: Split,
    batch_size: usize,
    device: &Device,
) -> f64 {
    let model = model.valid();
    let device = device.clone().without_autodiff();
    let set = data.set(split);
    let indices: Vec<usize> = (0..set.len()).collect();

    // Validation batches are never augmented; the generator is unused.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut correct = 0i64;
    for chunk in indices.chunks(batch_size) {
        let batch = data.batch(split, chunk, &mut rng);
        let (images, labels) = tensors(batch, data, &device);
        let predicted = model.forward(images).argmax(1).reshape([chunk.len()]);
        correct += predicted.equal(labels).int().sum().into_scalar::<i64>();
    }
    correct as f64 / set.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_schedule_decays_at_milestones() {
        let cfg = TrainConfig::paper(DatasetKind::Cifar10, 200);
        assert_eq!(cfg.lr_milestones, [60, 120, 180]);
        assert_eq!(cfg.learning_rate_at(0), 0.1);
        assert_eq!(cfg.learning_rate_at(59), 0.1);
        assert!((cfg.learning_rate_at(60) - 0.01).abs() < 1e-12);
        assert!((cfg.learning_rate_at(199) - 1e-4).abs() < 1e-12);
        let mnist = TrainConfig::paper(DatasetKind::Mnist, 100);
        assert_eq!(mnist.lr_milestones, [80]);
        assert!(
            TrainConfig::paper(DatasetKind::Mnist, 2)
                .lr_milestones
                .is_empty()
        );
    }

    #[test]
    fn device_names_parse() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(3)
        );
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = DeviceChoice::Cuda(1).device().unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = TrainConfig::paper(DatasetKind::Mnist, 3);
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
    }

    #[test]
    fn bad_config_values_are_rejected() {
        let mut cfg = TrainConfig::paper(DatasetKind::Mnist, 1);
        cfg.batch_size = 0;
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("batch_size")
        );
        let mut cfg = TrainConfig::paper(DatasetKind::Mnist, 1);
        cfg.momentum = 1.5;
        assert!(cfg.validate().is_err());
    }
}
