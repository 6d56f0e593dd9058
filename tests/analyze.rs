//! End-to-end tests of `peephole analyze` on the real binary: statistics
//! and the predicted-vs-measured scatter from a small store (its own
//! predictions) and from a records file with a freshly fitted checkpoint.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use model::Architecture;
use model::nb201::Cell;
use runtime::store::Store;

fn peephole(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peephole"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run peephole")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn stats(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("stats.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Three trained blocks, measured 0.8/0.7/0.6, predicted 0.7/0.9/0.8.
async fn small_store(url: &str) {
    let store = Store::open(url).await.unwrap();
    let blocks = [(1, 0.80, 0.70), (3, 0.70, 0.90), (5, 0.60, 0.80)];
    let mut ids = Vec::new();
    for (k, _, predicted) in blocks {
        let json = format!(
            r#"{{"skeleton": "cifar10", "block": [
              {{"kind": "conv", "kw": {k}, "kh": {k}, "ratio": 1.0}}]}}"#
        );
        let arch = Architecture::from_json(&json).unwrap();
        let id = arch.id().to_string();
        let params = arch.expand().unwrap().params;
        store
            .put_architecture(&id, "test", &arch.to_json(), params)
            .await
            .unwrap();
        store.enqueue(&id, Some(predicted)).await.unwrap();
        ids.push(id);
    }
    while let Some((job, _)) = store.claim("w", Duration::from_secs(60), 3).await.unwrap() {
        let i = ids.iter().position(|id| *id == job.arch_id).unwrap();
        store
            .finish(&job.arch_id, "w", blocks[i].1, "completed", "[]", 1.0)
            .await
            .unwrap();
    }
}

#[test]
fn store_predictions_give_table_and_scatter() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("run.db").display());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(small_store(&url));
    let out = tmp.path().join("figs");
    let o = peephole(&["analyze", "--store", &url, "--out", out.to_str().unwrap()]);
    ok(&o);

    // mean 0.7, sample std 0.1 for both sets; min/max as stored.
    let s = stats(&out);
    for (set, min, max) in [("measured", 0.6, 0.8), ("predicted", 0.7, 0.9)] {
        assert_eq!(s[set]["count"], 3, "{set}");
        let get = |k: &str| s[set][k].as_f64().unwrap();
        let mean = (min + max) / 2.0;
        assert!((get("mean") - mean).abs() < 1e-9, "{set}: {s}");
        assert!((get("std") - 0.1).abs() < 1e-9, "{set}: {s}");
        assert_eq!((get("min"), get("max")), (min, max), "{set}");
    }
    let table = std::fs::read_to_string(out.join("stats.md")).unwrap();
    assert!(
        table.contains("| measured | 3 | 0.7000 | 0.1000 |"),
        "{table}"
    );

    let svg = std::fs::read_to_string(out.join("scatter.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
}

#[test]
fn records_with_a_checkpoint_give_a_scatter_of_every_network() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records.jsonl");
    let n = 30;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let cell = Cell::from_index(i * 131 % Cell::COUNT);
            let arch = Architecture::nb201(cell);
            let acc = 0.5 + 0.01 * (i % 17) as f64;
            format!(
                r#"{{"arch": {}, "epoch": 12, "accuracy": {acc}}}"#,
                arch.to_json()
            )
        })
        .collect();
    std::fs::write(&records, lines.join("\n")).unwrap();
    let ckpt = tmp.path().join("p.ckpt");
    let (r, c) = (records.to_str().unwrap(), ckpt.to_str().unwrap());
    ok(&peephole(&[
        "fit",
        r,
        "-o",
        c,
        "--epochs",
        "3",
        "--members",
        "1",
    ]));

    let out = tmp.path().join("figs");
    let o = peephole(&[
        "analyze",
        "--records",
        r,
        "--model",
        c,
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    let s = stats(&out);
    assert_eq!(s["measured"]["count"], n);
    assert_eq!(s["predicted"]["count"], n);
    let svg = std::fs::read_to_string(out.join("scatter.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), n, "{svg}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("Kendall tau"));
}

#[test]
fn an_empty_store_is_refused_with_a_reason() {
    // An empty store has nothing to analyse and says so.
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("empty.db").display());
    let out = tmp.path().join("figs");
    let o = peephole(&["analyze", "--store", &url, "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no trained networks"), "{err}");
}
