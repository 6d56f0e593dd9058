//! The NAS-Bench-201 cell space: a DAG of four nodes where node `j` is the
//! sum over `i < j` of `op(node i)`, written as
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.
//!
//! This module parses and prints those strings and says what each op is in
//! the layer vocabulary; `network` builds the benchmark's fixed skeleton
//! around a cell.

use std::fmt;
use std::str::FromStr;

use crate::layer::Layer;
use crate::ulc::{LayerCode, ty};

/// The edges `(to, from)` in the order the benchmark string lists them.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// The five operations an edge can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CellOp {
    None,
    SkipConnect,
    Conv1x1,
    Conv3x3,
    AvgPool3x3,
}

impl CellOp {
    /// All ops, in a fixed order (used for one-hot encodings).
    pub const ALL: [CellOp; 5] = [
        CellOp::None,
        CellOp::SkipConnect,
        CellOp::Conv1x1,
        CellOp::Conv3x3,
        CellOp::AvgPool3x3,
    ];

    /// The benchmark's name of the op.
    pub fn name(self) -> &'static str {
        match self {
            CellOp::None => "none",
            CellOp::SkipConnect => "skip_connect",
            CellOp::Conv1x1 => "nor_conv_1x1",
            CellOp::Conv3x3 => "nor_conv_3x3",
            CellOp::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// Position in [`CellOp::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The op as layers: convolutions are ReLU -> conv -> BN.
    pub fn layers(self) -> Vec<Layer> {
        let conv = |k| Layer::Conv {
            kw: k,
            kh: k,
            ratio: 1.0,
            stride: 1,
        };
        match self {
            CellOp::None => vec![Layer::Zero],
            CellOp::SkipConnect => vec![Layer::Identity],
            CellOp::Conv1x1 => vec![Layer::Relu, conv(1), Layer::BatchNorm],
            CellOp::Conv3x3 => vec![Layer::Relu, conv(3), Layer::BatchNorm],
            CellOp::AvgPool3x3 => {
                vec![Layer::AvgPool {
                    kw: 3,
                    kh: 3,
                    stride: 1,
                }]
            }
        }
    }

    /// The single layer code that stands for the edge in the predictor's
    /// sequence: the op's defining layer (the conv of a ReLU-conv-BN).
    pub fn code(self) -> LayerCode {
        match self {
            CellOp::None => LayerCode::unit(ty::ZERO),
            CellOp::SkipConnect => LayerCode::unit(ty::IDENTITY),
            CellOp::Conv1x1 => LayerCode {
                ty: ty::CONV,
                kw: 1,
                kh: 1,
                ch: 4,
            },
            CellOp::Conv3x3 => LayerCode {
                ty: ty::CONV,
                kw: 3,
                kh: 3,
                ch: 4,
            },
            CellOp::AvgPool3x3 => LayerCode {
                ty: ty::AVG_POOL,
                kw: 3,
                kh: 3,
                ch: 4,
            },
        }
    }
}

impl FromStr for CellOp {
    type Err = CellError;

    fn from_str(s: &str) -> Result<Self, CellError> {
        CellOp::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| CellError::UnknownOp(s.to_string()))
    }
}

/// A NAS-Bench-201 cell: one op per edge, in [`EDGES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub ops: [CellOp; 6],
}

/// Why a cell string was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CellError {
    #[error("cell string must have 3 node groups joined by '+', got {0}")]
    NodeCount(usize),
    #[error("node {node} must list {expected} edges like |op~0|, got '{group}'")]
    Group {
        node: usize,
        expected: usize,
        group: String,
    },
    #[error("edge '{edge}' of node {node} must come from node {expected}")]
    Source {
        node: usize,
        edge: String,
        expected: usize,
    },
    #[error(
        "unknown op '{0}' (expected none, skip_connect, nor_conv_1x1, \
         nor_conv_3x3 or avg_pool_3x3)"
    )]
    UnknownOp(String),
}

impl FromStr for Cell {
    type Err = CellError;

    fn from_str(s: &str) -> Result<Self, CellError> {
        let groups: Vec<&str> = s.trim().split('+').collect();
        if groups.len() != 3 {
            return Err(CellError::NodeCount(groups.len()));
        }
        let mut ops = [CellOp::None; 6];
        let mut next = 0;
        for (g, group) in groups.iter().enumerate() {
            let node = g + 1;
            let bad = || CellError::Group {
                node,
                expected: node,
                group: group.to_string(),
            };

            // A group is `|a~0|b~1|`: bars at both ends, one edge between
            // each pair of bars.
            let inner = group
                .strip_prefix('|')
                .and_then(|r| r.strip_suffix('|'))
                .ok_or_else(bad)?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != node {
                return Err(bad());
            }
            for (from, edge) in edges.iter().enumerate() {
                let (name, src) = edge.split_once('~').ok_or_else(bad)?;
                if src.parse::<usize>().ok() != Some(from) {
                    return Err(CellError::Source {
                        node,
                        edge: edge.to_string(),
                        expected: from,
                    });
                }
                ops[next] = name.parse()?;
                next += 1;
            }
        }
        Ok(Cell { ops })
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (op, (to, from))) in self.ops.iter().zip(EDGES).enumerate() {
            if i > 0 && from == 0 {
                write!(f, "+")?;
            }
            if from == 0 {
                write!(f, "|")?;
            }
            write!(f, "{}~{}|", op.name(), from)?;
            let _ = to;
        }
        Ok(())
    }
}

impl Cell {
    /// The `index`-th of the 5^6 cells in our enumeration order (edge
    /// 1<-0 varies slowest). This is not the benchmark's `index` column.
    pub fn from_index(mut index: usize) -> Cell {
        let mut ops = [CellOp::None; 6];
        for op in ops.iter_mut().rev() {
            *op = CellOp::ALL[index % 5];
            index /= 5;
        }
        Cell { ops }
    }

    /// Number of cells in the space.
    pub const COUNT: usize = 15_625;

    /// One code per edge, in [`EDGES`] order.
    pub fn layer_codes(&self) -> Vec<LayerCode> {
        self.ops.iter().map(|op| op.code()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEST: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|\
                        +|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    #[test]
    fn parses_and_prints_round_trip() {
        let cell: Cell = BEST.parse().unwrap();
        assert_eq!(cell.ops[0], CellOp::Conv3x3);
        assert_eq!(cell.ops[3], CellOp::SkipConnect);
        assert_eq!(cell.to_string(), BEST);
        for i in [0, 1, 777, 15_624] {
            let c = Cell::from_index(i);
            assert_eq!(c.to_string().parse::<Cell>().unwrap(), c);
        }
    }

    #[test]
    fn rejects_malformed_strings() {
        let cases = [
            ("", "3 node groups"),
            ("|none~0|", "3 node groups"),
            ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2"),
            ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 0"),
            ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv'"),
            ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
        ];
        for (s, needle) in cases {
            let err = s.parse::<Cell>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s:?}: {err}");
        }
    }
}
