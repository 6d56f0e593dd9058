//! Helpers shared by the end-to-end tests that drive the `peephole`
//! binary: running it, checking how it ended, writing training records,
//! fitting a quick predictor and filling a store with trained blocks.

// Each test crate compiles its own copy of this module and uses a subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use model::Architecture;
use model::nb201::Cell;
use runtime::store::Store;

/// Runs the binary to completion with quiet logs.
pub fn peephole(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peephole"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run peephole")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts that a run succeeded, showing its stderr when it did not.
pub fn ok(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// Writes `n` JSON Lines records of NAS-Bench-201 cells spread over the
/// space, measured at `epoch` with `accuracy(cell)`.
pub fn write_nb201_records(path: &Path, n: usize, epoch: usize, accuracy: impl Fn(&Cell) -> f64) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let cell = Cell::from_index(i * 131 % Cell::COUNT);
            let arch = Architecture::nb201(cell).to_json();
            let acc = accuracy(&cell);
            format!(r#"{{"arch": {arch}, "epoch": {epoch}, "accuracy": {acc}}}"#)
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Fits a predictor on `records` into `checkpoint` for `epochs` epochs,
/// with `extra` arguments, and asserts that it worked.
pub fn fit(records: &Path, checkpoint: &Path, epochs: usize, extra: &[&str]) -> Output {
    let epochs = epochs.to_string();
    let mut args = vec![
        "fit",
        records.to_str().unwrap(),
        "-o",
        checkpoint.to_str().unwrap(),
        "--epochs",
        &epochs,
    ];
    args.extend_from_slice(extra);
    let out = peephole(&args);
    ok(&out);
    out
}

/// A CIFAR-10 block of `depth` `k`x`k` convolutions, each followed by a
/// ReLU; every second convolution doubles the channels.
pub fn conv_block(k: usize, depth: usize) -> Architecture {
    let mut layers = Vec::new();
    for d in 0..depth {
        let ratio = if d % 2 == 0 { "1.0" } else { "2.0" };
        layers.push(format!(
            r#"{{"kind": "conv", "kw": {k}, "kh": {k}, "ratio": {ratio}}}"#
        ));
        layers.push(r#"{"kind": "relu"}"#.to_string());
    }
    let json = format!(
        r#"{{"skeleton": "cifar10", "block": [{}]}}"#,
        layers.join(",")
    );
    Architecture::from_json(&json).unwrap()
}

/// Fills the store at `url` with `(architecture, measured, predicted)`
/// results, as if screened with that prediction and trained (instantly)
/// to that accuracy. Returns the ids in the order given.
pub async fn trained_store(url: &str, trained: &[(Architecture, f64, f64)]) -> Vec<String> {
    let store = Store::open(url).await.unwrap();
    let mut ids = Vec::new();
    for (arch, _, predicted) in trained {
        let id = arch.id().to_string();
        let params = arch.expand().unwrap().params;
        store
            .put_architecture(&id, "test", &arch.to_json(), params)
            .await
            .unwrap();
        store.enqueue(&id, Some(*predicted)).await.unwrap();
        ids.push(id);
    }
    while let Some((job, _)) = store.claim("w", Duration::from_secs(60), 3).await.unwrap() {
        let i = ids.iter().position(|id| *id == job.arch_id).unwrap();
        store
            .finish(&job.arch_id, "w", trained[i].1, "completed", "[]", 1.0)
            .await
            .unwrap();
    }
    ids
}
