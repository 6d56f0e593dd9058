//! How an architecture becomes the token sequence the predictor reads, and
//! how sequences of different lengths share one padded batch.
//!
//! Two encodings exist:
//!
//! - [`Encoding::Sequential`] is the paper's (SPEC section 3): the layer
//!   codes in network order, nothing else. It is the only encoding for
//!   block-based networks.
//! - [`Encoding::Positional`] adds to each code a learned embedding of its
//!   index in the sequence. For NAS-Bench-201 cells the sequence is one code
//!   per edge in the benchmark's fixed edge order, so the index names the
//!   edge (`1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`): the same op means
//!   something different on the edge into the output than on the first
//!   edge, and the position embedding says so directly instead of leaving
//!   the LSTM to count. Edges that cannot affect the output (their source
//!   is unreachable from the input, or their target cannot reach the
//!   output) are encoded as `none`: they compute nothing that matters, and
//!   treating them alike spares the predictor learning that from data.

use serde::{Deserialize, Serialize};

use super::PredictorError;
use crate::arch::{Architecture, Body};
use crate::nb201::{Cell, CellOp, EDGES};
use crate::ulc::LayerCode;

/// One element of the predictor's input: a layer code and, for the
/// positional encoding, its 1-based position (0 = no position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    pub code: LayerCode,
    pub position: u8,
}

/// The all-zero token that pads short sequences; its embeddings exist
/// (row 0 of every table) but the LSTM mask ignores it.
pub const PAD: Token = Token {
    code: LayerCode {
        ty: 0,
        kw: 0,
        kh: 0,
        ch: 0,
    },
    position: 0,
};

/// Which input encoding a predictor was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The paper's: layer codes in network order.
    Sequential,
    /// Layer codes plus a learned embedding of their position.
    Positional,
}

impl Encoding {
    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Sequential => "sequential",
            Encoding::Positional => "positional",
        }
    }

    /// The tokens of `arch` under this encoding.
    pub fn encode(self, arch: &Architecture) -> Result<Vec<Token>, PredictorError> {
        match (&arch.body, self) {
            (Body::Cell(cell), Encoding::Positional) => self.tokens(&live_cell(cell).layer_codes()),
            _ => self.tokens(&arch.layer_codes()?),
        }
    }

    /// Checks `codes` and turns them into tokens.
    pub fn tokens(self, codes: &[LayerCode]) -> Result<Vec<Token>, PredictorError> {
        if codes.is_empty() {
            return Err(PredictorError::EmptySequence);
        }
        if codes.len() > u8::MAX as usize {
            return Err(PredictorError::SequenceTooLong {
                len: codes.len(),
                max: u8::MAX as usize,
            });
        }
        codes
            .iter()
            .enumerate()
            .map(|(index, &code)| {
                if !code.is_valid() {
                    return Err(PredictorError::UnknownLayerCode { index, code });
                }
                let position = match self {
                    Encoding::Sequential => 0,
                    // Fits: the length was checked against u8::MAX above.
                    Encoding::Positional => (index + 1) as u8,
                };
                Ok(Token { code, position })
            })
            .collect()
    }
}

impl std::str::FromStr for Encoding {
    type Err = PredictorError;

    fn from_str(s: &str) -> Result<Encoding, PredictorError> {
        match s {
            "sequential" => Ok(Encoding::Sequential),
            "positional" => Ok(Encoding::Positional),
            other => Err(PredictorError::UnknownEncoding(other.to_string())),
        }
    }
}

/// `cell` with every edge that cannot influence the output set to `none`.
pub fn live_cell(cell: &Cell) -> Cell {
    let nodes = 4;
    let op = |to: usize, from: usize| {
        EDGES
            .iter()
            .position(|&e| e == (to, from))
            .map(|i| cell.ops[i])
            .unwrap_or(CellOp::None)
    };

    // Forward: fed from the input; backward: feeding the output.
    let mut fed = [false; 4];
    fed[0] = true;
    for to in 1..nodes {
        fed[to] = (0..to).any(|from| fed[from] && op(to, from) != CellOp::None);
    }
    let mut feeds = [false; 4];
    feeds[nodes - 1] = true;
    for from in (0..nodes - 1).rev() {
        feeds[from] = (from + 1..nodes).any(|to| feeds[to] && op(to, from) != CellOp::None);
    }
    let mut live = *cell;
    for (i, &(to, from)) in EDGES.iter().enumerate() {
        if !(fed[from] && feeds[to]) {
            live.ops[i] = CellOp::None;
        }
    }
    live
}

/// A padded batch in the flat layout both inference paths consume:
/// index arrays of `size * len` entries, row `b` holding sequence `b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub size: usize,
    pub len: usize,
    pub ty: Vec<i64>,
    pub kw: Vec<i64>,
    pub kh: Vec<i64>,
    pub ch: Vec<i64>,
    pub position: Vec<i64>,
    /// 1 for a real token, 0 for padding.
    pub mask: Vec<f32>,
    /// Sequence lengths.
    pub lengths: Vec<usize>,
    /// Epoch index of each sequence.
    pub epoch: Vec<i64>,
}

impl Batch {
    /// Pads `sequences` to the longest one, or to `min_len` if longer.
    pub fn new(sequences: &[&[Token]], epochs: &[usize], min_len: usize) -> Batch {
        let size = sequences.len();
        let len = sequences
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            .max(min_len);
        let mut batch = Batch {
            size,
            len,
            ty: Vec::with_capacity(size * len),
            kw: Vec::with_capacity(size * len),
            kh: Vec::with_capacity(size * len),
            ch: Vec::with_capacity(size * len),
            position: Vec::with_capacity(size * len),
            mask: Vec::with_capacity(size * len),
            lengths: sequences.iter().map(|s| s.len()).collect(),
            epoch: epochs.iter().map(|&e| e as i64).collect(),
        };
        for sequence in sequences {
            for t in 0..len {
                let token = sequence.get(t).copied().unwrap_or(PAD);
                batch.ty.push(i64::from(token.code.ty));
                batch.kw.push(i64::from(token.code.kw));
                batch.kh.push(i64::from(token.code.kh));
                batch.ch.push(i64::from(token.code.ch));
                batch.position.push(i64::from(token.position));
                batch.mask.push(if t < sequence.len() { 1.0 } else { 0.0 });
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_codes_are_named_with_their_index() {
        let good = LayerCode::unit(4);
        let bad = LayerCode {
            ty: 12,
            kw: 1,
            kh: 1,
            ch: 4,
        };
        let err = Encoding::Sequential.tokens(&[good, bad]).unwrap_err();
        assert_eq!(
            err,
            PredictorError::UnknownLayerCode {
                index: 1,
                code: bad
            }
        );
        assert!(err.to_string().contains("(12, 1, 1, 4)"), "{err}");
        assert_eq!(
            Encoding::Sequential.tokens(&[]),
            Err(PredictorError::EmptySequence)
        );
    }

    #[test]
    fn positions_count_from_one() {
        let codes = [LayerCode::unit(4); 3];
        let tokens = Encoding::Positional.tokens(&codes).unwrap();
        let positions: Vec<u8> = tokens.iter().map(|t| t.position).collect();
        assert_eq!(positions, [1, 2, 3]);
        let tokens = Encoding::Sequential.tokens(&codes).unwrap();
        assert!(tokens.iter().all(|t| t.position == 0));
    }

    #[test]
    fn dead_edges_become_none() {
        // Node 1 is fed by a conv but feeds nothing (both its out-edges are
        // none), so the conv is dead; node 2 is unreachable (its inputs are
        // none), so its out-edge 3<-2 is dead too.
        let cell: Cell = "|nor_conv_3x3~0|+|none~0|none~1|\
                          +|skip_connect~0|none~1|nor_conv_1x1~2|"
            .parse()
            .unwrap();
        let live = live_cell(&cell);
        assert_eq!(
            live.to_string(),
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
        );
        let best: Cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|\
                          +|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
        assert_eq!(live_cell(&best), best);
    }

    #[test]
    fn batch_pads_and_masks() {
        let a = Encoding::Sequential.tokens(&[LayerCode::unit(4)]).unwrap();
        let b = Encoding::Sequential
            .tokens(&[LayerCode::unit(5), LayerCode::unit(6)])
            .unwrap();
        let batch = Batch::new(&[&a, &b], &[3, 4], 0);
        assert_eq!((batch.size, batch.len), (2, 2));
        assert_eq!(batch.ty, [4, 0, 5, 6]);
        assert_eq!(batch.mask, [1.0, 0.0, 1.0, 1.0]);
        assert_eq!(batch.epoch, [3, 4]);
    }
}
