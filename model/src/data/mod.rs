//! Image classification data for training sample networks: MNIST and
//! CIFAR-10 readers, the validation split, per-channel normalisation,
//! CIFAR augmentation and mini-batch assembly.
//!
//! What it owns: turning files on disk into [`Datasets`] (a training
//! set and a held-out validation set, both taken from the data set's
//! training file) and turning index lists into normalised `f32` batches.
//! What it does not: tensors, devices or training (see [`crate::train`]).
//!
//! Choices the paper leaves open, made here:
//! - The validation set is the *last* `val_per_class` images of every
//!   class of the training file, in file order. It does not depend on the
//!   seed, so every sampled network is validated on the same images and
//!   their accuracies compare.
//! - The training subset (`--subset N`) is the *first* N images of every
//!   class among the rest.
//! - Normalisation is per channel, with mean and standard deviation
//!   measured on the training images in use.
//! - Augmentation (CIFAR-10 only by default) is the usual random 32x32
//!   crop of the image padded by 4 black pixels, and a horizontal flip
//!   with probability 1/2, drawn from the caller's seeded generator.

mod cifar;
pub mod download;
mod error;
mod mnist;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

pub use error::DataError;

/// Number of classes of both data sets.
pub const CLASSES: usize = 10;

/// Pixels added on each side before the random crop.
const CROP_PAD: usize = 4;

/// A data set the trainer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// MNIST digits, 28x28 grey.
    Mnist,
    /// CIFAR-10, 32x32 colour.
    Cifar10,
}

impl DatasetKind {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::Cifar10 => "cifar10",
        }
    }

    /// Where the data lives when the user says nothing: MNIST ships in the
    /// repository; CIFAR-10 has no default and must be configured.
    pub fn default_dir(self) -> Option<PathBuf> {
        match self {
            Self::Mnist => Some(PathBuf::from("data/mnist")),
            Self::Cifar10 => None,
        }
    }

    /// (channels, height, width) of one image.
    pub fn image_shape(self) -> (usize, usize, usize) {
        match self {
            Self::Mnist => (1, 28, 28),
            Self::Cifar10 => (3, 32, 32),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A data set name that is neither `mnist` nor `cifar10`.
#[derive(Debug, thiserror::Error)]
#[error("unknown data set {0:?}, expected mnist or cifar10")]
pub struct UnknownDataset(String);

impl FromStr for DatasetKind {
    type Err = UnknownDataset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mnist" => Ok(Self::Mnist),
            "cifar10" | "cifar-10" | "cifar" => Ok(Self::Cifar10),
            _ => Err(UnknownDataset(s.to_string())),
        }
    }
}

/// Which data to load and how to split it. Serialisable so that a training
/// job can carry it to another process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// The data set.
    pub dataset: DatasetKind,
    /// Folder holding its files.
    pub dir: PathBuf,
    /// Images per class held out of the training file for validation.
    pub val_per_class: usize,
    /// Train on only the first N images per class (quick runs).
    pub train_per_class: Option<usize>,
    /// Random crop and flip of training images.
    pub augment: bool,
}

impl DataConfig {
    /// The defaults for `dataset` read from `dir`: 1,000 validation images
    /// per class for MNIST (leaving 50,000 to train on), 500 for CIFAR-10
    /// (leaving 45,000); augmentation for CIFAR-10 only.
    pub fn new(dataset: DatasetKind, dir: impl Into<PathBuf>) -> Self {
        let (val_per_class, augment) = match dataset {
            DatasetKind::Mnist => (1000, false),
            DatasetKind::Cifar10 => (500, true),
        };
        Self {
            dataset,
            dir: dir.into(),
            val_per_class,
            train_per_class: None,
            augment,
        }
    }
}

/// Images of one size with their labels, pixels as stored in the files.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// Colour planes per image.
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// All images back to back, each as planes of rows (CHW), 0..=255.
    pub pixels: Vec<u8>,
    /// One label in `0..CLASSES` per image.
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A new set of the images at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Self {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Self {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            ..*self
        }
    }
}

/// Reads the training file of `dataset` from `dir`.
pub fn read_train(dataset: DatasetKind, dir: &Path) -> Result<ImageSet, DataError> {
    match dataset {
        DatasetKind::Mnist => mnist::read(dir, mnist::Part::Train),
        DatasetKind::Cifar10 => cifar::read(dir, cifar::Part::Train),
    }
}

/// Reads the test file of `dataset` from `dir` (not used for training:
/// the recipe validates on a split of the training file).
pub fn read_test(dataset: DatasetKind, dir: &Path) -> Result<ImageSet, DataError> {
    match dataset {
        DatasetKind::Mnist => mnist::read(dir, mnist::Part::Test),
        DatasetKind::Cifar10 => cifar::read(dir, cifar::Part::Test),
    }
}

/// Which of the two sets of [`Datasets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The images the network learns from.
    Train,
    /// The held-out images its accuracy is measured on.
    Val,
}

/// One mini-batch, ready to become tensors.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `len * channels * height * width` normalised values, NCHW.
    pub images: Vec<f32>,
    /// One label per image.
    pub labels: Vec<i64>,
    /// Number of images.
    pub len: usize,
}

/// A training set and a validation set, with what is needed to turn them
/// into normalised batches.
#[derive(Clone, Debug)]
pub struct Datasets {
    /// Which data set this is.
    pub kind: DatasetKind,
    /// Images to train on.
    pub train: ImageSet,
    /// Images to measure validation accuracy on.
    pub val: ImageSet,
    /// Per-channel mean of the training pixels, on the 0..1 scale.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation, on the 0..1 scale.
    pub std: Vec<f32>,
    /// Whether training batches are augmented.
    pub augment: bool,
    /// `lut[c][v]`: the normalised value of pixel value `v` in channel `c`.
    lut: Vec<[f32; 256]>,
}

impl Datasets {
    /// Reads and splits the data `cfg` names.
    pub fn load(cfg: &DataConfig) -> Result<Self, DataError> {
        let file = read_train(cfg.dataset, &cfg.dir)?;
        Self::split(cfg, file)
    }

    /// Splits an already-read training file as `cfg` says (the `dir` of
    /// `cfg` is not used).
    pub fn split(cfg: &DataConfig, file: ImageSet) -> Result<Self, DataError> {
        let counts = file.class_counts();

        // Hold out the last `val_per_class` of every class; what precedes
        // them is the training pool, of which the subset takes the first.
        let mut seen = [0usize; CLASSES];
        let mut train_idx = Vec::new();
        let mut val_idx = Vec::new();
        for (i, &label) in file.labels.iter().enumerate() {
            let class = label as usize;
            let pool = counts[class].saturating_sub(cfg.val_per_class);
            if pool == 0 && cfg.val_per_class > 0 {
                return Err(DataError::SplitTooLarge {
                    dataset: cfg.dataset.name(),
                    class,
                    available: counts[class],
                    wanted: cfg.val_per_class,
                });
            }
            let rank = seen[class];
            seen[class] += 1;
            if rank >= pool {
                val_idx.push(i);
            } else if cfg.train_per_class.is_none_or(|n| rank < n) {
                train_idx.push(i);
            }
        }
        let train = file.select(&train_idx);
        let val = file.select(&val_idx);
        let (mean, std) = channel_stats(&train);
        let lut = mean
            .iter()
            .zip(&std)
            .map(|(&m, &s)| std::array::from_fn(|v| (v as f32 / 255.0 - m) / s))
            .collect();
        Ok(Self {
            kind: cfg.dataset,
            train,
            val,
            mean,
            std,
            augment: cfg.augment,
            lut,
        })
    }

    /// The set `split` refers to.
    pub fn set(&self, split: Split) -> &ImageSet {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// The normalised images at `indices` of `split`. Training batches are
    /// augmented with `rng` when augmentation is on; validation batches
    /// never are.
    pub fn batch(&self, split: Split, indices: &[usize], rng: &mut impl Rng) -> Batch {
        let set = self.set(split);
        let (c, h, w) = (set.channels, set.height, set.width);
        let mut images = Vec::with_capacity(indices.len() * set.image_len());
        let augment = self.augment && split == Split::Train;
        for &i in indices {
            let src = set.image(i);
            if !augment {
                for (plane, lut) in src.chunks_exact(h * w).zip(&self.lut) {
                    images.extend(plane.iter().map(|&v| lut[v as usize]));
                }
                continue;
            }

            // Crop offsets into the padded image, 0..=2*pad; a pixel outside
            // the original image is black (value 0) before normalisation.
            let dy = rng.random_range(0..=2 * CROP_PAD) as isize - CROP_PAD as isize;
            let dx = rng.random_range(0..=2 * CROP_PAD) as isize - CROP_PAD as isize;
            let flip = rng.random_bool(0.5);
            for ch in 0..c {
                let plane = &src[ch * h * w..(ch + 1) * h * w];
                let lut = &self.lut[ch];
                for y in 0..h {
                    let sy = y as isize + dy;
                    for x in 0..w {
                        let x = if flip { w - 1 - x } else { x };
                        let sx = x as isize + dx;
                        let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                        let v = if inside {
                            plane[sy as usize * w + sx as usize]
                        } else {
                            0
                        };
                        images.push(lut[v as usize]);
                    }
                }
            }
        }
        Batch {
            images,
            labels: indices.iter().map(|&i| i64::from(set.labels[i])).collect(),
            len: indices.len(),
        }
    }
}

/// Mean and standard deviation of every channel, on the 0..1 scale. A
/// channel with no spread gets a standard deviation of 1 (no scaling).
fn channel_stats(set: &ImageSet) -> (Vec<f32>, Vec<f32>) {
    let plane = set.height * set.width;
    let mut sums = vec![[0f64; 2]; set.channels];
    for image in set.pixels.chunks_exact(set.image_len().max(1)) {
        for (ch, values) in image.chunks_exact(plane).enumerate() {
            // Integer sums per plane keep this exact and fast.
            let (s, s2) = values.iter().fold((0u64, 0u64), |(s, s2), &v| {
                (s + u64::from(v), s2 + u64::from(v) * u64::from(v))
            });
            sums[ch][0] += s as f64;
            sums[ch][1] += s2 as f64;
        }
    }
    let n = (set.len() * plane).max(1) as f64;
    sums.iter()
        .map(|[s, s2]| {
            let mean = s / n / 255.0;
            let var = (s2 / n / (255.0 * 255.0) - mean * mean).max(0.0);
            let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
            (mean as f32, std as f32)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `per_class` images per class, class-interleaved like the CIFAR copy;
    /// every pixel of image `i` is `i % 256`.
    fn toy(per_class: usize, channels: usize, side: usize) -> ImageSet {
        let n = per_class * CLASSES;
        let len = channels * side * side;
        ImageSet {
            channels,
            height: side,
            width: side,
            pixels: (0..n)
                .flat_map(|i| std::iter::repeat_n(i as u8, len))
                .collect(),
            labels: (0..n).map(|i| (i % CLASSES) as u8).collect(),
        }
    }

    fn cfg(val: usize, subset: Option<usize>, augment: bool) -> DataConfig {
        DataConfig {
            dataset: DatasetKind::Cifar10,
            dir: PathBuf::new(),
            val_per_class: val,
            train_per_class: subset,
            augment,
        }
    }

    #[test]
    fn split_holds_out_the_last_of_each_class_and_subsets_the_first() {
        let file = toy(5, 1, 2);
        let d = Datasets::split(&cfg(2, Some(2), false), file).unwrap();
        assert_eq!(d.val.len(), 20);
        assert_eq!(d.train.len(), 20);
        assert_eq!(d.train.class_counts(), [2; CLASSES]);
        assert_eq!(d.val.class_counts(), [2; CLASSES]);

        // Image i has pixels i: train = images 0..20, val = 30..50.
        assert_eq!(d.train.image(19)[0], 19);
        assert_eq!(d.val.image(0)[0], 30);
    }

    #[test]
    fn split_too_large_is_an_error() {
        let err = Datasets::split(&cfg(5, None, false), toy(5, 1, 2)).unwrap_err();
        assert!(matches!(err, DataError::SplitTooLarge { .. }), "{err}");
    }

    #[test]
    fn normalised_training_batches_have_zero_mean_unit_std() {
        let d = Datasets::split(&cfg(1, None, false), toy(4, 3, 4)).unwrap();
        let idx: Vec<usize> = (0..d.train.len()).collect();
        let b = d.batch(Split::Train, &idx, &mut ChaCha8Rng::seed_from_u64(0));
        let n = b.images.len() as f32;
        let mean = b.images.iter().sum::<f32>() / n;
        let var = b.images.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
        assert!(mean.abs() < 1e-4, "{mean}");
        assert!((var - 1.0).abs() < 1e-3, "{var}");
        assert_eq!(b.labels.len(), b.len);
    }

    #[test]
    fn augmentation_crops_with_black_border_and_flips() {
        // One 32x32 image whose pixel (y, x) is x; ten classes to split.
        let side = 32;
        let mut file = toy(2, 1, side);
        for i in 0..file.len() {
            let img = &mut file.pixels[i * side * side..(i + 1) * side * side];
            for (p, v) in img.iter_mut().enumerate() {
                *v = (p % side) as u8 + 1;
            }
        }
        let d = Datasets::split(&cfg(1, None, true), file).unwrap();
        let black = d.lut[0][0];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut flipped, mut shifted) = (false, false);
        for _ in 0..50 {
            let b = d.batch(Split::Train, &[0], &mut rng);
            let row: Vec<f32> = b.images[16 * side..17 * side].to_vec();
            let real: Vec<&f32> = row.iter().filter(|&&v| v != black).collect();
            // The crop keeps at least 28 real columns.
            assert!(real.len() >= side - CROP_PAD, "{}", real.len());
            shifted |= real.len() < side;
            flipped |= real.first() > real.last();
        }
        assert!(flipped && shifted);

        // Validation batches are never augmented.
        let v = d.batch(Split::Val, &[0], &mut rng);
        assert!(v.images[..side].windows(2).all(|p| p[0] < p[1]));
    }
}
