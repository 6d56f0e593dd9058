//! `peephole search`, `peephole status` and `peephole results`: run the
//! search daemon from a config file, and read its store.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agents::backend::{NativeBackend, TableBackend, TrainBackend};
use agents::search::SearchReport;
use anyhow::Context;
use model::data::{DataConfig, DatasetKind, Datasets};
use model::table::BenchTable;
use model::train::{DeviceChoice, TrainConfig};
use runtime::config::{Backend, SearchConfig};
use runtime::store::{ResultRow, Store};

/// Arguments of `peephole search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// Search configuration (TOML), e.g. configs/quickstart.toml.
    #[arg(long)]
    config: PathBuf,
    /// Override the config's store URL.
    #[arg(long)]
    store: Option<String>,
    /// Override the config's metrics address ("" disables the endpoint).
    #[arg(long)]
    metrics: Option<String>,
}

/// Builds the trainer backend the config asks for; `None` when workers
/// train.
pub fn backend(config: &SearchConfig) -> anyhow::Result<Option<Arc<dyn TrainBackend>>> {
    let t = &config.trainer;
    Ok(Some(match t.backend {
        Backend::Workers => return Ok(None),
        Backend::Table => {
            let table = BenchTable::load_csv(
                &t.table_csv,
                &config.search.space,
                &t.arch_column,
                &t.accuracy_column,
            )?;
            Arc::new(TableBackend {
                table: Arc::new(table),
                duration: Duration::from_secs_f64(t.simulated_seconds),
            })
        }
        Backend::Native => {
            // Validated with the config.
            let dataset: DatasetKind = t.dataset.parse()?;
            let mut data = DataConfig::new(dataset, &t.data_dir);
            data.train_per_class = t.train_per_class;
            data.val_per_class = t.val_per_class;
            let datasets = Datasets::load(&data)?;
            let mut train = TrainConfig::paper(dataset, t.epochs);
            train.batch_size = t.batch_size;
            train.learning_rate = t.learning_rate;
            train.lr_milestones = t.lr_milestones.clone();
            train.threads = t.threads;
            train.seed = config.search.seed;
            train.device = t.device.parse::<DeviceChoice>()?;
            train.validate()?;
            Arc::new(NativeBackend {
                data: Arc::new(datasets),
                config: train,
            })
        }
    }))
}

/// Runs the search until its budget, wall clock or a signal stops it.
pub fn run_search(args: SearchArgs) -> anyhow::Result<()> {
    let mut config = SearchConfig::load(&args.config)?;
    if let Some(store) = args.store {
        config.search.store = store;
    }
    if let Some(listen) = args.metrics {
        config.metrics.listen = listen;
    }
    let backend = backend(&config)?;
    let system = actix::System::new();
    let report = system.block_on(async move {
        let addr = config.metrics.addr();
        runtime::metrics::install(addr)?;
        if let Some(addr) = addr {
            tracing::info!(%addr, "metrics at http://{addr}/metrics");
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: finishing running jobs");
            let _ = tx.send(true);
        });
        let report = agents::search::run(config, backend, rx).await?;
        anyhow::Ok(report)
    })?;
    print_report(&report);
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn print_report(report: &SearchReport) {
    println!(
        "search stopped ({}): {} trained in this run, {} results in the \
         store, {} refits ({} accepted)",
        report.stopped_by,
        report.trained,
        report.total_results,
        report.refits,
        report.refits_accepted
    );
    print_best(&report.best);
}

fn print_best(best: &[ResultRow]) {
    if best.is_empty() {
        return;
    }
    println!("\nbest architectures:");
    println!(
        "{:<18} {:>9} {:>10}  architecture",
        "id", "accuracy", "predicted"
    );
    for r in best {
        let predicted = r.predicted.map_or("-".to_string(), |p| format!("{p:.4}"));
        println!(
            "{:<18} {:>9.4} {:>10}  {}",
            r.arch_id, r.accuracy, predicted, r.arch
        );
    }
}

/// Arguments of `peephole status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Store URL, e.g. sqlite://quickstart.db.
    #[arg(long)]
    store: String,
}

/// Summarises a store: counts, best architectures, predictor versions.
pub fn run_status(args: StatusArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = Store::open(&args.store).await?;
        let s = store.summary().await?;
        println!(
            "architectures {}  candidates {}  jobs: queued {} running {} \
             done {} failed {}  diverged {}  predictors {}",
            s.architectures,
            s.candidates,
            s.queued,
            s.running,
            s.done,
            s.failed,
            s.diverged,
            s.predictors
        );
        let results = store.results().await?;
        print_best(&results[..results.len().min(5)]);
        let versions = store.predictors().await?;
        if !versions.is_empty() {
            println!("\npredictor versions:");
            for v in versions {
                let tau = v.heldout_tau.map_or("-".into(), |t| format!("{t:.3}"));
                println!(
                    "  v{:<3} trained on {:>5}  held-out tau {:>6}  {}",
                    v.version,
                    v.trained_on,
                    tau,
                    if v.accepted { "accepted" } else { "rejected" }
                );
            }
        }
        anyhow::Ok(())
    })
}

/// Arguments of `peephole results`.
#[derive(clap::Args)]
pub struct ResultsArgs {
    /// Store URL, e.g. sqlite://quickstart.db.
    #[arg(long)]
    store: String,
    /// Output format.
    #[arg(long, default_value = "jsonl", value_parser = ["csv", "jsonl"])]
    format: String,
}

/// Exports every result, best first.
pub fn run_results(args: ResultsArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let rows = rt.block_on(async {
        let store = Store::open(&args.store).await?;
        anyhow::Ok(store.results().await?)
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.format == "csv" {
        writeln!(
            out,
            "arch_id,accuracy,predicted,status,seconds,worker,finished_at"
        )?;
        for r in rows {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.arch_id,
                r.accuracy,
                r.predicted.map_or(String::new(), |p| p.to_string()),
                r.status,
                r.seconds,
                r.worker,
                r.finished_at
            )?;
        }
    } else {
        for r in rows {
            // The architecture goes out as JSON, not as a string of it.
            let arch: serde_json::Value =
                serde_json::from_str(&r.arch).context("stored architecture")?;
            let curve: serde_json::Value =
                serde_json::from_str(&r.curve).context("stored curve")?;
            let line = serde_json::json!({
                "arch_id": r.arch_id, "arch": arch, "accuracy": r.accuracy,
                "predicted": r.predicted, "status": r.status,
                "curve": curve, "seconds": r.seconds, "worker": r.worker,
                "finished_at": r.finished_at,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
