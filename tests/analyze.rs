//! End-to-end tests of `peephole analyze` on the real binary: statistics
//! and the predicted-vs-measured scatter from a small store (its own
//! predictions), and every figure (scatter, cell responses, t-SNE map) from
//! a records file and from a small store with a freshly fitted checkpoint.

mod common;

use std::path::Path;

use common::{conv_block, fit, ok, peephole, trained_store};
use model::nb201::CellOp;
use runtime::store::Store;

fn stats(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("stats.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A store of trained blocks, each `(kernel, depth, measured, predicted)`.
async fn small_store(url: &str, blocks: &[(usize, usize, f64, f64)]) {
    let trained: Vec<_> = blocks
        .iter()
        .map(|&(k, depth, m, p)| (conv_block(k, depth), m, p))
        .collect();
    trained_store(url, &trained).await;
}

/// True when `path` holds a PNG image of more than a header.
fn is_png(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

#[test]
fn store_predictions_give_table_and_scatter() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("run.db").display());
    // Measured 0.8/0.7/0.6, predicted 0.7/0.9/0.8.
    let blocks = [(1, 1, 0.80, 0.70), (3, 1, 0.70, 0.90), (5, 1, 0.60, 0.80)];
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(small_store(&url, &blocks));
    let out = tmp.path().join("figs");
    let o = peephole(&[
        "analyze",
        "--store",
        &url,
        "--format",
        "svg",
        "--out",
        out.to_str().unwrap(),
    ]);
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

    // Without a checkpoint there are no hidden states to draw.
    assert!(!out.join("cells.svg").exists() && !out.join("tsne.svg").exists());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("need --model"), "{err}");
}

#[test]
fn records_with_a_checkpoint_give_a_scatter_of_every_network() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records.jsonl");
    let n = 30;
    // More 3x3 convolutions, better (made up).
    common::write_nb201_records(&records, n, 12, |cell| {
        let convs = cell.ops.iter().filter(|&&op| op == CellOp::Conv3x3);
        0.5 + 0.05 * convs.count() as f64
    });
    let ckpt = tmp.path().join("p.ckpt");
    fit(&records, &ckpt, 3, &[]);
    let (r, c) = (records.to_str().unwrap(), ckpt.to_str().unwrap());

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
    assert!(String::from_utf8_lossy(&o.stdout).contains("Kendall tau"));
    for figure in ["scatter.png", "cells.png", "tsne.png"] {
        assert!(is_png(&out.join(figure)), "{figure}");
    }

    // Cells of NAS-Bench-201 are six edges; four traces by default.
    let cells: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cells.json")).unwrap()).unwrap();
    let traces = cells["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 4, "{cells}");
    for t in traces {
        assert_eq!(t["responses"].as_array().unwrap().len(), 6, "{t}");
    }
    let tsne = std::fs::read_to_string(out.join("tsne.csv")).unwrap();
    assert_eq!(tsne.lines().count(), n + 1, "{tsne}");
}

#[test]
fn a_store_with_a_checkpoint_gives_every_figure() {
    let tmp = tempfile::tempdir().unwrap();

    // Twelve blocks of 1-3 convolutions with 1x1 to 5x5 kernels, the
    // deeper and wider-kernelled the better (made-up accuracies).
    let blocks: Vec<(usize, usize, f64, f64)> = (0..12)
        .map(|i| {
            let (k, depth) = ([1, 2, 3, 5][i % 4], 1 + i / 4);
            let acc = 0.5 + 0.03 * k as f64 + 0.05 * depth as f64;
            (k, depth, acc, acc - 0.02)
        })
        .collect();
    let url = format!("sqlite://{}", tmp.path().join("run.db").display());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(small_store(&url, &blocks));

    // A checkpoint fitted on the same blocks, briefly.
    let records = tmp.path().join("records.jsonl");
    let lines: Vec<String> = blocks
        .iter()
        .map(|&(k, depth, acc, _)| {
            let arch = conv_block(k, depth).to_json();
            format!(r#"{{"arch": {arch}, "epoch": 2, "accuracy": {acc}}}"#)
        })
        .collect();
    std::fs::write(&records, lines.join("\n")).unwrap();
    let ckpt = tmp.path().join("p.ckpt");
    fit(&records, &ckpt, 3, &["--val-fraction", "0"]);

    let out = tmp.path().join("figs");
    let o = peephole(&[
        "analyze",
        "--store",
        &url,
        "--model",
        ckpt.to_str().unwrap(),
        "--traces",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    for figure in ["scatter.png", "cells.png", "tsne.png"] {
        assert!(is_png(&out.join(figure)), "{figure}");
    }

    // The chosen unit separates some type present in the blocks; each
    // trace has one response per layer the predictor read.
    let cells: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cells.json")).unwrap()).unwrap();
    let name = cells["layer_type_name"].as_str().unwrap();
    assert_ne!(name, "unknown", "{cells}");
    assert!(cells["separation"].as_f64().unwrap().abs() > 0.0, "{cells}");
    let traces = cells["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 3, "{cells}");
    for t in traces {
        let types = t["layer_types"].as_array().unwrap().len();
        assert!(types > 0);
        assert_eq!(t["responses"].as_array().unwrap().len(), types, "{t}");
    }
    // Best first, worst last.
    let first = traces[0]["measured"].as_f64().unwrap();
    let last = traces[2]["measured"].as_f64().unwrap();
    assert!(first > last, "{cells}");

    let tsne = std::fs::read_to_string(out.join("tsne.csv")).unwrap();
    assert_eq!(tsne.lines().count(), blocks.len() + 1, "{tsne}");

    // Without --model, the store's latest accepted predictor is looked
    // inside (a rejected later one is passed over).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::open(&url).await.unwrap();
        let path = ckpt.to_str().unwrap();
        store
            .record_predictor(12, Some(0.5), true, Some(path))
            .await
            .unwrap();
        let missing = Some("/nonexistent/p.ckpt");
        store
            .record_predictor(12, Some(0.1), false, missing)
            .await
            .unwrap();
    });
    let out = tmp.path().join("figs-store");
    let o = peephole(&["analyze", "--store", &url, "--out", out.to_str().unwrap()]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("p.ckpt"), "{err}");
    for figure in ["scatter.png", "cells.png", "tsne.png"] {
        assert!(is_png(&out.join(figure)), "{figure}");
    }
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
