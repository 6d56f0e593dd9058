//! End-to-end tests of `peephole export`: the real binary writes ImageNet
//! exports from an architecture file and from a small SQLite store, and
//! the generated PyTorch module is compiled and, when torch is importable,
//! built and run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{conv_block, peephole, trained_store};
use model::Architecture;

/// A CIFAR-10 block with every padding case the generator handles: an
/// asymmetric conv (2x3), pools with asymmetric (2x2, 2x4) and symmetric
/// (3x3) 'same' padding.
const BLOCK: &str = r#"{"skeleton": "cifar10", "block": [
    {"kind": "conv", "kw": 2, "kh": 3, "ratio": 1.5},
    {"kind": "batch_norm"}, {"kind": "relu"},
    {"kind": "max_pool", "kw": 2, "kh": 2},
    {"kind": "avg_pool", "kw": 3, "kh": 3},
    {"kind": "avg_pool", "kw": 2, "kh": 4},
    {"kind": "tanh"}]}"#;

/// The one sub-directory of `out` per export, sorted by name (= rank).
fn export_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn torch_available() -> bool {
    Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn export_from_file_writes_a_matching_pytorch_module() {
    let tmp = tempfile::tempdir().unwrap();
    let arch_path = tmp.path().join("block.json");
    std::fs::write(&arch_path, BLOCK).unwrap();
    let out = tmp.path().join("out");
    let o = peephole(&[
        "export",
        "--arch",
        arch_path.to_str().unwrap(),
        "--target",
        "imagenet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dirs = export_dirs(&out);
    assert_eq!(dirs.len(), 1);
    let dir = &dirs[0];

    // The written architecture is the project's format and expands to the
    // parameter count the summary claims.
    let text = std::fs::read_to_string(dir.join("arch.json")).unwrap();
    let scaled = Architecture::from_json(&text).unwrap();
    let net = scaled.expand().unwrap();
    assert_eq!(net.classes, 1000);
    assert_eq!(summary(dir)["params"], net.params);
    assert_eq!(summary(dir)["flops"], net.flops);
    // The strided stem and three stage pools leave 7x7 before global
    // pooling, as ResNet does.
    let global = &net.layers[net.layers.len() - 2];
    assert_eq!((global.input.h, global.input.w), (7, 7));
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains(&net.params.to_string()));

    // The module at least parses.
    let py = dir.join("model.py");
    let o = Command::new("python3")
        .args(["-m", "py_compile", py.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    if !torch_available() {
        println!("skipping the PyTorch forward check: torch is not importable");
        return;
    }

    // Build it, count its parameters, run a small batch (global pooling
    // makes 64x64 inputs valid), and check that the padded pools agree
    // with torch's own where torch can express them.
    let check = format!(
        r#"
import sys, torch
from torch import nn
sys.path.insert(0, {dir:?})
import model
net = model.PeepholeNet().eval()
params = sum(p.numel() for p in net.parameters())
assert params == {params}, (params, {params})
out = net(torch.randn(2, 3, 64, 64))
assert tuple(out.shape) == (2, 1000), out.shape
# The stem: a 7x7 stride-2 conv, then a 3x3 stride-2 pool after BN, ReLU.
stem = net.layers[0]
assert (stem.kernel_size, stem.stride) == ((7, 7), (2, 2)), stem
assert model.RUST_OUTPUT_SHAPES[3] == (64, 56, 56), model.RUST_OUTPUT_SHAPES
with torch.no_grad():
    out = net(torch.randn(2, *model.INPUT_SHAPE))
assert tuple(out.shape) == (2, 1000), out.shape
# Layer by layer at the full input size, every Rust layer's output
# shape is the one the module list produces.
assert len(model.RUST_LAYER_ENDS) == {layers}
x, ends = torch.randn(1, *model.INPUT_SHAPE), set(model.RUST_LAYER_ENDS)
shapes = []
with torch.no_grad():
    for i, m in enumerate(net.layers):
        x = m(x)
        if i in ends:
            shapes.append(tuple(x.shape[1:]))
assert shapes == model.RUST_OUTPUT_SHAPES, (shapes, model.RUST_OUTPUT_SHAPES)
x = torch.randn(2, 4, 9, 9)
ours = model.PaddedAvgPool((3, 3), 1, (1, 1, 1, 1))(x)
ref = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)(x)
assert torch.allclose(ours, ref, atol=1e-6)
ours = model.PaddedMaxPool((3, 3), 1, (1, 1, 1, 1))(-x.abs() - 1)
ref = nn.MaxPool2d(3, 1, padding=1)(-x.abs() - 1)
assert torch.allclose(ours, ref)
print("ok")
"#,
        dir = dir.to_str().unwrap(),
        params = net.params,
        layers = net.layers.len(),
    );
    let o = Command::new("python3")
        .args(["-c", &check])
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Three trained blocks whose measured and predicted orders disagree.
async fn small_store(url: &str) -> Vec<String> {
    // (kernel, measured, predicted)
    let blocks = [(1, 0.80, 0.70), (3, 0.70, 0.90), (5, 0.60, 0.80)];
    let trained: Vec<_> = blocks
        .iter()
        .map(|&(k, measured, predicted)| (conv_block(k, 1), measured, predicted))
        .collect();
    trained_store(url, &trained).await
}

#[test]
fn export_from_store_ranks_by_measured_or_predicted() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("run.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(small_store(&url));

    for (by, expected) in [("measured", [0, 1]), ("predicted", [1, 2])] {
        let out = tmp.path().join(by);
        let o = peephole(&[
            "export",
            "--store",
            &url,
            "--top",
            "2",
            "--by",
            by,
            "--target",
            "imagenet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dirs = export_dirs(&out);
        let got: Vec<String> = dirs
            .iter()
            .map(|d| summary(d)["source_id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = expected.iter().map(|&i| ids[i].clone()).collect();
        assert_eq!(got, want, "--by {by}");
        assert!(dirs.iter().all(|d| d.join("model.py").is_file()));
    }
}
