//! End-to-end tests of the search daemon through the real binary, on the
//! NAS-Bench-201 table backend: resuming after kill -9, graceful stop,
//! no retraining of duplicates, screening that beats random picks, and
//! the metrics endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime::store::{PredictorRow, ResultRow, Store};

fn peephole() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peephole"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a table-backend config for a store in `dir`.
fn config(dir: &Path, max: u64, seconds: f64, port: u16, extra: &str) -> std::path::PathBuf {
    let table = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/nas-bench-201/nats_tss_test_acc_200ep.csv");
    let text = format!(
        "[search]\nspace = \"nb201\"\nseed = 3\n\
         store = \"sqlite://{store}\"\nmax_trainings = {max}\n\
         [screener]\nbatch = 200\nforward = 2\nexplore_share = 0.1\n\
         [trainer]\nbackend = \"table\"\nslots = 2\n\
         table_csv = \"{table}\"\nsimulated_seconds = {seconds}\n\
         [refitter]\nmin_results = 16\nevery = 8\nepochs = 60\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n{extra}",
        store = dir.join("s.db").display(),
        table = table.display(),
    );
    let path = dir.join("search.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> Child {
    peephole()
        .args(["search", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A store opened on its own runtime, for reading what the daemon wrote.
struct Db {
    rt: tokio::runtime::Runtime,
    store: Store,
}

impl Db {
    fn open(dir: &Path) -> Db {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = format!("sqlite://{}", dir.join("s.db").display());
        let store = rt.block_on(Store::open(&url)).unwrap();
        Db { rt, store }
    }

    fn results(&self) -> Vec<ResultRow> {
        self.rt.block_on(self.store.results()).unwrap()
    }

    fn jobs_in(&self, state: &str) -> Vec<String> {
        self.rt.block_on(self.store.jobs_in(state)).unwrap()
    }

    fn predictors(&self) -> Vec<PredictorRow> {
        self.rt.block_on(self.store.predictors()).unwrap()
    }
}

fn wait_for_results(dir: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    let db = Db::open(dir);
    loop {
        let count = db.results().len();
        if count >= n {
            return;
        }
        assert!(start.elapsed() < limit, "only {count} of {n} results");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn kill_9_and_restart_loses_nothing_and_trains_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), 40, 0.25, port, "");

    // First run: kill -9 in the middle of jobs, after the first refit.
    let mut child = start(&cfg);
    wait_for_results(dir.path(), 20, Duration::from_secs(120));

    // While it runs, the endpoint serves every metric.
    let text = scrape(port);
    for name in runtime::metrics::ALL {
        assert!(text.contains(name), "metric {name} missing from:\n{text}");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let db = Db::open(dir.path());
    let before = db.results();
    let running = db.jobs_in("running").len();
    let had_predictor = db.predictors().iter().any(|p| p.accepted);
    drop(db);

    // Second run, same config: resumes to the budget.
    let out = start(&cfg).wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    if running > 0 {
        assert!(log.contains("requeued interrupted jobs"), "{log}");
    }
    if had_predictor {
        assert!(log.contains("predictor reloaded"), "{log}");
    }

    let db = Db::open(dir.path());
    let after = db.results();
    assert_eq!(after.len(), 40);
    let mut ids: Vec<_> = after.iter().map(|r| r.arch_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "an architecture was stored twice");

    // Results from before the kill are untouched (not retrained).
    for r in &before {
        let now = after.iter().find(|a| a.arch_id == r.arch_id).unwrap();
        assert_eq!(now.finished_at, r.finished_at);
    }
    assert!(db.jobs_in("running").is_empty());
}

#[test]
fn sigterm_stops_gracefully_and_records_interrupted_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1000, 2.0, free_port(), "");
    let child = start(&cfg);
    std::thread::sleep(Duration::from_secs(4));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped (signal)"));
    let db = Db::open(dir.path());
    assert!(db.jobs_in("running").is_empty());
    assert!(!db.jobs_in("interrupted").is_empty(), "{log}");
}

#[test]
fn screening_forwards_better_than_random_once_fitted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 80, 0.0, free_port(), "");
    let out = peephole()
        .args(["search", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = Db::open(dir.path());
    let results = db.results();
    assert_eq!(results.len(), 80);

    // Cold-start picks are random: their mean is the space's. Picks made
    // with a predictor carry its prediction.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (screened, random): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.predicted.is_some());
    assert!(screened.len() >= 30, "{} screened", screened.len());
    let table = model::table::BenchTable::load_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/nas-bench-201/nats_tss_test_acc_200ep.csv"),
        "nb201",
        "ArchitectureString",
        "CIFAR10TestAccuracy200Epochs",
    )
    .unwrap();
    let all: Vec<f64> = table.rows.iter().map(|r| r.accuracy).collect();
    let s: Vec<f64> = screened.iter().map(|r| r.accuracy).collect();
    let r: Vec<f64> = random.iter().map(|r| r.accuracy).collect();
    assert!(
        mean(&s) > mean(&all) + 0.02,
        "screened {:.4} vs space {:.4} (cold {:.4})",
        mean(&s),
        mean(&all),
        mean(&r)
    );

    // Running again with a larger budget trains only new architectures.
    let cfg = config(dir.path(), 90, 0.0, free_port(), "");
    let out = peephole()
        .args(["search", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let again = db.results();
    assert_eq!(again.len(), 90);
    for r in &results {
        let now = again.iter().find(|a| a.arch_id == r.arch_id).unwrap();
        assert_eq!(now.finished_at, r.finished_at, "retrained {}", r.arch_id);
    }
}
