//! A simple baseline to measure the predictor against: gradient-boosted
//! regression trees on a fixed-length encoding of the architecture.
//!
//! - [`features`]: the fixed-length encoding. A NAS-Bench-201 cell is the
//!   one-hot op of each of its six edges (30 numbers); a sequential block
//!   network is counts of its layer types, kernel sizes and channel-ratio
//!   bins plus its depth.
//! - [`GradientBoosting`]: least-squares boosting (Friedman) of depth-
//!   limited regression trees with shrinkage and row subsampling, seeded.
//!
//! Exhaustive split search sorts each feature at each node, O(n log n * f)
//! per node: instant for the few thousand rows of a benchmark table, not
//! meant for more.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::arch::{Architecture, Body};
use crate::error::ArchError;
use crate::nb201::CellOp;
use crate::ulc::{MAX_KERNEL, NUM_RATIO_BINS, NUM_TYPES};

/// The fixed-length feature vector of `arch`.
pub fn features(arch: &Architecture) -> Result<Vec<f32>, ArchError> {
    if let Body::Cell(cell) = &arch.body {
        let mut x = vec![0.0; cell.ops.len() * CellOp::ALL.len()];
        for (edge, op) in cell.ops.iter().enumerate() {
            x[edge * CellOp::ALL.len() + op.index()] = 1.0;
        }
        return Ok(x);
    }
    let codes = arch.layer_codes()?;
    let kernels = MAX_KERNEL as usize;
    let mut x = vec![0.0; NUM_TYPES + 2 * kernels + NUM_RATIO_BINS + 1];
    for c in &codes {
        x[usize::from(c.ty) - 1] += 1.0;
        x[NUM_TYPES + usize::from(c.kw) - 1] += 1.0;
        x[NUM_TYPES + kernels + usize::from(c.kh) - 1] += 1.0;
        x[NUM_TYPES + 2 * kernels + usize::from(c.ch) - 1] += 1.0;
    }
    x[NUM_TYPES + 2 * kernels + NUM_RATIO_BINS] = codes.len() as f32;
    Ok(x)
}

/// Boosting settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoostConfig {
    pub trees: usize,
    pub max_depth: usize,
    pub learning_rate: f64,
    pub min_leaf: usize,
    /// Share of rows each tree sees.
    pub subsample: f64,
    pub seed: u64,
}

impl Default for BoostConfig {
    fn default() -> Self {
        BoostConfig {
            trees: 400,
            max_depth: 5,
            learning_rate: 0.05,
            min_leaf: 3,
            subsample: 0.8,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(f64),
    Split {
        feature: usize,
        threshold: f32,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl Node {
    fn predict(&self, x: &[f32]) -> f64 {
        match self {
            Node::Leaf(v) => *v,
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                if x[*feature] <= *threshold {
                    left.predict(x)
                } else {
                    right.predict(x)
                }
            }
        }
    }
}

/// A trained boosted ensemble of regression trees.
#[derive(Debug, Clone)]
pub struct GradientBoosting {
    base: f64,
    learning_rate: f64,
    trees: Vec<Node>,
}

impl GradientBoosting {
    /// Fits `y` from rows `x` (all of one length). Panics if `x` is empty
    /// or `x` and `y` differ in length: callers hold both in hand.
    pub fn fit(x: &[Vec<f32>], y: &[f64], config: &BoostConfig) -> GradientBoosting {
        assert!(
            !x.is_empty() && x.len() == y.len(),
            "rows and targets must pair up"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let base = y.iter().sum::<f64>() / y.len() as f64;
        let mut prediction = vec![base; y.len()];
        let mut trees = Vec::with_capacity(config.trees);
        let mut rows: Vec<usize> = (0..y.len()).collect();
        let take = ((y.len() as f64 * config.subsample).round() as usize).clamp(1, y.len());
        for _ in 0..config.trees {
            // Squared loss: each tree fits the current residuals.
            let residual: Vec<f64> = y.iter().zip(&prediction).map(|(t, p)| t - p).collect();
            rows.shuffle(&mut rng);
            let tree = grow(x, &residual, &rows[..take], config, 0);
            for (p, row) in prediction.iter_mut().zip(x) {
                *p += config.learning_rate * tree.predict(row);
            }
            trees.push(tree);
        }
        GradientBoosting {
            base,
            learning_rate: config.learning_rate,
            trees,
        }
    }

    pub fn predict(&self, x: &[f32]) -> f64 {
        self.base + self.learning_rate * self.trees.iter().map(|t| t.predict(x)).sum::<f64>()
    }
}

fn mean(y: &[f64], rows: &[usize]) -> f64 {
    rows.iter().map(|&r| y[r]).sum::<f64>() / rows.len() as f64
}

/// The best threshold on `feature` for the rows in `sorted` (reordered
/// here), as (gain, threshold).
fn best_split(
    x: &[Vec<f32>],
    y: &[f64],
    sorted: &mut [usize],
    feature: usize,
    min_leaf: usize,
) -> Option<(f64, f32)> {
    sorted.sort_by(|&a, &b| x[a][feature].total_cmp(&x[b][feature]));
    let n = sorted.len();
    let total: f64 = sorted.iter().map(|&r| y[r]).sum();
    let mut best: Option<(f64, f32)> = None;
    let mut left_sum = 0.0;
    for (i, pair) in sorted.windows(2).enumerate() {
        left_sum += y[pair[0]];
        let (here, next) = (x[pair[0]][feature], x[pair[1]][feature]);
        let n_left = i + 1;
        if here == next || n_left < min_leaf || n - n_left < min_leaf {
            continue;
        }
        let right_sum = total - left_sum;
        let gain =
            left_sum * left_sum / n_left as f64 + right_sum * right_sum / (n - n_left) as f64;
        if best.is_none_or(|b| gain > b.0) {
            best = Some((gain, (here + next) / 2.0));
        }
    }
    best
}

/// Grows one least-squares tree on `rows`.
fn grow(x: &[Vec<f32>], y: &[f64], rows: &[usize], config: &BoostConfig, depth: usize) -> Node {
    if depth >= config.max_depth || rows.len() < 2 * config.min_leaf {
        return Node::Leaf(mean(y, rows));
    }

    // Best split over all features: maximise the reduction of squared
    // error, i.e. sum_l^2 / n_l + sum_r^2 / n_r.
    let mut sorted = rows.to_vec();
    let best = (0..x[rows[0]].len())
        .filter_map(|feature| {
            best_split(x, y, &mut sorted, feature, config.min_leaf)
                .map(|(gain, threshold)| (gain, feature, threshold))
        })
        .fold(None, |best: Option<(f64, usize, f32)>, s| match best {
            Some(b) if b.0 >= s.0 => Some(b),
            _ => Some(s),
        });
    let Some((_, feature, threshold)) = best else {
        return Node::Leaf(mean(y, rows));
    };
    let (left, right): (Vec<usize>, Vec<usize>) =
        rows.iter().partition(|&&r| x[r][feature] <= threshold);
    Node::Split {
        feature,
        threshold,
        left: Box::new(grow(x, y, &left, config, depth + 1)),
        right: Box::new(grow(x, y, &right, config, depth + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::Cell;

    #[test]
    fn learns_an_interaction() {
        // y = a AND b over two binary features plus noise-free filler.
        let x: Vec<Vec<f32>> = (0..64)
            .map(|i| vec![(i & 1) as f32, ((i >> 1) & 1) as f32, (i >> 2) as f32])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| f64::from(r[0] * r[1])).collect();
        let config = BoostConfig {
            subsample: 1.0,
            ..BoostConfig::default()
        };
        let model = GradientBoosting::fit(&x, &y, &config);
        for (row, t) in x.iter().zip(&y) {
            assert!((model.predict(row) - t).abs() < 0.05, "{row:?}");
        }
    }

    #[test]
    fn cells_are_one_hot_per_edge() {
        let arch = Architecture::nb201(Cell::from_index(0));
        let x = features(&arch).unwrap();
        assert_eq!(x.len(), 30);
        assert_eq!(x.iter().sum::<f32>(), 6.0);
    }
}
