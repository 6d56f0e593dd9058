//! `peephole eval`: measure a trained predictor on records it has not seen
//! and draw predicted against measured accuracy (the paper's figure 5).
//!
//! Prints MSE, Kendall's tau, Spearman's rho and R^2 (accuracies as
//! fractions) and, with `--plot FILE.svg`, writes a scatter plot with the
//! diagonal drawn in.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use model::predictor::Checkpoint;
use model::predictor::fit;
use model::quality::Quality;

use super::fit::RecordSource;

/// Arguments of `peephole eval`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: RecordSource,
    /// The predictor checkpoint.
    #[arg(long)]
    model: PathBuf,
    /// Write a scatter plot of predicted vs measured accuracy (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Evaluate every record, not only each architecture's last epoch.
    #[arg(long)]
    whole_curve: bool,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Predicts every record and reports quality.
pub fn run(args: Args) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::load(&args.model)?;
    let predictor = &checkpoint.predictor;
    let records = args.source.load()?;
    let selected = fit::select_records(&records, args.whole_curve);

    let mut predicted = Vec::with_capacity(selected.len());
    let mut measured = Vec::with_capacity(selected.len());
    for (i, record) in selected.iter().enumerate() {
        let tokens = predictor
            .encode(&record.arch)
            .with_context(|| format!("record {} ({})", i + 1, record.arch.id()))?;
        let p = predictor
            .predict_tokens(&[&tokens], record.epoch)
            .with_context(|| format!("record {}", i + 1))?;
        predicted.push(p[0].accuracy);
        measured.push(record.accuracy);
    }
    let quality = Quality::measure(&predicted, &measured)?;

    if args.json {
        let out = serde_json::json!({
            "records": selected.len(),
            "mse": quality.mse,
            "kendall_tau": quality.kendall_tau,
            "spearman": quality.spearman,
            "r2": quality.r2,
        });
        println!("{out}");
    } else {
        println!("records      {}", selected.len());
        println!("MSE          {:.6}", quality.mse);
        println!("Kendall tau  {:.4}", quality.kendall_tau);
        println!("Spearman     {:.4}", quality.spearman);
        println!("R^2          {:.4}", quality.r2);
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{} on {} (tau {:.3})",
            args.model.display(),
            args.source.records.display(),
            quality.kendall_tau
        );
        std::fs::write(path, scatter_svg(&measured, &predicted, &title))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A square scatter plot, measured on x and predicted on y, same scale on
/// both axes, with the diagonal y = x.
pub fn scatter_svg(measured: &[f64], predicted: &[f64], title: &str) -> String {
    const SIZE: f64 = 480.0;
    const MARGIN: f64 = 60.0;
    let all = measured.iter().chain(predicted);
    let lo = all.clone().fold(f64::INFINITY, |a, &b| a.min(b));
    let hi = all.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |v: f64| MARGIN + (v - lo) / (hi - lo) * SIZE;
    let y = |v: f64| MARGIN + SIZE - (v - lo) / (hi - lo) * SIZE;
    let full = SIZE + 2.0 * MARGIN;

    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        svg,
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{full}" "#,
            r#"height="{full}" font-family="sans-serif" font-size="12">"#
        ),
        full = full
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        concat!(
            r#"<rect x="{MARGIN}" y="{MARGIN}" width="{SIZE}" "#,
            r#"height="{SIZE}" fill="none" stroke="black"/>"#
        ),
        MARGIN = MARGIN,
        SIZE = SIZE
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="gray" stroke-dasharray="4 4"/>"#,
        x(lo),
        y(lo),
        x(hi),
        y(hi)
    );
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{v:.3}</text>"#,
            x(v),
            MARGIN + SIZE + 18.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.3}</text>"#,
            MARGIN - 6.0,
            y(v) + 4.0
        );
    }
    for (m, p) in measured.iter().zip(predicted) {
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="steelblue" fill-opacity="0.5"/>"#,
            x(*m),
            y(*p)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">measured accuracy</text>"#,
        MARGIN + SIZE / 2.0,
        full - 12.0
    );
    let _ = writeln!(
        svg,
        concat!(
            r#"<text x="16" y="{:.1}" text-anchor="middle" "#,
            r#"transform="rotate(-90 16 {:.1})">predicted accuracy</text>"#
        ),
        MARGIN + SIZE / 2.0,
        MARGIN + SIZE / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="30" text-anchor="middle">{}</text>"#,
        full / 2.0,
        escape(title)
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
