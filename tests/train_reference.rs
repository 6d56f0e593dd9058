//! One forward/backward pass and three SGD steps of a small network,
//! against numbers computed independently with PyTorch (float64).
//!
//! The network exercises every layer kind the builder maps: a 3x3
//! convolution, batch norm in training mode, ReLU, a 2x2 convolution with
//! asymmetric 'same' padding, tanh, 3x3 max pooling with padding, 2x2
//! average pooling with stride 2, 3x3 average pooling that excludes
//! padding from the count, sigmoid, a 1x3 (kw x kh) convolution, global
//! average pooling and the linear head. Weights and inputs are fixed
//! formulas, so no initialisation is involved.
//!
//! The reference (PyTorch 2.15, run once; its output is pinned below):
//!
//! ```python
//! import math, torch, torch.nn as nn, torch.nn.functional as F
//! torch.set_default_dtype(torch.float64)
//! def fill(shape, f, scale):
//!     n = math.prod(shape)
//!     return torch.tensor([scale * f(0.7 * i + 0.3) for i in range(n)]).reshape(shape)
//! x = fill((2, 1, 6, 6), math.cos, 1.0)
//! y = torch.tensor([1, 2])
//! c1 = nn.Conv2d(1, 3, (3, 3)); bn = nn.BatchNorm2d(3)
//! c2 = nn.Conv2d(3, 4, (2, 2)); c3 = nn.Conv2d(4, 4, (3, 1)); lin = nn.Linear(4, 3)
//! with torch.no_grad():
//!     for i, m in enumerate([c1, c2, c3]):
//!         m.weight.copy_(fill(m.weight.shape, math.sin, 0.5))
//!         m.bias.copy_(fill(m.bias.shape, math.cos, 0.1))
//!     lin.weight.copy_(fill((4, 3), math.sin, 0.5).T)  # burn stores [in, out]
//!     lin.bias.copy_(fill((3,), math.cos, 0.1))
//! def forward(x):
//!     h = c1(F.pad(x, (1, 1, 1, 1)))
//!     h = torch.relu(bn(h))
//!     h = torch.tanh(c2(F.pad(h, (0, 1, 0, 1))))           # 2x2 'same': right/bottom
//!     h = F.max_pool2d(F.pad(h, (1, 1, 1, 1), value=-math.inf), 3, 1)
//!     h = F.avg_pool2d(h, 2, 2)                             # 6x6 -> 3x3
//!     h = F.avg_pool2d(h, 3, 1, padding=1, count_include_pad=False)
//!     h = torch.sigmoid(h)
//!     h = c3(F.pad(h, (0, 0, 1, 1)))                        # kw=1, kh=3
//!     return lin(h.mean(dim=(2, 3)))
//! params = [c1.weight, c1.bias, bn.weight, bn.bias, c2.weight, c2.bias,
//!           c3.weight, c3.bias, lin.weight, lin.bias]
//! opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, dampening=0,
//!                       weight_decay=1e-4)
//! fmt = lambda t: ", ".join(f"{v:.7}" for v in t.flatten().tolist())
//! for step in range(3):
//!     opt.zero_grad()
//!     logits = forward(x)
//!     loss = F.cross_entropy(logits, y)
//!     loss.backward()
//!     if step == 0:
//!         print("logits", fmt(logits))
//!         print("conv1 grad", fmt(c1.weight.grad))
//!     print("loss", step, f"{loss.item():.8}")
//!     opt.step()
//! print("linear weight after 3 steps (burn layout [in, out])", fmt(lin.weight.T))
//! print("conv3 bias after 3 steps", fmt(c3.bias))
//! ```

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use model::data::DatasetKind;
use model::network::{NetLayer, Network, Op, Padding, Role, Shape};
use model::train::network::Stage;
use model::train::{Classifier, TrainConfig, optimizer, sgd_step};

const LOGITS: [f32; 6] = [
    0.6154059, 0.9717389, 0.8710479, 0.6146255, 0.9694918, 0.868391,
];
const CONV1_GRAD: [f32; 27] = [
    -0.0004288194,
    -0.002453987,
    -0.003711567,
    0.005706655,
    0.007859553,
    0.0024931,
    0.001785502,
    -0.00429817,
    -0.003111232,
    0.002372081,
    0.003504411,
    0.007246538,
    -0.008291791,
    -0.00792775,
    -0.00411409,
    0.001366013,
    0.006413171,
    0.002263046,
    -0.003994604,
    -0.00400808,
    -0.00977487,
    0.0097333,
    0.00685664,
    0.005115859,
    -0.004236144,
    -0.007729059,
    -0.001181419,
];
const LOSSES: [f64; 3] = [1.0078988, 0.96640339, 0.90150022];
const LINEAR_AFTER_3: [f32; 12] = [
    0.03009198, 0.4737117, 0.5604646, 0.3509822, 0.01454278, -0.3129349, -0.4037389, -0.4797551,
    -0.2338741, 0.05869572, 0.4689541, 0.5479579,
];
const CONV3_BIAS_AFTER_3: [f32; 4] = [0.1419224, -0.01436932, 0.01033629, -0.02884223];

/// `scale * f(0.7 i + 0.3)` for the i-th element, as in the script.
fn fill(len: usize, f: fn(f64) -> f64, scale: f64) -> Vec<f32> {
    (0..len)
        .map(|i| (scale * f(0.7 * i as f64 + 0.3)) as f32)
        .collect()
}

fn layer(op: Op, input: Shape, output: Shape) -> NetLayer {
    NetLayer {
        op,
        role: Role::Head,
        input,
        output,
        params: 0,
        flops: 0,
    }
}

/// The network of the script, in the architecture model's terms.
fn network() -> Network {
    let s = |c, h, w| Shape { c, h, w };
    let same = |kw, kh| Padding::same(kw, kh);
    let conv = |kw, kh, in_ch, out_ch| Op::Conv {
        kw,
        kh,
        in_ch,
        out_ch,
        stride: 1,
        pad: same(kw, kh),
        bias: true,
    };
    let layers = vec![
        layer(conv(3, 3, 1, 3), s(1, 6, 6), s(3, 6, 6)),
        layer(Op::BatchNorm { ch: 3 }, s(3, 6, 6), s(3, 6, 6)),
        layer(Op::Relu, s(3, 6, 6), s(3, 6, 6)),
        layer(conv(2, 2, 3, 4), s(3, 6, 6), s(4, 6, 6)),
        layer(Op::Tanh, s(4, 6, 6), s(4, 6, 6)),
        layer(
            Op::MaxPool {
                kw: 3,
                kh: 3,
                stride: 1,
                pad: same(3, 3),
            },
            s(4, 6, 6),
            s(4, 6, 6),
        ),
        layer(
            Op::AvgPool {
                kw: 2,
                kh: 2,
                stride: 2,
                pad: Padding::default(),
            },
            s(4, 6, 6),
            s(4, 3, 3),
        ),
        layer(
            Op::AvgPool {
                kw: 3,
                kh: 3,
                stride: 1,
                pad: same(3, 3),
            },
            s(4, 3, 3),
            s(4, 3, 3),
        ),
        layer(Op::Sigmoid, s(4, 3, 3), s(4, 3, 3)),
        layer(Op::Identity, s(4, 3, 3), s(4, 3, 3)),
        layer(conv(1, 3, 4, 4), s(4, 3, 3), s(4, 3, 3)),
        layer(Op::GlobalAvgPool, s(4, 3, 3), s(4, 1, 1)),
        layer(
            Op::Linear {
                in_features: 4,
                out_features: 3,
            },
            s(4, 1, 1),
            s(3, 1, 1),
        ),
    ];
    Network {
        input: s(1, 6, 6),
        classes: 3,
        layers,
        params: 0,
        flops: 0,
    }
}

fn param<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// The classifier with the script's weights.
fn classifier(device: &Device) -> Classifier {
    let mut model = Classifier::build(&network(), device, 0).unwrap();
    for stage in &mut model.stages {
        if let Stage::Conv(conv) = stage {
            let shape = conv.weight.dims();
            let len = shape.iter().product();
            conv.weight = param(fill(len, f64::sin, 0.5), shape, device);
            let out = shape[0];
            conv.bias = Some(param(fill(out, f64::cos, 0.1), [out], device));
        }
    }
    model.head.weight = param(fill(12, f64::sin, 0.5), [4, 3], device);
    model.head.bias = Some(param(fill(3, f64::cos, 0.1), [3], device));
    model
}

fn inputs(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let x = Tensor::from_data(
        TensorData::new(fill(72, f64::cos, 1.0), [2, 1, 6, 6]),
        device,
    );
    let y = Tensor::from_data(TensorData::new(vec![1i64, 2], [2]), device);
    (x, y)
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= tol * (1.0 + w.abs()),
            "{name}[{i}]: got {g}, reference {w} (error {err})"
        );
    }
}

#[test]
fn forward_and_backward_match_pytorch() {
    let device = Device::flex().autodiff();
    let model = classifier(&device);
    assert_eq!(model.stages.len(), 10, "identity is dropped");
    let (x, y) = inputs(&device);

    let logits = model.forward(x);
    let got: Vec<f32> = logits.to_data().try_to_vec::<f32>().unwrap();
    assert_close("logits", &got, &LOGITS, 1e-5);

    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, y);
    let value = loss.clone().into_scalar::<f32>();
    assert!((f64::from(value) - LOSSES[0]).abs() < 1e-5, "loss {value}");

    let grads = loss.backward();
    let Stage::Conv(conv1) = &model.stages[0] else {
        panic!("first stage is the 3x3 convolution")
    };
    let grad = conv1
        .weight
        .val()
        .grad(&grads)
        .expect("conv1 has a gradient");
    let got: Vec<f32> = grad.to_data().try_to_vec::<f32>().unwrap();
    assert_close("conv1 weight gradient", &got, &CONV1_GRAD, 1e-4);
}

#[test]
fn three_sgd_steps_match_pytorch() {
    let device = Device::flex().autodiff();
    let mut model = classifier(&device);
    let cfg = TrainConfig::paper(DatasetKind::Mnist, 1);
    let mut optim = optimizer(&cfg);
    for (step, want) in LOSSES.iter().enumerate() {
        let (x, y) = inputs(&device);
        let (next, loss) = sgd_step(model, &mut optim, x, y, 0.1);
        model = next;
        assert!(
            (loss - want).abs() < 2e-5,
            "step {step}: loss {loss}, reference {want}"
        );
    }

    // After the third update: momentum (dampening 0) and weight decay
    // both shape these values.
    let got: Vec<f32> = model
        .head
        .weight
        .val()
        .to_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_close("linear weight", &got, &LINEAR_AFTER_3, 1e-4);
    let Stage::Conv(conv3) = &model.stages[9] else {
        panic!("last stage is the 1x3 convolution")
    };
    let bias = conv3.bias.as_ref().unwrap().val();
    let got: Vec<f32> = bias.to_data().try_to_vec::<f32>().unwrap();
    assert_close("conv3 bias", &got, &CONV3_BIAS_AFTER_3, 1e-4);
}
