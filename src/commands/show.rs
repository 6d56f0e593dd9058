//! `peephole show`: a readable table of an architecture's concrete layers
//! with shapes, parameters, FLOPs and layer codes.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use model::Architecture;

/// Arguments of `peephole show`.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture JSON file, or `-` for stdin. A JSON Lines file shows
    /// every architecture in it.
    file: PathBuf,
}

/// Reads a file or stdin (`-`).
pub fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(text)
}

/// Parses one JSON architecture or JSON Lines of them; errors name the
/// source and the line.
pub fn parse_architectures(text: &str, source: &str) -> anyhow::Result<Vec<Architecture>> {
    if text.trim().is_empty() {
        bail!("{source}: empty input, expected architecture JSON");
    }
    // A whole-file object first (it may span lines), else JSON Lines.
    if let Ok(arch) = Architecture::from_json(text) {
        return Ok(vec![arch]);
    }
    let mut archs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let arch = Architecture::from_json(line).with_context(|| format!("{source}:{}", n + 1))?;
        archs.push(arch);
    }
    Ok(archs)
}

/// Prints the layer table of every architecture in the input.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = read_input(&args.file)?;
    let source = args.file.display().to_string();
    for arch in parse_architectures(&text, &source)? {
        print_table(&arch)?;
    }
    Ok(())
}

fn print_table(arch: &Architecture) -> anyhow::Result<()> {
    let net = arch.expand()?;
    println!(
        "architecture {} (skeleton {})",
        arch.id(),
        arch.skeleton_name()
    );
    println!(
        "{:<26} {:<22} {:>12} {:>12} {:>10} {:>13} {:>14}",
        "part", "op", "input", "output", "params", "FLOPs", "code"
    );
    for layer in &net.layers {
        let op = serde_json::to_value(&layer.op)?;
        let name = op["op"].as_str().unwrap_or("?").to_string();
        let detail = match &layer.op {
            model::network::Op::Conv { kw, kh, stride, .. } => {
                format!("{name} {kw}x{kh}/{stride}")
            }
            model::network::Op::MaxPool { kw, kh, stride, .. }
            | model::network::Op::AvgPool { kw, kh, stride, .. } => {
                format!("{name} {kw}x{kh}/{stride}")
            }
            _ => name,
        };
        let code = layer.code().map(|c| c.to_string()).unwrap_or_default();
        println!(
            "{:<26} {:<22} {:>12} {:>12} {:>10} {:>13} {:>14}",
            layer.role.to_string(),
            detail,
            layer.input.to_string(),
            layer.output.to_string(),
            layer.params,
            layer.flops,
            code
        );
    }
    println!(
        "total: {} parameters, {:.1} MFLOPs per image, {} layer codes",
        net.params,
        net.flops as f64 / 1e6,
        arch.layer_codes()?.len()
    );
    println!();
    Ok(())
}
