//! The Unified Layer Code (SPEC section 2): every layer becomes four small
//! integers `(TY, KW, KH, CH)` that the predictor embeds.
//!
//! Type codes 1..=7 are the paper's and never change. Codes 8 (identity) and
//! 9 (zero) extend the table for DAG spaces such as NAS-Bench-201. `CH` is the
//! 1-based index of the ratio bin nearest to `out_channels / in_channels`;
//! layers that keep their channel count (everything but convolutions) carry
//! the bin of ratio 1.0, index 4.

use serde::{Deserialize, Serialize};

/// Centres of the eight channel-ratio bins, in code order (`CH = 1..=8`).
pub const RATIO_BINS: [f64; 8] = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0];

/// Number of ratio bins, the size of the `CH` embedding table.
pub const NUM_RATIO_BINS: usize = RATIO_BINS.len();

/// Largest kernel width or height a layer code can carry.
pub const MAX_KERNEL: u8 = 5;

/// Number of layer types (`TY = 1..=NUM_TYPES`).
pub const NUM_TYPES: usize = 9;

/// `CH` of every layer that does not change the channel count.
pub const UNIT_RATIO_CODE: u8 = 4;

/// Type codes. The first seven are the paper's table.
pub mod ty {
    pub const CONV: u8 = 1;
    pub const MAX_POOL: u8 = 2;
    pub const AVG_POOL: u8 = 3;
    pub const RELU: u8 = 4;
    pub const SIGMOID: u8 = 5;
    pub const TANH: u8 = 6;
    pub const BATCH_NORM: u8 = 7;
    /// Extension: identity (skip connection) of DAG cells.
    pub const IDENTITY: u8 = 8;
    /// Extension: the zero operation (a missing edge) of DAG cells.
    pub const ZERO: u8 = 9;
}

/// A readable name of a type code (`"conv"`, `"max_pool"`, ...), or
/// `"unknown"` outside the table.
pub fn type_name(code: u8) -> &'static str {
    match code {
        ty::CONV => "conv",
        ty::MAX_POOL => "max_pool",
        ty::AVG_POOL => "avg_pool",
        ty::RELU => "relu",
        ty::SIGMOID => "sigmoid",
        ty::TANH => "tanh",
        ty::BATCH_NORM => "batch_norm",
        ty::IDENTITY => "identity",
        ty::ZERO => "zero",
        _ => "unknown",
    }
}

/// One layer as the predictor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerCode {
    /// Layer type, `1..=NUM_TYPES`.
    pub ty: u8,
    /// Kernel width, `1..=MAX_KERNEL`.
    pub kw: u8,
    /// Kernel height, `1..=MAX_KERNEL`.
    pub kh: u8,
    /// 1-based ratio bin, `1..=NUM_RATIO_BINS`.
    pub ch: u8,
}

impl LayerCode {
    /// A layer with a 1x1 "kernel" and unchanged channels (activations, BN,
    /// identity, zero).
    pub const fn unit(ty: u8) -> Self {
        Self {
            ty,
            kw: 1,
            kh: 1,
            ch: UNIT_RATIO_CODE,
        }
    }

    /// True when every field is inside its table.
    pub fn is_valid(&self) -> bool {
        (1..=NUM_TYPES as u8).contains(&self.ty)
            && (1..=MAX_KERNEL).contains(&self.kw)
            && (1..=MAX_KERNEL).contains(&self.kh)
            && (1..=NUM_RATIO_BINS as u8).contains(&self.ch)
    }
}

impl std::fmt::Display for LayerCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {}, {}, {})", self.ty, self.kw, self.kh, self.ch)
    }
}

/// 1-based index of the ratio bin nearest to `ratio`. Ties go to the
/// smaller bin; ratios outside the table fall into the end bins.
pub fn ratio_code(ratio: f64) -> u8 {
    let mut best = 0;
    for (i, centre) in RATIO_BINS.iter().enumerate() {
        if (ratio - centre).abs() < (ratio - RATIO_BINS[best]).abs() {
            best = i;
        }
    }
    best as u8 + 1
}

/// Clamps a kernel extent (or a feature-map extent for global pooling)
/// into the code's kernel range.
pub fn kernel_code(k: usize) -> u8 {
    k.clamp(1, MAX_KERNEL as usize) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_bins_are_nearest_with_ties_down() {
        assert_eq!(ratio_code(0.25), 1);
        assert_eq!(ratio_code(1.0), 4);
        assert_eq!(ratio_code(3.0), 8);
        assert_eq!(ratio_code(0.05), 1);
        assert_eq!(ratio_code(27.0), 8);
        assert_eq!(ratio_code(1.2), 4);
        assert_eq!(ratio_code(1.3), 5);
        // 0.625 is halfway between 0.5 and 0.75: the smaller bin wins.
        assert_eq!(ratio_code(0.625), 2);
        assert_eq!(ratio_code(1.25), 4);
    }

    #[test]
    fn unit_codes_are_valid() {
        for t in 1..=NUM_TYPES as u8 {
            assert!(LayerCode::unit(t).is_valid());
        }
        assert!(
            !LayerCode {
                ty: 10,
                kw: 1,
                kh: 1,
                ch: 4
            }
            .is_valid()
        );
        assert!(
            !LayerCode {
                ty: 1,
                kw: 0,
                kh: 1,
                ch: 4
            }
            .is_valid()
        );
        assert!(
            !LayerCode {
                ty: 1,
                kw: 1,
                kh: 1,
                ch: 9
            }
            .is_valid()
        );
    }
}
