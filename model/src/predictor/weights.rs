//! The predictor's parameters as plain row-major `f32` arrays, independent
//! of any tensor library.
//!
//! [`Weights`] is the common currency of the predictor: the burn network
//! ([`super::net`]) is built from it and exported back to it, the fast
//! screening path ([`super::fast`]) folds it into lookup tables, and the
//! checkpoint ([`super::checkpoint`]) stores it as named tensors. Random
//! initialisation lives here too, seeded, so that a fit is reproducible
//! whatever the tensor backend does with its own generator.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ulc::{MAX_KERNEL, NUM_RATIO_BINS, NUM_TYPES};

/// Sizes of every part of the network.
///
/// The paper gives a 40-d layer embedding, 160 hidden units, a 40-d epoch
/// embedding and 200 units in the head. We read "40-d layer embedding" as
/// the width of the concatenated layer vector: TY, KW, KH and CH each get
/// 10 dimensions (KW and KH from the one shared kernel table), 40 in all.
/// An optional position embedding (see [`super::Encoding`]) widens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// Width of the TY embedding.
    pub d_type: usize,
    /// Width of the kernel-size embedding (used for KW and for KH).
    pub d_kernel: usize,
    /// Width of the CH embedding.
    pub d_ratio: usize,
    /// Width of the position embedding; 0 when the encoding has none.
    pub d_position: usize,
    /// Rows of the position table: longest sequence + 1 (row 0 = none).
    pub positions: usize,
    /// LSTM hidden units.
    pub hidden: usize,
    /// Width of the epoch embedding.
    pub d_epoch: usize,
    /// Rows of the epoch table: largest epoch index + 1.
    pub epochs: usize,
    /// Units of the head's hidden layers.
    pub head: usize,
}

impl Dims {
    /// The paper's sizes, for a data set whose largest epoch is
    /// `max_epoch`, without position embedding.
    pub fn paper(max_epoch: usize) -> Dims {
        Dims {
            d_type: 10,
            d_kernel: 10,
            d_ratio: 10,
            d_position: 0,
            positions: 1,
            hidden: 160,
            d_epoch: 40,
            epochs: max_epoch + 1,
            head: 200,
        }
    }

    /// Width of one layer vector fed to the LSTM.
    pub fn d_layer(&self) -> usize {
        self.d_type + 2 * self.d_kernel + self.d_ratio + self.d_position
    }

    /// Width of the four stacked LSTM gates.
    pub fn gates(&self) -> usize {
        4 * self.hidden
    }
}

/// A row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Entries drawn uniformly from `[-bound, bound]`.
    fn uniform(rows: usize, cols: usize, bound: f32, rng: &mut ChaCha8Rng) -> Self {
        let data = (0..rows * cols)
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        Matrix { rows, cols, data }
    }

    /// Entries drawn from a standard normal (Box-Muller).
    fn normal(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
        let data = (0..rows * cols)
            .map(|_| {
                let u: f32 = rng.random_range(f32::EPSILON..1.0);
                let v: f32 = rng.random_range(0.0..1.0);
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        Matrix { rows, cols, data }
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// A fully connected layer, `y = x W + b` with `W` of shape `[in, out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub weight: Matrix,
    pub bias: Vec<f32>,
}

impl Dense {
    /// PyTorch's default: uniform in `±1/sqrt(in)`.
    fn init(d_in: usize, d_out: usize, rng: &mut ChaCha8Rng) -> Dense {
        let bound = 1.0 / (d_in as f32).sqrt();
        let bias = Matrix::uniform(1, d_out, bound, rng).data;
        Dense {
            weight: Matrix::uniform(d_in, d_out, bound, rng),
            bias,
        }
    }
}

/// Batch normalisation over features: learned scale and shift plus the
/// running statistics used at inference.
#[derive(Debug, Clone, PartialEq)]
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// Epsilon of every batch norm (burn's and PyTorch's default).
pub const NORM_EPSILON: f64 = 1e-5;

impl Norm {
    fn init(n: usize) -> Norm {
        Norm {
            gamma: vec![1.0; n],
            beta: vec![0.0; n],
            mean: vec![0.0; n],
            var: vec![1.0; n],
        }
    }
}

/// Everything one predictor network has learned.
///
/// Embedding tables reserve row 0 for padding. The LSTM's gates are
/// stacked in PyTorch's order: input, forget, candidate, output.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub dims: Dims,
    /// `[NUM_TYPES + 1, d_type]`.
    pub type_table: Matrix,
    /// `[MAX_KERNEL + 1, d_kernel]`, shared by KW and KH.
    pub kernel_table: Matrix,
    /// `[NUM_RATIO_BINS + 1, d_ratio]`.
    pub ratio_table: Matrix,
    /// `[positions, d_position]`.
    pub position_table: Matrix,
    /// `[epochs, d_epoch]`.
    pub epoch_table: Matrix,
    /// `[d_layer, 4 hidden]`.
    pub lstm_input: Matrix,
    /// `[hidden, 4 hidden]`.
    pub lstm_hidden: Matrix,
    /// `[4 hidden]`.
    pub lstm_bias: Vec<f32>,
    /// `[hidden + d_epoch, head]`.
    pub dense1: Dense,
    pub norm1: Norm,
    /// `[head, head]`.
    pub dense2: Dense,
    pub norm2: Norm,
    /// `[head, 1]`.
    pub output: Dense,
    /// The network predicts `(accuracy - target_mean) / target_scale`.
    pub target_mean: f32,
    pub target_scale: f32,
}

impl Weights {
    /// Fresh weights with PyTorch's default initialisation: embeddings
    /// N(0, 1), LSTM and linear layers uniform in `±1/sqrt(fan)`.
    pub fn init(dims: Dims, seed: u64) -> Weights {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gates = dims.gates();
        let lstm_bound = 1.0 / (dims.hidden as f32).sqrt();
        let type_table = Matrix::normal(NUM_TYPES + 1, dims.d_type, &mut rng);
        let kernel_table = Matrix::normal(MAX_KERNEL as usize + 1, dims.d_kernel, &mut rng);
        let ratio_table = Matrix::normal(NUM_RATIO_BINS + 1, dims.d_ratio, &mut rng);
        let position_table = Matrix::normal(dims.positions, dims.d_position, &mut rng);
        let epoch_table = Matrix::normal(dims.epochs, dims.d_epoch, &mut rng);
        let lstm_input = Matrix::uniform(dims.d_layer(), gates, lstm_bound, &mut rng);
        let lstm_hidden = Matrix::uniform(dims.hidden, gates, lstm_bound, &mut rng);

        // PyTorch has two bias vectors; their sum is one uniform draw
        // each, which we keep so the scale of the sum matches.
        let lstm_bias = (0..gates)
            .map(|_| {
                rng.random_range(-lstm_bound..=lstm_bound)
                    + rng.random_range(-lstm_bound..=lstm_bound)
            })
            .collect();
        let dense1 = Dense::init(dims.hidden + dims.d_epoch, dims.head, &mut rng);
        let dense2 = Dense::init(dims.head, dims.head, &mut rng);
        let output = Dense::init(dims.head, 1, &mut rng);
        Weights {
            dims,
            type_table,
            kernel_table,
            ratio_table,
            position_table,
            epoch_table,
            lstm_input,
            lstm_hidden,
            lstm_bias,
            dense1,
            norm1: Norm::init(dims.head),
            dense2,
            norm2: Norm::init(dims.head),
            output,
            target_mean: 0.0,
            target_scale: 1.0,
        }
    }

    /// Every array with a stable name and its shape, in a fixed order.
    pub fn named(&self) -> Vec<(&'static str, Vec<usize>, &[f32])> {
        fn mat(m: &Matrix) -> (Vec<usize>, &[f32]) {
            (vec![m.rows, m.cols], &m.data)
        }
        fn vec(v: &[f32]) -> (Vec<usize>, &[f32]) {
            (vec![v.len()], v)
        }
        let mut out = Vec::new();
        let mut push = |name, (shape, data)| out.push((name, shape, data));
        push("type_table", mat(&self.type_table));
        push("kernel_table", mat(&self.kernel_table));
        push("ratio_table", mat(&self.ratio_table));
        push("position_table", mat(&self.position_table));
        push("epoch_table", mat(&self.epoch_table));
        push("lstm_input", mat(&self.lstm_input));
        push("lstm_hidden", mat(&self.lstm_hidden));
        push("lstm_bias", vec(&self.lstm_bias));
        push("dense1.weight", mat(&self.dense1.weight));
        push("dense1.bias", vec(&self.dense1.bias));
        push("norm1.gamma", vec(&self.norm1.gamma));
        push("norm1.beta", vec(&self.norm1.beta));
        push("norm1.mean", vec(&self.norm1.mean));
        push("norm1.var", vec(&self.norm1.var));
        push("dense2.weight", mat(&self.dense2.weight));
        push("dense2.bias", vec(&self.dense2.bias));
        push("norm2.gamma", vec(&self.norm2.gamma));
        push("norm2.beta", vec(&self.norm2.beta));
        push("norm2.mean", vec(&self.norm2.mean));
        push("norm2.var", vec(&self.norm2.var));
        push("output.weight", mat(&self.output.weight));
        push("output.bias", vec(&self.output.bias));
        out
    }

    /// Rebuilds weights from arrays in the order and shapes of
    /// [`Weights::named`], as a checkpoint stores them. Returns the name
    /// of the first array whose shape does not fit `dims`.
    pub fn from_named(
        dims: Dims,
        target: [f32; 2],
        mut arrays: impl Iterator<Item = (String, Vec<usize>, Vec<f32>)>,
    ) -> Result<Weights, String> {
        let template = Weights::shape_template(dims);
        let mut taken = Vec::new();
        for (name, shape) in template {
            let (got_name, got_shape, data) =
                arrays.next().ok_or_else(|| format!("{name} is missing"))?;
            if got_name != name || got_shape != shape {
                return Err(format!(
                    "expected {name} {shape:?}, found {got_name} {got_shape:?}"
                ));
            }
            taken.push((shape, data));
        }
        if let Some((name, _, _)) = arrays.next() {
            return Err(format!("unexpected extra array {name}"));
        }

        let mut it = taken.into_iter();
        // The template above has exactly the arrays read below, in order.
        let mut mat = || {
            let (shape, data) = it.next().expect("template has every array");
            Matrix {
                rows: shape[0],
                cols: *shape.get(1).unwrap_or(&1),
                data,
            }
        };
        let type_table = mat();
        let kernel_table = mat();
        let ratio_table = mat();
        let position_table = mat();
        let epoch_table = mat();
        let lstm_input = mat();
        let lstm_hidden = mat();
        let lstm_bias = mat().data;
        let dense1 = Dense {
            weight: mat(),
            bias: mat().data,
        };
        let norm1 = Norm {
            gamma: mat().data,
            beta: mat().data,
            mean: mat().data,
            var: mat().data,
        };
        let dense2 = Dense {
            weight: mat(),
            bias: mat().data,
        };
        let norm2 = Norm {
            gamma: mat().data,
            beta: mat().data,
            mean: mat().data,
            var: mat().data,
        };
        let output = Dense {
            weight: mat(),
            bias: mat().data,
        };
        Ok(Weights {
            dims,
            type_table,
            kernel_table,
            ratio_table,
            position_table,
            epoch_table,
            lstm_input,
            lstm_hidden,
            lstm_bias,
            dense1,
            norm1,
            dense2,
            norm2,
            output,
            target_mean: target[0],
            target_scale: target[1],
        })
    }

    /// Names and shapes that weights of size `dims` have.
    fn shape_template(dims: Dims) -> Vec<(&'static str, Vec<usize>)> {
        Weights::init(Dims { epochs: 1, ..dims }, 0)
            .named()
            .into_iter()
            .map(|(name, mut shape, _)| {
                if name == "epoch_table" {
                    shape[0] = dims.epochs;
                }
                (name, shape)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_round_trips() {
        let dims = Dims {
            d_position: 4,
            positions: 7,
            ..Dims::paper(12)
        };
        let mut weights = Weights::init(dims, 3);
        weights.target_mean = 0.7;
        weights.target_scale = 0.1;
        let arrays = weights
            .named()
            .into_iter()
            .map(|(n, s, d)| (n.to_string(), s, d.to_vec()))
            .collect::<Vec<_>>();
        let back = Weights::from_named(dims, [0.7, 0.1], arrays.into_iter()).unwrap();
        assert_eq!(back, weights);
    }

    #[test]
    fn init_is_seeded() {
        let dims = Dims::paper(1);
        assert_eq!(Weights::init(dims, 5), Weights::init(dims, 5));
        assert_ne!(Weights::init(dims, 5), Weights::init(dims, 6));
    }
}
