//! The layers a block is written in: the paper's seven kinds plus what DAG
//! spaces need (identity, zero) and an optional stride.
//!
//! Layers here are *relative*: a convolution names its kernel and its
//! output/input channel ratio, never an absolute width. The skeleton turns
//! them into concrete layers (see `network`).

use serde::{Deserialize, Serialize};

use crate::ulc::{self, LayerCode, ty};

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// One layer of a block, as written in architecture JSON
/// (`{"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.5}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// Convolution with 'same' padding and a bias.
    Conv {
        kw: usize,
        kh: usize,
        /// Output channels divided by input channels.
        ratio: f64,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        stride: usize,
    },
    /// Max pooling; stride 1 and 'same' padding unless a stride is given.
    MaxPool {
        kw: usize,
        kh: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        stride: usize,
    },
    /// Average pooling; stride 1 and 'same' padding unless a stride is given.
    AvgPool {
        kw: usize,
        kh: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        stride: usize,
    },
    Relu,
    Sigmoid,
    Tanh,
    BatchNorm,
    /// Passes its input through (skip connection of a DAG cell).
    Identity,
    /// Outputs zeros of the input's shape (missing edge of a DAG cell).
    Zero,
}

impl Layer {
    /// The JSON `kind` name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Layer::Conv { .. } => "conv",
            Layer::MaxPool { .. } => "max_pool",
            Layer::AvgPool { .. } => "avg_pool",
            Layer::Relu => "relu",
            Layer::Sigmoid => "sigmoid",
            Layer::Tanh => "tanh",
            Layer::BatchNorm => "batch_norm",
            Layer::Identity => "identity",
            Layer::Zero => "zero",
        }
    }

    /// True for convolutions.
    pub fn is_conv(&self) -> bool {
        matches!(self, Layer::Conv { .. })
    }

    /// Kernel `(kw, kh)`; activations and friends count as 1x1.
    pub fn kernel(&self) -> (usize, usize) {
        match self {
            Layer::Conv { kw, kh, .. }
            | Layer::MaxPool { kw, kh, .. }
            | Layer::AvgPool { kw, kh, .. } => (*kw, *kh),
            _ => (1, 1),
        }
    }

    /// Stride; 1 for layers without one.
    pub fn stride(&self) -> usize {
        match self {
            Layer::Conv { stride, .. }
            | Layer::MaxPool { stride, .. }
            | Layer::AvgPool { stride, .. } => *stride,
            _ => 1,
        }
    }

    /// The layer's Unified Layer Code. A convolution's `CH` comes from its
    /// nominal ratio; `network` recomputes it from concrete channel counts.
    pub fn code(&self) -> LayerCode {
        let (kw, kh) = self.kernel();
        let kernel = |t| LayerCode {
            ty: t,
            kw: ulc::kernel_code(kw),
            kh: ulc::kernel_code(kh),
            ch: ulc::UNIT_RATIO_CODE,
        };
        match self {
            Layer::Conv { ratio, .. } => LayerCode {
                ch: ulc::ratio_code(*ratio),
                ..kernel(ty::CONV)
            },
            Layer::MaxPool { .. } => kernel(ty::MAX_POOL),
            Layer::AvgPool { .. } => kernel(ty::AVG_POOL),
            Layer::Relu => LayerCode::unit(ty::RELU),
            Layer::Sigmoid => LayerCode::unit(ty::SIGMOID),
            Layer::Tanh => LayerCode::unit(ty::TANH),
            Layer::BatchNorm => LayerCode::unit(ty::BATCH_NORM),
            Layer::Identity => LayerCode::unit(ty::IDENTITY),
            Layer::Zero => LayerCode::unit(ty::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(t: u8, kw: u8, kh: u8, ch: u8) -> LayerCode {
        LayerCode { ty: t, kw, kh, ch }
    }

    /// The paper's table, pinned layer by layer.
    #[test]
    fn codes_of_known_layers() {
        let conv = |kw, kh, ratio| Layer::Conv {
            kw,
            kh,
            ratio,
            stride: 1,
        };
        assert_eq!(conv(3, 3, 1.0).code(), code(1, 3, 3, 4));
        assert_eq!(conv(1, 5, 0.25).code(), code(1, 1, 5, 1));
        assert_eq!(conv(5, 5, 3.0).code(), code(1, 5, 5, 8));
        assert_eq!(conv(2, 4, 1.5).code(), code(1, 2, 4, 5));
        assert_eq!(conv(3, 3, 2.0).code(), code(1, 3, 3, 6));
        let max = Layer::MaxPool {
            kw: 2,
            kh: 2,
            stride: 1,
        };
        assert_eq!(max.code(), code(2, 2, 2, 4));
        let avg = Layer::AvgPool {
            kw: 5,
            kh: 3,
            stride: 1,
        };
        assert_eq!(avg.code(), code(3, 5, 3, 4));
        assert_eq!(Layer::Relu.code(), code(4, 1, 1, 4));
        assert_eq!(Layer::Sigmoid.code(), code(5, 1, 1, 4));
        assert_eq!(Layer::Tanh.code(), code(6, 1, 1, 4));
        assert_eq!(Layer::BatchNorm.code(), code(7, 1, 1, 4));
        assert_eq!(Layer::Identity.code(), code(8, 1, 1, 4));
        assert_eq!(Layer::Zero.code(), code(9, 1, 1, 4));
    }

    #[test]
    fn json_shape_is_flat_and_strict() {
        let l: Layer =
            serde_json::from_str(r#"{"kind":"conv","kw":3,"kh":1,"ratio":0.5}"#).unwrap();
        assert_eq!(
            l,
            Layer::Conv {
                kw: 3,
                kh: 1,
                ratio: 0.5,
                stride: 1
            }
        );
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"kind":"conv","kw":3,"kh":1,"ratio":0.5}"#
        );
        let r: Layer = serde_json::from_str(r#"{"kind":"relu"}"#).unwrap();
        assert_eq!(r, Layer::Relu);
        assert!(serde_json::from_str::<Layer>(r#"{"kind":"gelu"}"#).is_err());
        let extra = r#"{"kind":"max_pool","kw":2,"kh":2,"pad":1}"#;
        assert!(serde_json::from_str::<Layer>(extra).is_err());
    }
}
