//! The durable store: every candidate, prediction, training job, learning
//! curve and predictor version, written as it happens.
//!
//! One schema serves SQLite (the default, a single file) and PostgreSQL
//! (many machines): portable column types, no autoincrement, `$N`
//! placeholders, `INSERT .. ON CONFLICT DO NOTHING` and `UPDATE ..
//! RETURNING`, which both speak. The `jobs` table is keyed by architecture
//! id, so an architecture can be queued, and trained, only once.
//!
//! Jobs move `queued -> running -> done | failed`; a running job holds a
//! lease (`worker`, `lease_until`). A restarted daemon puts its own
//! interrupted jobs back to `queued`; an expired lease lets any worker
//! claim the job again. Formats: `docs/store.md`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("store: {what}: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },
    #[error("store: {what}: {message}")]
    Data { what: &'static str, message: String },
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds an optional float. sqlx 0.8's Any driver sends a NULL `f64` with
/// the type of an `f32` and the other way round, which PostgreSQL rejects
/// for a DOUBLE PRECISION column ("incorrect binary data format"); binding
/// a NULL `f32` comes out as the NULL `f64` the column wants.
fn bind_f64(q: AnyQuery<'_>, v: Option<f64>) -> AnyQuery<'_> {
    match v {
        Some(x) => q.bind(x),
        None => q.bind(None::<f32>),
    }
}

fn query_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS architectures (
        id TEXT PRIMARY KEY,
        space TEXT NOT NULL,
        json TEXT NOT NULL,
        params BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS candidates (
        arch_id TEXT NOT NULL,
        predicted DOUBLE PRECISION,
        uncertainty DOUBLE PRECISION,
        forwarded BIGINT NOT NULL,
        predictor_version BIGINT,
        created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS jobs (
        arch_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        worker TEXT,
        lease_until DOUBLE PRECISION,
        predicted DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        error TEXT)",
    "CREATE TABLE IF NOT EXISTS results (
        arch_id TEXT PRIMARY KEY,
        accuracy DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        curve TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        worker TEXT NOT NULL,
        finished_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS predictors (
        version BIGINT PRIMARY KEY,
        created_at DOUBLE PRECISION NOT NULL,
        trained_on BIGINT NOT NULL,
        heldout_tau DOUBLE PRECISION,
        accepted BIGINT NOT NULL,
        checkpoint TEXT)",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at)",
];

/// One screened candidate, for [`Store::record_candidates`].
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub arch_id: &'a str,
    pub json: &'a str,
    pub params: u64,
    /// Predicted accuracy and its uncertainty.
    pub predicted: Option<(f64, f64)>,
    pub forwarded: bool,
}

/// A training job as claimed by a trainer.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub arch_id: String,
    pub arch_json: String,
    pub attempts: i64,
    /// The accuracy it was screened with, if it was.
    pub predicted: Option<f64>,
}

/// A finished training, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    pub arch_id: String,
    pub arch: String,
    /// Final validation accuracy (fraction); for diverged runs, the last
    /// finished epoch's, or 0.
    pub accuracy: f64,
    /// `completed` or `diverged`.
    pub status: String,
    /// JSON array of per-epoch records.
    pub curve: String,
    pub seconds: f64,
    pub worker: String,
    pub predicted: Option<f64>,
    pub finished_at: f64,
}

/// A predictor version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictorRow {
    pub version: i64,
    pub trained_on: i64,
    pub heldout_tau: Option<f64>,
    pub accepted: bool,
    pub checkpoint: Option<String>,
}

/// Counts by job state and totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub architectures: i64,
    pub candidates: i64,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    pub diverged: i64,
    pub predictors: i64,
}

/// A connection pool to one store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    postgres: bool,
}

impl Store {
    /// Connects (creating a SQLite file if missing) and creates the
    /// schema if absent.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let postgres = url.starts_with("postgres");
        let full = if !postgres && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        // SQLite allows one writer at a time: one connection serialises
        // our own writes instead of failing them with "database is locked".
        let max = if postgres { 8 } else { 1 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&full)
            .await
            .map_err(|source| StoreError::Connect {
                url: url.to_string(),
                source,
            })?;
        let store = Store { pool, postgres };
        if !postgres {
            // WAL with NORMAL sync survives a killed process (kill -9);
            // only a power cut may lose the last commits.
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"] {
                sqlx::query(pragma)
                    .execute(&store.pool)
                    .await
                    .map_err(query_err("setting up SQLite"))?;
            }
        }
        for statement in SCHEMA {
            sqlx::query(statement)
                .execute(&store.pool)
                .await
                .map_err(query_err("creating schema"))?;
        }
        Ok(store)
    }

    /// True for a PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Records an architecture (once).
    pub async fn put_architecture(
        &self,
        id: &str,
        space: &str,
        json: &str,
        params: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO architectures (id, space, json, params, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(space)
        .bind(json)
        .bind(params as i64)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(query_err("recording an architecture"))?;
        Ok(())
    }

    /// Records a screened batch in one transaction: each candidate's
    /// architecture (once), prediction and whether it was forwarded.
    pub async fn record_candidates(
        &self,
        space: &str,
        batch: &[Candidate<'_>],
        predictor_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let t = now();
        for c in batch {
            sqlx::query(
                "INSERT INTO architectures (id, space, json, params,
                 created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(c.arch_id)
            .bind(space)
            .bind(c.json)
            .bind(c.params as i64)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(query_err("recording an architecture"))?;
            let q = sqlx::query(
                "INSERT INTO candidates (arch_id, predicted, uncertainty,
                 forwarded, predictor_version, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.arch_id);
            let q = bind_f64(q, c.predicted.map(|p| p.0));
            bind_f64(q, c.predicted.map(|p| p.1))
                .bind(c.forwarded as i64)
                .bind(predictor_version)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(query_err("recording a candidate"))?;
        }
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(())
    }

    /// Ids of every architecture that has a job, in any state.
    pub async fn job_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT arch_id FROM jobs")
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing jobs"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Queues a job; false when the architecture already has one (queued,
    /// running or finished), so nothing is ever trained twice.
    pub async fn enqueue(&self, arch_id: &str, predicted: Option<f64>) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO jobs (arch_id, state, attempts, predicted,
             created_at) VALUES ($1, 'queued', 0, $2, $3)
             ON CONFLICT (arch_id) DO NOTHING",
        )
        .bind(arch_id);
        let done = bind_f64(q, predicted)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(query_err("queueing a job"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims the oldest queued job, or one whose lease has expired, for
    /// `worker` until `lease` from now. Returns the job and whether it was
    /// taken over from an expired lease.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Option<(Job, bool)>, StoreError> {
        let t = now();
        // PostgreSQL: skip rows another worker is claiming right now.
        // SQLite: a single writer makes the sub-select and update atomic.
        let lock = if self.postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker = $1,
               lease_until = $2, attempts = attempts + 1, started_at = $3
             WHERE arch_id = (
               SELECT arch_id FROM jobs
               WHERE (state = 'queued'
                  OR (state = 'running' AND lease_until < $3))
                 AND attempts < $4
               ORDER BY created_at, arch_id LIMIT 1 {lock})
             RETURNING arch_id, attempts, predicted"
        );
        let claimed = sqlx::query(&sql)
            .bind(worker)
            .bind(t + lease.as_secs_f64())
            .bind(t)
            .bind(max_attempts)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("claiming a job"))?;
        let Some(row) = claimed else { return Ok(None) };
        let arch_id: String = row.get(0);
        let attempts: i64 = row.get(1);
        let predicted: Option<f64> = row.get(2);
        let arch_json = self.architecture_json(&arch_id).await?;
        // A job that had been attempted before and is not fresh from the
        // queue was taken over from a dead lease.
        let took_over = attempts > 1;
        Ok(Some((
            Job {
                arch_id,
                arch_json,
                attempts,
                predicted,
            },
            took_over,
        )))
    }

    /// Extends the lease of a job `worker` holds; false if it lost it.
    pub async fn renew(
        &self,
        arch_id: &str,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = $1
             WHERE arch_id = $2 AND worker = $3 AND state = 'running'",
        )
        .bind(now() + lease.as_secs_f64())
        .bind(arch_id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(query_err("renewing a lease"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores the result and marks the job done, in one transaction.
    /// Returns false (and stores nothing) when `worker` no longer holds
    /// the job or a result already exists.
    pub async fn finish(
        &self,
        arch_id: &str,
        worker: &str,
        accuracy: f64,
        status: &str,
        curve_json: &str,
        seconds: f64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let t = now();
        let owned = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1,
               lease_until = NULL
             WHERE arch_id = $2 AND worker = $3 AND state = 'running'",
        )
        .bind(t)
        .bind(arch_id)
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(query_err("finishing a job"))?;
        if owned.rows_affected() != 1 {
            tx.rollback().await.map_err(query_err("rollback"))?;
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO results (arch_id, accuracy, status, curve, seconds,
             worker, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (arch_id) DO NOTHING",
        )
        .bind(arch_id)
        .bind(accuracy)
        .bind(status)
        .bind(curve_json)
        .bind(seconds)
        .bind(worker)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(query_err("storing a result"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Gives a job back in `state`: `queued` (may run again), `failed`
    /// (gave up) or `interrupted` (stopped by a shutdown; requeued when
    /// the daemon starts again), with `error` saying why.
    pub async fn release(
        &self,
        arch_id: &str,
        worker: &str,
        state: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, lease_until = NULL,
               finished_at = $3
             WHERE arch_id = $4 AND worker = $5 AND state = 'running'",
        )
        .bind(state)
        .bind(error)
        .bind(now())
        .bind(arch_id)
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(query_err("releasing a job"))?;
        Ok(())
    }

    /// Puts the jobs `worker` was running back in the queue (after a
    /// crash or kill of that worker), without counting the attempt.
    pub async fn requeue_worker(&self, worker: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_until = NULL,
               attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
             WHERE worker = $1 AND state IN ('running', 'interrupted')",
        )
        .bind(worker)
        .execute(&self.pool)
        .await
        .map_err(query_err("requeueing interrupted jobs"))?;
        Ok(r.rows_affected())
    }

    /// The stored JSON of an architecture.
    pub async fn architecture_json(&self, id: &str) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT json FROM architectures WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading an architecture"))?;
        row.map(|r| r.get(0)).ok_or_else(|| StoreError::Data {
            what: "reading an architecture",
            message: format!("job {id} has no architecture row"),
        })
    }

    /// Every result, best first.
    pub async fn results(&self) -> Result<Vec<ResultRow>, StoreError> {
        // Finish times are seconds since the epoch, never negative.
        self.results_since(0.0).await
    }

    /// Results finished at or after `t` (seconds since the epoch), best
    /// first. The coordinator polls this, so the filter runs in SQL.
    pub async fn results_since(&self, t: f64) -> Result<Vec<ResultRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.arch_id, a.json, r.accuracy, r.status, r.curve,
               r.seconds, r.worker, j.predicted, r.finished_at
             FROM results r JOIN architectures a ON a.id = r.arch_id
               LEFT JOIN jobs j ON j.arch_id = r.arch_id
             WHERE r.finished_at >= $1
             ORDER BY r.accuracy DESC, r.arch_id",
        )
        .bind(t)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading results"))?;
        Ok(rows
            .iter()
            .map(|r| ResultRow {
                arch_id: r.get(0),
                arch: r.get(1),
                accuracy: r.get(2),
                status: r.get(3),
                curve: r.get(4),
                seconds: r.get(5),
                worker: r.get(6),
                predicted: r.get(7),
                finished_at: r.get(8),
            })
            .collect())
    }

    /// Jobs queued or running.
    pub async fn pending_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
            .await
    }

    async fn count(&self, sql: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(query_err("counting"))?;
        Ok(row.get::<i64, _>(0))
    }

    /// Counts for `peephole status`.
    pub async fn summary(&self) -> Result<Summary, StoreError> {
        let state = |s: &str| format!("SELECT COUNT(*) FROM jobs WHERE state = '{s}'");
        Ok(Summary {
            architectures: self.count("SELECT COUNT(*) FROM architectures").await?,
            candidates: self.count("SELECT COUNT(*) FROM candidates").await?,
            queued: self.count(&state("queued")).await?,
            running: self.count(&state("running")).await?,
            done: self.count(&state("done")).await?,
            failed: self.count(&state("failed")).await?,
            diverged: self
                .count("SELECT COUNT(*) FROM results WHERE status = 'diverged'")
                .await?,
            predictors: self.count("SELECT COUNT(*) FROM predictors").await?,
        })
    }

    /// Records a predictor version (accepted or not); returns its number.
    pub async fn record_predictor(
        &self,
        trained_on: i64,
        heldout_tau: Option<f64>,
        accepted: bool,
        checkpoint: Option<&str>,
    ) -> Result<i64, StoreError> {
        let version = self
            .count("SELECT COALESCE(MAX(version), 0) + 1 FROM predictors")
            .await?;
        let q = sqlx::query(
            "INSERT INTO predictors (version, created_at, trained_on,
             heldout_tau, accepted, checkpoint)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(version)
        .bind(now())
        .bind(trained_on);
        bind_f64(q, heldout_tau)
            .bind(accepted as i64)
            .bind(checkpoint)
            .execute(&self.pool)
            .await
            .map_err(query_err("recording a predictor"))?;
        Ok(version)
    }

    /// Every predictor version, oldest first.
    pub async fn predictors(&self) -> Result<Vec<PredictorRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, trained_on, heldout_tau, accepted, checkpoint
             FROM predictors ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading predictors"))?;
        Ok(rows
            .iter()
            .map(|r| PredictorRow {
                version: r.get(0),
                trained_on: r.get(1),
                heldout_tau: r.get(2),
                accepted: r.get::<i64, _>(3) != 0,
                checkpoint: r.get(4),
            })
            .collect())
    }

    /// Jobs in a state, oldest first (for status and tests).
    pub async fn jobs_in(&self, state: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT arch_id FROM jobs WHERE state = $1 ORDER BY created_at")
            .bind(state)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing jobs"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh store on every backend available: SQLite always, and
    /// PostgreSQL in a new schema when `PEEPHOLE_TEST_POSTGRES_URL` is set.
    async fn stores() -> Vec<(Option<tempfile::TempDir>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
        let mut out = vec![(Some(dir), sqlite)];
        let url = std::env::var("PEEPHOLE_TEST_POSTGRES_URL").ok();
        match url.filter(|u| !u.is_empty()) {
            Some(url) => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let schema = format!("t{nanos}");
                install_default_drivers();
                let admin = AnyPoolOptions::new().connect(&url).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                let sep = if url.contains('?') { '&' } else { '?' };
                let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
                out.push((None, scoped));
            }
            None => eprintln!("PostgreSQL store tests skipped: set PEEPHOLE_TEST_POSTGRES_URL"),
        }
        out
    }

    #[tokio::test]
    async fn a_job_is_queued_once_and_finished_once() {
        for (_dir, url) in stores().await {
            let s = Store::open(&url).await.unwrap();
            s.put_architecture("a1", "nb201", "{}", 10).await.unwrap();
            assert!(s.enqueue("a1", Some(0.5)).await.unwrap());
            assert!(!s.enqueue("a1", Some(0.9)).await.unwrap());
            let lease = Duration::from_secs(60);
            let (job, over) = s.claim("w1", lease, 3).await.unwrap().unwrap();
            assert_eq!((job.arch_id.as_str(), over), ("a1", false));
            assert_eq!(job.predicted, Some(0.5), "{url}");
            assert!(s.claim("w2", lease, 3).await.unwrap().is_none());
            let fin = |w: &'static str, a: f64| {
                let s = s.clone();
                async move { s.finish("a1", w, a, "completed", "[]", 1.0).await.unwrap() }
            };
            assert!(!fin("w2", 0.9).await);
            assert!(fin("w1", 0.8).await);
            let results = s.results().await.unwrap();
            assert_eq!(results.len(), 1, "{url}");
            assert_eq!(results[0].accuracy, 0.8);
            assert_eq!(results[0].predicted, Some(0.5));
        }
    }

    #[tokio::test]
    async fn expired_leases_are_claimed_again_and_attempts_are_capped() {
        for (_dir, url) in stores().await {
            let s = Store::open(&url).await.unwrap();
            s.put_architecture("a1", "nb201", "{}", 10).await.unwrap();
            s.enqueue("a1", None).await.unwrap();
            let short = Duration::from_millis(1);
            s.claim("w1", short, 2).await.unwrap().unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (job, over) = s.claim("w2", short, 2).await.unwrap().unwrap();
            assert_eq!((job.attempts, over, job.predicted), (2, true, None));
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Two attempts used: nobody may claim it a third time.
            assert!(s.claim("w3", short, 2).await.unwrap().is_none());
            // The first worker lost its lease: its late result is refused.
            let late = s.finish("a1", "w1", 0.7, "completed", "[]", 1.0);
            assert!(!late.await.unwrap());
        }
    }

    #[tokio::test]
    async fn requeue_puts_a_dead_workers_jobs_back() {
        for (_dir, url) in stores().await {
            let s = Store::open(&url).await.unwrap();
            s.put_architecture("a1", "nb201", "{}", 10).await.unwrap();
            s.enqueue("a1", None).await.unwrap();
            let long = Duration::from_secs(600);
            s.claim("daemon", long, 3).await.unwrap();
            assert_eq!(s.requeue_worker("daemon").await.unwrap(), 1);
            let (job, _) = s.claim("daemon", long, 3).await.unwrap().unwrap();
            assert_eq!(job.attempts, 1);
            let v = s.record_predictor(10, Some(0.5), true, Some("p1"));
            assert_eq!(v.await.unwrap(), 1);
            let v = s.record_predictor(12, None, false, None).await.unwrap();
            assert_eq!(v, 2);
            let summary = s.summary().await.unwrap();
            assert_eq!((summary.running, summary.predictors), (1, 2));
        }
    }

    /// Many claimers on separate connection pools (as separate worker
    /// processes would be) never get the same job.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claims_never_share_a_job() {
        for (_dir, url) in stores().await {
            let s = Store::open(&url).await.unwrap();
            for i in 0..120 {
                let id = format!("a{i}");
                s.put_architecture(&id, "nb201", "{}", 1).await.unwrap();
                s.enqueue(&id, None).await.unwrap();
            }
            let mut tasks = Vec::new();
            for w in 0..8 {
                let url = url.clone();
                tasks.push(tokio::spawn(async move {
                    let s = Store::open(&url).await.unwrap();
                    let name = format!("w{w}");
                    let lease = Duration::from_secs(600);
                    let mut mine = Vec::new();
                    while let Some((job, _)) = s.claim(&name, lease, 3).await.unwrap() {
                        mine.push(job.arch_id);
                    }
                    mine
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!((n, all.len()), (120, 120), "{url}");
        }
    }
}
