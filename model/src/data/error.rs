//! [`DataError`]: everything that can go wrong while reading a data set.
//!
//! Every variant names the file it is about, so that a user who points
//! `peephole train` at the wrong folder learns which file to fix.

use std::path::PathBuf;

/// Why a data set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// None of the accepted file names exists.
    #[error("{what} not found: looked for {}", list(.tried))]
    Missing {
        /// What was looked for ("MNIST training images").
        what: &'static str,
        /// Every path that was tried, in order.
        tried: Vec<PathBuf>,
    },

    /// The file exists but reading it failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The file looks like gzip (or is named `.gz`) but does not inflate.
    #[error("{path}: bad gzip stream: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decoder reported (truncated stream, bad CRC, ...).
        source: std::io::Error,
    },

    /// An IDX file whose magic number is not the expected one.
    #[error("{path}: bad magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number of this kind of file.
        expected: u32,
        /// The magic number found.
        found: u32,
    },

    /// The file is shorter than its header (or its format) promises.
    #[error("{path}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file (after decompression).
        path: PathBuf,
        /// Bytes the header promises.
        expected: usize,
        /// Bytes present.
        found: usize,
    },

    /// The file is longer than its header promises, or not a whole number
    /// of records.
    #[error("{path}: wrong length: {found} bytes, {detail}")]
    WrongLength {
        /// The file (after decompression).
        path: PathBuf,
        /// Bytes present.
        found: usize,
        /// What the length should have been.
        detail: String,
    },

    /// A header field with an impossible value (image size, count).
    #[error("{path}: bad header: {detail}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Which field and what it held.
        detail: String,
    },

    /// A label outside 0..10.
    #[error("{path}: record {index} has label {label}, expected 0..10")]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Record number, from 0.
        index: usize,
        /// The label found.
        label: u8,
    },

    /// Image and label files disagree on the number of records.
    #[error(
        "{images} holds {image_count} images \
         but {labels} holds {label_count} labels"
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Its record count.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Its record count.
        label_count: usize,
    },

    /// The requested split does not fit in the data.
    #[error(
        "{dataset}: class {class} has {available} training images, \
         too few to hold out {wanted} for validation and still train"
    )]
    SplitTooLarge {
        /// The data set's name.
        dataset: &'static str,
        /// The class that ran short.
        class: usize,
        /// Images of that class in the training file.
        available: usize,
        /// Images per class asked for validation.
        wanted: usize,
    },

    /// A downloaded file whose checksum is not the published one.
    #[error(
        "{path}: {algorithm} checksum {found} \
         does not match the published {expected}"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// "md5" or "sha256".
        algorithm: &'static str,
        /// The published digest, lower-case hex.
        expected: String,
        /// The digest of the file, lower-case hex.
        found: String,
    },
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}
