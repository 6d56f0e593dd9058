//! Turning an expanded [`Network`] into a trainable burn module.
//!
//! Every layer of the architecture model maps to one burn module, in
//! order: convolutions (any kernel width and height, the network's
//! padding, which may be asymmetric for even kernels), batch
//! normalisation, the three activations, max and average pooling, then
//! global average pooling and the linear classifier. Identity layers are
//! dropped. NAS-Bench-201 cells are not built: those networks are trained
//! through the table backend.
//!
//! Average pooling divides by the number of *real* pixels under the
//! window (padding excluded, PyTorch's `count_include_pad=False`), as the
//! architecture model documents for `Op::AvgPool`.
//!
//! Initialisation is He et al.'s: weights of convolutions and of the
//! classifier are drawn from N(0, 2 / fan_in), biases are zero, BN starts
//! as the identity. The draws come from a seeded ChaCha generator rather
//! than the backend's, so the same seed gives the same weights on every
//! device.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Initializer, Linear, PaddingConfig2d, Relu, Sigmoid, Tanh,
};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::TrainError;
use crate::network::{Network, Op, Padding};

/// One layer of the trainable network.
#[derive(Module, Debug)]
pub enum Stage {
    /// Convolution with bias.
    Conv(Conv2d),
    /// Batch normalisation (train mode on an autodiff device).
    BatchNorm(BatchNorm),
    /// Max pooling.
    MaxPool(MaxPool2d),
    /// Average pooling, padding excluded from the count.
    AvgPool(AvgPool2d),
    /// max(0, x).
    Relu(Relu),
    /// 1 / (1 + e^-x).
    Sigmoid(Sigmoid),
    /// tanh(x).
    Tanh(Tanh),
}

impl Stage {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Stage::Conv(m) => m.forward(x),
            Stage::BatchNorm(m) => m.forward(x),
            Stage::MaxPool(m) => m.forward(x),
            Stage::AvgPool(m) => m.forward(x),
            Stage::Relu(m) => m.forward(x),
            Stage::Sigmoid(m) => m.forward(x),
            Stage::Tanh(m) => m.forward(x),
        }
    }
}

/// A sequential image classifier: feature layers, global average pooling,
/// a linear layer producing one logit per class.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Everything before global average pooling, in order.
    pub stages: Vec<Stage>,
    /// The final linear layer.
    pub head: Linear,
}

impl Classifier {
    /// Builds `net` on `device` with He initialisation drawn from `seed`.
    pub fn build(net: &Network, device: &Device, seed: u64) -> Result<Self, TrainError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = net.layers.len();

        // The trainer relies on the head the skeletons always end with;
        // anything else is a network it does not know how to flatten.
        let head = match net
            .layers
            .get(n.saturating_sub(2)..)
            .map(|l| (&l[0].op, &l[1].op))
        {
            Some((
                Op::GlobalAvgPool,
                &Op::Linear {
                    in_features,
                    out_features,
                },
            )) => (in_features, out_features),
            _ => {
                return Err(TrainError::Unsupported {
                    layer: n,
                    reason: "the network must end with global average pooling \
                             and a linear classifier"
                        .into(),
                });
            }
        };

        let mut stages = Vec::with_capacity(n);
        for (index, layer) in net.layers[..n - 2].iter().enumerate() {
            let stage = match &layer.op {
                Op::Conv {
                    kw,
                    kh,
                    in_ch,
                    out_ch,
                    stride,
                    pad,
                    bias,
                } => {
                    let mut conv = Conv2dConfig::new([*in_ch, *out_ch], [*kh, *kw])
                        .with_stride([*stride, *stride])
                        .with_padding(explicit(pad))
                        .with_bias(*bias)
                        .with_initializer(Initializer::Zeros)
                        .init(device);
                    let fan_in = in_ch * kh * kw;
                    let shape = [*out_ch, *in_ch, *kh, *kw];
                    conv.weight = he_normal(&mut rng, shape, fan_in, device);
                    Stage::Conv(conv)
                }
                Op::BatchNorm { ch } => Stage::BatchNorm(BatchNormConfig::new(*ch).init(device)),
                Op::MaxPool {
                    kw,
                    kh,
                    stride,
                    pad,
                } => Stage::MaxPool(
                    MaxPool2dConfig::new([*kh, *kw])
                        .with_strides([*stride, *stride])
                        .with_padding(explicit(pad))
                        .init(),
                ),
                Op::AvgPool {
                    kw,
                    kh,
                    stride,
                    pad,
                } => Stage::AvgPool(
                    AvgPool2dConfig::new([*kh, *kw])
                        .with_strides([*stride, *stride])
                        .with_padding(explicit(pad))
                        .with_count_include_pad(false)
                        .init(),
                ),
                Op::Relu => Stage::Relu(Relu::new()),
                Op::Sigmoid => Stage::Sigmoid(Sigmoid::new()),
                Op::Tanh => Stage::Tanh(Tanh::new()),
                Op::Identity => continue,
                Op::Nb201Cell { .. } | Op::ResidualReduction { .. } => {
                    return Err(TrainError::Unsupported {
                        layer: index,
                        reason: "NAS-Bench-201 cells are trained through the \
                                 table backend, not the native trainer"
                            .into(),
                    });
                }
                Op::GlobalAvgPool | Op::Linear { .. } => {
                    return Err(TrainError::Unsupported {
                        layer: index,
                        reason: "global pooling and linear layers are only \
                                 supported as the final head"
                            .into(),
                    });
                }
            };
            stages.push(stage);
        }

        let (in_features, out_features) = head;
        let weight = he_normal(&mut rng, [in_features, out_features], in_features, device);
        let bias = Param::from_tensor(Tensor::zeros([out_features], device));
        let head = Linear {
            weight,
            bias: Some(bias),
        };
        Ok(Self { stages, head })
    }

    /// Logits, `[batch, classes]`, for images `[batch, c, h, w]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for stage in &self.stages {
            x = stage.forward(x);
        }

        // Global average pooling as a mean over the flattened map: one
        // reduction instead of a pooling kernel.
        let [b, c, h, w] = x.dims();
        let pooled = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]);
        self.head.forward(pooled)
    }
}

/// The network's padding in burn's (top, left, bottom, right) order.
fn explicit(pad: &Padding) -> PaddingConfig2d {
    PaddingConfig2d::Explicit(pad.top, pad.left, pad.bottom, pad.right)
}

/// A parameter of `shape` drawn from N(0, 2 / fan_in).
fn he_normal<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    fan_in: usize,
    device: &Device,
) -> Param<Tensor<D>> {
    let std = (2.0 / fan_in.max(1) as f64).sqrt();
    let len: usize = shape.iter().product();
    let values: Vec<f32> = (0..len).map(|_| (std * normal(rng)) as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A standard normal draw (Box-Muller; one of the pair is discarded to
/// keep the generator's use simple and reproducible).
fn normal(rng: &mut impl Rng) -> f64 {
    // `random::<f64>()` is in [0, 1); 1 - u is in (0, 1], safe for ln.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Architecture;

    /// A small block on a skeleton with a strided stem: a 5x5 stride-2
    /// conv and a 3x3 stride-2 max pool padded by one pixel take 64 to 16.
    const STRIDED_STEM: &str = r#"{"skeleton": {"block": {
        "input": {"shape": [3, 64, 64], "classes": 10}, "stem": 8,
        "stem_kernel": 5, "stem_stride": 2,
        "stem_pool": {"kernel": 3, "stride": 2},
        "widths": [8, 16, 32], "copies": [1, 1, 1], "max_channels": 256}},
        "block": [{"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.0},
                  {"kind": "batch_norm"}, {"kind": "relu"}]}"#;

    #[test]
    fn strided_stem_builds_with_the_rust_shapes() {
        let arch = Architecture::from_json(STRIDED_STEM).unwrap();
        let net = arch.expand().unwrap();
        let device = Device::flex();
        let model = Classifier::build(&net, &device, 7).unwrap();

        // No identity layers: one burn stage per Rust layer before the
        // head, each producing the shape the Rust model describes.
        assert_eq!(model.stages.len(), net.layers.len() - 2);
        let mut x = Tensor::zeros([2, 3, 64, 64], &device);
        for (stage, layer) in model.stages.iter().zip(&net.layers) {
            x = stage.forward(x);
            let o = layer.output;
            assert_eq!(x.dims(), [2, o.c, o.h, o.w], "{}", layer.role);
        }
        let logits = model.forward(Tensor::zeros([2, 3, 64, 64], &device));
        assert_eq!(logits.dims(), [2, 10]);
    }

    #[test]
    fn stem_pool_padding_never_wins() {
        let arch = Architecture::from_json(STRIDED_STEM).unwrap();
        let net = arch.expand().unwrap();
        let device = Device::flex();
        let model = Classifier::build(&net, &device, 7).unwrap();

        // The stem is conv, BN, ReLU, pool. On an all-negative map, zero
        // padding would put zeros on the border outputs; -inf padding
        // keeps every output at the input value.
        let pool = &model.stages[3];
        assert!(matches!(pool, Stage::MaxPool(_)));
        let y = pool.forward(Tensor::full([1, 8, 16, 16], -1.0, &device));
        assert_eq!(y.dims(), [1, 8, 8, 8]);
        let max = y.max().into_scalar::<f32>();
        assert_eq!(max, -1.0);
    }
}
