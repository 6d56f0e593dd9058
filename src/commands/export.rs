//! `peephole export`: scales the best blocks of a search store (or one
//! architecture file) to ImageNet and writes, per block, a directory with
//! the architecture JSON, a summary with parameters and FLOPs, a
//! standalone PyTorch module and a README on how to train it.
//!
//! The scaling itself lives in `model::transfer`; this module only picks
//! the blocks and writes files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use model::Architecture;
use model::transfer;
use runtime::store::Store;
use serde_json::json;

/// Arguments of `peephole export`.
#[derive(clap::Args)]
pub struct Args {
    /// Store URL to take the best blocks from, e.g. sqlite://run.db.
    #[arg(long, conflicts_with = "arch", required_unless_present = "arch")]
    store: Option<String>,
    /// A single architecture JSON file to export instead of a store.
    #[arg(long)]
    arch: Option<PathBuf>,
    /// How many blocks to export from the store.
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// Rank the store's blocks by measured or by predicted accuracy.
    #[arg(long, default_value = "measured", value_parser = ["measured", "predicted"])]
    by: String,
    /// Dataset to scale the block for.
    #[arg(long, default_value = "imagenet", value_parser = transfer::TARGETS)]
    target: String,
    /// Directory to write one sub-directory per exported block into.
    #[arg(long)]
    out: PathBuf,
}

/// Where an exported block came from.
struct Source {
    arch: Architecture,
    origin: String,
    accuracy: Option<f64>,
    predicted: Option<f64>,
}

/// Picks the blocks and writes one export per block.
pub fn run(args: Args) -> anyhow::Result<()> {
    let sources = match (&args.store, &args.arch) {
        (_, Some(path)) => vec![from_file(path)?],
        (Some(url), None) => from_store(url, args.top, &args.by)?,
        // clap requires one of the two.
        (None, None) => anyhow::bail!("give --store or --arch"),
    };
    anyhow::ensure!(!sources.is_empty(), "no block to export");
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (rank, source) in sources.iter().enumerate() {
        let dir = write_export(&args.out, rank + 1, source, &args.target)?;
        println!("{}", dir.display());
    }
    Ok(())
}

fn from_file(path: &Path) -> anyhow::Result<Source> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let arch = Architecture::from_json(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(Source {
        arch,
        origin: format!("architecture file {}", path.display()),
        accuracy: None,
        predicted: None,
    })
}

/// The `top` best completed block results, by measured or predicted
/// accuracy; cells are skipped since they cannot be transferred.
fn from_store(url: &str, top: usize, by: &str) -> anyhow::Result<Vec<Source>> {
    let rt = tokio::runtime::Runtime::new()?;
    let rows = rt.block_on(async {
        let store = Store::open(url).await?;
        anyhow::Ok(store.results().await?)
    })?;
    let mut picked = Vec::new();
    for row in rows {
        if row.status != "completed" || (by == "predicted" && row.predicted.is_none()) {
            continue;
        }
        let arch = Architecture::from_json(&row.arch)
            .with_context(|| format!("stored architecture {}", row.arch_id))?;
        if matches!(arch.body, model::Body::Block(_)) {
            picked.push(Source {
                arch,
                origin: format!("store {url}, architecture {}", row.arch_id),
                accuracy: Some(row.accuracy),
                predicted: row.predicted,
            });
        }
    }

    // Results come best-measured first; re-rank when asked to.
    if by == "predicted" {
        // Both are Some: rows without a prediction were skipped.
        picked.sort_by(|a, b| {
            b.predicted
                .unwrap_or(0.0)
                .total_cmp(&a.predicted.unwrap_or(0.0))
        });
    }
    picked.truncate(top);
    Ok(picked)
}

/// Writes `arch.json`, `summary.json`, `model.py` and `README.md` into
/// `out/<rank>-<id>/` and returns that directory.
fn write_export(out: &Path, rank: usize, source: &Source, target: &str) -> anyhow::Result<PathBuf> {
    let scaled = transfer::transfer(&source.arch, target)?;
    let net = scaled.expand()?;
    let id = source.arch.id();
    let dir = out.join(format!("{rank:02}-{id}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    // The architecture alone, loadable by `peephole show`.
    let arch_json = serde_json::to_string_pretty(&scaled.to_value())?;
    std::fs::write(dir.join("arch.json"), arch_json + "\n")?;

    let summary = json!({
        "source": source.origin,
        "source_arch": source.arch.to_value(),
        "source_id": id.to_string(),
        "target": target,
        "accuracy": source.accuracy,
        "predicted": source.predicted,
        "params": net.params,
        "flops": net.flops,
        "layers": net.layers.len(),
    });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;

    let py = transfer::pytorch_module(&net, "PeepholeNet")?;
    std::fs::write(dir.join("model.py"), py)?;
    std::fs::write(dir.join("README.md"), readme(source, &net, target))?;
    Ok(dir)
}

fn readme(source: &Source, net: &model::network::Network, target: &str) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
    format!(
        "# Exported block ({target})\n\n\
         Source: {origin}.\n\n\
         | | |\n| --- | --- |\n\
         | measured CIFAR-10 accuracy | {acc} |\n\
         | predicted CIFAR-10 accuracy | {pred} |\n\
         | parameters ({target}) | {params} |\n\
         | FLOPs per image ({target}) | {flops} |\n\n\
         Files: `arch.json` (the scaled architecture in the project's \
         format; `peephole show arch.json` prints its layers), \
         `summary.json`, `model.py` (a PyTorch module, torch only).\n\n\
         The block is stacked as on CIFAR-10 (three stages of two copies \
         with 2x2 max pooling after each, global average pooling, linear \
         classifier) behind ResNet's stem: a 7x7 stride-2 convolution, BN, \
         ReLU and a 3x3 stride-2 max pool, so the stages run at 56, 28 and \
         14 pixels; see docs/transfer.md.\n\n\
         ## Training\n\n\
         `model.py` defines `PeepholeNet`; `python3 model.py` checks the \
         parameter count against the Rust model. Train it with any ImageNet \
         pipeline that accepts an `nn.Module`, for instance:\n\n\
         ```python\n\
         from model import PeepholeNet\n\
         net = PeepholeNet()  # expects 3x224x224 inputs, 1000 classes\n\
         ```\n\n\
         and the torchvision reference script's recipe (SGD, momentum 0.9, \
         lr 0.1 for batch 256, weight decay 1e-4, 90 epochs, step decay).\n",
        origin = source.origin,
        acc = pct(source.accuracy),
        pred = pct(source.predicted),
        params = net.params,
        flops = net.flops,
    )
}
