//! The Peephole model crate: everything about networks that needs no
//! actors, database or async runtime.
//!
//! - [`layer`], [`ulc`]: block layers and their Unified Layer Codes.
//! - [`skeleton`], [`network`], [`arch`]: skeletons, expansion into
//!   concrete networks, the architecture JSON format and ids.
//! - [`sampler`], [`nb201`], [`space`]: search spaces and sampling.
//! - [`table`]: benchmark tables of trained architectures.
//! - [`transfer`]: scaling a block to ImageNet and PyTorch export.

pub mod arch;
pub mod baseline;
pub mod data;
pub mod error;
pub mod layer;
pub mod nb201;
pub mod network;
pub mod predictor;
pub mod quality;
pub mod sampler;
pub mod skeleton;
pub mod space;
pub mod table;
pub mod train;
pub mod transfer;
pub mod ulc;

pub use arch::{ArchId, Architecture, Body};
pub use error::ArchError;
pub use layer::Layer;
