//! Block-based generation (SPEC section 4): blocks drawn from a Markov
//! chain over layer types.
//!
//! Choices where the paper is silent, documented in
//! `docs/architecture-format.md`:
//! - every convolution (not only the first) draws a square kernel uniform
//!   over 1..=5 and a ratio uniform over the 8 bins; pools draw a square
//!   kernel uniform over 2..=5 and keep stride 1;
//! - a block's target depth is uniform over 1..=10 layers (BN included);
//!   the chain stops at that depth, or earlier when it draws a fourth
//!   convolution; BN is dropped when a conv lands on the 10th layer.
//!
//! [`BlockSampler::sample_traced`] records every draw, so tests can check
//! the chain itself, truncation included.

use rand::Rng;

use crate::arch::{MAX_BLOCK_CONVS, MAX_BLOCK_LAYERS};
use crate::layer::Layer;
use crate::ulc::{MAX_KERNEL, RATIO_BINS};

/// The six layer types the chain moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainKind {
    Conv,
    MaxPool,
    AvgPool,
    Relu,
    Sigmoid,
    Tanh,
}

impl ChainKind {
    /// All kinds, in matrix order.
    pub const ALL: [ChainKind; 6] = [
        ChainKind::Conv,
        ChainKind::MaxPool,
        ChainKind::AvgPool,
        ChainKind::Relu,
        ChainKind::Sigmoid,
        ChainKind::Tanh,
    ];

    /// Row/column of the kind in [`TRANSITIONS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// `TRANSITIONS[a][b]`: probability that a layer of kind `a` is followed by
/// one of kind `b` (SPEC section 4, rows sum to 1).
pub const TRANSITIONS: [[f64; 6]; 6] = [
    [0.03, 0.03, 0.03, 0.31, 0.30, 0.30],
    [0.60, 0.05, 0.05, 0.10, 0.10, 0.10],
    [0.60, 0.05, 0.05, 0.10, 0.10, 0.10],
    [0.30, 0.30, 0.30, 0.00, 0.05, 0.05],
    [0.30, 0.30, 0.30, 0.05, 0.00, 0.05],
    [0.30, 0.30, 0.30, 0.05, 0.05, 0.00],
];

/// Probability that a BN layer follows a convolution.
pub const BN_AFTER_CONV: f64 = 0.6;

/// Every random draw made while sampling blocks.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// (current, next) for every chain step, including a final draw that
    /// ended the block.
    pub transitions: Vec<(ChainKind, ChainKind)>,
    /// One coin per convolution: did BN follow?
    pub bn_draws: Vec<bool>,
    /// Kernel size of every convolution.
    pub conv_kernels: Vec<usize>,
    /// 0-based ratio bin of every convolution.
    pub ratio_bins: Vec<usize>,
    /// Kernel size of every pooling layer.
    pub pool_kernels: Vec<usize>,
}

/// Draws blocks from the chain. Stateless: all randomness comes from the
/// caller's generator, so a seeded generator gives reproducible blocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockSampler;

/// Index drawn from a discrete distribution.
fn categorical(rng: &mut impl Rng, probs: &[f64]) -> usize {
    let u: f64 = rng.random();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding can leave `acc` a hair under 1: fall to the last non-zero.
    probs.iter().rposition(|p| *p > 0.0).unwrap_or(0)
}

impl BlockSampler {
    /// One block.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<Layer> {
        self.sample_traced(rng, &mut Trace::default())
    }

    /// One block, recording every draw into `trace`.
    pub fn sample_traced(&self, rng: &mut impl Rng, trace: &mut Trace) -> Vec<Layer> {
        let depth = rng.random_range(1..=MAX_BLOCK_LAYERS);
        let mut block = Vec::with_capacity(MAX_BLOCK_LAYERS);
        let mut convs = 0;
        let mut kind = ChainKind::Conv;
        self.push(rng, trace, &mut block, kind);
        convs += 1;

        while block.len() < depth {
            let next = ChainKind::ALL[categorical(rng, &TRANSITIONS[kind.index()])];
            trace.transitions.push((kind, next));
            if next == ChainKind::Conv && convs == MAX_BLOCK_CONVS {
                break;
            }
            self.push(rng, trace, &mut block, next);
            if next == ChainKind::Conv {
                convs += 1;
            }
            kind = next;
        }
        block
    }

    /// Appends a layer of `kind` with its parameters (and BN after a conv).
    fn push(&self, rng: &mut impl Rng, trace: &mut Trace, block: &mut Vec<Layer>, kind: ChainKind) {
        let pool_kernel = |rng: &mut dyn rand::RngCore, trace: &mut Trace| {
            let k = rng.random_range(2..=MAX_KERNEL as usize);
            trace.pool_kernels.push(k);
            k
        };
        let layer = match kind {
            ChainKind::Conv => {
                let k = rng.random_range(1..=MAX_KERNEL as usize);
                let bin = rng.random_range(0..RATIO_BINS.len());
                trace.conv_kernels.push(k);
                trace.ratio_bins.push(bin);
                Layer::Conv {
                    kw: k,
                    kh: k,
                    ratio: RATIO_BINS[bin],
                    stride: 1,
                }
            }
            ChainKind::MaxPool => {
                let k = pool_kernel(rng, trace);
                Layer::MaxPool {
                    kw: k,
                    kh: k,
                    stride: 1,
                }
            }
            ChainKind::AvgPool => {
                let k = pool_kernel(rng, trace);
                Layer::AvgPool {
                    kw: k,
                    kh: k,
                    stride: 1,
                }
            }
            ChainKind::Relu => Layer::Relu,
            ChainKind::Sigmoid => Layer::Sigmoid,
            ChainKind::Tanh => Layer::Tanh,
        };
        block.push(layer);
        if kind == ChainKind::Conv {
            let bn = rng.random_bool(BN_AFTER_CONV);
            trace.bn_draws.push(bn);
            if bn && block.len() < MAX_BLOCK_LAYERS {
                block.push(Layer::BatchNorm);
            }
        }
    }
}

/// Pearson's chi-square statistic of `observed` counts against
/// probabilities `probs`, and its degrees of freedom. Cells of probability
/// zero must be empty: a count there gives infinity.
pub fn chi_square(observed: &[u64], probs: &[f64]) -> (f64, usize) {
    let n: u64 = observed.iter().sum();
    let mut stat = 0.0;
    let mut cells = 0usize;
    for (o, p) in observed.iter().zip(probs) {
        if *p == 0.0 {
            if *o > 0 {
                return (f64::INFINITY, 0);
            }
            continue;
        }
        let e = n as f64 * p;
        stat += (*o as f64 - e).powi(2) / e;
        cells += 1;
    }
    (stat, cells.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Upper 0.1% points of the chi-square distribution by degrees of
    /// freedom (scipy.stats.chi2.ppf(0.999, df)).
    fn critical(df: usize) -> f64 {
        [0.0, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322][df]
    }

    fn traces(blocks: usize, seed: u64) -> (Trace, Vec<Vec<Layer>>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut trace = Trace::default();
        let sampled = (0..blocks)
            .map(|_| BlockSampler.sample_traced(&mut rng, &mut trace))
            .collect();
        (trace, sampled)
    }

    fn transition_counts(trace: &Trace) -> [[u64; 6]; 6] {
        let mut counts = [[0u64; 6]; 6];
        for (a, b) in &trace.transitions {
            counts[a.index()][b.index()] += 1;
        }
        counts
    }

    #[test]
    fn chain_matches_the_specification() {
        let (trace, blocks) = traces(30_000, 11);

        // Transition rows.
        let counts = transition_counts(&trace);
        for (row, probs) in counts.iter().zip(TRANSITIONS) {
            let (stat, df) = chi_square(row, &probs);
            assert!(stat < critical(df), "row {row:?}: chi2 {stat}");
        }

        // BN coin: binomial, 4 standard deviations.
        let n = trace.bn_draws.len() as f64;
        let yes = trace.bn_draws.iter().filter(|b| **b).count() as f64;
        let sd = (n * BN_AFTER_CONV * (1.0 - BN_AFTER_CONV)).sqrt();
        assert!((yes - n * BN_AFTER_CONV).abs() < 4.0 * sd, "{yes}/{n}");

        // Kernels and ratios are uniform.
        let uniform = |values: &[usize], lo: usize, hi: usize| {
            let mut counts = vec![0u64; hi - lo + 1];
            for v in values {
                counts[v - lo] += 1;
            }
            let probs = vec![1.0 / counts.len() as f64; counts.len()];
            let (stat, df) = chi_square(&counts, &probs);
            assert!(stat < critical(df), "{counts:?}: chi2 {stat}");
        };
        uniform(&trace.conv_kernels, 1, 5);
        uniform(&trace.pool_kernels, 2, 5);
        uniform(&trace.ratio_bins, 0, 7);

        // Structural limits hold on every block.
        for b in &blocks {
            assert!(b[0].is_conv());
            assert!(b.len() <= MAX_BLOCK_LAYERS);
            assert!(b.iter().filter(|l| l.is_conv()).count() <= 3);
        }
    }

    #[test]
    fn the_test_rejects_a_wrong_matrix() {
        let (trace, _) = traces(30_000, 11);
        let counts = transition_counts(&trace);

        // Plausible mistakes: a transposed matrix, and the conv row with
        // pooling and activation probabilities swapped.
        let mut transposed = [[0.0; 6]; 6];
        for (a, row) in TRANSITIONS.iter().enumerate() {
            for (b, p) in row.iter().enumerate() {
                transposed[b][a] = *p;
            }
        }
        let mut swapped = TRANSITIONS;
        swapped[0] = [0.03, 0.31, 0.30, 0.03, 0.03, 0.30];
        for wrong in [transposed, swapped] {
            let rejected = counts.iter().zip(wrong).any(|(row, probs)| {
                let (stat, df) = chi_square(row, &probs);
                stat >= critical(df.max(1))
            });
            assert!(rejected);
        }
    }

    #[test]
    fn seeded_sampling_is_reproducible() {
        let (_, a) = traces(200, 7);
        let (_, b) = traces(200, 7);
        let (_, c) = traces(200, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
