//! The `peephole` command line: predicts CNN accuracy before training and
//! runs architecture search around the prediction.
//!
//! Each subcommand lives in its own module under `commands/`; this file only
//! parses arguments, sets up logging and dispatches.

mod commands;
mod figures;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Predict how accurate a convolutional network will be before training it,
/// and search for good architectures with that prediction.
#[derive(Parser)]
#[command(name = "peephole", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Draw architectures from a search space and print them as JSON Lines.
    Sample(commands::sample::Args),
    /// Print an architecture as a layer table with shapes, parameters,
    /// FLOPs and layer codes.
    Show(commands::show::Args),
    /// Train a predictor on training records and save a checkpoint.
    Fit(commands::fit::Args),
    /// Measure a trained predictor on records and plot predicted against
    /// measured accuracy.
    Eval(commands::eval::Args),
    /// Predict the accuracy of architectures with a trained predictor.
    Predict(commands::predict::Args),
    /// Train one architecture with the paper's recipe and write its
    /// learning curve.
    Train(commands::train::Args),
    /// Fetch MNIST or CIFAR-10 and verify the published checksums.
    Download(commands::download::Args),
    /// Run the search daemon from a config file.
    Search(commands::search::SearchArgs),
    /// Train queued jobs of a shared store (distributed training).
    Worker(commands::worker::Args),
    /// Summarise a search store.
    Status(commands::search::StatusArgs),
    /// Export a search store's results as CSV or JSON Lines.
    Results(commands::search::ResultsArgs),
    /// Scale the best blocks to ImageNet and write PyTorch modules.
    Export(commands::export::Args),
    /// Statistics and predicted-vs-measured plots of trained networks.
    Analyze(commands::analyze::Args),
    /// Benchmarks that print comparison tables.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`peephole results | head`):
        // nothing is wrong, there is just nobody left to tell.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

/// True when `e` was caused by writing to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Sample(args) => commands::sample::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Fit(args) => commands::fit::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Download(args) => commands::download::run(args),
        Command::Search(args) => commands::search::run_search(args),
        Command::Worker(args) => commands::worker::run(args),
        Command::Status(args) => commands::search::run_status(args),
        Command::Results(args) => commands::search::run_results(args),
        Command::Export(args) => commands::export::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Bench(bench) => commands::bench::run(bench),
    }
}

/// One line per event on stderr; `RUST_LOG` overrides the default level.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .init();
}
