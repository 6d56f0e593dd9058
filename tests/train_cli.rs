//! `peephole train` end to end: the real binary learns on a small MNIST
//! subset and writes its curve; unreadable data fails with the file's
//! name.

use std::path::Path;
use std::process::Command;

const ARCH: &str = r#"{"skeleton": "mnist", "block": [
    {"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.0},
    {"kind": "batch_norm"}, {"kind": "relu"}]}"#;

fn peephole() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peephole"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

#[test]
fn train_learns_on_a_small_mnist_subset() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("arch.json");
    std::fs::write(&arch, ARCH).unwrap();
    let curve = dir.path().join("curve.json");
    let out = peephole()
        .arg("train")
        .arg(&arch)
        .args(["--epochs", "2", "--subset", "100", "--val-per-class", "50"])
        .args(["--batch-size", "32", "--threads", "2", "--out"])
        .arg(&curve)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&curve).unwrap()).unwrap();
    assert_eq!(json["status"]["status"], "completed");
    assert_eq!(json["dataset"], "mnist");
    let curve = json["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 2);
    for (i, epoch) in curve.iter().enumerate() {
        assert_eq!(epoch["epoch"], i + 1);
        assert!(epoch["seconds"].as_f64().unwrap() > 0.0);
        assert!(epoch["train_loss"].as_f64().unwrap().is_finite());
    }
    let acc = curve[1]["val_accuracy"].as_f64().unwrap();
    // Chance is 10%; two short epochs reach far more.
    assert!(acc > 0.5, "validation accuracy {acc}");
}

#[test]
fn train_names_a_truncated_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("arch.json");
    std::fs::write(&arch, ARCH).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let data = dir.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::copy(shipped.join(name), data.join(name)).unwrap();
    }
    let images = data.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 3]).unwrap();

    let out = peephole()
        .arg("train")
        .arg(&arch)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("train-images-idx3-ubyte.gz"), "{stderr}");
    assert!(stderr.contains("gzip"), "{stderr}");
}

#[test]
fn cifar_without_a_folder_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("arch.json");
    let cifar = ARCH.replace("mnist", "cifar10");
    std::fs::write(&arch, cifar).unwrap();
    let out = peephole()
        .arg("train")
        .arg(&arch)
        .env_remove("PEEPHOLE_CIFAR10_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--data"), "{stderr}");
}

#[test]
fn bench_training_runs_and_skips_a_missing_reference() {
    let out = peephole()
        .args(["bench", "training", "--steps", "1", "--warmup", "0"])
        .args(["--batch-size", "2", "--threads", "1"])
        .args(["--python", "/nonexistent/python3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("burn flex (cpu)"), "{stdout}");
    assert!(stdout.contains("skipped"), "{stdout}");
}
