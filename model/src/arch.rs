//! Architectures: a block or cell plus the skeleton it is stacked into,
//! their JSON form, validation, canonical form and stable id.
//!
//! The JSON format is documented in `docs/architecture-format.md`:
//!
//! ```json
//! {"skeleton": "cifar10",
//!  "block": [{"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.5},
//!            {"kind": "batch_norm"}, {"kind": "relu"}]}
//! {"skeleton": "nb201-cifar10",
//!  "cell": "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|"}
//! ```

use std::fmt;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::ArchError;
use crate::layer::Layer;
use crate::nb201::Cell;
use crate::network::{self, Network};
use crate::skeleton::{BlockSkeleton, Skeleton};
use crate::ulc::{LayerCode, MAX_KERNEL};

/// Most layers a block may have (SPEC section 4: depth below 11).
pub const MAX_BLOCK_LAYERS: usize = 10;
/// Most convolutions a block may have (SPEC section 4: fewer than 4).
pub const MAX_BLOCK_CONVS: usize = 3;
/// Smallest side a shrinking stem may leave: the three 2x2 stage pools
/// halve the map three times (8 -> 4 -> 2 -> 1).
const MIN_MAP_AFTER_STEM: usize = 8;

/// What varies between networks of one skeleton.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A sequential block, the paper's case.
    Block(Vec<Layer>),
    /// A NAS-Bench-201 DAG cell.
    Cell(Cell),
}

/// A whole network description: skeleton plus body.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub skeleton: Skeleton,
    pub body: Body,
}

/// Stable id of an architecture: the first 64 bits of the SHA-256 of its
/// canonical JSON, as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArchId(pub u64);

impl fmt::Display for ArchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for ArchId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(ArchId)
    }
}

/// Deserialises `value` as `T`, reporting the JSON path of any error.
fn from_value<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, ArchError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            "." | "" => prefix.to_string(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        ArchError::Json {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

impl Architecture {
    /// A block network on a preset skeleton.
    pub fn block(skeleton: &str, block: Vec<Layer>) -> Result<Self, ArchError> {
        let skeleton = Skeleton::preset(skeleton)
            .ok_or_else(|| ArchError::UnknownSkeleton(skeleton.to_string()))?;
        let arch = Architecture {
            skeleton,
            body: Body::Block(block),
        };
        arch.validate()?;
        Ok(arch)
    }

    /// A NAS-Bench-201 cell on the benchmark's CIFAR-10 skeleton.
    pub fn nb201(cell: Cell) -> Architecture {
        Architecture {
            // The preset exists: it is in the table `preset` matches on.
            skeleton: Skeleton::preset("nb201-cifar10").expect("preset"),
            body: Body::Cell(cell),
        }
    }

    /// Parses and validates architecture JSON.
    pub fn from_json(text: &str) -> Result<Self, ArchError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ArchError::Json {
            path: "architecture".into(),
            message: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Builds and validates an architecture from parsed JSON.
    pub fn from_value(value: Value) -> Result<Self, ArchError> {
        let Value::Object(mut map) = value else {
            return Err(ArchError::Json {
                path: "architecture".into(),
                message: "expected a JSON object".into(),
            });
        };
        if let Some(key) = map
            .keys()
            .find(|k| !["skeleton", "block", "cell"].contains(&k.as_str()))
        {
            return Err(ArchError::Json {
                path: key.clone(),
                message: "unknown field (expected skeleton, block or cell)".into(),
            });
        }

        // The skeleton is a preset name or a full object.
        let skeleton = match map.remove("skeleton") {
            Some(Value::String(name)) => {
                Skeleton::preset(&name).ok_or(ArchError::UnknownSkeleton(name))?
            }
            Some(v) => from_value(v, "skeleton")?,
            None => {
                return Err(ArchError::Json {
                    path: "skeleton".into(),
                    message: "missing field".into(),
                });
            }
        };

        let body = match (map.remove("block"), map.remove("cell")) {
            (Some(b), None) => Body::Block(from_value(b, "block")?),
            (None, Some(Value::String(s))) => Body::Cell(s.parse()?),
            (None, Some(_)) => {
                return Err(ArchError::Json {
                    path: "cell".into(),
                    message: "expected a NAS-Bench-201 cell string".into(),
                });
            }
            _ => return Err(ArchError::Body),
        };
        let arch = Architecture { skeleton, body };
        arch.validate()?;
        Ok(arch)
    }

    /// The canonical JSON value: keys sorted, defaults omitted, the
    /// skeleton written as its preset name when it is one.
    pub fn to_value(&self) -> Value {
        let skeleton = match self.skeleton.preset_name() {
            Some(name) => Value::String(name.into()),
            // Serialising plain structs of integers cannot fail.
            None => serde_json::to_value(&self.skeleton).expect("skeleton"),
        };
        let mut map = Map::new();
        map.insert("skeleton".into(), skeleton);
        match &self.body {
            Body::Block(layers) => {
                // Layers are plain enums of numbers: serialisable.
                let v = serde_json::to_value(layers).expect("layers");
                map.insert("block".into(), v);
            }
            Body::Cell(cell) => {
                map.insert("cell".into(), json!(cell.to_string()));
            }
        }
        Value::Object(map)
    }

    /// Canonical JSON on one line: the same network always gives the same
    /// text, whatever order or defaults its source used.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The stable id.
    pub fn id(&self) -> ArchId {
        let digest = Sha256::digest(self.to_json().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        ArchId(u64::from_be_bytes(first))
    }

    /// Checks everything that makes a network impossible to build or
    /// outside the search space.
    pub fn validate(&self) -> Result<(), ArchError> {
        if let Body::Block(block) = &self.body {
            validate_block(block)?;
        }
        if let Skeleton::Block(sk) = &self.skeleton {
            let checks = [
                ("stem", sk.stem),
                ("widths", *sk.widths.iter().min().unwrap_or(&0)),
                ("input.classes", sk.input.classes),
                ("max_channels", sk.max_channels),
            ];
            for (field, v) in checks {
                if v == 0 {
                    return Err(ArchError::Skeleton {
                        field,
                        message: "must be at least 1".into(),
                    });
                }
            }
            validate_stem(sk)?;
        }
        self.expand().map(|_| ())
    }

    /// The full concrete network.
    pub fn expand(&self) -> Result<Network, ArchError> {
        match (&self.skeleton, &self.body) {
            (Skeleton::Block(sk), Body::Block(block)) => network::expand_block(block, sk),
            (Skeleton::Cell(sk), Body::Cell(cell)) => network::expand_cell(cell, sk),
            (sk, body) => Err(ArchError::SkeletonMismatch {
                skeleton: self.skeleton_name(),
                expects: match sk {
                    Skeleton::Block(_) => "blocks",
                    Skeleton::Cell(_) => "cells",
                },
                got: match body {
                    Body::Block(_) => "block",
                    Body::Cell(_) => "cell",
                },
            }),
        }
    }

    /// Preset name, or "custom".
    pub fn skeleton_name(&self) -> String {
        self.skeleton.preset_name().unwrap_or("custom").to_string()
    }

    /// The sequence the predictor reads. For blocks: every layer of the
    /// expanded network up to the classifier (SPEC section 2). For
    /// NAS-Bench-201 cells: one code per edge in the benchmark's order.
    pub fn layer_codes(&self) -> Result<Vec<LayerCode>, ArchError> {
        match &self.body {
            Body::Cell(cell) => Ok(cell.layer_codes()),
            Body::Block(_) => {
                let net = self.expand()?;
                Ok(net.layers.iter().filter_map(|l| l.code()).collect())
            }
        }
    }
}

/// Rules on the block itself, before any skeleton is involved.
fn validate_block(block: &[Layer]) -> Result<(), ArchError> {
    if block.is_empty() {
        return Err(ArchError::EmptyBlock);
    }
    if block.len() > MAX_BLOCK_LAYERS {
        return Err(ArchError::TooManyLayers(block.len()));
    }
    let convs = block.iter().filter(|l| l.is_conv()).count();
    if convs > MAX_BLOCK_CONVS {
        return Err(ArchError::TooManyConvs(convs));
    }
    for (index, layer) in block.iter().enumerate() {
        let kind = layer.kind_name();
        let (kw, kh) = layer.kernel();
        let min = match layer {
            Layer::Conv { .. } => 1,
            Layer::MaxPool { .. } | Layer::AvgPool { .. } => 2,
            _ => 1,
        };
        let max = MAX_KERNEL as usize;
        if !(min..=max).contains(&kw) || !(min..=max).contains(&kh) {
            return Err(ArchError::KernelRange {
                index,
                kind,
                kw,
                kh,
                min,
                max,
            });
        }
        let stride = layer.stride();
        if !(1..=4).contains(&stride) {
            return Err(ArchError::Stride {
                index,
                kind,
                stride,
            });
        }
        if let Layer::Conv { ratio, .. } = layer
            && !(ratio.is_finite() && *ratio > 0.0)
        {
            return Err(ArchError::Ratio {
                index,
                ratio: *ratio,
            });
        }
        if matches!(layer, Layer::Zero) {
            return Err(ArchError::ZeroInBlock { index });
        }
    }
    Ok(())
}

/// Rules on a block skeleton's stem fields. A stem that shrinks the map
/// must leave one the three stage pools can halve; the error then names
/// the stride or kernel at fault, where the expansion could only name the
/// stage pool that no longer fits. (A stride-1 stem on a small input is
/// left to the expansion, as before the stem could shrink.)
fn validate_stem(sk: &BlockSkeleton) -> Result<(), ArchError> {
    let err = |field, message: String| Err(ArchError::Skeleton { field, message });
    let (k, stride) = (sk.stem_kernel, sk.stem_stride);
    if k % 2 == 0 {
        return err(
            "stem_kernel",
            format!("{k} is not odd (it is padded by half the kernel on each side)"),
        );
    }
    if stride == 0 {
        return err("stem_stride", "0 must be at least 1".into());
    }
    if let Some(pool) = sk.stem_pool {
        if pool.kernel < 3 || pool.kernel % 2 == 0 {
            let message = format!("{} must be odd and at least 3", pool.kernel);
            return err("stem_pool.kernel", message);
        }
        if pool.stride == 0 {
            return err("stem_pool.stride", "0 must be at least 1".into());
        }
    }

    // With half-kernel padding an odd kernel at stride s leaves
    // ceil(side / s) pixels of each side.
    let [_, h, w] = sk.input.shape;
    if k > h.min(w) {
        return err(
            "stem_kernel",
            format!("{k} is larger than the {h}x{w} input"),
        );
    }
    let (h1, w1) = (h.div_ceil(stride), w.div_ceil(stride));
    let min = MIN_MAP_AFTER_STEM;
    if stride > 1 && h1.min(w1) < min {
        let message = format!(
            "{stride} shrinks the {h}x{w} input to {h1}x{w1}; the three \
             stage pools need at least {min}x{min}"
        );
        return err("stem_stride", message);
    }
    if let Some(pool) = sk.stem_pool {
        let (pk, ps) = (pool.kernel, pool.stride);
        if pk > h1.min(w1) {
            let message = format!("{pk} is larger than the {h1}x{w1} map it pools");
            return err("stem_pool.kernel", message);
        }
        let (h2, w2) = (h1.div_ceil(ps), w1.div_ceil(ps));
        if ps > 1 && h2.min(w2) < min {
            let message = format!(
                "{ps} shrinks the {h1}x{w1} map to {h2}x{w2}; the three \
                 stage pools need at least {min}x{min}"
            );
            return err("stem_pool.stride", message);
        }
    }
    Ok(())
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &str = r#"{"skeleton":"mnist","block":[
        {"kind":"conv","kw":3,"kh":3,"ratio":2.0},
        {"kind":"batch_norm"},{"kind":"relu"},
        {"kind":"max_pool","kw":2,"kh":2}]}"#;

    #[test]
    fn expands_the_mnist_skeleton() {
        let arch = Architecture::from_json(SIMPLE).unwrap();
        let net = arch.expand().unwrap();

        // stem(3) + 3 stages x (adapt? + 4 block layers + pool) + head(2)
        // Stage 0 starts at the stem width (16): no adapt. The block
        // doubles channels, so stages 1 and 2 adapt 32 -> 32? No: stage 0
        // ends at 32 = widths[1], so stage 1 needs no adapt either, and
        // stage 1 ends at 64 = widths[2].
        assert_eq!(net.layers.len(), 3 + 3 * 5 + 2);
        let last = &net.layers[net.layers.len() - 1];
        assert_eq!(
            last.op,
            network::Op::Linear {
                in_features: 128,
                out_features: 10
            }
        );
        let shapes: Vec<_> = net
            .layers
            .iter()
            .filter(|l| matches!(l.role, network::Role::StagePool { .. }))
            .map(|l| (l.output.c, l.output.h))
            .collect();
        assert_eq!(shapes, [(32, 14), (64, 7), (128, 3)]);

        // Parameters by hand: stem conv 1*16*9+16, BN 32; block convs
        // 16->32, 32->64, 64->128 with 3x3 kernels and bias, their BNs;
        // linear 128*10+10.
        let convs = [(1, 16), (16, 32), (32, 64), (64, 128)];
        let conv_params: u64 = convs.iter().map(|(i, o)| 9 * i * o + o).sum();
        let bn_params: u64 = 2 * (16 + 32 + 64 + 128);
        assert_eq!(net.params, conv_params + bn_params + 1290);
    }

    #[test]
    fn adaptation_conv_where_channels_differ() {
        let json = r#"{"skeleton":"cifar10","block":[
            {"kind":"conv","kw":1,"kh":1,"ratio":0.5}]}"#;
        let net = Architecture::from_json(json).unwrap().expand().unwrap();
        let adapts: Vec<_> = net
            .layers
            .iter()
            .filter_map(|l| match (&l.role, &l.op) {
                (network::Role::Adapt { stage }, network::Op::Conv { in_ch, out_ch, .. }) => {
                    Some((*stage, *in_ch, *out_ch))
                }
                _ => None,
            })
            .collect();
        // Copy 2 of each stage starts from 16/32/64 channels.
        assert_eq!(
            adapts,
            [
                (0, 16, 32),
                (1, 16, 64),
                (1, 32, 64),
                (2, 32, 128),
                (2, 64, 128)
            ]
        );
    }

    #[test]
    fn canonical_form_and_id_are_stable() {
        let a = Architecture::from_json(SIMPLE).unwrap();
        let reordered = r#"{"block":[
            {"ratio":2,"kh":3,"kw":3,"kind":"conv","stride":1},
            {"kind":"batch_norm"},{"kind":"relu"},
            {"kw":2,"kind":"max_pool","kh":2}],"skeleton":{"block":{
            "input":{"shape":[1,28,28],"classes":10},"stem":16,
            "widths":[16,32,64],"copies":[1,1,1],"max_channels":2048}}}"#;
        let b = Architecture::from_json(reordered).unwrap();
        assert_eq!(a.to_json(), b.to_json());
        assert_eq!(a.id(), b.id());
        // Pinned: a change here breaks every stored id.
        let pinned = concat!(
            r#"{"block":[{"kh":3,"kind":"conv","kw":3,"ratio":2.0},"#,
            r#"{"kind":"batch_norm"},{"kind":"relu"},"#,
            r#"{"kh":2,"kind":"max_pool","kw":2}],"skeleton":"mnist"}"#
        );
        assert_eq!(a.to_json(), pinned);
        // sha256 of the pinned text (python3 hashlib), first 16 hex digits.
        assert_eq!(a.id().to_string(), "83288aa0ec3bc15c");
        let round = Architecture::from_json(&a.to_json()).unwrap();
        assert_eq!(round, a);
    }

    #[test]
    fn rejects_impossible_architectures() {
        let cases = [
            (r#"{"skeleton":"mnist","block":[]}"#, "empty"),
            (
                r#"{"skeleton":"mnist","block":[{"kind":"gelu"}]}"#,
                "block[0]",
            ),
            (
                r#"{"skeleton":"mnist","block":[{"kind":"conv","kw":7,"kh":3,"ratio":1}]}"#,
                "kernel 7x3",
            ),
            (
                r#"{"skeleton":"mnist","block":[{"kind":"conv","kw":3,"kh":3,"ratio":0.01}]}"#,
                "rounds to 0",
            ),
            (
                r#"{"skeleton":{"block":{"input":{"shape":[1,28,28],
                "classes":10},"stem":8,"widths":[8,8,8],"copies":[1,1,1],
                "max_channels":64}},"block":[
                {"kind":"conv","kw":3,"kh":3,"ratio":3},
                {"kind":"conv","kw":3,"kh":3,"ratio":3}]}"#,
                "72 channels exceed",
            ),
            (r#"{"skeleton":"svhn","block":[{"kind":"relu"}]}"#, "svhn"),
            (r#"{"skeleton":"mnist"}"#, "exactly one"),
            (r#"{"skeleton":"mnist","cell":"|none~0|"}"#, "cell"),
            (
                r#"{"skeleton":"mnist","block":[{"kind":"relu"}],"x":1}"#,
                "x",
            ),
            (
                r#"{"skeleton":"mnist","block":[{"kind":"conv","kw":3,"kh":3}]}"#,
                "ratio",
            ),
        ];
        for (json, needle) in cases {
            let err = Architecture::from_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    /// A custom skeleton written before the stem fields existed.
    const OLD_CUSTOM: &str = r#"{"skeleton":{"block":{
        "input":{"shape":[3,32,32],"classes":10},"stem":16,
        "widths":[16,32,64],"copies":[1,1,1],"max_channels":512}},
        "block":[{"kind":"relu"}]}"#;

    #[test]
    fn skeleton_without_stem_fields_keeps_its_form_and_id() {
        let a = Architecture::from_json(OLD_CUSTOM).unwrap();
        let Skeleton::Block(sk) = &a.skeleton else {
            panic!("block skeleton expected");
        };
        assert_eq!((sk.stem_kernel, sk.stem_stride, sk.stem_pool), (3, 1, None));
        let pinned = concat!(
            r#"{"block":[{"kind":"relu"}],"skeleton":{"block":{"#,
            r#""copies":[1,1,1],"input":{"classes":10,"shape":[3,32,32]},"#,
            r#""max_channels":512,"stem":16,"widths":[16,32,64]}}}"#
        );
        assert_eq!(a.to_json(), pinned);
        // sha256 of the pinned text (python3 hashlib), first 16 hex digits.
        assert_eq!(a.id().to_string(), "122438dc42ec220b");

        // Spelling the defaults out changes nothing either.
        let explicit = OLD_CUSTOM.replace(
            r#""stem":16,"#,
            r#""stem":16,"stem_kernel":3,"stem_stride":1,"#,
        );
        let b = Architecture::from_json(&explicit).unwrap();
        assert_eq!((b.to_json(), b.id()), (a.to_json(), a.id()));

        // The stem is the 3x3 stride-1 conv, BN and ReLU it always was.
        let net = a.expand().unwrap();
        let stem: Vec<_> = net
            .layers
            .iter()
            .filter(|l| l.role == network::Role::Stem)
            .collect();
        assert_eq!(stem.len(), 3);
        assert_eq!(stem[2].output.h, 32);
    }

    #[test]
    fn strided_stem_is_written_and_expanded() {
        let json = OLD_CUSTOM.replace(
            r#""stem":16,"#,
            r#""stem":16,"stem_kernel":5,"stem_stride":2,
            "stem_pool":{"kernel":3,"stride":2},"#,
        );
        let a = Architecture::from_json(&json).unwrap();
        let canonical = a.to_json();
        let written = concat!(
            r#""stem_kernel":5,"stem_pool":{"kernel":3,"stride":2},"#,
            r#""stem_stride":2"#
        );
        assert!(canonical.contains(written), "{canonical}");
        assert_ne!(a.id(), Architecture::from_json(OLD_CUSTOM).unwrap().id());
        assert_eq!(Architecture::from_json(&canonical).unwrap(), a);

        // 32 -> 16 (5x5/2 conv) -> 8 (3x3/2 pool) -> 4, 2, 1.
        let net = a.expand().unwrap();
        let sides: Vec<_> = net
            .layers
            .iter()
            .filter(|l| {
                matches!(
                    l.role,
                    network::Role::Stem | network::Role::StagePool { .. }
                )
            })
            .map(|l| l.output.h)
            .collect();
        assert_eq!(sides, [16, 16, 16, 8, 4, 2, 1]);
        // Conv: 2 * (5 * 5 * 3 * 16) multiply-adds at 16 * 16 pixels;
        // pool: 3 * 3 compares per output at 8 * 8 pixels and 16 channels.
        assert_eq!(net.layers[0].flops, 2 * 1200 * 256);
        assert_eq!(net.layers[3].flops, 9 * 16 * 64);
    }

    #[test]
    fn rejects_bad_stem_fields() {
        let cases = [
            (r#""stem_kernel":4"#, "skeleton.stem_kernel: 4 is not odd"),
            (r#""stem_kernel":0"#, "skeleton.stem_kernel: 0 is not odd"),
            (
                r#""stem_kernel":35"#,
                "skeleton.stem_kernel: 35 is larger than the 32x32 input",
            ),
            (r#""stem_stride":0"#, "skeleton.stem_stride: 0 must be"),
            (
                r#""stem_stride":8"#,
                "skeleton.stem_stride: 8 shrinks the 32x32 input to 4x4",
            ),
            (
                r#""stem_pool":{"kernel":2,"stride":2}"#,
                "skeleton.stem_pool.kernel: 2 must be odd",
            ),
            (
                r#""stem_pool":{"kernel":3,"stride":0}"#,
                "skeleton.stem_pool.stride: 0 must be",
            ),
            (
                r#""stem_stride":2,"stem_pool":{"kernel":3,"stride":3}"#,
                "skeleton.stem_pool.stride: 3 shrinks the 16x16 map to 6x6",
            ),
            (
                r#""stem_stride":4,"stem_pool":{"kernel":9,"stride":1}"#,
                "skeleton.stem_pool.kernel: 9 is larger than the 8x8 map",
            ),
            (
                r#""stem_pool":{"kernel":3}"#,
                "skeleton.block.stem_pool: missing field `stride`",
            ),
            (r#""stem_stride":-1"#, "skeleton.block.stem_stride"),
        ];
        for (fields, needle) in cases {
            let with = format!(r#""stem":16,{fields},"#);
            let json = OLD_CUSTOM.replace(r#""stem":16,"#, &with);
            let err = Architecture::from_json(&json).unwrap_err().to_string();
            assert!(err.contains(needle), "{fields}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn kernel_larger_than_feature_map() {
        let json = r#"{"skeleton":{"block":{"input":{"shape":[1,8,8],
            "classes":10},"stem":8,"widths":[8,8,8],"copies":[1,1,1],
            "max_channels":64}},"block":[
            {"kind":"conv","kw":5,"kh":5,"ratio":1}]}"#;
        let err = Architecture::from_json(json).unwrap_err().to_string();
        assert!(err.contains("stage 1 copy 0 block[0]"), "{err}");
        assert!(err.contains("larger than the 4x4"), "{err}");
    }

    #[test]
    fn layer_codes_stop_before_the_classifier() {
        let arch = Architecture::from_json(SIMPLE).unwrap();
        let codes = arch.layer_codes().unwrap();
        let net = arch.expand().unwrap();
        assert_eq!(codes.len(), net.layers.len() - 1);
        // Global pooling over the last 3x3 map codes as a 3x3 avg pool.
        let last = codes.last().unwrap();
        assert_eq!((last.ty, last.kw, last.kh), (3, 3, 3));
        // Block conv doubling the channels: ratio bin 2.0 = code 6.
        assert_eq!(
            codes[3],
            LayerCode {
                ty: 1,
                kw: 3,
                kh: 3,
                ch: 6
            }
        );
    }
}
