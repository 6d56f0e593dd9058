//! The predictor network in burn (SPEC section 3), used for training and as
//! the reference that the fast screening path must match.
//!
//! Layer vector = TY, KW, KH, CH embeddings (KW and KH from one shared
//! kernel table), plus a position embedding for the positional encoding.
//! An LSTM with PyTorch's gate order runs over the layer vectors; padded
//! steps leave its state untouched, so a sequence predicts the same alone
//! or padded in a batch. Its last hidden state (the structural feature) and
//! the epoch embedding feed a head of three linear layers, the first two
//! followed by batch norm and ReLU. The head predicts the standardised
//! accuracy; [`Net::predict`] maps it back to accuracy.
//!
//! The LSTM is written here rather than taken from `burn::nn` so that its
//! parameters are exactly the arrays of [`Weights`], with no per-gate
//! layout to translate.

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, Linear};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::encoding::Batch;
use super::weights::{Dense, Dims, Matrix, NORM_EPSILON, Norm, Weights};

/// The predictor network. Build it with [`Net::from_weights`].
#[derive(Module, Debug)]
pub struct Net {
    type_table: Param<Tensor<2>>,
    kernel_table: Param<Tensor<2>>,
    ratio_table: Param<Tensor<2>>,
    position_table: Option<Param<Tensor<2>>>,
    epoch_table: Param<Tensor<2>>,
    lstm_input: Param<Tensor<2>>,
    lstm_hidden: Param<Tensor<2>>,
    lstm_bias: Param<Tensor<1>>,
    dense1: Linear,
    norm1: BatchNorm,
    dense2: Linear,
    norm2: BatchNorm,
    output: Linear,
    hidden: usize,
    target_mean: f64,
    target_scale: f64,
}

fn matrix(m: &Matrix, device: &Device) -> Param<Tensor<2>> {
    Param::from_data(TensorData::new(m.data.clone(), [m.rows, m.cols]), device)
}

fn vector(v: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

fn dense(d: &Dense, device: &Device) -> Linear {
    Linear {
        weight: matrix(&d.weight, device),
        bias: Some(Param::from_tensor(vector(&d.bias, device))),
    }
}

fn norm(n: &Norm, device: &Device) -> BatchNorm {
    BatchNorm {
        gamma: Param::from_tensor(vector(&n.gamma, device)),
        beta: Param::from_tensor(vector(&n.beta, device)),
        training: Param::from_bool(true),
        running_mean: RunningState::new(vector(&n.mean, device)),
        running_var: RunningState::new(vector(&n.var, device)),
        momentum: 0.1,
        epsilon: NORM_EPSILON,
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    // The tensors here are all created as f32 by this module.
    t.into_data()
        .try_into_vec::<f32>()
        .expect("predictor tensors are f32")
}

fn to_matrix(p: &Param<Tensor<2>>) -> Matrix {
    let [rows, cols] = p.val().dims();
    Matrix {
        rows,
        cols,
        data: to_vec(p.val()),
    }
}

fn export_dense(l: &Linear) -> Dense {
    Dense {
        weight: to_matrix(&l.weight),
        bias: l.bias.as_ref().map(|b| to_vec(b.val())).unwrap_or_default(),
    }
}

fn export_norm(n: &BatchNorm) -> Norm {
    Norm {
        gamma: to_vec(n.gamma.val()),
        beta: to_vec(n.beta.val()),
        mean: to_vec(n.running_mean.value()),
        var: to_vec(n.running_var.value()),
    }
}

fn indices(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

impl Net {
    /// Puts `weights` on `device` (an autodiff device to train).
    pub fn from_weights(w: &Weights, device: &Device) -> Net {
        Net {
            type_table: matrix(&w.type_table, device),
            kernel_table: matrix(&w.kernel_table, device),
            ratio_table: matrix(&w.ratio_table, device),
            position_table: (w.dims.d_position > 0).then(|| matrix(&w.position_table, device)),
            epoch_table: matrix(&w.epoch_table, device),
            lstm_input: matrix(&w.lstm_input, device),
            lstm_hidden: matrix(&w.lstm_hidden, device),
            lstm_bias: Param::from_tensor(vector(&w.lstm_bias, device)),
            dense1: dense(&w.dense1, device),
            norm1: norm(&w.norm1, device),
            dense2: dense(&w.dense2, device),
            norm2: norm(&w.norm2, device),
            output: dense(&w.output, device),
            hidden: w.dims.hidden,
            target_mean: f64::from(w.target_mean),
            target_scale: f64::from(w.target_scale),
        }
    }

    /// Reads the parameters back out.
    pub fn to_weights(&self, dims: Dims) -> Weights {
        let position_table = match &self.position_table {
            Some(p) => to_matrix(p),
            None => Matrix::zeros(dims.positions, 0),
        };
        Weights {
            dims,
            type_table: to_matrix(&self.type_table),
            kernel_table: to_matrix(&self.kernel_table),
            ratio_table: to_matrix(&self.ratio_table),
            position_table,
            epoch_table: to_matrix(&self.epoch_table),
            lstm_input: to_matrix(&self.lstm_input),
            lstm_hidden: to_matrix(&self.lstm_hidden),
            lstm_bias: to_vec(self.lstm_bias.val()),
            dense1: export_dense(&self.dense1),
            norm1: export_norm(&self.norm1),
            dense2: export_dense(&self.dense2),
            norm2: export_norm(&self.norm2),
            output: export_dense(&self.output),
            target_mean: self.target_mean as f32,
            target_scale: self.target_scale as f32,
        }
    }

    /// Structural features `[size, hidden]`: the LSTM's hidden state after
    /// each sequence's last real token.
    pub fn structural_features(&self, batch: &Batch, device: &Device) -> Tensor<2> {
        let (size, len, hidden) = (batch.size, batch.len, self.hidden);
        let lookup =
            |table: &Param<Tensor<2>>, idx: &[i64]| table.val().select(0, indices(idx, device));

        // Layer vectors for all steps at once: [size * len, d_layer].
        let mut parts = vec![
            lookup(&self.type_table, &batch.ty),
            lookup(&self.kernel_table, &batch.kw),
            lookup(&self.kernel_table, &batch.kh),
            lookup(&self.ratio_table, &batch.ch),
        ];
        if let Some(table) = &self.position_table {
            parts.push(lookup(table, &batch.position));
        }
        let layers = Tensor::cat(parts, 1);

        // The input half of the gates needs no recurrence: one matmul.
        let gates_in = layers
            .matmul(self.lstm_input.val())
            .add(self.lstm_bias.val().unsqueeze_dim(0))
            .reshape([size, len, 4 * hidden]);
        let mask: Tensor<2> =
            Tensor::from_data(TensorData::new(batch.mask.clone(), [size, len]), device);

        let mut h: Tensor<2> = Tensor::zeros([size, hidden], device);
        let mut c: Tensor<2> = Tensor::zeros([size, hidden], device);
        for t in 0..len {
            let x: Tensor<2> = gates_in.clone().narrow(1, t, 1).squeeze_dim(1);
            let gates = x + h.clone().matmul(self.lstm_hidden.val());
            let i = sigmoid(gates.clone().narrow(1, 0, hidden));
            let f = sigmoid(gates.clone().narrow(1, hidden, hidden));
            let g = gates.clone().narrow(1, 2 * hidden, hidden).tanh();
            let o = sigmoid(gates.narrow(1, 3 * hidden, hidden));
            let c_new = f * c.clone() + i * g;
            let h_new = o * c_new.clone().tanh();

            // Padding keeps the previous state exactly: m = 0 gives h.
            let m = mask.clone().narrow(1, t, 1);
            let keep = m.clone().neg().add_scalar(1.0);
            c = c_new * m.clone() + c * keep.clone();
            h = h_new * m + h * keep;
        }
        h
    }

    /// Standardised predictions `[size, 1]`, what the loss sees.
    pub fn forward(&self, batch: &Batch, device: &Device) -> Tensor<2> {
        let feature = self.structural_features(batch, device);
        let epoch = self
            .epoch_table
            .val()
            .select(0, indices(&batch.epoch, device));
        let x = Tensor::cat(vec![feature, epoch], 1);
        let x = relu(self.norm1.forward(self.dense1.forward(x)));
        let x = relu(self.norm2.forward(self.dense2.forward(x)));
        self.output.forward(x)
    }

    /// Predicted accuracies, one per sequence.
    pub fn predict(&self, batch: &Batch, device: &Device) -> Vec<f64> {
        to_vec(self.forward(batch, device))
            .into_iter()
            .map(|z| self.target_mean + self.target_scale * f64::from(z))
            .collect()
    }

    /// Maps accuracies to the standardised scale the network predicts.
    pub fn standardise(&self, accuracy: f64) -> f64 {
        (accuracy - self.target_mean) / self.target_scale
    }
}

/// The burn network on the default device in inference mode (batch norm
/// on running statistics), for callers that hold no burn types.
#[derive(Debug)]
pub struct InferenceNet {
    net: Net,
    device: Device,
}

impl InferenceNet {
    pub fn new(weights: &Weights) -> InferenceNet {
        let device = Device::default();
        let net = Net::from_weights(weights, &device).valid();
        InferenceNet { net, device }
    }

    /// Predicted accuracies, one per sequence of `batch`.
    pub fn predict(&self, batch: &Batch) -> Vec<f64> {
        self.net.predict(batch, &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictor::encoding::{Encoding, Token};
    use crate::predictor::fast::FastNet;
    use crate::ulc::LayerCode;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn code(ty: u8, kw: u8, kh: u8, ch: u8) -> LayerCode {
        LayerCode { ty, kw, kh, ch }
    }

    /// The LSTM against a hand-computed two-step reference. Expected
    /// values from this Python (math module only, an independent scalar
    /// implementation of the same equations):
    ///
    /// ```python
    /// import math
    /// sig = lambda x: 1 / (1 + math.exp(-x))
    /// T = {4: 0.5, 1: -0.3}; K = {1: 0.2, 3: -0.7}; R = {4: 0.1, 6: 0.9}
    /// Wi = [[0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8],
    ///       [-0.9, 1.0, 0.11, 0.12], [0.13, -0.14, 0.15, 0.16]]
    /// Wh = [0.3, -0.4, 0.5, 0.6]; b = [0.01, 0.02, -0.03, 0.04]
    /// h = c = 0
    /// for (t, kw, kh, ch) in [(4, 1, 1, 4), (1, 3, 3, 6)]:
    ///     x = [T[t], K[kw], K[kh], R[ch]]
    ///     g = [sum(x[r] * Wi[r][j] for r in range(4)) + Wh[j] * h + b[j]
    ///          for j in range(4)]
    ///     i, f, gg, o = sig(g[0]), sig(g[1]), math.tanh(g[2]), sig(g[3])
    ///     c = f * c + i * gg; h = o * math.tanh(c); print(h, c)
    /// # 0.005151486693163407 0.008469434248365012
    /// # 0.0856661260363471 0.2428617178136621
    /// ```
    #[test]
    fn lstm_matches_hand_computed_steps() {
        let dims = Dims {
            d_type: 1,
            d_kernel: 1,
            d_ratio: 1,
            hidden: 1,
            head: 2,
            ..Dims::paper(1)
        };
        let mut w = Weights::init(dims, 0);
        w.type_table.data[4] = 0.5;
        w.type_table.data[1] = -0.3;
        w.kernel_table.data[1] = 0.2;
        w.kernel_table.data[3] = -0.7;
        w.ratio_table.data[4] = 0.1;
        w.ratio_table.data[6] = 0.9;
        w.lstm_input.data = vec![
            0.1, -0.2, 0.3, 0.4, 0.5, 0.6, -0.7, 0.8, -0.9, 1.0, 0.11, 0.12, 0.13, -0.14, 0.15,
            0.16,
        ];
        w.lstm_hidden.data = vec![0.3, -0.4, 0.5, 0.6];
        w.lstm_bias = vec![0.01, 0.02, -0.03, 0.04];

        let device = Device::default();
        let net = Net::from_weights(&w, &device).valid();
        let one = Encoding::Sequential.tokens(&[code(4, 1, 1, 4)]).unwrap();
        let two = Encoding::Sequential
            .tokens(&[code(4, 1, 1, 4), code(1, 3, 3, 6)])
            .unwrap();
        let batch = Batch::new(&[&one, &two], &[1, 1], 0);
        let h = to_vec(net.structural_features(&batch, &device));
        assert!((f64::from(h[0]) - 0.005_151_486_693_163_407).abs() < 1e-6);
        assert!((f64::from(h[1]) - 0.085_666_126_036_347_1).abs() < 1e-6);
    }

    fn random_batch(rng: &mut ChaCha8Rng, n: usize, encoding: Encoding) -> Vec<Vec<Token>> {
        (0..n)
            .map(|_| {
                let len = rng.random_range(1..=12);
                let codes: Vec<LayerCode> = (0..len)
                    .map(|_| {
                        code(
                            rng.random_range(1..=9),
                            rng.random_range(1..=5),
                            rng.random_range(1..=5),
                            rng.random_range(1..=8),
                        )
                    })
                    .collect();
                encoding.tokens(&codes).unwrap()
            })
            .collect()
    }

    /// Trained-looking weights: random, with batch-norm statistics moved
    /// off their defaults so that folding them is exercised.
    fn weights(dims: Dims, seed: u64) -> Weights {
        let mut w = Weights::init(dims, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for norm in [&mut w.norm1, &mut w.norm2] {
            for x in norm.gamma.iter_mut().chain(&mut norm.beta) {
                *x += rng.random_range(-0.5..0.5);
            }
            for x in norm.mean.iter_mut() {
                *x = rng.random_range(-0.3..0.3);
            }
            for x in norm.var.iter_mut() {
                *x = rng.random_range(0.2..2.0);
            }
        }
        w.target_mean = 0.8;
        w.target_scale = 0.05;
        w
    }

    #[test]
    fn padding_does_not_change_a_prediction() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let dims = Dims::paper(20);
        let device = Device::default();
        let net = Net::from_weights(&weights(dims, 2), &device).valid();
        let seqs = random_batch(&mut rng, 9, Encoding::Sequential);
        let refs: Vec<&[Token]> = seqs.iter().map(|s| s.as_slice()).collect();
        let epochs: Vec<usize> = (0..9).map(|i| i + 1).collect();
        let together = net.predict(&Batch::new(&refs, &epochs, 0), &device);
        let padded = net.predict(&Batch::new(&refs, &epochs, 30), &device);
        for (i, s) in refs.iter().enumerate() {
            let alone = net.predict(&Batch::new(&[s], &epochs[i..=i], 0), &device);
            assert!((alone[0] - together[i]).abs() < 1e-6, "sequence {i}");
            assert!((alone[0] - padded[i]).abs() < 1e-6, "sequence {i}");
        }
    }

    #[test]
    fn hidden_states_end_in_the_structural_feature() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let w = weights(Dims::paper(20), 6);
        let device = Device::default();
        let net = Net::from_weights(&w, &device).valid();
        let fast = FastNet::new(&w);
        for seq in random_batch(&mut rng, 5, Encoding::Sequential) {
            // A prefix's feature is the state after that prefix's last layer.
            let states = fast.hidden_states(&seq);
            assert_eq!(states.len(), seq.len());
            for cut in [1, seq.len()] {
                let batch = Batch::new(&[&seq[..cut]], &[0], 0);
                let burn = to_vec(net.structural_features(&batch, &device));
                for (a, b) in burn.iter().zip(&states[cut - 1]) {
                    assert!((a - b).abs() < 1e-5, "prefix {cut}: burn {a}, fast {b}");
                }
            }
        }
    }

    #[test]
    fn fast_path_equals_burn() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for encoding in [Encoding::Sequential, Encoding::Positional] {
            let mut dims = Dims::paper(200);
            if encoding == Encoding::Positional {
                dims.d_position = 10;
                dims.positions = 13;
            }
            let w = weights(dims, 4);
            let device = Device::default();
            let net = Net::from_weights(&w, &device).valid();
            let fast = FastNet::new(&w);
            let seqs = random_batch(&mut rng, 37, encoding);
            let refs: Vec<&[Token]> = seqs.iter().map(|s| s.as_slice()).collect();
            let epochs: Vec<usize> = (0..37).map(|i| (i * 7) % 201).collect();
            let burn = net.predict(&Batch::new(&refs, &epochs, 0), &device);
            for threads in [1, 2] {
                let ours = fast.predict(&refs, &epochs, threads);
                for (i, (a, b)) in burn.iter().zip(&ours).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{encoding:?} sequence {i}: burn {a}, fast {b}"
                    );
                }
            }
        }
    }
}
