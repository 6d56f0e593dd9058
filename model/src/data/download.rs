//! Where the data sets live online and how a downloaded file is checked.
//!
//! Only the table and the checksum logic live here; fetching is done by
//! `peephole download`, which shells out to `curl` (the model crate does
//! no networking). The digests are the ones the publishers give: MD5 for
//! the CIFAR-10 archive (Krizhevsky's page) and for LeCun's MNIST files
//! (as listed by torchvision), so MD5 is what is checked; it guards
//! against truncated and corrupted downloads, not against an attacker.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{DataError, DatasetKind};

/// One file to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Where to fetch it.
    pub url: &'static str,
    /// The name to save it under.
    pub file: &'static str,
    /// The publisher's MD5 of the file, lower-case hex.
    pub md5: &'static str,
    /// Whether it is a tar archive to unpack after checking.
    pub archive: bool,
}

/// The files of the MNIST mirror torchvision uses (LeCun's own server
/// often refuses downloads); identical to LeCun's files.
const MNIST: [Remote; 4] = [
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        file: "train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        archive: false,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        file: "train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
        archive: false,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        file: "t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
        archive: false,
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        file: "t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
        archive: false,
    },
];

/// The official binary version of CIFAR-10 (162 MB); it unpacks to
/// `cifar-10-batches-bin/`, which the reader accepts as is.
const CIFAR10: [Remote; 1] = [Remote {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    file: "cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    archive: true,
}];

/// The files that make up `dataset`.
pub fn remotes(dataset: DatasetKind) -> &'static [Remote] {
    match dataset {
        DatasetKind::Mnist => &MNIST,
        DatasetKind::Cifar10 => &CIFAR10,
    }
}

/// A digest algorithm and the expected value.
#[derive(Clone, Copy, Debug)]
pub enum Checksum<'a> {
    /// MD5, lower-case hex.
    Md5(&'a str),
    /// SHA-256, lower-case hex.
    Sha256(&'a str),
}

/// Checks the file at `path` against `expected`, streaming it.
pub fn verify(path: &Path, expected: Checksum<'_>) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        match expected {
            Checksum::Md5(_) => md5.update(&buf[..n]),
            Checksum::Sha256(_) => sha.update(&buf[..n]),
        }
    }
    let (algorithm, want, found) = match expected {
        Checksum::Md5(want) => ("md5", want, hex(&md5.finalize())),
        Checksum::Sha256(want) => ("sha256", want, hex(&sha.finalize())),
    };
    if found.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            algorithm,
            expected: want.to_ascii_lowercase(),
            found,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn md5_and_sha256_of_known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        verify(&path, Checksum::Md5("900150983cd24fb0d6963f7d28e17f72")).unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify(&path, Checksum::Sha256(sha)).unwrap();
    }

    #[test]
    fn a_changed_byte_fails_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("download.gz");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"abd").unwrap();
        let err = verify(&path, Checksum::Md5("900150983cd24fb0d6963f7d28e17f72")).unwrap_err();
        assert!(matches!(
            err,
            DataError::Checksum {
                algorithm: "md5",
                ..
            }
        ));
        assert!(err.to_string().contains("download.gz"), "{err}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = verify(Path::new("/nonexistent/x"), Checksum::Md5("00"));
        assert!(matches!(err, Err(DataError::Io { .. })));
    }

    #[test]
    fn every_remote_is_https_with_a_full_md5() {
        for kind in [DatasetKind::Mnist, DatasetKind::Cifar10] {
            for r in remotes(kind) {
                assert!(r.url.starts_with("https://"), "{}", r.url);
                assert!(r.url.ends_with(r.file), "{}", r.url);
                assert_eq!(r.md5.len(), 32);
                assert!(r.md5.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
}
