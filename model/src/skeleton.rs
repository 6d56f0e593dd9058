//! Skeletons: the fixed, dataset-specific frame a block is stacked into
//! (SPEC section 4).
//!
//! A block skeleton is a stem (a convolution, BN, ReLU and, optionally, a
//! max pool; 3x3 at stride 1 with no pool unless the skeleton says
//! otherwise), three stages at halving resolution (each a stack of
//! `copies` copies of the block, then 2x2 max pooling), global average
//! pooling and a linear classifier. Each copy starts at its stage's
//! width: a 1x1 adaptation convolution is inserted wherever the running
//! channel count differs. The NAS-Bench-201 skeleton is the benchmark's own
//! residual frame around a cell. Why these widths and counts: see
//! `docs/architecture-format.md`.

use serde::{Deserialize, Serialize};

/// Kernel of the stem convolution when a skeleton does not name one.
pub const DEFAULT_STEM_KERNEL: usize = 3;

fn default_stem_kernel() -> usize {
    DEFAULT_STEM_KERNEL
}

fn is_default_stem_kernel(k: &usize) -> bool {
    *k == DEFAULT_STEM_KERNEL
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// The input a network takes and the classes it predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Channels, height, width.
    pub shape: [usize; 3],
    pub classes: usize,
}

/// Frame for block-based (sequential) networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSkeleton {
    pub input: InputSpec,
    /// Output channels of the stem's convolution.
    pub stem: usize,
    // The stem fields below are left out of the JSON at their defaults,
    // so the canonical form, and with it the id, of every skeleton
    // written before they existed is unchanged.
    /// Kernel (square, odd) of the stem's convolution, padded by half
    /// the kernel on each side.
    #[serde(
        default = "default_stem_kernel",
        skip_serializing_if = "is_default_stem_kernel"
    )]
    pub stem_kernel: usize,
    /// Stride of the stem's convolution.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stem_stride: usize,
    /// Max pooling after the stem's ReLU, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem_pool: Option<StemPool>,
    /// Channels each copy of the block starts from, per stage.
    pub widths: [usize; 3],
    /// Copies of the block per stage.
    pub copies: [usize; 3],
    /// Largest channel count any layer may reach.
    pub max_channels: usize,
}

/// A max pool closing the stem: a square, odd kernel padded by half the
/// kernel on each side (with -inf, so padding never wins), so that a
/// stride `s` turns an `h`-pixel side into `ceil(h / s)`. ResNet's is
/// kernel 3, stride 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StemPool {
    pub kernel: usize,
    pub stride: usize,
}

/// Frame of NAS-Bench-201: stem conv + BN, three stages of `cells` cells
/// with residual reductions between them, BN, ReLU, pooling, classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSkeleton {
    pub input: InputSpec,
    /// Channels of the first stage; doubled at each reduction.
    pub width: usize,
    /// Cells per stage.
    pub cells: usize,
}

/// Any skeleton. Written in JSON either as a preset name (`"cifar10"`) or
/// as a full object (`{"block": {...}}` or `{"cell": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Skeleton {
    Block(BlockSkeleton),
    Cell(CellSkeleton),
}

/// Names of the preset skeletons.
pub const PRESETS: [&str; 3] = ["mnist", "cifar10", "nb201-cifar10"];

impl Skeleton {
    /// The preset of that name.
    pub fn preset(name: &str) -> Option<Skeleton> {
        let skeleton = match name {
            "mnist" => Skeleton::Block(BlockSkeleton {
                input: InputSpec {
                    shape: [1, 28, 28],
                    classes: 10,
                },
                stem: 16,
                stem_kernel: DEFAULT_STEM_KERNEL,
                stem_stride: 1,
                stem_pool: None,
                widths: [16, 32, 64],
                copies: [1, 1, 1],
                max_channels: 2048,
            }),
            "cifar10" => Skeleton::Block(BlockSkeleton {
                input: InputSpec {
                    shape: [3, 32, 32],
                    classes: 10,
                },
                stem: 32,
                stem_kernel: DEFAULT_STEM_KERNEL,
                stem_stride: 1,
                stem_pool: None,
                widths: [32, 64, 128],
                copies: [2, 2, 2],
                max_channels: 4096,
            }),
            "nb201-cifar10" => Skeleton::Cell(CellSkeleton {
                input: InputSpec {
                    shape: [3, 32, 32],
                    classes: 10,
                },
                width: 16,
                cells: 5,
            }),
            _ => return None,
        };
        Some(skeleton)
    }

    /// The preset name this skeleton equals, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESETS
            .into_iter()
            .find(|name| Skeleton::preset(name).as_ref() == Some(self))
    }

    /// The input and classes.
    pub fn input(&self) -> InputSpec {
        match self {
            Skeleton::Block(b) => b.input,
            Skeleton::Cell(c) => c.input,
        }
    }
}
