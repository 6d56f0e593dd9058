//! The coordinator of a search: starts the actors, feeds the trainer
//! slots, persists every step, triggers refits and stops on budget,
//! wall clock or signal.
//!
//! Backpressure: candidates are drawn only when a training slot is free
//! and no queued job is waiting, so nothing piles up in memory.
//!
//! Resuming: the store is the only state. On start, jobs this daemon was
//! running when it died are queued again, finished results are reloaded,
//! and the latest accepted predictor goes back into the Screener.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, SyncArbiter};
use model::Architecture;
use model::predictor::Predictor;
use model::predictor::checkpoint::Checkpoint;
use model::space::Space;
use runtime::config::SearchConfig;
use runtime::metrics as m;
use runtime::store::{Candidate, ResultRow, Store, StoreError};
use tokio::sync::{mpsc, watch};

use crate::backend::TrainBackend;
use crate::messages::*;
use crate::refitter::Refitter;
use crate::sampler::Sampler;
use crate::screener::Screener;
use crate::trainer::Trainer;

/// The name this daemon's own trainer holds leases under.
pub const DAEMON_WORKER: &str = "daemon";
/// A job that fails this many times is recorded as failed.
pub const MAX_ATTEMPTS: i64 = 3;
/// Lease of the daemon's own jobs; renewed every third of it.
const LEASE: Duration = Duration::from_secs(600);
/// How often a coordinator without a local trainer looks for results.
const POLL: Duration = Duration::from_millis(500);
/// Draw rounds without a new candidate before the space counts as spent.
const MAX_EMPTY_DRAWS: usize = 50;

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
}

/// How a search ended.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// Trainings finished by this run.
    pub trained: usize,
    /// Results in the store.
    pub total_results: usize,
    /// Best results, best first.
    pub best: Vec<ResultRow>,
    /// Predictor versions accepted by this run.
    pub refits_accepted: usize,
    pub refits: usize,
    /// `budget`, `wall clock`, `signal` or `space exhausted`.
    pub stopped_by: &'static str,
}

enum Event {
    Trained(Result<TrainingDone, actix::MailboxError>, String),
    Refitted(Result<RefitDone, actix::MailboxError>),
}

/// Folder of predictor checkpoints for a store URL.
pub fn predictor_dir(config: &SearchConfig) -> PathBuf {
    if let Some(dir) = &config.search.predictor_dir {
        return dir.clone();
    }
    match config.search.store.strip_prefix("sqlite://") {
        Some(path) => {
            let path = path.split('?').next().unwrap_or(path);
            PathBuf::from(format!("{path}.predictors"))
        }
        None => PathBuf::from("peephole-predictors"),
    }
}

/// Everything the loop tracks between events.
struct State {
    store: Store,
    config: SearchConfig,
    space: Space,
    known: HashSet<String>,
    results: Vec<(Architecture, f64)>,
    best: Vec<(Architecture, f64)>,
    attempts: HashMap<String, i64>,
    /// Screening predictions of the jobs running here, by id.
    predicted: HashMap<String, f64>,
    predictor: Option<Arc<Predictor>>,
    since_refit: usize,
    running: usize,
    refitting: bool,
    trained: usize,
    refits: usize,
    refits_accepted: usize,
    /// Ids of results taken in, and the latest finish time among them.
    result_ids: HashSet<String>,
    last_result_at: f64,
}

impl State {
    fn note_result(&mut self, arch: Architecture, accuracy: f64) {
        self.results.push((arch.clone(), accuracy));
        self.best.push((arch, accuracy));
        self.best.sort_by(|a, b| b.1.total_cmp(&a.1));
        self.best.truncate(5);
        metrics::gauge!(m::BEST_ACCURACY).set(self.best[0].1);
    }
}

/// Runs a search until its budget, wall clock or `shutdown` ends it. Must
/// be called inside an actix `System`.
pub async fn run(
    config: SearchConfig,
    backend: Option<Arc<dyn TrainBackend>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SearchReport, SearchError> {
    let started = Instant::now();
    let store = Store::open(&config.search.store).await?;
    let space =
        Space::parse(&config.search.space).map_err(|e| SearchError::Setup(e.to_string()))?;

    // Resume: interrupted jobs go back to the queue; results reload.
    let requeued = store.requeue_worker(DAEMON_WORKER).await?;
    if requeued > 0 {
        tracing::info!(jobs = requeued, "requeued interrupted jobs");
    }
    let mut state = State {
        known: store.job_ids().await?.into_iter().collect(),
        store,
        space,
        results: Vec::new(),
        best: Vec::new(),
        attempts: HashMap::new(),
        predicted: HashMap::new(),
        predictor: None,
        since_refit: 0,
        running: 0,
        refitting: false,
        trained: 0,
        refits: 0,
        refits_accepted: 0,
        result_ids: HashSet::new(),
        last_result_at: 0.0,
        config,
    };
    for row in state.store.results().await?.into_iter().rev() {
        state.result_ids.insert(row.arch_id.clone());
        state.last_result_at = state.last_result_at.max(row.finished_at);
        match Architecture::from_json(&row.arch) {
            Ok(arch) => state.note_result(arch, row.accuracy),
            Err(e) => tracing::warn!(arch = %row.arch_id, error = %e,
                "stored architecture no longer parses; left out"),
        }
    }
    let seed = state.config.search.seed ^ (state.known.len() as u64) << 20;

    // Start the actors.
    let sampler = Sampler::new(
        state.space.clone(),
        state.config.search.mutation_share,
        seed,
    )
    .start();
    let screener = Screener::new(state.config.screener.clone(), seed).start();
    let cancel = Arc::new(AtomicBool::new(false));
    let trainer = backend.map(|backend| {
        let cancel = cancel.clone();
        SyncArbiter::start(state.config.trainer.slots, move || Trainer {
            backend: backend.clone(),
            cancel: cancel.clone(),
        })
    });
    let refitter = {
        let config = state.config.refitter.clone();
        SyncArbiter::start(1, move || Refitter {
            config: config.clone(),
        })
    };

    // Reload the latest accepted predictor.
    let versions = state.store.predictors().await?;
    let last_trained_on = versions.last().map_or(0, |v| v.trained_on as usize);
    state.since_refit = state.results.len().saturating_sub(last_trained_on);
    let accepted = versions.iter().rev().find(|v| v.accepted);
    if let Some((row, path)) = accepted.and_then(|r| r.checkpoint.as_ref().map(|p| (r, p))) {
        match Checkpoint::load(std::path::Path::new(path)) {
            Ok(ckpt) => {
                let predictor = Arc::new(ckpt.predictor);
                state.predictor = Some(predictor.clone());
                screener.do_send(PredictorUpdated {
                    predictor,
                    version: row.version,
                    heldout_tau: row.heldout_tau,
                });
                metrics::gauge!(m::PREDICTOR_VERSION).set(row.version as f64);
                if let Some(t) = row.heldout_tau {
                    metrics::gauge!(m::PREDICTOR_TAU).set(t);
                }
                tracing::info!(version = row.version, "predictor reloaded");
            }
            Err(e) => tracing::warn!(
                error = %e,
                "could not reload the accepted predictor; starting cold"
            ),
        }
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let deadline = state
        .config
        .search
        .wall_clock_seconds
        .map(|s| started + Duration::from_secs(s));
    let mut renew = tokio::time::interval(LEASE / 3);
    let mut stopped_by: Option<&'static str> = None;
    let max = state.config.search.max_trainings.map(|n| n as usize);

    loop {
        // Stop requests: cancel running jobs; they come back interrupted.
        if stopped_by.is_none() {
            stopped_by = stop_requested(&shutdown, deadline);
            if stopped_by.is_some() {
                tracing::info!(reason = stopped_by, "stopping");
                cancel.store(true, Ordering::Relaxed);
            }
        }

        // Keep the trainers busy while the budget allows: the local slots,
        // or, without a local trainer, the store's queue that workers
        // drain.
        let stopping = stopped_by.is_some();
        match &trainer {
            Some(trainer) => {
                let fed = fill_slots(&mut state, trainer, &sampler, &screener, &tx, stopping, max);
                if fed.await? == Feed::SpaceExhausted {
                    stopped_by = Some("space exhausted");
                }
            }
            None => fill_queue(&mut state, &sampler, &screener, stopping, max).await?,
        }

        // Done once nothing runs here, no refit is pending, and a stop
        // was asked for or the budget is spent. (Workers' jobs are theirs
        // to finish; their results land in the store.)
        let budget_done = max.is_some_and(|n| state.results.len() >= n);
        if state.running == 0 && !state.refitting && (stopped_by.is_some() || budget_done) {
            stopped_by.get_or_insert("budget");
            break;
        }

        // Wait for the next thing to happen.
        let until = deadline.unwrap_or(started + Duration::from_secs(1 << 40));
        let local = trainer.is_some();
        tokio::select! {
            Some(event) = rx.recv() => {
                handle(&mut state, event, &refitter, &screener, &tx).await?;
            }
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep_until(until.into()), if stopped_by.is_none() => {}
            // The daemon's own jobs hold leases like any worker's.
            _ = renew.tick(), if local => {
                for id in state.store.jobs_in("running").await? {
                    state.store.renew(&id, DAEMON_WORKER, LEASE).await?;
                }
            }
            // Workers report only through the store.
            _ = tokio::time::sleep(POLL), if !local => {
                collect_worker_results(&mut state, &refitter, &tx).await?;
            }
        }
    }

    let best = state.store.results().await?.into_iter().take(5).collect();
    Ok(SearchReport {
        trained: state.trained,
        total_results: state.results.len(),
        best,
        refits: state.refits,
        refits_accepted: state.refits_accepted,
        stopped_by: stopped_by.unwrap_or("budget"),
    })
}

/// Why the search should stop now, if it should: a signal, or the wall
/// clock.
fn stop_requested(
    shutdown: &watch::Receiver<bool>,
    deadline: Option<Instant>,
) -> Option<&'static str> {
    if *shutdown.borrow() {
        Some("signal")
    } else if deadline.is_some_and(|d| Instant::now() >= d) {
        Some("wall clock")
    } else {
        None
    }
}

/// What filling the local slots came to.
#[derive(Debug, PartialEq, Eq)]
enum Feed {
    Fed,
    /// The space yields nothing new and nothing runs or refits.
    SpaceExhausted,
}

/// Once cold start is over, the first predictor is awaited instead of
/// spending more trainings on random picks.
fn awaiting_first_fit(state: &State) -> bool {
    state.refitting && state.predictor.is_none()
}

/// Sends jobs to the local trainer until its slots are full or the budget
/// is spent.
async fn fill_slots(
    state: &mut State,
    trainer: &Addr<Trainer>,
    sampler: &Addr<Sampler>,
    screener: &Addr<Screener>,
    tx: &mpsc::UnboundedSender<Event>,
    stopping: bool,
    max: Option<usize>,
) -> Result<Feed, SearchError> {
    let budget_left = |s: &State| {
        max.map_or(usize::MAX, |n| {
            n.saturating_sub(s.results.len() + s.running)
        })
    };
    while !stopping
        && !awaiting_first_fit(state)
        && state.running < state.config.trainer.slots
        && budget_left(state) > 0
    {
        let Some((arch_id, arch)) = next_job(state, sampler, screener).await? else {
            if state.running == 0 && !state.refitting {
                return Ok(Feed::SpaceExhausted);
            }
            break;
        };
        state.running += 1;
        metrics::gauge!(m::JOBS_RUNNING).set(state.running as f64);
        metrics::gauge!(m::MAILBOX_DEPTH, "actor" => "trainer").set(state.running as f64);
        let request = trainer.send(TrainJob {
            arch_id: arch_id.clone(),
            arch,
        });
        let tx = tx.clone();
        actix::spawn(async move {
            let _ = tx.send(Event::Trained(request.await, arch_id));
        });
    }
    Ok(Feed::Fed)
}

/// Keeps as many jobs queued in the store as there are worker slots,
/// within the budget.
async fn fill_queue(
    state: &mut State,
    sampler: &Addr<Sampler>,
    screener: &Addr<Screener>,
    stopping: bool,
    max: Option<usize>,
) -> Result<(), SearchError> {
    let pending = state.store.pending_count().await? as usize;
    let mut queued = pending;
    while !stopping
        && !awaiting_first_fit(state)
        && queued < state.config.trainer.slots
        && max.is_none_or(|n| state.results.len() + queued < n)
    {
        let n = produce(state, sampler, screener).await?;
        if n == 0 {
            break;
        }
        queued += n;
    }
    metrics::gauge!(m::JOBS_RUNNING).set(pending as f64);
    Ok(())
}

/// The next job to train: a queued one from the store, else new
/// candidates drawn, screened and queued. `None` when the space yields
/// nothing new.
async fn next_job(
    state: &mut State,
    sampler: &Addr<Sampler>,
    screener: &Addr<Screener>,
) -> Result<Option<(String, Architecture)>, SearchError> {
    for _ in 0..MAX_EMPTY_DRAWS {
        if let Some((job, _)) = state
            .store
            .claim(DAEMON_WORKER, LEASE, MAX_ATTEMPTS)
            .await?
        {
            match Architecture::from_json(&job.arch_json) {
                Ok(arch) => {
                    state.attempts.insert(job.arch_id.clone(), job.attempts);
                    if let Some(p) = job.predicted {
                        state.predicted.insert(job.arch_id.clone(), p);
                    }
                    return Ok(Some((job.arch_id, arch)));
                }
                Err(e) => {
                    let msg = format!("stored architecture is invalid: {e}");
                    state
                        .store
                        .release(&job.arch_id, DAEMON_WORKER, "failed", &msg)
                        .await?;
                    continue;
                }
            }
        }

        // Nothing queued: draw, screen and queue new candidates.
        produce(state, sampler, screener).await?;
    }
    Ok(None)
}

/// Draws a batch, drops known architectures and those over the compute
/// budget, screens the rest, persists the batch and queues the forwarded
/// candidates. Returns how many were queued.
async fn produce(
    state: &mut State,
    sampler: &Addr<Sampler>,
    screener: &Addr<Screener>,
) -> Result<usize, SearchError> {
    // Nothing queued: draw, drop known architectures, screen.
    let best: Vec<Architecture> = state.best.iter().map(|(a, _)| a.clone()).collect();
    let count = state.config.screener.batch;
    let Candidates(drawn) = sampler
        .send(Draw { count, best })
        .await
        .map_err(|e| SearchError::Setup(format!("sampler: {e}")))?;
    let mut fresh = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let max_flops = state.config.search.max_mflops.map(|m| m * 1e6);
    for arch in drawn {
        let id = arch.id().to_string();
        if state.known.contains(&id) || !seen.insert(id) {
            duplicates += 1;
            continue;
        }
        let flops = arch.expand().map_or(f64::INFINITY, |n| n.flops as f64);
        if max_flops.is_none_or(|max| flops <= max) {
            fresh.push(arch);
        }
    }
    metrics::counter!(m::CANDIDATES_DUPLICATE).increment(duplicates as u64);
    if fresh.is_empty() {
        return Ok(0);
    }
    let screened = screener
        .send(Screen { candidates: fresh })
        .await
        .map_err(|e| SearchError::Setup(format!("screener: {e}")))?;

    // Persist the whole batch, then queue the forwarded ones.
    let ids: Vec<(String, String, u64)> = screened
        .forwarded
        .iter()
        .chain(&screened.rejected)
        .map(|(a, _)| {
            let params = a.expand().map_or(0, |n| n.params);
            (a.id().to_string(), a.to_json(), params)
        })
        .collect();
    let n_fwd = screened.forwarded.len();
    let batch: Vec<Candidate> = screened
        .forwarded
        .iter()
        .chain(&screened.rejected)
        .zip(&ids)
        .enumerate()
        .map(|(i, ((_, p), (id, json, params)))| Candidate {
            arch_id: id,
            json,
            params: *params,
            predicted: p.map(|p| (p.accuracy, p.uncertainty)),
            forwarded: i < n_fwd,
        })
        .collect();
    let space = state.space.name();
    state
        .store
        .record_candidates(space, &batch, screened.version)
        .await?;
    let mut queued_now = 0;
    for ((_, p), (id, _, _)) in screened.forwarded.iter().zip(&ids) {
        if state.store.enqueue(id, p.map(|p| p.accuracy)).await? {
            state.known.insert(id.clone());
            queued_now += 1;
        }
    }
    let queued = state.store.jobs_in("queued").await?.len();
    metrics::gauge!(m::JOBS_QUEUED).set(queued as f64);
    Ok(queued_now)
}

/// Applies one event to the state and the store.
async fn handle(
    state: &mut State,
    event: Event,
    refitter: &Addr<Refitter>,
    screener: &Addr<Screener>,
    tx: &mpsc::UnboundedSender<Event>,
) -> Result<(), SearchError> {
    match event {
        Event::Trained(done, arch_id) => {
            state.running -= 1;
            metrics::gauge!(m::JOBS_RUNNING).set(state.running as f64);
            metrics::gauge!(m::MAILBOX_DEPTH, "actor" => "trainer").set(state.running as f64);
            let store = &state.store;
            let attempts = state.attempts.remove(&arch_id).unwrap_or(1);
            let predicted = state.predicted.remove(&arch_id);
            let retry = if attempts < MAX_ATTEMPTS {
                "queued"
            } else {
                "failed"
            };
            let (arch, outcome) = match done {
                Ok(d) => (d.arch, d.outcome),
                Err(e) => {
                    let msg = format!("trainer unavailable: {e}");
                    store.release(&arch_id, DAEMON_WORKER, retry, &msg).await?;
                    return Ok(());
                }
            };
            match outcome {
                Ok(o) if o.status == "cancelled" => {
                    store
                        .release(&arch_id, DAEMON_WORKER, "interrupted", "stopped")
                        .await?;
                    metrics::counter!(m::JOBS_FINISHED, "outcome" => "interrupted").increment(1);
                }
                Ok(o) => {
                    let stored = store
                        .finish(
                            &arch_id,
                            DAEMON_WORKER,
                            o.accuracy,
                            &o.status,
                            &o.curve_json,
                            o.seconds,
                        )
                        .await?;
                    metrics::counter!(m::JOBS_FINISHED, "outcome" => o.status.clone()).increment(1);
                    metrics::histogram!(m::JOB_SECONDS).record(o.seconds);
                    metrics::histogram!(m::MEASURED_ACCURACY).record(o.accuracy);
                    tracing::info!(arch = %arch_id, accuracy = o.accuracy,
                        status = %o.status, seconds = o.seconds, "training done");
                    if stored {
                        if let Some(p) = predicted {
                            record_error(o.accuracy, p);
                        }
                        state.trained += 1;
                        state.since_refit += 1;
                        state.note_result(arch, o.accuracy);
                    }
                }
                Err(e) => {
                    tracing::warn!(arch = %arch_id, error = %e, attempts,
                        "training failed");
                    store.release(&arch_id, DAEMON_WORKER, retry, &e).await?;
                    metrics::counter!(m::JOBS_FINISHED, "outcome" => "failed").increment(1);
                }
            }
            maybe_refit(state, refitter, tx);
        }
        Event::Refitted(done) => {
            state.refitting = false;
            metrics::gauge!(m::MAILBOX_DEPTH, "actor" => "refitter").set(0.0);
            let done = done.map_err(|e| SearchError::Setup(format!("refitter: {e}")))?;
            state.refits += 1;
            let ckpt = match done.fitted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "refit failed");
                    metrics::counter!(m::REFITS, "outcome" => "failed").increment(1);
                    return Ok(());
                }
            };
            let accepted = match (done.new_tau, done.old_tau) {
                (_, None) => true,
                (Some(new), Some(old)) => new >= old,
                (None, Some(_)) => false,
            };
            let label = if accepted { "accepted" } else { "rejected" };
            metrics::counter!(m::REFITS, "outcome" => label).increment(1);
            tracing::info!(
                new_tau = done.new_tau,
                old_tau = done.old_tau,
                trained_on = done.trained_on,
                seconds = done.seconds,
                outcome = label,
                "refit done"
            );
            let trained_on = done.trained_on as i64;
            if !accepted {
                state
                    .store
                    .record_predictor(trained_on, done.new_tau, false, None)
                    .await?;
                return Ok(());
            }

            // Save before recording, so a recorded version always loads.
            let dir = predictor_dir(&state.config);
            std::fs::create_dir_all(&dir)
                .map_err(|e| SearchError::Setup(format!("{}: {e}", dir.display())))?;
            let next = state.store.predictors().await?.len() + 1;
            let path = dir.join(format!("predictor-v{next}.ckpt"));
            ckpt.save(&path)
                .map_err(|e| SearchError::Setup(e.to_string()))?;
            let path_text = path.display().to_string();
            let version = state
                .store
                .record_predictor(trained_on, done.new_tau, true, Some(&path_text))
                .await?;
            state.refits_accepted += 1;
            let predictor = Arc::new(ckpt.predictor);
            state.predictor = Some(predictor.clone());
            metrics::gauge!(m::PREDICTOR_VERSION).set(version as f64);
            if let Some(t) = done.new_tau {
                metrics::gauge!(m::PREDICTOR_TAU).set(t);
            }
            screener.do_send(PredictorUpdated {
                predictor,
                version,
                heldout_tau: done.new_tau,
            });
        }
    }
    Ok(())
}

/// Takes in results that workers stored since the last look.
async fn collect_worker_results(
    state: &mut State,
    refitter: &Addr<Refitter>,
    tx: &mpsc::UnboundedSender<Event>,
) -> Result<(), SearchError> {
    let since = state.last_result_at;
    for row in state.store.results_since(since).await? {
        if !state.result_ids.insert(row.arch_id.clone()) {
            continue;
        }
        state.last_result_at = state.last_result_at.max(row.finished_at);
        metrics::histogram!(m::MEASURED_ACCURACY).record(row.accuracy);
        metrics::histogram!(m::JOB_SECONDS).record(row.seconds);
        metrics::counter!(m::JOBS_FINISHED, "outcome" => row.status.clone()).increment(1);
        metrics::counter!(m::WORKER_JOBS, "worker" => row.worker.clone()).increment(1);
        if let Some(p) = row.predicted {
            record_error(row.accuracy, p);
        }
        if let Ok(arch) = Architecture::from_json(&row.arch) {
            state.trained += 1;
            state.since_refit += 1;
            state.note_result(arch, row.accuracy);
        }
    }
    maybe_refit(state, refitter, tx);
    Ok(())
}

/// The predictor's error on one network it was asked about before
/// training.
fn record_error(measured: f64, predicted: f64) {
    metrics::histogram!(m::PREDICTION_ERROR).record((measured - predicted).abs());
}

/// Starts a refit when enough new results have arrived since the last.
fn maybe_refit(state: &mut State, refitter: &Addr<Refitter>, tx: &mpsc::UnboundedSender<Event>) {
    let cfg = &state.config.refitter;
    let first = state.predictor.is_none() && state.since_refit > 0;
    if state.refitting
        || state.results.len() < cfg.min_results
        || !(first || state.since_refit >= cfg.every)
    {
        return;
    }
    state.refitting = true;
    state.since_refit = 0;
    metrics::gauge!(m::MAILBOX_DEPTH, "actor" => "refitter").set(1.0);
    let request = refitter.send(Refit {
        results: state.results.clone(),
        current: state.predictor.clone(),
        seed: state.config.search.seed.wrapping_add(state.refits as u64),
    });
    let tx = tx.clone();
    actix::spawn(async move {
        let _ = tx.send(Event::Refitted(request.await));
    });
}
