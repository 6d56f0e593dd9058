//! `peephole bench training`: training throughput of the native trainer
//! beside the same network in PyTorch on the same machine.
//!
//! Both sides time SGD steps (forward with loss, backward, optimiser
//! update) of one fixed, representative CIFAR-10 network on batches of
//! random images, with the same thread count, after a few untimed
//! warm-up steps. The PyTorch column comes from
//! `scripts/bench_training.py`, which rebuilds the network from the
//! expanded layer list written to a temporary file; it is skipped with a
//! note when Python or torch is missing.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use model::Architecture;
use model::data::DatasetKind;
use model::train::{DeviceChoice, Throughput, TrainConfig, throughput};
use serde::Deserialize;

/// The default network: the CIFAR-10 skeleton around a typical sampled
/// block (3x3 convolution keeping the width, BN, ReLU).
const DEFAULT_ARCH: &str = r#"{"skeleton": "cifar10", "block": [
    {"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.0},
    {"kind": "batch_norm"}, {"kind": "relu"}]}"#;

/// Arguments of `peephole bench training`.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture JSON to time instead of the default network.
    #[arg(long)]
    arch: Option<PathBuf>,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Threads for both sides.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Device of the native trainer.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// The PyTorch reference script.
    #[arg(long, default_value = "scripts/bench_training.py")]
    script: PathBuf,
    /// Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// What the reference script prints.
#[derive(Deserialize, serde::Serialize)]
struct Reference {
    torch: String,
    threads: usize,
    images_per_second: f64,
    forward_seconds: f64,
    backward_seconds: f64,
    optimizer_seconds: f64,
}

/// Runs `peephole bench training`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = match &args.arch {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => DEFAULT_ARCH.to_string(),
    };
    let arch = Architecture::from_json(&text)?;
    let net = arch.expand()?;

    let mut cfg = TrainConfig::paper(DatasetKind::Cifar10, 1);
    cfg.batch_size = args.batch_size;
    cfg.threads = args.threads;
    cfg.device = args.device;
    let ours = throughput(&net, &cfg, args.warmup, args.steps)?;
    let reference = pytorch(&args, &net);

    if args.json {
        let out = serde_json::json!({
            "arch": arch.to_json(),
            "params": net.params,
            "flops": net.flops,
            "burn": ours,
            "pytorch": reference.as_ref().ok(),
            "pytorch_note": reference.as_ref().err(),
        });
        println!("{out}");
        return Ok(());
    }

    println!(
        "network {} ({} params, {:.1} MFLOPs forward per image), \
         batch {}, {} threads, {} timed steps",
        arch.id(),
        net.params,
        net.flops as f64 / 1e6,
        args.batch_size,
        args.threads,
        args.steps
    );
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>12}",
        "implementation", "images/s", "forward ms", "backward ms", "update ms"
    );
    row(&format!("burn flex ({})", args.device), &ours);
    match &reference {
        Ok(r) => {
            let t = Throughput {
                batch_size: args.batch_size,
                steps: args.steps,
                images_per_second: r.images_per_second,
                forward_seconds: r.forward_seconds,
                backward_seconds: r.backward_seconds,
                optimizer_seconds: r.optimizer_seconds,
            };
            row(&format!("pytorch {}", r.torch), &t);
            println!(
                "burn / pytorch: {:.2}",
                ours.images_per_second / r.images_per_second
            );
        }
        Err(note) => println!("{:<22} skipped: {note}", "pytorch"),
    }
    Ok(())
}

fn row(name: &str, t: &Throughput) {
    println!(
        "{:<22} {:>10.1} {:>12.1} {:>12.1} {:>12.1}",
        name,
        t.images_per_second,
        t.forward_seconds * 1e3,
        t.backward_seconds * 1e3,
        t.optimizer_seconds * 1e3
    );
}

/// Times the network in PyTorch, or says why not.
fn pytorch(args: &Args, net: &model::network::Network) -> Result<Reference, String> {
    let name = format!("peephole-bench-network-{}.json", std::process::id());
    let path = std::env::temp_dir().join(name);
    let json = serde_json::to_string(net).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    let output = Command::new(&args.python)
        .arg(&args.script)
        .arg("--network")
        .arg(&path)
        .args(["--threads", &args.threads.to_string()])
        .args(["--batch-size", &args.batch_size.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .output();

    // The file is ours alone; failing to remove it is harmless.
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(|e| format!("could not run {}: {e}", args.python))?;
    match output.status.code() {
        Some(0) => serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("unreadable output of {}: {e}", args.script.display())),
        Some(3) => Err("torch is not installed (pip install torch)".into()),
        _ => Err(format!(
            "{} failed: {}",
            args.script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}
