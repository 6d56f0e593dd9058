//! Distributed training on one shared store: a coordinator without a
//! local trainer and three `peephole worker` processes. One worker is
//! killed with SIGKILL in the middle of a job; its lease expires, another
//! worker trains the job, and every job ends done exactly once.
//!
//! Runs on SQLite (one file shared by the processes). With
//! `PEEPHOLE_TEST_POSTGRES_URL` set, the same scenario runs on PostgreSQL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime::store::Store;

fn peephole() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peephole"))
}

fn write_configs(dir: &Path, store: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let table = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/nas-bench-201/nats_tss_test_acc_200ep.csv");
    let common = format!(
        "[search]\nspace = \"nb201\"\nseed = 5\nstore = \"{store}\"\n\
         max_trainings = 24\npredictor_dir = \"{predictors}\"\n\
         [screener]\nbatch = 100\nforward = 2\n\
         [refitter]\nmin_results = 12\nevery = 6\nepochs = 30\n\
         [metrics]\nlisten = \"\"\n",
        predictors = dir.join("predictors").display(),
    );
    let coordinator = dir.join("coordinator.toml");
    std::fs::write(
        &coordinator,
        format!("{common}[trainer]\nbackend = \"workers\"\nslots = 6\n"),
    )
    .unwrap();
    let worker = dir.join("worker.toml");
    std::fs::write(
        &worker,
        format!(
            "{common}[trainer]\nbackend = \"table\"\n\
             table_csv = \"{}\"\nsimulated_seconds = 1.0\n",
            table.display()
        ),
    )
    .unwrap();
    (coordinator, worker)
}

fn worker(config: &Path, name: &str) -> Child {
    peephole()
        .args(["worker", "--config"])
        .arg(config)
        .args(["--name", name, "--lease-seconds", "3", "--idle-exit", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn scenario(store_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (coordinator, worker_cfg) = write_configs(dir.path(), store_url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(Store::open(store_url)).unwrap();

    let search = peephole()
        .args(["search", "--config"])
        .arg(&coordinator)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut workers: Vec<Child> = ["w1", "w2", "w3"]
        .iter()
        .map(|n| worker(&worker_cfg, n))
        .collect();

    // Kill w1 while it holds a job.
    let start = Instant::now();
    loop {
        let running = rt.block_on(store.jobs_in("running")).unwrap();
        let held = rt.block_on(store.results()).unwrap().len();
        if !running.is_empty() && held >= 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(100));
    }
    workers[0].kill().unwrap();
    workers[0].wait().unwrap();

    let out = search.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for w in workers.iter_mut().skip(1) {
        w.wait().unwrap();
    }

    // Exactly one result per architecture, every job done once.
    let results = rt.block_on(store.results()).unwrap();
    assert!(results.len() >= 24, "{} results", results.len());
    let mut ids: Vec<_> = results.iter().map(|r| r.arch_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), results.len());
    assert!(rt.block_on(store.jobs_in("running")).unwrap().is_empty());
    assert!(rt.block_on(store.jobs_in("failed")).unwrap().is_empty());
    let done = rt.block_on(store.jobs_in("done")).unwrap();
    assert_eq!(done.len(), results.len());
    // The survivors did the work, including the dead worker's last job.
    assert!(results.iter().any(|r| r.worker.starts_with("w2")));
    assert!(results.iter().any(|r| r.worker.starts_with("w3")));
}

#[test]
fn three_workers_one_killed_every_job_done_exactly_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    scenario(&url);
}

#[test]
fn three_workers_one_killed_every_job_done_exactly_once_postgres() {
    let url = std::env::var("PEEPHOLE_TEST_POSTGRES_URL").ok();
    match url.filter(|u| !u.is_empty()) {
        Some(url) => scenario(&url),
        None => eprintln!(
            "skipped: set PEEPHOLE_TEST_POSTGRES_URL (e.g. \
             postgres://peephole:peephole@127.0.0.1/peephole_test) to run \
             on PostgreSQL"
        ),
    }
}
