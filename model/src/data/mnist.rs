//! MNIST in LeCun's IDX format (big-endian header, then raw `u8` data),
//! gzip or plain.
//!
//! The four files are looked up in one folder under their usual names
//! (`train-images-idx3-ubyte[.gz]`, also the `train-images.idx3-ubyte`
//! spelling). The repository ships them in `data/mnist/`.

use std::path::{Path, PathBuf};

use super::source;
use super::{DataError, ImageSet};

/// Magic number of an IDX file of `u8` images (3 dimensions).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` labels (1 dimension).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST images are 28x28; anything else is not MNIST.
const SIDE: usize = 28;

/// Which half of MNIST.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

/// Reads one half of MNIST from `dir`.
pub fn read(dir: &Path, part: Part) -> Result<ImageSet, DataError> {
    let (prefix, what) = match part {
        Part::Train => ("train", ["MNIST training images", "MNIST training labels"]),
        Part::Test => ("t10k", ["MNIST test images", "MNIST test labels"]),
    };
    let images_path = source::find(
        dir,
        &[
            &format!("{prefix}-images-idx3-ubyte"),
            &format!("{prefix}-images.idx3-ubyte"),
        ],
        what[0],
    )?;
    let labels_path = source::find(
        dir,
        &[
            &format!("{prefix}-labels-idx1-ubyte"),
            &format!("{prefix}-labels.idx1-ubyte"),
        ],
        what[1],
    )?;
    let (count, pixels) = parse_images(&images_path, &source::read(&images_path)?)?;
    let labels = parse_labels(&labels_path, &source::read(&labels_path)?)?;
    if labels.len() != count {
        return Err(DataError::CountMismatch {
            images: images_path,
            image_count: count,
            labels: labels_path,
            label_count: labels.len(),
        });
    }
    Ok(ImageSet {
        channels: 1,
        height: SIDE,
        width: SIDE,
        pixels,
        labels,
    })
}

/// Checks an IDX image file and returns its record count and pixels.
pub(crate) fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, Vec<u8>), DataError> {
    let header = header(path, bytes, 4, IMAGES_MAGIC)?;
    let (count, rows, cols) = (header[1], header[2], header[3]);
    if rows != SIDE || cols != SIDE {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!("images are {rows}x{cols}, MNIST is {SIDE}x{SIDE}"),
        });
    }
    let body = body(path, bytes, 16, count * rows * cols)?;
    Ok((count, body.to_vec()))
}

/// Checks an IDX label file and returns its labels.
pub(crate) fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let header = header(path, bytes, 2, LABELS_MAGIC)?;
    let labels = body(path, bytes, 8, header[1])?;
    if let Some(index) = labels.iter().position(|&l| l >= 10) {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label: labels[index],
        });
    }
    Ok(labels.to_vec())
}

/// Reads `words` big-endian `u32`s, the first of which must be `magic`.
fn header(path: &Path, bytes: &[u8], words: usize, magic: u32) -> Result<Vec<usize>, DataError> {
    let truncated = || DataError::Truncated {
        path: path.to_path_buf(),
        expected: words * 4,
        found: bytes.len(),
    };
    let head = bytes.get(..words * 4).ok_or_else(truncated)?;
    let values: Vec<u32> = head
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    if values[0] != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found: values[0],
        });
    }
    Ok(values.into_iter().map(|v| v as usize).collect())
}

/// The `len` bytes after the header, which must be all that follows it.
fn body<'a>(path: &Path, bytes: &'a [u8], start: usize, len: usize) -> Result<&'a [u8], DataError> {
    let expected = start + len;
    match bytes.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path: PathBuf::from(path),
            expected,
            found: bytes.len(),
        }),
        std::cmp::Ordering::Greater => Err(DataError::WrongLength {
            path: PathBuf::from(path),
            found: bytes.len(),
            detail: format!("the header promises {expected}"),
        }),
        std::cmp::Ordering::Equal => Ok(&bytes[start..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_images(count: u32, side: u32, body: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [IMAGES_MAGIC, count, side, side] {
            b.extend(v.to_be_bytes());
        }
        b.resize(16 + body, 9);
        b
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(LABELS_MAGIC.to_be_bytes());
        b.extend((labels.len() as u32).to_be_bytes());
        b.extend(labels);
        b
    }

    #[test]
    fn parses_well_formed_files() {
        let p = Path::new("imgs");
        let (n, px) = parse_images(p, &idx_images(2, 28, 2 * 784)).unwrap();
        assert_eq!((n, px.len()), (2, 2 * 784));
        assert_eq!(parse_labels(p, &idx_labels(&[3, 9])).unwrap(), [3, 9]);
    }

    #[test]
    fn bad_magic_truncation_and_extra_bytes_are_errors() {
        let p = Path::new("some/file-idx3");
        let mut wrong = idx_images(2, 28, 2 * 784);
        wrong[3] = 0x01;
        let err = parse_images(p, &wrong).unwrap_err();
        assert!(matches!(err, DataError::BadMagic { found: 0x801, .. }));
        assert!(err.to_string().contains("some/file-idx3"), "{err}");

        let short = idx_images(2, 28, 2 * 784 - 1);
        let err = parse_images(p, &short).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
        let err = parse_images(p, &short[..7]).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");

        let long = idx_images(2, 28, 2 * 784 + 5);
        let err = parse_images(p, &long).unwrap_err();
        assert!(matches!(err, DataError::WrongLength { .. }), "{err}");

        let err = parse_images(p, &idx_images(1, 32, 1024)).unwrap_err();
        assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
    }

    #[test]
    fn labels_out_of_range_are_errors() {
        let err = parse_labels(Path::new("l"), &idx_labels(&[1, 12])).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 12,
                ..
            }
        ));
    }
}
