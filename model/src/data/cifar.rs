//! CIFAR-10 in the official binary record layout: 3073-byte records, one
//! label byte then the red, green and blue 32x32 planes, row-major.
//!
//! Accepted file sets, in a folder or its `cifar-10-batches-bin/`
//! subfolder, each file gzip or plain:
//! - one file per half: `train.bin` and `test.bin` (the layout of the
//!   project's JPEG-derived copy in `shared/data/cifar10-jpeg-derived/`);
//! - the official five `data_batch_N.bin` and `test_batch.bin`.
//!
//! CIFAR-10 is never copied into the repository; `--data` points at it.

use std::path::{Path, PathBuf};

use super::source;
use super::{DataError, ImageSet};

/// Bytes per record: one label, then 3 planes of 32x32.
pub const RECORD: usize = 1 + 3 * SIDE * SIDE;
const SIDE: usize = 32;

/// Which half of CIFAR-10.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    /// The 50,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

/// Reads one half of CIFAR-10 from `dir`.
pub fn read(dir: &Path, part: Part) -> Result<ImageSet, DataError> {
    let files = locate(dir, part)?;
    let mut set = ImageSet {
        channels: 3,
        height: SIDE,
        width: SIDE,
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for path in files {
        let bytes = source::read(&path)?;
        parse_into(&path, &bytes, &mut set)?;
    }
    Ok(set)
}

/// The files that make up `part`, in record order.
fn locate(dir: &Path, part: Part) -> Result<Vec<PathBuf>, DataError> {
    let (single, batches, what): (&str, &[&str], _) = match part {
        Part::Train => (
            "train.bin",
            &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            "CIFAR-10 training data",
        ),
        Part::Test => ("test.bin", &["test_batch.bin"], "CIFAR-10 test data"),
    };
    let mut tried = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("cifar-10-batches-bin")] {
        match source::find(&folder, &[single], what) {
            Ok(path) => return Ok(vec![path]),
            Err(DataError::Missing { tried: t, .. }) => tried.extend(t),
            Err(e) => return Err(e),
        }

        // The official set: all batches or none, a partial set is an
        // error naming the first missing batch.
        let first = source::find(&folder, &batches[..1], what);
        match first {
            Ok(path) => {
                let mut paths = vec![path];
                for name in &batches[1..] {
                    paths.push(source::find(&folder, &[name], what)?);
                }
                return Ok(paths);
            }
            Err(DataError::Missing { tried: t, .. }) => tried.extend(t),
            Err(e) => return Err(e),
        }
    }
    Err(DataError::Missing { what, tried })
}

/// Checks the records of one file and appends them to `set`.
pub(crate) fn parse_into(path: &Path, bytes: &[u8], set: &mut ImageSet) -> Result<(), DataError> {
    if bytes.is_empty() {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: RECORD,
            found: 0,
        });
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(DataError::WrongLength {
            path: path.to_path_buf(),
            found: bytes.len(),
            detail: format!(
                "not a whole number of {RECORD}-byte records ({} left over)",
                bytes.len() % RECORD
            ),
        });
    }
    let first = set.labels.len();
    set.pixels.reserve(bytes.len() / RECORD * (RECORD - 1));
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                index: i,
                label: record[0],
            });
        }
        set.labels.push(record[0]);
        set.pixels.extend_from_slice(&record[1..]);
    }
    debug_assert_eq!(set.labels.len() - first, bytes.len() / RECORD);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn empty_set() -> ImageSet {
        ImageSet {
            channels: 3,
            height: SIDE,
            width: SIDE,
            pixels: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn records(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for &l in labels {
            b.push(l);
            b.extend(std::iter::repeat_n(l * 10, RECORD - 1));
        }
        b
    }

    #[test]
    fn parses_records_in_order() {
        let mut set = empty_set();
        parse_into(Path::new("f"), &records(&[4, 0, 9]), &mut set).unwrap();
        assert_eq!(set.labels, [4, 0, 9]);
        assert_eq!(set.pixels.len(), 3 * 3072);
        assert_eq!(set.pixels[3072], 0);
        assert_eq!(set.pixels[2 * 3072], 90);
    }

    #[test]
    fn partial_record_empty_file_and_bad_label_are_errors() {
        let p = Path::new("data/train.bin");
        let mut bytes = records(&[1, 2]);
        bytes.pop();
        let err = parse_into(p, &bytes, &mut empty_set()).unwrap_err();
        assert!(matches!(err, DataError::WrongLength { .. }), "{err}");
        assert!(err.to_string().contains("data/train.bin"), "{err}");

        let err = parse_into(p, &[], &mut empty_set()).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");

        let err = parse_into(p, &records(&[1, 10]), &mut empty_set());
        assert!(matches!(err, Err(DataError::BadLabel { index: 1, .. })));
    }

    #[test]
    fn reads_official_batches_from_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cifar-10-batches-bin");
        fs::create_dir(&sub).unwrap();
        for n in 1..=5 {
            let name = format!("data_batch_{n}.bin");
            fs::write(sub.join(name), records(&[n as u8])).unwrap();
        }
        let set = read(dir.path(), Part::Train).unwrap();
        assert_eq!(set.labels, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn missing_batch_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 2, 4, 5] {
            let name = format!("data_batch_{n}.bin");
            fs::write(dir.path().join(name), records(&[0])).unwrap();
        }
        let err = read(dir.path(), Part::Train).unwrap_err();
        assert!(err.to_string().contains("data_batch_3.bin"), "{err}");
    }

    #[test]
    fn empty_folder_lists_what_was_tried() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path(), Part::Test).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test.bin.gz"), "{msg}");
        assert!(msg.contains("test_batch.bin"), "{msg}");
    }
}
