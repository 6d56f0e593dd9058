//! Transfer of a block found on CIFAR-10 to ImageNet (SPEC section 7):
//! the ImageNet block skeleton, moving a block onto it, and generating a
//! standalone PyTorch module from an expanded network.
//!
//! The paper stacked its best block "in the same manner as the CIFAR
//! skeleton". We keep the block skeleton's stages unchanged (three stages
//! of copies, each followed by 2x2 max pooling, global average pooling, a
//! linear classifier), give it ResNet's strided stem so the stages run at
//! ResNet's resolutions rather than at the full 224x224, and scale the
//! input, the classes and the widths; see [`imagenet_skeleton`] for the
//! numbers.
//!
//! This module owns no training and no I/O: it returns architectures and
//! Python source text, and the binary writes them.

use std::fmt::Write as _;

use crate::arch::{Architecture, Body};
use crate::error::ArchError;
use crate::network::{Network, Op, Padding};
use crate::skeleton::{BlockSkeleton, InputSpec, Skeleton, StemPool};

/// Target datasets an export can be scaled for.
pub const TARGETS: [&str; 1] = ["imagenet"];

/// Why a block could not be transferred or turned into PyTorch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransferError {
    #[error("unknown transfer target '{0}' (known: imagenet)")]
    UnknownTarget(String),
    #[error(
        "only block architectures can be transferred; got a NAS-Bench-201 \
         cell '{0}'"
    )]
    NotABlock(String),
    #[error("the block does not fit the {target} skeleton: {source}")]
    Arch {
        target: &'static str,
        #[source]
        source: ArchError,
    },
    #[error("layer {index} ({op}) has no PyTorch translation")]
    Unsupported { index: usize, op: String },
}

/// The ImageNet block skeleton: 3x224x224 inputs, 1000 classes.
///
/// The stem is ResNet's: a 7x7 stride-2 convolution to 64 channels, BN,
/// ReLU and a 3x3 stride-2 max pool (224 -> 112 -> 56). The three stages
/// then run at 56, 28 and 14 pixels and the last map is 7x7 before global
/// pooling, as in ResNet and VGG. Widths are the CIFAR-10 preset's
/// doubled (64/128/256), which are also ResNet's widths at those
/// resolutions, with the same two copies per stage. The channel cap is
/// raised to 16384 so that blocks whose convolutions widen the map
/// (ratios above 1) still fit at the larger widths.
pub fn imagenet_skeleton() -> BlockSkeleton {
    BlockSkeleton {
        input: InputSpec {
            shape: [3, 224, 224],
            classes: 1000,
        },
        stem: 64,
        stem_kernel: 7,
        stem_stride: 2,
        stem_pool: Some(StemPool {
            kernel: 3,
            stride: 2,
        }),
        widths: [64, 128, 256],
        copies: [2, 2, 2],
        max_channels: 16384,
    }
}

/// The skeleton for a target name.
pub fn target_skeleton(target: &str) -> Result<BlockSkeleton, TransferError> {
    match target {
        "imagenet" => Ok(imagenet_skeleton()),
        other => Err(TransferError::UnknownTarget(other.to_string())),
    }
}

/// The same block on the target's skeleton, validated (so it expands).
pub fn transfer(arch: &Architecture, target: &str) -> Result<Architecture, TransferError> {
    let skeleton = target_skeleton(target)?;
    let block = match &arch.body {
        Body::Block(block) => block.clone(),
        Body::Cell(cell) => return Err(TransferError::NotABlock(cell.to_string())),
    };
    let moved = Architecture {
        skeleton: Skeleton::Block(skeleton),
        body: Body::Block(block),
    };

    // Validation expands the network, catching kernels that no longer fit
    // and channel counts past the cap.
    moved.validate().map_err(|source| TransferError::Arch {
        target: "imagenet",
        source,
    })?;
    Ok(moved)
}

/// Python source of a standalone PyTorch module (torch only) building
/// `net` layer by layer, in the order and with the shapes the Rust model
/// describes. The class is named `class_name`.
///
/// Padding follows the Rust model exactly: 'same' padding puts the extra
/// pixel of an even kernel at the bottom/right, max pooling pads with
/// -inf, and average pooling excludes padded positions.
pub fn pytorch_module(net: &Network, class_name: &str) -> Result<String, TransferError> {
    let mut body = String::new();
    // Index of the module that ends each Rust layer, and that layer's
    // output shape, so a test can compare the two layer lists.
    let (mut ends, mut shapes) = (Vec::new(), Vec::new());
    let mut modules = 0;
    for (index, layer) in net.layers.iter().enumerate() {
        let exprs = layer_exprs(&layer.op).ok_or_else(|| TransferError::Unsupported {
            index,
            op: format!("{:?}", layer.op),
        })?;
        modules += exprs.len();
        ends.push((modules - 1).to_string());
        let o = layer.output;
        shapes.push(
            if matches!(layer.op, Op::GlobalAvgPool | Op::Linear { .. }) {
                format!("({},)", o.c)
            } else {
                format!("({}, {}, {})", o.c, o.h, o.w)
            },
        );
        // Writing to a String cannot fail.
        let _ = writeln!(
            body,
            "            # {}: {} -> {}",
            layer.role, layer.input, layer.output
        );
        for e in exprs {
            let _ = writeln!(body, "            {e},");
        }
    }
    let [c, h, w] = [net.input.c, net.input.h, net.input.w];
    Ok(format!(
        r#""""Generated by `peephole export`; do not edit by hand.

A standalone PyTorch module (it needs torch only). Its layer list is the
one the Rust model expands; EXPECTED_PARAMS is the Rust parameter count.
"""

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = ({c}, {h}, {w})
NUM_CLASSES = {classes}
EXPECTED_PARAMS = {params}
EXPECTED_FLOPS = {flops}
# For each layer of the Rust model: the index in `layers` of the module
# that ends it, and its output shape (without the batch dimension).
RUST_LAYER_ENDS = [
    {ends},
]
RUST_OUTPUT_SHAPES = [
    {shapes},
]


class SamePad(nn.Module):
    """Zero padding (left, right, top, bottom); even kernels get the
    extra pixel at the bottom/right."""

    def __init__(self, left, right, top, bottom):
        super().__init__()
        self.pad = (left, right, top, bottom)

    def forward(self, x):
        return F.pad(x, self.pad)


class PaddedMaxPool(nn.Module):
    """Max pooling over a map padded with -inf, so padding never wins."""

    def __init__(self, kernel, stride, pad):
        super().__init__()
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x):
        x = F.pad(x, self.pad, value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class PaddedAvgPool(nn.Module):
    """Average pooling that excludes padded positions, for any (also
    asymmetric) padding: the sum over the window divided by the number of
    real pixels in it."""

    def __init__(self, kernel, stride, pad):
        super().__init__()
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x):
        ones = torch.ones_like(x[:1, :1])
        total = F.avg_pool2d(F.pad(x, self.pad), self.kernel, self.stride)
        count = F.avg_pool2d(F.pad(ones, self.pad), self.kernel, self.stride)
        return total / count


class {class_name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
{body}        )

    def forward(self, x):
        return self.layers(x)


if __name__ == "__main__":
    model = {class_name}()
    params = sum(p.numel() for p in model.parameters())
    out = model(torch.zeros(1, *INPUT_SHAPE))
    print(f"parameters {{params}} (Rust: {{EXPECTED_PARAMS}})")
    print(f"output {{tuple(out.shape)}}")
"#,
        classes = net.classes,
        params = net.params,
        flops = net.flops,
        ends = ends.join(",\n    "),
        shapes = shapes.join(",\n    "),
    ))
}

/// PyTorch constructor expressions for one layer, or `None` for the
/// NAS-Bench-201 composites.
fn layer_exprs(op: &Op) -> Option<Vec<String>> {
    let pad_tuple = |p: &Padding| format!("({}, {}, {}, {})", p.left, p.right, p.top, p.bottom);
    let exprs = match op {
        Op::Conv {
            kw,
            kh,
            in_ch,
            out_ch,
            stride,
            pad,
            bias,
        } => {
            let bias = if *bias { "True" } else { "False" };
            let symmetric = pad.top == pad.bottom && pad.left == pad.right;
            let (padding, pre) = if symmetric {
                (format!("({}, {})", pad.top, pad.left), None)
            } else {
                let pre = format!(
                    "SamePad({}, {}, {}, {})",
                    pad.left, pad.right, pad.top, pad.bottom
                );
                ("0".to_string(), Some(pre))
            };
            let conv = format!(
                "nn.Conv2d({in_ch}, {out_ch}, kernel_size=({kh}, {kw}), \
                 stride={stride}, padding={padding}, bias={bias})"
            );
            pre.into_iter().chain([conv]).collect()
        }
        Op::MaxPool {
            kw,
            kh,
            stride,
            pad,
        } => {
            if *pad == Padding::default() {
                vec![format!("nn.MaxPool2d(({kh}, {kw}), stride={stride})")]
            } else {
                vec![format!(
                    "PaddedMaxPool(({kh}, {kw}), {stride}, {})",
                    pad_tuple(pad)
                )]
            }
        }
        Op::AvgPool {
            kw,
            kh,
            stride,
            pad,
        } => {
            if *pad == Padding::default() {
                vec![format!("nn.AvgPool2d(({kh}, {kw}), stride={stride})")]
            } else if pad.top == pad.bottom && pad.left == pad.right {
                // Symmetric 'same' padding is at most half the kernel,
                // which nn.AvgPool2d accepts.
                vec![format!(
                    "nn.AvgPool2d(({kh}, {kw}), stride={stride}, \
                     padding=({}, {}), count_include_pad=False)",
                    pad.top, pad.left
                )]
            } else {
                vec![format!(
                    "PaddedAvgPool(({kh}, {kw}), {stride}, {})",
                    pad_tuple(pad)
                )]
            }
        }
        Op::Relu => vec!["nn.ReLU()".to_string()],
        Op::Sigmoid => vec!["nn.Sigmoid()".to_string()],
        Op::Tanh => vec!["nn.Tanh()".to_string()],
        Op::BatchNorm { ch } => vec![format!("nn.BatchNorm2d({ch})")],
        Op::Identity => vec!["nn.Identity()".to_string()],
        Op::GlobalAvgPool => vec![
            "nn.AdaptiveAvgPool2d(1)".to_string(),
            "nn.Flatten()".to_string(),
        ],
        Op::Linear {
            in_features,
            out_features,
        } => vec![format!("nn.Linear({in_features}, {out_features})")],
        Op::Nb201Cell { .. } | Op::ResidualReduction { .. } => return None,
    };
    Some(exprs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Role;

    fn cifar_block() -> Architecture {
        let json = r#"{"skeleton": "cifar10", "block": [
            {"kind": "conv", "kw": 2, "kh": 2, "ratio": 1.0},
            {"kind": "batch_norm"}, {"kind": "relu"},
            {"kind": "avg_pool", "kw": 3, "kh": 3}]}"#;
        Architecture::from_json(json).expect("valid block")
    }

    #[test]
    fn transfer_keeps_the_block_and_swaps_the_skeleton() {
        let arch = cifar_block();
        let moved = transfer(&arch, "imagenet").unwrap();
        assert_eq!(moved.body, arch.body);
        let net = moved.expand().unwrap();
        assert_eq!(net.classes, 1000);
        assert_eq!((net.input.c, net.input.h, net.input.w), (3, 224, 224));

        // The stem's 7x7/2 conv and 3x3/2 pool bring 224 to 56, three
        // 2x2 pools 56 to 7, then global pooling and the head.
        let pool = &net.layers[net.layers.len() - 2];
        assert_eq!((pool.input.h, pool.input.w), (7, 7));
        assert_eq!(net.layers.last().unwrap().input.c, 256);
    }

    #[test]
    fn strided_stem_leaves_a_7x7_map_at_a_fraction_of_the_cost() {
        let moved = transfer(&cifar_block(), "imagenet").unwrap();
        let net = moved.expand().unwrap();

        // conv, BN, ReLU, pool: 224 -> 112 -> 56.
        let stem: Vec<_> = net.layers.iter().filter(|l| l.role == Role::Stem).collect();
        let sides: Vec<_> = stem.iter().map(|l| (l.output.c, l.output.h)).collect();
        assert_eq!(sides, [(64, 112), (64, 112), (64, 112), (64, 56)]);
        // 2 x (7 * 7 * 3 * 64) multiply-adds at each of 112 * 112 pixels.
        assert_eq!(stem[0].flops, 2 * 9408 * 12544);
        assert_eq!(stem[0].params, 9408 + 64);
        let global = &net.layers[net.layers.len() - 2];
        assert_eq!(global.op, Op::GlobalAvgPool);
        assert_eq!((global.input.h, global.input.w), (7, 7));

        // The previous frame (3x3 stride-1 stem, no pool) ran the stages
        // at 224, 112 and 56: 16 times the pixels.
        let old = BlockSkeleton {
            stem_kernel: 3,
            stem_stride: 1,
            stem_pool: None,
            ..imagenet_skeleton()
        };
        let old = Architecture {
            skeleton: Skeleton::Block(old),
            body: moved.body.clone(),
        };
        let old = old.expand().unwrap();
        assert!(net.flops * 10 < old.flops, "{} vs {}", net.flops, old.flops);
        assert_eq!(old.layers[old.layers.len() - 2].input.h, 28);
    }

    #[test]
    fn strided_stem_translates_to_pytorch() {
        let net = transfer(&cifar_block(), "imagenet")
            .unwrap()
            .expand()
            .unwrap();
        let py = pytorch_module(&net, "Net").unwrap();
        let conv = "nn.Conv2d(3, 64, kernel_size=(7, 7), stride=2, \
                    padding=(3, 3), bias=True)";
        assert!(py.contains(conv), "{py}");
        assert!(
            py.contains("PaddedMaxPool((3, 3), 2, (1, 1, 1, 1))"),
            "{py}"
        );
    }

    #[test]
    fn unknown_target_is_named() {
        let err = transfer(&cifar_block(), "coco").unwrap_err();
        assert_eq!(err, TransferError::UnknownTarget("coco".into()));
    }

    #[test]
    fn even_kernels_get_asymmetric_padding_in_python() {
        let net = transfer(&cifar_block(), "imagenet")
            .unwrap()
            .expand()
            .unwrap();
        let py = pytorch_module(&net, "Net").unwrap();
        // The 2x2 conv pads one pixel at the bottom/right only.
        assert!(py.contains("SamePad(0, 1, 0, 1)"), "{py}");
        assert!(py.contains("count_include_pad=False"));
        assert!(py.contains(&format!("EXPECTED_PARAMS = {}", net.params)));
    }
}
