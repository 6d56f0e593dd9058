//! Measures of prediction quality: how well predicted accuracies match
//! measured ones.
//!
//! These are the numbers of the paper's table (SPEC section 6) plus
//! Spearman's rank correlation: mean squared error on accuracy in [0, 1],
//! Kendall's tau over all pairs (tau-b, so ties count as the reference
//! implementations count them), Spearman's rho and the coefficient of
//! determination R^2. Kendall's tau runs in O(n log n) (Knight's
//! algorithm), so it is cheap enough to compute every epoch of training.
//!
//! This module owns the arithmetic only; it knows nothing of predictors.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why prediction quality could not be measured.
#[derive(Debug, Error, PartialEq)]
pub enum QualityError {
    /// Predictions and measurements must pair up one to one.
    #[error("{predicted} predictions but {measured} measured accuracies")]
    LengthMismatch { predicted: usize, measured: usize },
    /// Correlations need at least two points.
    #[error("need at least 2 points to measure quality, got {0}")]
    TooFew(usize),
    /// A NaN or infinity would poison every statistic.
    #[error("{what} value at index {index} is not finite ({value})")]
    NotFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
}

/// The quality of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Mean squared error, in squared accuracy units.
    pub mse: f64,
    /// Kendall's tau-b.
    pub kendall_tau: f64,
    /// Spearman's rank correlation (Pearson's on average ranks).
    pub spearman: f64,
    /// Coefficient of determination, 1 - SS_res / SS_tot.
    pub r2: f64,
}

impl Quality {
    /// Measures `predicted` against `measured` (same order, same length).
    pub fn measure(predicted: &[f64], measured: &[f64]) -> Result<Quality, QualityError> {
        check(predicted, measured)?;
        Ok(Quality {
            mse: mse(predicted, measured),
            kendall_tau: kendall_tau(predicted, measured),
            spearman: spearman(predicted, measured),
            r2: r2(predicted, measured),
        })
    }
}

/// Checks the inputs every statistic here assumes.
pub fn check(predicted: &[f64], measured: &[f64]) -> Result<(), QualityError> {
    if predicted.len() != measured.len() {
        return Err(QualityError::LengthMismatch {
            predicted: predicted.len(),
            measured: measured.len(),
        });
    }
    if predicted.len() < 2 {
        return Err(QualityError::TooFew(predicted.len()));
    }
    for (what, values) in [("predicted", predicted), ("measured", measured)] {
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(QualityError::NotFinite { what, index, value });
        }
    }
    Ok(())
}

/// Mean squared error. Assumes [`check`] passed.
pub fn mse(predicted: &[f64], measured: &[f64]) -> f64 {
    let sum: f64 = predicted
        .iter()
        .zip(measured)
        .map(|(p, m)| (p - m) * (p - m))
        .sum();
    sum / predicted.len() as f64
}

/// Coefficient of determination of `predicted` as a model of `measured`.
/// Zero when `measured` is constant and the predictions are exact, minus
/// infinity when they are not.
pub fn r2(predicted: &[f64], measured: &[f64]) -> f64 {
    let mean = measured.iter().sum::<f64>() / measured.len() as f64;
    let total: f64 = measured.iter().map(|m| (m - mean) * (m - mean)).sum();
    let residual = mse(predicted, measured) * measured.len() as f64;
    if total == 0.0 {
        return if residual == 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
    }
    1.0 - residual / total
}

/// Spearman's rho: Pearson's correlation of the average ranks, which is
/// how ties are usually handled (SciPy's `spearmanr` does the same).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Pearson's correlation; 0 when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..=n, tied values sharing the mean of their ranks.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }

        // Positions start..end hold one value; ranks are 1-based.
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Kendall's tau-b in O(n log n) by Knight's algorithm: sort by (x, y),
/// count the swaps a merge sort by y needs (the discordant pairs), and
/// correct for ties. Returns 0 when either side is constant.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let mut pairs: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let total = (n * n.saturating_sub(1) / 2) as f64;

    // Pairs tied in x, and pairs tied in both x and y.
    let tied_x = tied_pairs(&pairs, |a, b| a.0 == b.0);
    let tied_xy = tied_pairs(&pairs, |a, b| a.0 == b.0 && a.1 == b.1);

    // Merge sort by y; every inversion is a discordant pair.
    let mut ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let mut buffer = vec![0.0; n];
    let discordant = merge_count(&mut ys, &mut buffer) as f64;

    // `ys` is now sorted, so ties in y are runs.
    let tied_y = run_pairs(&ys);

    let denominator = ((total - tied_x) * (total - tied_y)).sqrt();
    if denominator == 0.0 {
        return 0.0;
    }
    let concordant_minus_discordant = total - tied_x - tied_y + tied_xy - 2.0 * discordant;
    concordant_minus_discordant / denominator
}

/// Number of pairs within runs of consecutive equal elements.
fn tied_pairs<T>(sorted: &[T], equal: impl Fn(&T, &T) -> bool) -> f64 {
    let mut pairs = 0.0;
    let mut run = 1.0;
    for window in sorted.windows(2) {
        if equal(&window[0], &window[1]) {
            run += 1.0;
        } else {
            pairs += run * (run - 1.0) / 2.0;
            run = 1.0;
        }
    }
    pairs + run * (run - 1.0) / 2.0
}

fn run_pairs(sorted: &[f64]) -> f64 {
    tied_pairs(sorted, |a, b| a == b)
}

/// Sorts `values` ascending and returns the number of strict inversions.
fn merge_count(values: &mut [f64], buffer: &mut [f64]) -> u64 {
    let n = values.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let (left, right) = values.split_at_mut(mid);
    let mut swaps = merge_count(left, &mut buffer[..mid]) + merge_count(right, &mut buffer[mid..]);

    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        // Equal values are not inversions: take from the left first.
        if right[j] < left[i] {
            buffer[k] = right[j];
            swaps += (left.len() - i) as u64;
            j += 1;
        } else {
            buffer[k] = left[i];
            i += 1;
        }
        k += 1;
    }
    buffer[k..k + left.len() - i].copy_from_slice(&left[i..]);
    k += left.len() - i;
    buffer[k..k + right.len() - j].copy_from_slice(&right[j..]);
    values.copy_from_slice(&buffer[..n]);
    swaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// O(n^2) tau-b straight from the definition.
    fn kendall_brute(x: &[f64], y: &[f64]) -> f64 {
        let (mut c, mut d, mut tx, mut ty) = (0.0f64, 0.0, 0.0, 0.0);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let dx = (x[i] - x[j]).signum() * f64::from(x[i] != x[j]);
                let dy = (y[i] - y[j]).signum() * f64::from(y[i] != y[j]);
                match (dx == 0.0, dy == 0.0) {
                    (true, true) => {}
                    (true, false) => tx += 1.0,
                    (false, true) => ty += 1.0,
                    _ if dx * dy > 0.0 => c += 1.0,
                    _ => d += 1.0,
                }
            }
        }
        let denominator = ((c + d + tx) * (c + d + ty)).sqrt();
        if denominator == 0.0 {
            0.0
        } else {
            (c - d) / denominator
        }
    }

    #[test]
    fn kendall_matches_scipy_on_ties() {
        // scipy.stats.kendalltau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])
        // -> -0.47140452079103173 (the example in SciPy's documentation).
        let tau = kendall_tau(&[12., 2., 1., 12., 2.], &[1., 4., 7., 1., 0.]);
        assert!((tau - -0.471_404_520_791_031_73).abs() < 1e-12, "{tau}");
    }

    #[test]
    fn kendall_matches_brute_force_with_many_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in [2, 3, 10, 57, 300] {
            let x: Vec<f64> = (0..n).map(|_| f64::from(rng.random_range(0..6))).collect();
            let y: Vec<f64> = (0..n).map(|_| f64::from(rng.random_range(0..9))).collect();
            let (fast, slow) = (kendall_tau(&x, &y), kendall_brute(&x, &y));
            assert!((fast - slow).abs() < 1e-12, "n={n}: {fast} vs {slow}");
        }
    }

    #[test]
    fn kendall_extremes() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(kendall_tau(&x, &x), 1.0);
        assert_eq!(kendall_tau(&x, &[4.0, 3.0, 2.0, 1.0]), -1.0);
        assert_eq!(kendall_tau(&x, &[1.0; 4]), 0.0);
    }

    #[test]
    fn spearman_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
        // -> 0.8207826816681233 (SciPy's documentation example).
        let rho = spearman(&[1., 2., 3., 4., 5.], &[5., 6., 7., 8., 7.]);
        assert!((rho - 0.820_782_681_668_123_3).abs() < 1e-12, "{rho}");
    }

    #[test]
    fn mse_and_r2_by_hand() {
        let measured = [0.5, 0.6, 0.7];
        let predicted = [0.5, 0.7, 0.7];
        let q = Quality::measure(&predicted, &measured).unwrap();
        // Residuals 0, 0.1, 0; SS_tot = 0.02.
        assert!((q.mse - 0.01 / 3.0).abs() < 1e-15);
        assert!((q.r2 - (1.0 - 0.01 / 0.02)).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(
            Quality::measure(&[0.1], &[0.1, 0.2]),
            Err(QualityError::LengthMismatch {
                predicted: 1,
                measured: 2
            })
        );
        assert_eq!(
            Quality::measure(&[0.1], &[0.1]),
            Err(QualityError::TooFew(1))
        );
        let err = Quality::measure(&[0.1, f64::NAN], &[0.1, 0.2]).unwrap_err();
        assert!(err.to_string().contains("index 1"), "{err}");
    }
}
