//! Concrete networks: a block or cell expanded through its skeleton into
//! the full layer list with channel counts, feature-map sizes, parameter
//! counts and FLOPs.
//!
//! FLOPs count one multiply-add as two operations and include every layer
//! (activations and BN cost one or two per element). Parameters are the
//! trainable ones; BN running statistics are not counted.

use serde::Serialize;

use crate::error::ArchError;
use crate::layer::Layer;
use crate::nb201::{Cell, CellOp};
use crate::skeleton::{BlockSkeleton, CellSkeleton};
use crate::ulc::{self, LayerCode, ty};

/// A feature map's channels, height and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

/// Zero padding on each side of a feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Padding {
    /// 'Same' padding for a kernel: the extra pixel of an even kernel goes
    /// to the bottom/right, as TensorFlow does.
    pub fn same(kw: usize, kh: usize) -> Padding {
        Padding {
            top: (kh - 1) / 2,
            bottom: kh - 1 - (kh - 1) / 2,
            left: (kw - 1) / 2,
            right: kw - 1 - (kw - 1) / 2,
        }
    }

    /// True when every side has the same padding.
    pub fn is_symmetric(&self) -> bool {
        self.top == self.bottom && self.left == self.right && self.top == self.left
    }
}

/// What a concrete layer computes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Conv {
        kw: usize,
        kh: usize,
        in_ch: usize,
        out_ch: usize,
        stride: usize,
        pad: Padding,
        bias: bool,
    },
    MaxPool {
        kw: usize,
        kh: usize,
        stride: usize,
        pad: Padding,
    },
    /// Padded positions are excluded from the average.
    AvgPool {
        kw: usize,
        kh: usize,
        stride: usize,
        pad: Padding,
    },
    Relu,
    Sigmoid,
    Tanh,
    BatchNorm {
        ch: usize,
    },
    Identity,
    GlobalAvgPool,
    Linear {
        in_features: usize,
        out_features: usize,
    },
    /// A NAS-Bench-201 cell at a fixed width (trained through the table
    /// backend, not by the native trainer).
    Nb201Cell {
        cell: String,
        ch: usize,
    },
    /// NAS-Bench-201's residual reduction block (stride 2).
    ResidualReduction {
        in_ch: usize,
        out_ch: usize,
    },
}

/// Where a layer sits in the skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum Role {
    Stem,
    /// 1x1 convolution bringing the channels to a stage's width.
    Adapt {
        stage: usize,
    },
    /// Layer `index` of copy `copy` of the block in stage `stage`.
    Block {
        stage: usize,
        copy: usize,
        index: usize,
    },
    StagePool {
        stage: usize,
    },
    Cell {
        stage: usize,
        index: usize,
    },
    Reduction {
        stage: usize,
    },
    Head,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Stem => write!(f, "stem"),
            Role::Adapt { stage } => write!(f, "stage {stage} adapt"),
            Role::Block { stage, copy, index } => {
                write!(f, "stage {stage} copy {copy} block[{index}]")
            }
            Role::StagePool { stage } => write!(f, "stage {stage} pool"),
            Role::Cell { stage, index } => {
                write!(f, "stage {stage} cell {index}")
            }
            Role::Reduction { stage } => write!(f, "stage {stage} reduce"),
            Role::Head => write!(f, "head"),
        }
    }
}

/// One concrete layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetLayer {
    pub op: Op,
    pub role: Role,
    pub input: Shape,
    pub output: Shape,
    pub params: u64,
    pub flops: u64,
}

impl NetLayer {
    /// The layer's Unified Layer Code, or `None` for the classifier and
    /// the NAS-Bench-201 composites, which the paper's encoding leaves out.
    pub fn code(&self) -> Option<LayerCode> {
        let k = ulc::kernel_code;
        let pool = |t, kw, kh| LayerCode {
            ty: t,
            kw: k(kw),
            kh: k(kh),
            ch: ulc::UNIT_RATIO_CODE,
        };
        Some(match &self.op {
            Op::Conv {
                kw,
                kh,
                in_ch,
                out_ch,
                ..
            } => LayerCode {
                ty: ty::CONV,
                kw: k(*kw),
                kh: k(*kh),
                ch: ulc::ratio_code(*out_ch as f64 / *in_ch as f64),
            },
            Op::MaxPool { kw, kh, .. } => pool(ty::MAX_POOL, *kw, *kh),
            Op::AvgPool { kw, kh, .. } => pool(ty::AVG_POOL, *kw, *kh),
            Op::GlobalAvgPool => pool(ty::AVG_POOL, self.input.w, self.input.h),
            Op::Relu => LayerCode::unit(ty::RELU),
            Op::Sigmoid => LayerCode::unit(ty::SIGMOID),
            Op::Tanh => LayerCode::unit(ty::TANH),
            Op::BatchNorm { .. } => LayerCode::unit(ty::BATCH_NORM),
            Op::Identity => LayerCode::unit(ty::IDENTITY),
            Op::Linear { .. } | Op::Nb201Cell { .. } | Op::ResidualReduction { .. } => return None,
        })
    }
}

/// A whole network, ready to be built by a trainer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub input: Shape,
    pub classes: usize,
    pub layers: Vec<NetLayer>,
    pub params: u64,
    pub flops: u64,
}

impl Network {
    /// True when every layer feeds the next one only (no cells).
    pub fn is_sequential(&self) -> bool {
        !self
            .layers
            .iter()
            .any(|l| matches!(l.op, Op::Nb201Cell { .. } | Op::ResidualReduction { .. }))
    }
}

/// Appends layers one by one, tracking the running shape.
struct Builder {
    shape: Shape,
    max_channels: usize,
    layers: Vec<NetLayer>,
}

impl Builder {
    fn new(input: [usize; 3], max_channels: usize) -> Builder {
        let [c, h, w] = input;
        Builder {
            shape: Shape { c, h, w },
            max_channels,
            layers: Vec::new(),
        }
    }

    /// Output size of a windowed op, or an error when the kernel does not
    /// fit the padded map.
    fn window(
        &self,
        role: Role,
        (kw, kh, stride): (usize, usize, usize),
        pad: Padding,
    ) -> Result<(usize, usize), ArchError> {
        let Shape { h, w, .. } = self.shape;
        // A kernel wider than the unpadded map would mostly see padding.
        if kh > h || kw > w {
            return Err(ArchError::KernelTooLarge {
                at: role.to_string(),
                kw,
                kh,
                h,
                w,
            });
        }
        let oh = (h + pad.top + pad.bottom - kh) / stride + 1;
        let ow = (w + pad.left + pad.right - kw) / stride + 1;
        Ok((oh, ow))
    }

    fn push(&mut self, op: Op, role: Role) -> Result<(), ArchError> {
        let input = self.shape;
        let Shape { c, h, w } = input;
        let area = (h * w) as u64;
        let (output, params, flops) = match &op {
            Op::Conv {
                kw,
                kh,
                in_ch,
                out_ch,
                stride,
                pad,
                bias,
            } => {
                let (oh, ow) = self.window(role, (*kw, *kh, *stride), *pad)?;
                let weights = (kw * kh * in_ch * out_ch) as u64;
                let params = weights + if *bias { *out_ch as u64 } else { 0 };
                let out = Shape {
                    c: *out_ch,
                    h: oh,
                    w: ow,
                };
                (out, params, 2 * weights * (oh * ow) as u64)
            }
            Op::MaxPool {
                kw,
                kh,
                stride,
                pad,
            }
            | Op::AvgPool {
                kw,
                kh,
                stride,
                pad,
            } => {
                let (oh, ow) = self.window(role, (*kw, *kh, *stride), *pad)?;
                let flops = (kw * kh * c * oh * ow) as u64;
                (Shape { c, h: oh, w: ow }, 0, flops)
            }
            Op::Relu | Op::Sigmoid | Op::Tanh | Op::Identity => (input, 0, c as u64 * area),
            Op::BatchNorm { ch } => (input, 2 * *ch as u64, 2 * c as u64 * area),
            Op::GlobalAvgPool => (Shape { c, h: 1, w: 1 }, 0, c as u64 * area),
            Op::Linear {
                in_features,
                out_features,
            } => {
                let weights = (in_features * out_features) as u64;
                let out = Shape {
                    c: *out_features,
                    h: 1,
                    w: 1,
                };
                (out, weights + *out_features as u64, 2 * weights)
            }
            Op::Nb201Cell { cell, ch } => {
                let cell: Cell = cell.parse()?;
                let (p, f) = cell_cost(&cell, *ch as u64, area);
                (input, p, f)
            }
            Op::ResidualReduction { in_ch, out_ch } => {
                let (i, o) = (*in_ch as u64, *out_ch as u64);
                let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
                let out_area = (oh * ow) as u64;
                let params = 9 * i * o + 2 * o + 9 * o * o + 2 * o + i * o;
                let flops =
                    2 * (9 * i * o + 9 * o * o + i * o) * out_area + 4 * o * out_area + i * area;
                (
                    Shape {
                        c: *out_ch,
                        h: oh,
                        w: ow,
                    },
                    params,
                    flops,
                )
            }
        };
        if output.c > self.max_channels {
            return Err(ArchError::RunawayChannels {
                at: role.to_string(),
                channels: output.c,
                max: self.max_channels,
            });
        }
        self.layers.push(NetLayer {
            op,
            role,
            input,
            output,
            params,
            flops,
        });
        self.shape = output;
        Ok(())
    }

    fn conv(
        &mut self,
        (kw, kh, stride): (usize, usize, usize),
        out_ch: usize,
        bias: bool,
        role: Role,
    ) -> Result<(), ArchError> {
        let op = Op::Conv {
            kw,
            kh,
            in_ch: self.shape.c,
            out_ch,
            stride,
            pad: Padding::same(kw, kh),
            bias,
        };
        self.push(op, role)
    }

    fn finish(mut self, classes: usize) -> Result<Network, ArchError> {
        self.push(Op::GlobalAvgPool, Role::Head)?;
        let in_features = self.shape.c;
        let linear = Op::Linear {
            in_features,
            out_features: classes,
        };
        self.push(linear, Role::Head)?;
        let first = self.layers[0].input;
        Ok(Network {
            input: first,
            classes,
            params: self.layers.iter().map(|l| l.params).sum(),
            flops: self.layers.iter().map(|l| l.flops).sum(),
            layers: self.layers,
        })
    }
}

/// Parameters and FLOPs of one NAS-Bench-201 cell at width `c` over a map
/// of `area` pixels.
fn cell_cost(cell: &Cell, c: u64, area: u64) -> (u64, u64) {
    let (mut params, mut flops) = (0, 0);
    for op in cell.ops {
        let (p, f) = match op {
            CellOp::None | CellOp::SkipConnect => (0, 0),
            CellOp::Conv1x1 => (c * c + 2 * c, (2 * c * c + 3 * c) * area),
            CellOp::Conv3x3 => (9 * c * c + 2 * c, (18 * c * c + 3 * c) * area),
            CellOp::AvgPool3x3 => (0, 9 * c * area),
        };
        params += p;
        flops += f + c * area; // the node sum
    }
    (params, flops)
}

/// Expands a block through a block skeleton.
pub(crate) fn expand_block(block: &[Layer], sk: &BlockSkeleton) -> Result<Network, ArchError> {
    let mut b = Builder::new(sk.input.shape, sk.max_channels);

    // Stem: lift the image to the first stage's width and, on large
    // inputs, bring the map down to a size the stages can afford. An odd
    // kernel's 'same' padding is half the kernel on every side, so a
    // stride s gives ceil(h / s) rows.
    let k = sk.stem_kernel;
    b.conv((k, k, sk.stem_stride), sk.stem, true, Role::Stem)?;
    b.push(Op::BatchNorm { ch: sk.stem }, Role::Stem)?;
    b.push(Op::Relu, Role::Stem)?;
    if let Some(pool) = sk.stem_pool {
        let op = Op::MaxPool {
            kw: pool.kernel,
            kh: pool.kernel,
            stride: pool.stride,
            pad: Padding::same(pool.kernel, pool.kernel),
        };
        b.push(op, Role::Stem)?;
    }

    for stage in 0..3 {
        for copy in 0..sk.copies[stage] {
            // Every copy starts at the stage's width.
            if b.shape.c != sk.widths[stage] {
                b.conv((1, 1, 1), sk.widths[stage], true, Role::Adapt { stage })?;
            }
            for (index, layer) in block.iter().enumerate() {
                let role = Role::Block { stage, copy, index };
                push_layer(&mut b, layer, role)?;
            }
        }
        let pool = Op::MaxPool {
            kw: 2,
            kh: 2,
            stride: 2,
            pad: Padding::default(),
        };
        b.push(pool, Role::StagePool { stage })?;
    }
    b.finish(sk.input.classes)
}

/// Appends one relative block layer at the running channel count.
fn push_layer(b: &mut Builder, layer: &Layer, role: Role) -> Result<(), ArchError> {
    let c = b.shape.c;
    let op = match *layer {
        Layer::Conv {
            kw,
            kh,
            ratio,
            stride,
        } => {
            let out_ch = (c as f64 * ratio).round() as usize;
            if out_ch == 0 {
                return Err(ArchError::ZeroChannels {
                    at: role.to_string(),
                    in_ch: c,
                    ratio,
                });
            }
            return b.conv((kw, kh, stride), out_ch, true, role);
        }
        Layer::MaxPool { kw, kh, stride } => Op::MaxPool {
            kw,
            kh,
            stride,
            pad: Padding::same(kw, kh),
        },
        Layer::AvgPool { kw, kh, stride } => Op::AvgPool {
            kw,
            kh,
            stride,
            pad: Padding::same(kw, kh),
        },
        Layer::Relu => Op::Relu,
        Layer::Sigmoid => Op::Sigmoid,
        Layer::Tanh => Op::Tanh,
        Layer::BatchNorm => Op::BatchNorm { ch: c },
        Layer::Identity => Op::Identity,
        Layer::Zero => {
            let index = match role {
                Role::Block { index, .. } => index,
                _ => 0,
            };
            return Err(ArchError::ZeroInBlock { index });
        }
    };
    b.push(op, role)
}

/// Expands a NAS-Bench-201 cell through the benchmark's skeleton.
pub(crate) fn expand_cell(cell: &Cell, sk: &CellSkeleton) -> Result<Network, ArchError> {
    let mut b = Builder::new(sk.input.shape, usize::MAX);
    b.conv((3, 3, 1), sk.width, false, Role::Stem)?;
    b.push(Op::BatchNorm { ch: sk.width }, Role::Stem)?;
    let text = cell.to_string();
    for stage in 0..3 {
        let ch = sk.width << stage;
        if stage > 0 {
            let op = Op::ResidualReduction {
                in_ch: b.shape.c,
                out_ch: ch,
            };
            b.push(op, Role::Reduction { stage })?;
        }
        for index in 0..sk.cells {
            let op = Op::Nb201Cell {
                cell: text.clone(),
                ch,
            };
            b.push(op, Role::Cell { stage, index })?;
        }
    }
    b.push(Op::BatchNorm { ch: b.shape.c }, Role::Head)?;
    b.push(Op::Relu, Role::Head)?;
    b.finish(sk.input.classes)
}
