//! `peephole train`: trains one architecture with the paper's recipe on
//! MNIST or CIFAR-10, shows a progress bar and writes the learning curve
//! as JSON.
//!
//! MNIST is read from `data/mnist/` (shipped with the repository) unless
//! `--data` says otherwise; CIFAR-10 from `--data` or the
//! `PEEPHOLE_CIFAR10_DIR` environment variable. Ctrl-C is not trapped:
//! cancellation is for the daemon, which owns the flag.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use model::Architecture;
use model::data::{DataConfig, DatasetKind, Datasets};
use model::train::{DeviceChoice, Progress, Status, TrainConfig};

/// Environment variable naming the CIFAR-10 folder.
const CIFAR10_DIR_VAR: &str = "PEEPHOLE_CIFAR10_DIR";

/// Arguments of `peephole train`.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture JSON file (`-` reads standard input).
    arch: PathBuf,
    /// Data set; by default the one the architecture's skeleton is for.
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Folder of the data set's files (default: data/mnist for MNIST,
    /// $PEEPHOLE_CIFAR10_DIR for CIFAR-10).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Train on the first N images of every class only.
    #[arg(long)]
    subset: Option<usize>,
    /// Images per class held out for validation (default: 1000 for
    /// MNIST, 500 for CIFAR-10).
    #[arg(long)]
    val_per_class: Option<usize>,
    /// Images per mini-batch.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Epochs at which the learning rate is multiplied by 0.1, comma
    /// separated (default: every 80 epochs for MNIST, 60 for CIFAR-10).
    #[arg(long, value_delimiter = ',')]
    lr_milestones: Option<Vec<usize>>,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// cpu, or cuda / cuda:N with a `--features cuda` build.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Turn CIFAR-10 augmentation (random crop, flip) off.
    #[arg(long)]
    no_augment: bool,
    /// Where to write the outcome and curve as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `peephole train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = if args.arch.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&args.arch)
            .with_context(|| format!("reading {}", args.arch.display()))?
    };
    let arch = Architecture::from_json(&text)
        .with_context(|| format!("parsing {}", args.arch.display()))?;
    let dataset = match args.dataset {
        Some(d) => d,
        None => dataset_of(&arch)?,
    };

    // Where the data is: flag, then the data set's default.
    let dir = match (&args.data, dataset.default_dir()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir,
        (None, None) => match std::env::var_os(CIFAR10_DIR_VAR) {
            Some(dir) => PathBuf::from(dir),
            None => bail!(
                "{dataset} is not shipped with the repository: pass --data DIR \
                 or set {CIFAR10_DIR_VAR} (see `peephole download`)"
            ),
        },
    };
    let mut data_cfg = DataConfig::new(dataset, dir);
    data_cfg.train_per_class = args.subset;
    if let Some(v) = args.val_per_class {
        data_cfg.val_per_class = v;
    }
    data_cfg.augment &= !args.no_augment;
    let data = Datasets::load(&data_cfg)?;

    let mut cfg = TrainConfig::paper(dataset, args.epochs);
    cfg.batch_size = args.batch_size;
    cfg.learning_rate = args.lr;
    if let Some(m) = args.lr_milestones {
        cfg.lr_milestones = m;
    }
    cfg.seed = args.seed;
    cfg.threads = args.threads;
    cfg.device = args.device;
    eprintln!(
        "training {} on {dataset}: {} training / {} validation images, \
         {} epochs, device {}",
        arch.id(),
        data.train.len(),
        data.val.len(),
        cfg.epochs,
        cfg.device
    );

    let bar = ProgressBar::new(data.train.len().div_ceil(cfg.batch_size) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let mut last_acc = None::<f64>;
    let mut report = |p: Progress| match p {
        Progress::Batch {
            epoch,
            batch,
            loss,
            images_per_second,
            ..
        } => {
            bar.set_prefix(format!("epoch {epoch}/{}", cfg.epochs));
            bar.set_position(batch as u64);
            let acc = last_acc.map_or("-".into(), |a| format!("{:.2}%", a * 100.0));
            bar.set_message(format!(
                "loss {loss:.4}  val acc {acc}  {images_per_second:.0} img/s"
            ));
        }
        Progress::Validating { .. } => bar.set_message("validating"),
        Progress::Epoch(r) => {
            last_acc = Some(r.val_accuracy);
            bar.println(format!(
                "epoch {:>3}  loss {:.4}  val acc {:.2}%  {:.1}s",
                r.epoch,
                r.train_loss,
                r.val_accuracy * 100.0,
                r.seconds
            ));
            bar.reset();
        }
    };
    let never = AtomicBool::new(false);
    let outcome = model::train::train(&arch, &data, &cfg, &mut report, &never)?;
    bar.finish_and_clear();

    match &outcome.status {
        Status::Completed => eprintln!(
            "done: val acc {:.2}% after {} epochs, {:.0} img/s, {:.1}s",
            outcome.final_accuracy().unwrap_or(0.0) * 100.0,
            outcome.curve.len(),
            outcome.images_per_second,
            outcome.seconds
        ),
        Status::Diverged { epoch, batch } => {
            eprintln!("diverged: loss not finite in epoch {epoch}, batch {batch}")
        }
        Status::Cancelled => eprintln!("cancelled"),
    }
    let json = serde_json::to_string_pretty(&outcome)?;
    match &args.out {
        Some(path) => std::fs::write(path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// The data set a skeleton's input is for.
fn dataset_of(arch: &Architecture) -> anyhow::Result<DatasetKind> {
    let [c, h, w] = arch.skeleton.input().shape;
    for kind in [DatasetKind::Mnist, DatasetKind::Cifar10] {
        if kind.image_shape() == (c, h, w) {
            return Ok(kind);
        }
    }
    bail!("no data set has {c}x{h}x{w} images; pass --dataset")
}
