//! `peephole worker`: a trainer process that claims queued jobs from a
//! shared store, trains them and writes the results, so that training
//! spreads over many machines with the database as the only coordinator.
//!
//! Each slot claims one job at a time under a lease, renews the lease
//! while training, and writes the result and the job's `done` mark in one
//! transaction. If the worker dies, its lease expires and another worker
//! claims the job again; a job that fails `--max-attempts` times is
//! recorded as failed. Store errors (a lost connection) are retried with
//! backoff. Guarantees and failure modes: `docs/distributed.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agents::backend::TrainBackend;
use anyhow::bail;
use model::Architecture;
use runtime::config::SearchConfig;
use runtime::metrics as m;
use runtime::store::{Store, StoreError};

/// Arguments of `peephole worker`.
#[derive(clap::Args)]
pub struct Args {
    /// Search configuration: its `[trainer]` section says how to train
    /// (its backend must be native or table).
    #[arg(long)]
    config: PathBuf,
    /// Store URL (overrides the config's), shared with the coordinator.
    #[arg(long)]
    store: Option<String>,
    /// Jobs trained at once.
    #[arg(long, default_value_t = 1)]
    slots: usize,
    /// GPU indices; slot i trains on cuda:devices[i % len].
    #[arg(long, value_delimiter = ',')]
    devices: Vec<usize>,
    /// Name in the store's `worker` column (default: host:pid); the part
    /// before ':' or '/' labels the worker's metrics.
    #[arg(long)]
    name: Option<String>,
    /// Seconds a claimed job stays ours without renewal.
    #[arg(long, default_value_t = 60)]
    lease_seconds: u64,
    /// Claims after which a failing job is recorded as failed.
    #[arg(long, default_value_t = 3)]
    max_attempts: i64,
    /// Exit after this many seconds without a job to claim.
    #[arg(long)]
    idle_exit: Option<u64>,
    /// Metrics address ("" for none).
    #[arg(long, default_value = "")]
    metrics: String,
}

/// Retries a store operation with exponential backoff (0.5 s to 30 s)
/// until it succeeds or `give_up` has passed.
async fn retry<T, F, Fut>(what: &str, give_up: Duration, mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let start = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() < give_up => {
                tracing::warn!(error = %e, what, retry_in = ?wait, "store error");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The bounded metrics label of a worker name: its host part.
pub fn worker_label(name: &str) -> String {
    name.split([':', '/']).next().unwrap_or(name).to_string()
}

/// Runs the worker until idle for `--idle-exit` or a signal.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = SearchConfig::load(&args.config)?;
    if let Some(store) = &args.store {
        config.search.store = store.clone();
    }
    if args.slots == 0 {
        bail!("--slots must be at least 1");
    }
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        // Unique per process (leases are owned by name); the metrics label
        // is the part before ':' so restarts do not mint new series.
        format!("{}:{}", host.trim(), std::process::id())
    });
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listen = (!args.metrics.is_empty())
            .then(|| args.metrics.parse())
            .transpose()?;
        runtime::metrics::install(listen)?;
        let give_up = Duration::from_secs(600);
        let url = config.search.store.clone();
        let store = retry("connecting", give_up, || Store::open(&url)).await?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.store(true, Ordering::Relaxed);
            });
        }
        let mut slots = Vec::new();
        for slot in 0..args.slots {
            let mut cfg = config.clone();
            if !args.devices.is_empty() {
                let d = args.devices[slot % args.devices.len()];
                cfg.trainer.device = format!("cuda:{d}");
            }
            let backend = match crate::commands::search::backend(&cfg)? {
                Some(b) => b,
                None => bail!(
                    "{}: trainer.backend must be native or table for a worker",
                    args.config.display()
                ),
            };
            let slot_name = format!("{name}/{slot}");
            slots.push(tokio::spawn(run_slot(
                store.clone(),
                backend,
                slot_name,
                Duration::from_secs(args.lease_seconds.max(3)),
                args.max_attempts,
                args.idle_exit.map(Duration::from_secs),
                stop.clone(),
            )));
        }
        for s in slots {
            s.await??;
        }
        anyhow::Ok(())
    })
}

/// One slot: claim, train under a renewed lease, store, repeat.
async fn run_slot(
    store: Store,
    backend: Arc<dyn TrainBackend>,
    worker: String,
    lease: Duration,
    max_attempts: i64,
    idle_exit: Option<Duration>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let give_up = Duration::from_secs(600);
    let mut idle_since = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let claimed = retry("claiming", give_up, || {
            store.claim(&worker, lease, max_attempts)
        })
        .await?;
        let Some((job, took_over)) = claimed else {
            if idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
                tracing::info!(worker, "idle: exiting");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        if took_over {
            metrics::counter!(m::LEASE_EXPIRIES).increment(1);
        }
        tracing::info!(worker, arch = %job.arch_id, attempt = job.attempts, "claimed");

        // Renew the lease while training; a lost lease cancels the run.
        let cancel = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (store, worker, id) = (store.clone(), worker.clone(), job.arch_id.clone());
            let cancel = cancel.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match store.renew(&id, &worker, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(arch = %id, "lease lost: cancelling");
                            cancel.store(true, Ordering::Relaxed);
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing failed"),
                    }
                }
            })
        };
        let outcome = match Architecture::from_json(&job.arch_json) {
            Ok(arch) => {
                let (backend, cancel) = (backend.clone(), cancel.clone());
                tokio::task::spawn_blocking(move || backend.train(&arch, &cancel))
                    .await
                    .unwrap_or_else(|e| Err(format!("trainer panicked: {e}")))
            }
            Err(e) => Err(format!("stored architecture is invalid: {e}")),
        };
        renewer.abort();

        let id = job.arch_id.clone();
        match outcome {
            Ok(o) if o.status != "cancelled" => {
                let stored = retry("storing a result", give_up, || {
                    store.finish(
                        &id,
                        &worker,
                        o.accuracy,
                        &o.status,
                        &o.curve_json,
                        o.seconds,
                    )
                })
                .await?;
                metrics::counter!(m::WORKER_JOBS, "worker" => worker_label(&worker)).increment(1);
                tracing::info!(worker, arch = %id, accuracy = o.accuracy, stored,
                    "training done");
            }
            Ok(_) => {
                retry("releasing", give_up, || {
                    store.release(&id, &worker, "queued", "cancelled")
                })
                .await?;
            }
            Err(e) => {
                let state = if job.attempts >= max_attempts {
                    "failed"
                } else {
                    "queued"
                };
                tracing::warn!(worker, arch = %id, error = %e, state, "training failed");
                retry("releasing", give_up, || {
                    store.release(&id, &worker, state, &e)
                })
                .await?;
            }
        }
        idle_since = Instant::now();
    }
    Ok(())
}
