//! `peephole bench ...`: commands that measure speed or quality and print a
//! comparison table (ours beside a peer, in the same run).

use std::path::PathBuf;

use clap::Subcommand;
use model::table::BenchTable;

/// The benchmark-table arguments shared by `bench predictor` and
/// `bench search`: any CSV whose columns are named on the command line.
#[derive(clap::Args)]
pub struct TableArgs {
    /// Search space of the architecture column (nb201).
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// The table: CSV with a header row.
    #[arg(long)]
    pub csv: PathBuf,
    /// Column holding the architectures.
    #[arg(long)]
    pub arch_column: String,
    /// Accuracy column, in percent or as fractions (detected).
    #[arg(long)]
    pub accuracy_column: String,
}

impl TableArgs {
    /// Loads the table the arguments name.
    pub fn load(&self) -> anyhow::Result<BenchTable> {
        Ok(BenchTable::load_csv(
            &self.csv,
            &self.space,
            &self.arch_column,
            &self.accuracy_column,
        )?)
    }
}

/// The benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Prediction quality on a table of trained architectures: the
    /// predictor beside a gradient-boosted-trees baseline.
    Predictor(super::bench_predictor::Args),
    /// Predictor inference throughput: fast path, burn and PyTorch.
    Screening(super::bench_screening::Args),
    /// Training throughput of the native trainer beside PyTorch.
    Training(super::bench_training::Args),
    /// Does screening pay? Simulated searches on a benchmark table:
    /// Peephole-screened search beside random search and evolution.
    Search(super::bench_search::Args),
}

/// Runs one benchmark.
pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Predictor(args) => super::bench_predictor::run(args),
        Bench::Screening(args) => super::bench_screening::run(args),
        Bench::Training(args) => super::bench_training::run(args),
        Bench::Search(args) => super::bench_search::run(args),
    }
}
