//! One module per subcommand. Each exposes an `Args` (or subcommand enum)
//! parsed by clap and a `run` function that returns `anyhow::Result`.

pub mod analyze;
pub mod bench;
pub mod bench_predictor;
pub mod bench_screening;
pub mod bench_search;
pub mod bench_training;
pub mod download;
pub mod eval;
pub mod export;
pub mod fit;
pub mod predict;
pub mod sample;
pub mod search;
pub mod show;
pub mod train;
pub mod worker;
