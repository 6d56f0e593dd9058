//! Predictor checkpoints: one file holding every ensemble member, with
//! enough description to refuse a file that cannot be what it claims.
//!
//! Layout (format version 1):
//!
//! ```text
//! peephole-predictor\n              magic line
//! {...}\n                           header: one line of JSON
//! <payload>                         little-endian f32, member after member
//! ```
//!
//! The header records the format version, the encoding the predictor
//! expects, the network sizes, the arrays of one member by name and shape
//! (all members alike), a summary of the training data, the training
//! settings and each member's validation metrics, and the payload's length
//! and SHA-256. Loading checks all of it, so a truncated, corrupted or
//! foreign file is an error that names the file and what is wrong, never a
//! panic or a silently wrong predictor.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::fit::{FitConfig, MemberReport};
use super::weights::{Dims, Weights};
use super::{Encoding, Predictor};

/// First line of every checkpoint.
pub const MAGIC: &[u8] = b"peephole-predictor\n";

/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why a checkpoint could not be written or read.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a predictor checkpoint (no '{magic}' header line)")]
    NotACheckpoint { path: PathBuf, magic: &'static str },
    #[error("{path}: checkpoint header is damaged: {message}")]
    Header { path: PathBuf, message: String },
    #[error(
        "{path}: checkpoint format version {found}, this build reads \
         version {expected}"
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error(
        "{path}: checkpoint is truncated or padded: payload has {found} \
         bytes, the header promises {expected}"
    )]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error("{path}: checkpoint payload is corrupt (SHA-256 mismatch)")]
    Checksum { path: PathBuf },
    #[error("{path}: checkpoint arrays do not match its sizes: {message}")]
    Shape { path: PathBuf, message: String },
}

/// Summary of the data a predictor was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Where the records came from (a path or a description).
    pub source: String,
    pub samples: usize,
    pub min_epoch: usize,
    pub max_epoch: usize,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub accuracy_min: f64,
    pub accuracy_max: f64,
}

impl DataSummary {
    /// Summarises `(epoch, accuracy)` pairs.
    pub fn of(source: &str, points: &[(usize, f64)]) -> DataSummary {
        let n = points.len().max(1) as f64;
        let mean = points.iter().map(|p| p.1).sum::<f64>() / n;
        let var = points.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n;
        DataSummary {
            source: source.to_string(),
            samples: points.len(),
            min_epoch: points.iter().map(|p| p.0).min().unwrap_or(0),
            max_epoch: points.iter().map(|p| p.0).max().unwrap_or(0),
            accuracy_mean: mean,
            accuracy_std: var.sqrt(),
            accuracy_min: points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
            accuracy_max: points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArraySpec {
    name: String,
    shape: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format_version: u32,
    encoding: Encoding,
    dims: Dims,
    members: usize,
    arrays: Vec<ArraySpec>,
    /// `[mean, scale]` of the standardised target, per member.
    targets: Vec<[f32; 2]>,
    payload_bytes: usize,
    payload_sha256: String,
    data: DataSummary,
    config: FitConfig,
    reports: Vec<MemberReport>,
}

/// A predictor with its provenance.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub predictor: Predictor,
    pub data: DataSummary,
    pub config: FitConfig,
    pub reports: Vec<MemberReport>,
}

impl Checkpoint {
    /// Writes the checkpoint to `path` (through a temporary file, so a
    /// crash never leaves half a checkpoint under the real name).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let members = self.predictor.members();
        let mut payload = Vec::new();
        for member in members {
            for (_, _, data) in member.named() {
                for x in data {
                    payload.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        let header = Header {
            format_version: FORMAT_VERSION,
            encoding: self.predictor.encoding(),
            dims: self.predictor.dims(),
            members: members.len(),
            arrays: members[0]
                .named()
                .into_iter()
                .map(|(name, shape, _)| ArraySpec {
                    name: name.to_string(),
                    shape,
                })
                .collect(),
            targets: members
                .iter()
                .map(|m| [m.target_mean, m.target_scale])
                .collect(),
            payload_bytes: payload.len(),
            payload_sha256: hex(&Sha256::digest(&payload)),
            data: self.data.clone(),
            config: self.config.clone(),
            reports: self.reports.clone(),
        };
        // Serialising plain data to a string cannot fail.
        let header = serde_json::to_string(&header).expect("header serialises");
        let mut bytes = Vec::with_capacity(MAGIC.len() + header.len() + 1 + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(header.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(&payload);

        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads and checks a checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// As [`Checkpoint::load`], from bytes already read; `path` is only
    /// used in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
        let path = path.to_path_buf();
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| CheckpointError::NotACheckpoint {
                path: path.clone(),
                magic: "peephole-predictor",
            })?;
        let header_err = |message: String| CheckpointError::Header {
            path: path.clone(),
            message,
        };
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| header_err("no end of header line".into()))?;
        let (header, payload) = (&rest[..end], &rest[end + 1..]);

        // Read the version alone first, so that a newer format is reported
        // as such and not as a damaged header.
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version =
            serde_json::from_slice(header).map_err(|e| header_err(e.to_string()))?;
        if version.format_version != FORMAT_VERSION {
            return Err(CheckpointError::Version {
                path,
                found: version.format_version,
                expected: FORMAT_VERSION,
            });
        }
        let header: Header =
            serde_json::from_slice(header).map_err(|e| header_err(e.to_string()))?;

        if payload.len() != header.payload_bytes {
            return Err(CheckpointError::Truncated {
                path,
                expected: header.payload_bytes,
                found: payload.len(),
            });
        }
        if hex(&Sha256::digest(payload)) != header.payload_sha256 {
            return Err(CheckpointError::Checksum { path });
        }
        let shape_err = |message: String| CheckpointError::Shape {
            path: path.clone(),
            message,
        };
        if header.members == 0 || header.targets.len() != header.members {
            return Err(shape_err(format!(
                "{} members with {} target scales",
                header.members,
                header.targets.len()
            )));
        }
        let per_member: usize = header
            .arrays
            .iter()
            .map(|a| a.shape.iter().product::<usize>())
            .sum();
        if per_member * 4 * header.members != payload.len() {
            return Err(shape_err(format!(
                "arrays need {} bytes per member, payload has {} for {} members",
                per_member * 4,
                payload.len(),
                header.members
            )));
        }

        // Cut the payload into members, and members into named arrays.
        let floats: Vec<f32> = payload
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let mut members = Vec::with_capacity(header.members);
        for (m, chunk) in floats.chunks_exact(per_member).enumerate() {
            let mut at = 0;
            let arrays = header.arrays.iter().map(|spec| {
                let len = spec.shape.iter().product::<usize>();
                let data = chunk[at..at + len].to_vec();
                at += len;
                (spec.name.clone(), spec.shape.clone(), data)
            });
            let weights = Weights::from_named(header.dims, header.targets[m], arrays)
                .map_err(|e| shape_err(format!("member {m}: {e}")))?;
            members.push(weights);
        }
        Ok(Checkpoint {
            predictor: Predictor::new(header.encoding, members),
            data: header.data,
            config: header.config,
            reports: header.reports,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Checkpoint {
        let dims = Dims {
            hidden: 8,
            head: 6,
            ..Dims::paper(3)
        };
        let members = vec![Weights::init(dims, 1), Weights::init(dims, 2)];
        Checkpoint {
            predictor: Predictor::new(Encoding::Sequential, members),
            data: DataSummary::of("test", &[(3, 0.5), (3, 0.7)]),
            config: FitConfig::default(),
            reports: Vec::new(),
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.ckpt");
        let ckpt = small();
        ckpt.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.predictor.members(), ckpt.predictor.members());
        assert_eq!(back.data, ckpt.data);
    }

    #[test]
    fn damaged_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.ckpt");
        small().save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let truncated = &bytes[..bytes.len() - 10];
        let err = Checkpoint::from_bytes(truncated, &path).unwrap_err();
        assert!(matches!(err, CheckpointError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("p.ckpt"), "{err}");

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let err = Checkpoint::from_bytes(&flipped, &path).unwrap_err();
        assert!(matches!(err, CheckpointError::Checksum { .. }), "{err}");

        let err = Checkpoint::from_bytes(b"hello\n", &path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::NotACheckpoint { .. }),
            "{err}"
        );

        let text = String::from_utf8_lossy(&bytes[..200]).to_string();
        let newer = text.replace("\"format_version\":1", "\"format_version\":9");
        let mut future = newer.into_bytes();
        future.extend_from_slice(&bytes[200..]);
        let err = Checkpoint::from_bytes(&future, &path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Version { found: 9, .. }),
            "{err}"
        );

        let err = Checkpoint::from_bytes(&bytes[..30], &path).unwrap_err();
        assert!(matches!(err, CheckpointError::Header { .. }), "{err}");
    }
}
