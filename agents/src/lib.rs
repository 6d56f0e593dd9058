//! The actors of the search daemon and the loop that wires them together.
//!
//! - [`sampler::Sampler`] draws candidates (fresh samples and mutations of
//!   the best so far) on demand.
//! - [`screener::Screener`] scores them with the current predictor and
//!   forwards the promising ones.
//! - [`trainer::Trainer`] trains forwarded candidates on blocking threads
//!   through a [`backend::TrainBackend`].
//! - [`refitter::Refitter`] refits the predictor off the async threads.
//! - [`search::run`] is the coordinator: it asks for work only when a
//!   training slot is free (backpressure), persists everything through the
//!   store, and decides when to refit and when to stop.

pub mod backend;
pub mod messages;
pub mod refitter;
pub mod sampler;
pub mod screener;
pub mod search;
pub mod trainer;
