//! `peephole bench screening`: predictor inference throughput, the hot path
//! of screening candidates, beside the same model in burn and in PyTorch.
//!
//! All three run the paper's network (hidden 160, 40-d layer and epoch
//! embeddings, 200-unit head) in inference mode on batches of `--batch`
//! random architectures of `--layers` layers each, for about `--seconds`
//! seconds each, and report architectures per second. The PyTorch column
//! comes from `scripts/bench_screening.py` (`nn.LSTM`), run with the same
//! thread count; it is skipped with a note when Python or torch is missing.
//! Before timing, the fast path's outputs are checked against burn's on the
//! benchmark batch.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use model::predictor::encoding::{Batch, Token};
use model::predictor::net::InferenceNet;
use model::predictor::{Dims, FastNet, Weights};
use model::ulc::{LayerCode, MAX_KERNEL, NUM_RATIO_BINS, NUM_TYPES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arguments of `peephole bench screening`.
#[derive(clap::Args)]
pub struct Args {
    /// Architectures per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Layers per architecture.
    #[arg(long, default_value_t = 40)]
    layers: usize,
    /// Threads for our fast path and for PyTorch.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds to time each implementation.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The PyTorch reference script.
    #[arg(long, default_value = "scripts/bench_screening.py")]
    script: PathBuf,
    /// Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the (slow) burn column.
    #[arg(long)]
    no_burn: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Throughput of one implementation.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Architectures per wall-clock second.
    wall: f64,
    /// Architectures per second of CPU time of the process (all threads),
    /// when the platform says; robust to other load on a shared machine.
    cpu: Option<f64>,
}

/// CPU time of this process so far (user + system, all threads), from
/// `/proc/self/stat`; `None` where there is no procfs.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line, in clock ticks (100 per second
    // on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Calls `step` (one batch of `batch` architectures) repeatedly for about
/// `seconds`.
fn time(seconds: f64, batch: usize, mut step: impl FnMut()) -> Rate {
    step();
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < 3 || started.elapsed().as_secs_f64() < seconds {
        step();
        runs += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let archs = f64::from(runs) * batch as f64;
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(archs / (b - a)),
        _ => None,
    };
    Rate {
        wall: archs / wall,
        cpu,
    }
}

fn random_sequences(batch: usize, layers: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<Token>> {
    (0..batch)
        .map(|_| {
            (0..layers)
                .map(|_| Token {
                    code: LayerCode {
                        ty: rng.random_range(1..=NUM_TYPES as u8),
                        kw: rng.random_range(1..=MAX_KERNEL),
                        kh: rng.random_range(1..=MAX_KERNEL),
                        ch: rng.random_range(1..=NUM_RATIO_BINS as u8),
                    },
                    position: 0,
                })
                .collect()
        })
        .collect()
}

/// Runs the PyTorch reference; `Err` says why there is no number.
fn pytorch(args: &Args) -> Result<(Rate, String), String> {
    let output = Command::new(&args.python)
        .arg(&args.script)
        .args(["--batch", &args.batch.to_string()])
        .args(["--layers", &args.layers.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--seconds", &args.seconds.to_string()])
        .output()
        .map_err(|e| format!("could not run {}: {e}", args.python))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        let err = String::from_utf8_lossy(&output.stderr);
        format!(
            "reference script failed: {}",
            err.lines().last().unwrap_or("no output")
        )
    })?;
    if let Some(skip) = value.get("skipped").and_then(|s| s.as_str()) {
        return Err(skip.to_string());
    }
    let rate = value
        .get("archs_per_second")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| format!("unexpected reference output: {line}"))?;
    let cpu = value.get("archs_per_cpu_second").and_then(|v| v.as_f64());
    let version = value.get("torch").and_then(|v| v.as_str()).unwrap_or("?");
    Ok((
        Rate { wall: rate, cpu },
        format!("PyTorch {version} nn.LSTM"),
    ))
}

/// Times every implementation and prints the comparison.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let weights = Weights::init(Dims::paper(200), 0);
    let fast = FastNet::new(&weights);
    let sequences = random_sequences(args.batch, args.layers, &mut rng);
    let refs: Vec<&[Token]> = sequences.iter().map(|s| s.as_slice()).collect();
    let epochs: Vec<usize> = (0..args.batch).map(|i| 1 + i % 200).collect();

    // Agreement first: a fast wrong answer is no answer.
    let net = InferenceNet::new(&weights);
    let batch = Batch::new(&refs, &epochs, 0);
    let reference = net.predict(&batch);
    let ours = fast.predict(&refs, &epochs, args.threads);
    let max_diff = reference
        .iter()
        .zip(&ours)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);

    let ours = time(args.seconds, args.batch, || {
        drop(fast.predict(&refs, &epochs, args.threads))
    });
    let burn = (!args.no_burn).then(|| {
        time(args.seconds.min(3.0), args.batch, || {
            drop(net.predict(&batch))
        })
    });
    let gemm_only = time(args.seconds.min(3.0), args.batch, || {
        fast.recurrent_products_only(args.batch, args.layers, 1)
    });
    let torch = pytorch(&args);

    if args.json {
        let rate = |r: Option<Rate>| r.map(|r| serde_json::json!({"wall": r.wall, "cpu": r.cpu}));
        let torch_rate = torch.as_ref().ok().map(|t| t.0);
        let out = serde_json::json!({
            "batch": args.batch,
            "layers": args.layers,
            "threads": args.threads,
            "max_abs_diff_vs_burn": max_diff,
            "fast_archs_per_second": rate(Some(ours)),
            "burn_archs_per_second": rate(burn),
            "recurrent_products_only_archs_per_second": rate(Some(gemm_only)),
            "pytorch_archs_per_second": rate(torch_rate),
            "pytorch_note": torch.as_ref().err(),
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "batch {}, {} layers, {} threads; fast path vs burn: max |diff| {:.2e}",
        args.batch, args.layers, args.threads, max_diff
    );
    println!(
        "| {:<30} | {:>10} | {:>8} | {:>12} | {:>8} |",
        "implementation", "archs/s", "vs torch", "archs/cpu-s", "vs torch"
    );
    println!(
        "|{:-<32}|{:->12}|{:->10}|{:->14}|{:->10}|",
        "", "", "", "", ""
    );
    let reference = torch.as_ref().ok().map(|t| t.0);
    let row = |name: &str, r: Rate| {
        let ratio = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
            (Some(a), Some(b)) => format!("{:.2}x", a / b),
            _ => "n/a".to_string(),
        };
        let cpu = r.cpu.map_or("n/a".to_string(), |c| format!("{c:.0}"));
        println!(
            "| {:<30} | {:>10.0} | {:>8} | {:>12} | {:>8} |",
            name,
            r.wall,
            ratio(Some(r.wall), reference.map(|t| t.wall)),
            cpu,
            ratio(r.cpu, reference.and_then(|t| t.cpu)),
        );
    };
    row("peephole fast path (Rust)", ours);
    if let Some(rate) = burn {
        row("peephole burn network (flex)", rate);
    }
    match &torch {
        Ok((rate, name)) => row(name, *rate),
        Err(note) => println!("PyTorch column skipped: {note}"),
    }
    row("(recurrent GEMMs alone, 1 thread)", gemm_only);
    Ok(())
}
