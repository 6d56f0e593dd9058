//! Every Prometheus metric the daemon and workers export: names, units,
//! help text and histogram buckets, in one place.
//!
//! Names follow Prometheus conventions: `peephole_` prefix, base units
//! (`_seconds`, `_ratio`), `_total` on counters. Labels carry only small
//! fixed sets (`outcome`, `actor`, `worker`); never an architecture id.

use std::net::SocketAddr;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub const CANDIDATES_SAMPLED: &str = "peephole_candidates_sampled_total";
pub const CANDIDATES_SCREENED: &str = "peephole_candidates_screened_total";
pub const CANDIDATES_FORWARDED: &str = "peephole_candidates_forwarded_total";
pub const CANDIDATES_REJECTED: &str = "peephole_candidates_rejected_total";
pub const CANDIDATES_DUPLICATE: &str = "peephole_candidates_duplicate_total";
pub const SCREENING_SECONDS: &str = "peephole_screening_duration_seconds";
pub const PREDICTED_ACCURACY: &str = "peephole_predicted_accuracy_ratio";
pub const JOBS_QUEUED: &str = "peephole_training_jobs_queued";
pub const JOBS_RUNNING: &str = "peephole_training_jobs_running";
/// Finished jobs by `outcome` (`completed`, `diverged`, `failed`,
/// `interrupted`).
pub const JOBS_FINISHED: &str = "peephole_training_jobs_finished_total";
pub const JOB_SECONDS: &str = "peephole_training_job_duration_seconds";
pub const MEASURED_ACCURACY: &str = "peephole_measured_accuracy_ratio";
/// |measured - predicted| of each completed training that was screened
/// with a prediction: the predictor's error on the networks it chose,
/// pair by pair.
pub const PREDICTION_ERROR: &str = "peephole_prediction_absolute_error_ratio";
pub const BEST_ACCURACY: &str = "peephole_best_accuracy_ratio";
/// Refits by `outcome` (`accepted`, `rejected`, `failed`).
pub const REFITS: &str = "peephole_predictor_refits_total";
pub const REFIT_SECONDS: &str = "peephole_predictor_refit_duration_seconds";
pub const PREDICTOR_VERSION: &str = "peephole_predictor_version";
pub const PREDICTOR_TAU: &str = "peephole_predictor_heldout_kendall_tau";
/// Messages waiting in an actor's mailbox, by `actor`.
pub const MAILBOX_DEPTH: &str = "peephole_actor_mailbox_depth";
/// Messages handled, by `actor`.
pub const MESSAGES: &str = "peephole_actor_messages_total";
/// Jobs finished by each distributed worker, by `worker`.
pub const WORKER_JOBS: &str = "peephole_worker_jobs_total";
pub const LEASE_EXPIRIES: &str = "peephole_job_lease_expiries_total";
/// Constant 1 with `version` and `rustc` labels.
pub const BUILD_INFO: &str = "peephole_build_info";

/// Buckets for screening one batch of candidates: microseconds to a
/// tenth of a second.
pub const SCREENING_BUCKETS: [f64; 10] =
    [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1, 1.0];
/// Buckets for one training job: the table backend's milliseconds to a
/// day of CIFAR-10 training.
pub const JOB_BUCKETS: [f64; 12] = [
    0.01, 0.1, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
];
/// Buckets for one refit of the predictor.
pub const REFIT_BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];
/// Buckets for accuracies (fractions).
pub const ACCURACY_BUCKETS: [f64; 14] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.96, 0.99,
];

/// Buckets for the absolute prediction error (fractions of accuracy).
pub const ERROR_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
];

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics exporter on {addr}: {message}")]
pub struct MetricsError {
    pub addr: SocketAddr,
    pub message: String,
}

/// Installs the global recorder with our buckets and, when `listen` is
/// given, serves `/metrics` there. Returns the handle that renders the
/// current exposition text (used by tests and `--listen` off).
pub fn install(
    listen: Option<SocketAddr>,
) -> Result<metrics_exporter_prometheus::PrometheusHandle, MetricsError> {
    let builder = builder();
    let addr = listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
    let err = |e: &dyn std::fmt::Display| MetricsError {
        addr,
        message: e.to_string(),
    };
    let handle = match listen {
        Some(addr) => {
            let (recorder, exporter) = builder
                .with_http_listener(addr)
                .build()
                .map_err(|e| err(&e))?;
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| err(&e))?;
            tokio::spawn(exporter);
            handle
        }
        None => builder.install_recorder().map_err(|e| err(&e))?,
    };
    describe();
    spawn_process_collector();
    Ok(handle)
}

/// Standard `process_*` series (CPU seconds, resident memory, threads,
/// open file descriptors), refreshed every 5 seconds. Needs a tokio
/// runtime; without one only the first reading is taken.
pub fn spawn_process_collector() {
    let collector = metrics_process::Collector::default();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                collector.collect();
            }
        });
    }
}

/// A builder with every histogram's buckets set.
pub fn builder() -> PrometheusBuilder {
    let buckets = [
        (SCREENING_SECONDS, &SCREENING_BUCKETS[..]),
        (JOB_SECONDS, &JOB_BUCKETS[..]),
        (REFIT_SECONDS, &REFIT_BUCKETS[..]),
        (PREDICTED_ACCURACY, &ACCURACY_BUCKETS[..]),
        (MEASURED_ACCURACY, &ACCURACY_BUCKETS[..]),
        (PREDICTION_ERROR, &ERROR_BUCKETS[..]),
    ];
    let mut b = PrometheusBuilder::new();
    for (name, values) in buckets {
        // Static, sorted, non-empty bucket lists: cannot be rejected.
        b = b
            .set_buckets_for_metric(Matcher::Full(name.into()), values)
            .expect("valid buckets");
    }
    b
}

/// Registers help text and units, and sets build info.
pub fn describe() {
    describe_counter!(
        CANDIDATES_SAMPLED,
        "Candidate architectures drawn by the sampler"
    );
    describe_counter!(CANDIDATES_SCREENED, "Candidates scored by the screener");
    describe_counter!(CANDIDATES_FORWARDED, "Candidates forwarded to training");
    describe_counter!(CANDIDATES_REJECTED, "Candidates the screener dropped");
    describe_counter!(
        CANDIDATES_DUPLICATE,
        "Candidates dropped as already trained or queued"
    );
    describe_histogram!(
        SCREENING_SECONDS,
        Unit::Seconds,
        "Time to score one batch of candidates"
    );
    describe_histogram!(
        PREDICTED_ACCURACY,
        "Predicted accuracy of screened candidates"
    );
    describe_gauge!(JOBS_QUEUED, "Training jobs waiting for a slot");
    describe_gauge!(JOBS_RUNNING, "Training jobs running now");
    describe_counter!(JOBS_FINISHED, "Training jobs finished, by outcome");
    describe_histogram!(JOB_SECONDS, Unit::Seconds, "Wall time of one training job");
    describe_histogram!(
        MEASURED_ACCURACY,
        "Measured accuracy of trained architectures"
    );
    describe_histogram!(
        PREDICTION_ERROR,
        "Absolute difference of measured and screening-predicted accuracy \
         of each trained candidate"
    );
    describe_gauge!(BEST_ACCURACY, "Best measured accuracy so far");
    describe_counter!(REFITS, "Predictor refits, by outcome");
    describe_histogram!(
        REFIT_SECONDS,
        Unit::Seconds,
        "Wall time of one predictor refit"
    );
    describe_gauge!(
        PREDICTOR_VERSION,
        "Version of the predictor the screener uses"
    );
    describe_gauge!(
        PREDICTOR_TAU,
        "Held-out Kendall tau of the predictor in use"
    );
    describe_gauge!(MAILBOX_DEPTH, "Messages waiting in an actor's mailbox");
    describe_counter!(MESSAGES, "Messages handled by an actor");
    describe_counter!(WORKER_JOBS, "Jobs finished by each worker");
    describe_counter!(LEASE_EXPIRIES, "Job leases that expired and were reclaimed");
    describe_gauge!(BUILD_INFO, "Build information (always 1)");
    // Process CPU and memory, first reading now (install() refreshes them).
    let process = metrics_process::Collector::default();
    process.describe();
    process.collect();

    // Register every series at zero so a scrape shows the full set from
    // the first second, before anything has happened.
    for name in [
        CANDIDATES_SAMPLED,
        CANDIDATES_SCREENED,
        CANDIDATES_FORWARDED,
        CANDIDATES_REJECTED,
        CANDIDATES_DUPLICATE,
        LEASE_EXPIRIES,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for outcome in ["completed", "diverged", "failed", "interrupted"] {
        metrics::counter!(JOBS_FINISHED, "outcome" => outcome).absolute(0);
    }
    for outcome in ["accepted", "rejected", "failed"] {
        metrics::counter!(REFITS, "outcome" => outcome).absolute(0);
    }
    for actor in ["sampler", "screener", "trainer", "refitter"] {
        metrics::counter!(MESSAGES, "actor" => actor).absolute(0);
        metrics::gauge!(MAILBOX_DEPTH, "actor" => actor).set(0.0);
    }
    metrics::counter!(WORKER_JOBS, "worker" => "daemon").absolute(0);
    for name in [
        JOBS_QUEUED,
        JOBS_RUNNING,
        BEST_ACCURACY,
        PREDICTOR_VERSION,
        PREDICTOR_TAU,
    ] {
        metrics::gauge!(name).set(0.0);
    }
    for name in [
        SCREENING_SECONDS,
        JOB_SECONDS,
        REFIT_SECONDS,
        PREDICTED_ACCURACY,
        MEASURED_ACCURACY,
        PREDICTION_ERROR,
    ] {
        // Histograms appear once they hold a value; register the handle.
        let _ = metrics::histogram!(name);
    }
    metrics::gauge!(
        BUILD_INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "rustc" => "1.95"
    )
    .set(1.0);
}

/// Process metrics from `metrics-process` (not `peephole_`-prefixed: they
/// are the names every Prometheus user knows).
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
pub const PROCESS_MEMORY: &str = "process_resident_memory_bytes";

/// Every metric name, for tests that check dashboards against exports.
pub const ALL: [&str; 23] = [
    CANDIDATES_SAMPLED,
    CANDIDATES_SCREENED,
    CANDIDATES_FORWARDED,
    CANDIDATES_REJECTED,
    CANDIDATES_DUPLICATE,
    SCREENING_SECONDS,
    PREDICTED_ACCURACY,
    JOBS_QUEUED,
    JOBS_RUNNING,
    JOBS_FINISHED,
    JOB_SECONDS,
    MEASURED_ACCURACY,
    PREDICTION_ERROR,
    BEST_ACCURACY,
    REFITS,
    REFIT_SECONDS,
    PREDICTOR_VERSION,
    PREDICTOR_TAU,
    MAILBOX_DEPTH,
    MESSAGES,
    WORKER_JOBS,
    LEASE_EXPIRIES,
    BUILD_INFO,
];
