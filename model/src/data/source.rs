//! Finding a data file under a few accepted names and reading it whole,
//! inflating it when it is gzip.
//!
//! Gzip is recognised by its magic bytes, not by the name, so `train.bin`
//! that happens to be compressed still reads; a file named `.gz` that is
//! not gzip is an error rather than a silent misread.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::DataError;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns the first of `names` (joined to `dir`) that exists, trying each
/// name with `.gz` first and then as given.
pub(crate) fn find(dir: &Path, names: &[&str], what: &'static str) -> Result<PathBuf, DataError> {
    let mut tried = Vec::new();
    for name in names {
        for candidate in [format!("{name}.gz"), (*name).to_string()] {
            let path = dir.join(candidate);
            if path.is_file() {
                return Ok(path);
            }
            tried.push(path);
        }
    }
    Err(DataError::Missing { what, tried })
}

/// Reads `path` whole, inflating gzip.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let named_gz = path.extension().is_some_and(|e| e == "gz");
    if !raw.starts_with(&GZIP_MAGIC) {
        if named_gz {
            let source = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a gzip stream (missing magic bytes 1f 8b)",
            );
            return Err(DataError::Gzip {
                path: path.to_path_buf(),
                source,
            });
        }
        return Ok(raw);
    }

    // The decompressed size is unknown up front; gzip stores it modulo 2^32
    // in the trailer. Only a hint: a corrupt trailer must not make us
    // reserve gigabytes, hence the cap.
    const MAX_HINT: u32 = 512 << 20;
    let hint = raw
        .len()
        .checked_sub(4)
        .and_then(|at| raw.get(at..))
        .map_or(0, |t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]));
    let mut out = Vec::with_capacity(hint.min(MAX_HINT) as usize);
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_plain_and_gzip_alike() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        fs::write(dir.path().join("a"), &payload).unwrap();
        fs::write(dir.path().join("b.gz"), gzip(&payload)).unwrap();
        assert_eq!(read(&dir.path().join("a")).unwrap(), payload);
        assert_eq!(read(&dir.path().join("b.gz")).unwrap(), payload);
    }

    #[test]
    fn truncated_gzip_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let payload = vec![7u8; 50_000];
        let gz = gzip(&payload);
        let path = dir.path().join("cut.gz");
        fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        assert!(err.to_string().contains("cut.gz"), "{err}");
    }

    #[test]
    fn corrupt_gzip_crc_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = gzip(&[1u8; 1000]);
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 0xff;
        let path = dir.path().join("crc.gz");
        fs::write(&path, &gz).unwrap();
        assert!(matches!(read(&path), Err(DataError::Gzip { .. })));
    }

    #[test]
    fn gz_name_without_gzip_content_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.gz");
        fs::write(&path, b"not compressed").unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains("plain.gz"), "{err}");
    }

    #[test]
    fn find_prefers_gz_and_lists_every_try() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), b"").unwrap();
        fs::write(dir.path().join("x.gz"), b"").unwrap();
        let found = find(dir.path(), &["x"], "x").unwrap();
        assert_eq!(found, dir.path().join("x.gz"));
        let err = find(dir.path(), &["y", "z"], "the y file").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("the y file not found"), "{msg}");
        assert!(msg.contains("y.gz") && msg.contains("z"), "{msg}");
    }
}
