//! Training throughput of one network: a few SGD steps on random images,
//! timed per phase. Used by `peephole bench training`; the PyTorch
//! reference (`scripts/bench_training.py`) times the same steps.
//!
//! The phases are timed separately (forward with loss, backward, optimiser
//! step) to show where the time goes. On the CPU backend every operation
//! runs eagerly, so the split is meaningful; on a GPU the split would
//! need device syncs and is only indicative.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use serde::Serialize;

use super::{Classifier, TrainConfig, TrainError, sgd, with_threads};
use crate::network::Network;

/// Measured speed of training steps.
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Timed steps (after warm-up).
    pub steps: usize,
    /// Training images per second over the timed steps.
    pub images_per_second: f64,
    /// Mean seconds per step in the forward pass and loss.
    pub forward_seconds: f64,
    /// Mean seconds per step in the backward pass.
    pub backward_seconds: f64,
    /// Mean seconds per step in the optimiser update.
    pub optimizer_seconds: f64,
}

/// Times `steps` SGD steps of `net` on batches of random images, after
/// `warmup` untimed ones, with the device and threads of `cfg`.
pub fn throughput(
    net: &Network,
    cfg: &TrainConfig,
    warmup: usize,
    steps: usize,
) -> Result<Throughput, TrainError> {
    cfg.validate()?;
    with_threads(cfg.threads, || measure(net, cfg, warmup, steps))?
}

fn measure(
    net: &Network,
    cfg: &TrainConfig,
    warmup: usize,
    steps: usize,
) -> Result<Throughput, TrainError> {
    let device = cfg.device.device()?.autodiff();
    let mut model = Classifier::build(net, &device, cfg.seed)?;
    let mut optim = sgd(cfg).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let b = cfg.batch_size;
    let shape = [b, net.input.c, net.input.h, net.input.w];
    let images = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..b as i64).map(|i| i % net.classes as i64).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), &device);

    let (mut fwd, mut bwd, mut opt) = (0.0, 0.0, 0.0);
    let mut timed = 0.0;
    for step in 0..warmup + steps {
        let t0 = Instant::now();
        let loss = loss_fn.forward(model.forward(images.clone()), labels.clone());

        // Reading the loss forces the forward pass to finish before the
        // clock moves on, on lazy backends too.
        let _ = loss.clone().into_scalar::<f32>();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t2 = Instant::now();
        model = optim.step(cfg.learning_rate, model, grads);
        device.sync().ok();
        let t3 = Instant::now();
        if step >= warmup {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
            opt += (t3 - t2).as_secs_f64();
            timed += (t3 - t0).as_secs_f64();
        }
    }
    let n = steps.max(1) as f64;
    Ok(Throughput {
        batch_size: b,
        steps,
        images_per_second: (steps * b) as f64 / timed.max(1e-9),
        forward_seconds: fwd / n,
        backward_seconds: bwd / n,
        optimizer_seconds: opt / n,
    })
}
