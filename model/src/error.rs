//! Errors of the architecture model. Every message names the offending
//! field or layer and the value found.

use crate::nb201::CellError;

/// Why an architecture was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchError {
    #[error("{path}: {message}")]
    Json { path: String, message: String },
    #[error("architecture needs exactly one of \"block\" or \"cell\"")]
    Body,
    #[error(
        "skeleton: unknown preset '{0}' (known: mnist, cifar10, \
         nb201-cifar10)"
    )]
    UnknownSkeleton(String),
    #[error("skeleton '{skeleton}' is for {expects}, but a {got} was given")]
    SkeletonMismatch {
        skeleton: String,
        expects: &'static str,
        got: &'static str,
    },
    #[error("skeleton.{field}: {message}")]
    Skeleton {
        field: &'static str,
        message: String,
    },
    #[error("block is empty: it needs at least one layer")]
    EmptyBlock,
    #[error(
        "block has {0} layers; at most {max} are allowed",
        max = crate::arch::MAX_BLOCK_LAYERS
    )]
    TooManyLayers(usize),
    #[error(
        "block has {0} convolutions; at most {max} are allowed",
        max = crate::arch::MAX_BLOCK_CONVS
    )]
    TooManyConvs(usize),
    #[error(
        "block[{index}] ({kind}): kernel {kw}x{kh} is outside \
         {min}..={max}"
    )]
    KernelRange {
        index: usize,
        kind: &'static str,
        kw: usize,
        kh: usize,
        min: usize,
        max: usize,
    },
    #[error("block[{index}] ({kind}): stride {stride} is outside 1..=4")]
    Stride {
        index: usize,
        kind: &'static str,
        stride: usize,
    },
    #[error(
        "block[{index}] (conv): ratio {ratio} must be a positive finite \
         number"
    )]
    Ratio { index: usize, ratio: f64 },
    #[error("block[{index}]: 'zero' layers belong in cells, not in blocks")]
    ZeroInBlock { index: usize },
    #[error("{at}: kernel {kw}x{kh} is larger than the {h}x{w} feature map")]
    KernelTooLarge {
        at: String,
        kw: usize,
        kh: usize,
        h: usize,
        w: usize,
    },
    #[error("{at}: {in_ch} channels x ratio {ratio} rounds to 0 output channels")]
    ZeroChannels {
        at: String,
        in_ch: usize,
        ratio: f64,
    },
    #[error(
        "{at}: {channels} channels exceed the skeleton's max_channels \
         ({max})"
    )]
    RunawayChannels {
        at: String,
        channels: usize,
        max: usize,
    },
    #[error("cell: {0}")]
    Cell(#[from] CellError),
}
