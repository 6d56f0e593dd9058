//! Search spaces by name: where candidate architectures come from.
//!
//! - `peephole-mnist`, `peephole-cifar10`: Markov-sampled blocks on the
//!   MNIST or CIFAR-10 skeleton (SPEC section 4).
//! - `nb201`: NAS-Bench-201 cells, uniform over the 15,625.

use rand::Rng;

use crate::arch::{Architecture, Body};
use crate::layer::Layer;
use crate::nb201::{Cell, CellOp};
use crate::sampler::BlockSampler;
use crate::ulc::{MAX_KERNEL, RATIO_BINS};

/// A named search space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Space {
    /// Block-based generation on a preset block skeleton.
    Blocks { skeleton: &'static str },
    /// NAS-Bench-201 cells.
    Nb201,
}

/// Names accepted by [`Space::parse`].
pub const SPACE_NAMES: [&str; 3] = ["peephole-mnist", "peephole-cifar10", "nb201"];

/// An unknown space name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown search space '{0}' (known: peephole-mnist, peephole-cifar10, \
     nb201)"
)]
pub struct UnknownSpace(pub String);

/// Redraws allowed before a space is declared unable to produce a valid
/// network (only a custom skeleton far too small could get there).
const MAX_REDRAWS: usize = 1000;

impl Space {
    /// The space of that name.
    pub fn parse(name: &str) -> Result<Space, UnknownSpace> {
        match name {
            "peephole-mnist" => Ok(Space::Blocks { skeleton: "mnist" }),
            "peephole-cifar10" => Ok(Space::Blocks {
                skeleton: "cifar10",
            }),
            "nb201" | "nas-bench-201" => Ok(Space::Nb201),
            _ => Err(UnknownSpace(name.to_string())),
        }
    }

    /// The space's name.
    pub fn name(&self) -> &'static str {
        match self {
            Space::Blocks { skeleton: "mnist" } => "peephole-mnist",
            Space::Blocks { .. } => "peephole-cifar10",
            Space::Nb201 => "nb201",
        }
    }

    /// Draws one valid architecture. Blocks whose network is invalid (a
    /// channel count rounding to zero, a handful in a million) are redrawn.
    pub fn sample(&self, rng: &mut impl Rng) -> Architecture {
        match self {
            Space::Nb201 => Architecture::nb201(Cell::from_index(rng.random_range(0..Cell::COUNT))),
            Space::Blocks { skeleton } => {
                for _ in 0..MAX_REDRAWS {
                    let block = BlockSampler.sample(rng);
                    if let Ok(arch) = Architecture::block(skeleton, block) {
                        return arch;
                    }
                }
                // Presets always yield valid blocks well before this.
                unreachable!("preset skeleton {skeleton} yields no valid block")
            }
        }
    }

    /// A neighbour of `arch` in the space: one edge op changed (cells), or
    /// one layer's kernel, ratio or kind redrawn (blocks). Falls back to a
    /// fresh sample when no valid neighbour turns up.
    pub fn mutate(&self, arch: &Architecture, rng: &mut impl Rng) -> Architecture {
        for _ in 0..MAX_REDRAWS {
            let body = match &arch.body {
                Body::Cell(cell) => {
                    let mut cell = *cell;
                    let edge = rng.random_range(0..cell.ops.len());
                    let others: Vec<CellOp> = CellOp::ALL
                        .into_iter()
                        .filter(|op| *op != cell.ops[edge])
                        .collect();
                    cell.ops[edge] = others[rng.random_range(0..others.len())];
                    Body::Cell(cell)
                }
                Body::Block(block) => Body::Block(mutate_block(block, rng)),
            };
            let candidate = Architecture {
                skeleton: arch.skeleton.clone(),
                body,
            };
            if candidate != *arch && candidate.validate().is_ok() {
                return candidate;
            }
        }
        self.sample(rng)
    }

    /// True when `arch` belongs to the space.
    pub fn contains(&self, arch: &Architecture) -> bool {
        match (self, &arch.body) {
            (Space::Nb201, Body::Cell(_)) => arch.skeleton_name() == "nb201-cifar10",
            (Space::Blocks { skeleton }, Body::Block(_)) => arch.skeleton_name() == *skeleton,
            _ => false,
        }
    }
}

/// One random edit of a block: redraw a conv's kernel or ratio, a pool's
/// kernel, or swap an activation for another.
fn mutate_block(block: &[Layer], rng: &mut impl Rng) -> Vec<Layer> {
    let mut block = block.to_vec();
    let i = rng.random_range(0..block.len());
    let k = |rng: &mut dyn rand::RngCore, lo: usize| rng.random_range(lo..=MAX_KERNEL as usize);
    block[i] = match block[i] {
        Layer::Conv {
            kw,
            kh,
            ratio,
            stride,
        } => {
            if rng.random_bool(0.5) {
                let k = k(rng, 1);
                Layer::Conv {
                    kw: k,
                    kh: k,
                    ratio,
                    stride,
                }
            } else {
                let ratio = RATIO_BINS[rng.random_range(0..RATIO_BINS.len())];
                Layer::Conv {
                    kw,
                    kh,
                    ratio,
                    stride,
                }
            }
        }
        Layer::MaxPool { stride, .. } => {
            let k = k(rng, 2);
            Layer::MaxPool {
                kw: k,
                kh: k,
                stride,
            }
        }
        Layer::AvgPool { stride, .. } => {
            let k = k(rng, 2);
            Layer::AvgPool {
                kw: k,
                kh: k,
                stride,
            }
        }
        Layer::Relu | Layer::Sigmoid | Layer::Tanh => {
            [Layer::Relu, Layer::Sigmoid, Layer::Tanh][rng.random_range(0..3)].clone()
        }
        ref other => other.clone(),
    };
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_sample_is_valid_and_in_its_space() {
        for name in SPACE_NAMES {
            let space = Space::parse(name).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for _ in 0..300 {
                let arch = space.sample(&mut rng);
                assert!(space.contains(&arch));
                let again = Architecture::from_json(&arch.to_json()).unwrap();
                assert_eq!(again.id(), arch.id());
            }
        }
        assert!(Space::parse("imagenet").is_err());
    }

    #[test]
    fn mutations_stay_in_the_space_and_change_something() {
        for name in SPACE_NAMES {
            let space = Space::parse(name).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            for _ in 0..100 {
                let arch = space.sample(&mut rng);
                let child = space.mutate(&arch, &mut rng);
                assert!(space.contains(&child));
                assert_ne!(child, arch);
            }
        }
    }
}
