//! The Peephole runtime: what a long-lived process needs around the model
//! crate, without any actor logic.
//!
//! - [`config`]: the TOML search configuration.
//! - [`store`]: the durable store of candidates, jobs, results and
//!   predictor versions (SQLite or PostgreSQL through sqlx).
//! - [`metrics`]: metric names and the Prometheus exporter.

pub mod config;
pub mod metrics;
pub mod store;
