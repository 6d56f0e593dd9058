//! The data readers through their public entry point, on real files:
//! every corrupt-data case names the file, and the shipped MNIST is the
//! real thing.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use model::data::download::{Checksum, verify};
use model::data::{DataConfig, DataError, DatasetKind, Datasets, read_test, read_train};

fn shipped_mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn idx_images(count: u32, rows: u32, pixels: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x803, count, rows, 28] {
        b.extend(u32::to_be_bytes(v));
    }
    b.resize(16 + pixels, 0x40);
    b
}

fn idx_labels(magic: u32, labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(u32::to_be_bytes(magic));
    b.extend(u32::to_be_bytes(labels.len() as u32));
    b.extend(labels);
    b
}

/// Ten images per class, class-interleaved.
fn labels() -> Vec<u8> {
    (0..100).map(|i| (i % 10) as u8).collect()
}

/// An MNIST folder with the given training files (plain bytes written
/// under the given names).
fn mnist_dir(images: (&str, Vec<u8>), labels: (&str, Vec<u8>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(images.0), images.1).unwrap();
    fs::write(dir.path().join(labels.0), labels.1).unwrap();
    dir
}

fn load_mnist(dir: &Path) -> Result<Datasets, DataError> {
    let mut cfg = DataConfig::new(DatasetKind::Mnist, dir);
    cfg.val_per_class = 2;
    Datasets::load(&cfg)
}

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

/// Loading fails with an error whose message names `file`.
fn assert_names(result: Result<Datasets, DataError>, file: &str) -> DataError {
    let err = result.expect_err("corrupt data must not load");
    assert!(err.to_string().contains(file), "{err}");
    err
}

#[test]
fn plain_and_gzip_files_both_read() {
    let images = idx_images(100, 28, 100 * 784);
    let dir = mnist_dir(
        (IMAGES, images.clone()),
        (LABELS, idx_labels(0x801, &labels())),
    );
    let d = load_mnist(dir.path()).unwrap();
    assert_eq!((d.train.len(), d.val.len()), (80, 20));

    let gz = mnist_dir(
        ("train-images-idx3-ubyte.gz", gzip(&images)),
        (
            "train-labels-idx1-ubyte.gz",
            gzip(&idx_labels(0x801, &labels())),
        ),
    );
    assert_eq!(load_mnist(gz.path()).unwrap().train, d.train);
}

#[test]
fn missing_files_list_every_name_tried() {
    let dir = tempfile::tempdir().unwrap();
    let err = assert_names(load_mnist(dir.path()), "train-images-idx3-ubyte.gz");
    assert!(matches!(err, DataError::Missing { .. }));
    assert!(err.to_string().contains("train-images.idx3-ubyte"), "{err}");

    let err = assert_names(load_mnist(&dir.path().join("nowhere")), "nowhere");
    assert!(matches!(err, DataError::Missing { .. }));
}

#[test]
fn truncated_gzip_is_named() {
    let gz = gzip(&idx_images(100, 28, 100 * 784));
    let dir = mnist_dir(
        ("train-images-idx3-ubyte.gz", gz[..gz.len() - 20].to_vec()),
        (LABELS, idx_labels(0x801, &labels())),
    );
    let err = assert_names(load_mnist(dir.path()), "train-images-idx3-ubyte.gz");
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
}

#[test]
fn corrupt_gzip_is_named() {
    let mut gz = gzip(&idx_labels(0x801, &labels()));
    let n = gz.len();
    gz[n - 6] ^= 0x55; // the CRC
    let dir = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784)),
        ("train-labels-idx1-ubyte.gz", gz),
    );
    let err = assert_names(load_mnist(dir.path()), "train-labels-idx1-ubyte.gz");
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");

    // A .gz name over plain bytes is not silently read as data.
    let dir = mnist_dir(
        ("train-images-idx3-ubyte.gz", idx_images(100, 28, 100 * 784)),
        (LABELS, idx_labels(0x801, &labels())),
    );
    let err = assert_names(load_mnist(dir.path()), "train-images-idx3-ubyte.gz");
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
}

#[test]
fn bad_magic_is_named() {
    // Labels where images belong and vice versa.
    let dir = mnist_dir(
        (IMAGES, idx_labels(0x801, &labels())),
        (LABELS, idx_labels(0x801, &labels())),
    );
    let err = assert_names(load_mnist(dir.path()), IMAGES);
    assert!(
        matches!(err, DataError::BadMagic { found: 0x801, .. }),
        "{err}"
    );

    let dir = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784)),
        (LABELS, idx_labels(0x803, &labels())),
    );
    let err = assert_names(load_mnist(dir.path()), LABELS);
    assert!(
        matches!(err, DataError::BadMagic { found: 0x803, .. }),
        "{err}"
    );
}

#[test]
fn wrong_lengths_are_named() {
    let labels_file = (LABELS, idx_labels(0x801, &labels()));
    let short = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784 - 1)),
        labels_file.clone(),
    );
    let err = assert_names(load_mnist(short.path()), IMAGES);
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");

    let header_only = mnist_dir(
        (IMAGES, idx_images(100, 28, 0)[..10].to_vec()),
        labels_file.clone(),
    );
    let err = assert_names(load_mnist(header_only.path()), IMAGES);
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");

    let long = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784 + 3)),
        labels_file.clone(),
    );
    let err = assert_names(load_mnist(long.path()), IMAGES);
    assert!(matches!(err, DataError::WrongLength { .. }), "{err}");

    let not_mnist = mnist_dir((IMAGES, idx_images(100, 32, 100 * 32 * 28)), labels_file);
    let err = assert_names(load_mnist(not_mnist.path()), IMAGES);
    assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
}

#[test]
fn inconsistent_files_are_named() {
    let dir = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784)),
        (LABELS, idx_labels(0x801, &labels()[..90])),
    );
    let err = assert_names(load_mnist(dir.path()), LABELS);
    assert!(matches!(err, DataError::CountMismatch { .. }), "{err}");

    let mut bad = labels();
    bad[17] = 11;
    let dir = mnist_dir(
        (IMAGES, idx_images(100, 28, 100 * 784)),
        (LABELS, idx_labels(0x801, &bad)),
    );
    let err = assert_names(load_mnist(dir.path()), LABELS);
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 17,
                label: 11,
                ..
            }
        ),
        "{err}"
    );
}

/// CIFAR-10 records with the given labels.
fn cifar_records(labels: &[u8]) -> Vec<u8> {
    labels
        .iter()
        .flat_map(|&l| std::iter::once(l).chain(std::iter::repeat_n(l, 3072)))
        .collect()
}

fn load_cifar(dir: &Path) -> Result<Datasets, DataError> {
    let mut cfg = DataConfig::new(DatasetKind::Cifar10, dir);
    cfg.val_per_class = 1;
    Datasets::load(&cfg)
}

#[test]
fn cifar_single_file_and_corrupt_cases() {
    let labels: Vec<u8> = (0..30).map(|i| (i % 10) as u8).collect();
    let good = cifar_records(&labels);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.bin.gz"), gzip(&good)).unwrap();
    let d = load_cifar(dir.path()).unwrap();
    assert_eq!((d.train.len(), d.val.len()), (20, 10));
    assert_eq!(d.mean.len(), 3);

    let partial = tempfile::tempdir().unwrap();
    fs::write(partial.path().join("train.bin"), &good[..good.len() - 100]).unwrap();
    let err = assert_names(load_cifar(partial.path()), "train.bin");
    assert!(matches!(err, DataError::WrongLength { .. }), "{err}");

    let empty = tempfile::tempdir().unwrap();
    fs::write(empty.path().join("train.bin"), b"").unwrap();
    let err = assert_names(load_cifar(empty.path()), "train.bin");
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");

    let mut bad = good.clone();
    bad[5 * 3073] = 200;
    let bad_label = tempfile::tempdir().unwrap();
    fs::write(bad_label.path().join("train.bin"), bad).unwrap();
    let err = assert_names(load_cifar(bad_label.path()), "train.bin");
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 5,
                label: 200,
                ..
            }
        ),
        "{err}"
    );

    let gz = gzip(&good);
    let cut = tempfile::tempdir().unwrap();
    fs::write(cut.path().join("train.bin.gz"), &gz[..gz.len() / 2]).unwrap();
    let err = assert_names(load_cifar(cut.path()), "train.bin.gz");
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
}

#[test]
fn shipped_mnist_is_complete_and_split_as_documented() {
    let dir = shipped_mnist();
    let train = read_train(DatasetKind::Mnist, &dir).unwrap();
    let test = read_test(DatasetKind::Mnist, &dir).unwrap();
    // The published class counts (shared/data/README.md).
    let train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    let test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
    assert_eq!(train.class_counts(), train_counts);
    assert_eq!(test.class_counts(), test_counts);

    let d = load_mnist_default(&dir);
    assert_eq!(d.val.len(), 10_000);
    assert_eq!(d.train.len(), 50_000);
    // MNIST's well-known statistics, measured on the training split.
    assert!((d.mean[0] - 0.1307).abs() < 0.002, "{}", d.mean[0]);
    assert!((d.std[0] - 0.3081).abs() < 0.002, "{}", d.std[0]);
}

fn load_mnist_default(dir: &Path) -> Datasets {
    Datasets::load(&DataConfig::new(DatasetKind::Mnist, dir)).unwrap()
}

#[test]
fn shipped_mnist_content_matches_the_published_checksums() {
    // SHA-256 of the decompressed files, from shared/data/README.md; the
    // same check `peephole download` relies on, here on local files.
    let sums = [
        (
            "t10k-labels-idx1-ubyte.gz",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (name, sha) in sums {
        let mut content = Vec::new();
        let gz = fs::read(shipped_mnist().join(name)).unwrap();
        GzDecoder::new(gz.as_slice())
            .read_to_end(&mut content)
            .unwrap();
        let plain = tmp.path().join(name.trim_end_matches(".gz"));
        fs::write(&plain, &content).unwrap();
        verify(&plain, Checksum::Sha256(sha)).unwrap();

        // One flipped bit is caught.
        let middle = content.len() / 2;
        content[middle] ^= 1;
        fs::write(&plain, &content).unwrap();
        let err = verify(&plain, Checksum::Sha256(sha)).unwrap_err();
        assert!(matches!(err, DataError::Checksum { .. }), "{err}");
    }
}
