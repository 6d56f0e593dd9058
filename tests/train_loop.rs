//! The training loop through the library API the daemon uses: learning on
//! a small MNIST subset, divergence and cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use model::Architecture;
use model::data::{DataConfig, DatasetKind, Datasets};
use model::train::{Progress, Status, TrainConfig, train};

/// A small MNIST network: the MNIST skeleton around conv-BN-ReLU.
const ARCH: &str = r#"{"skeleton": "mnist", "block": [
    {"kind": "conv", "kw": 3, "kh": 3, "ratio": 1.0},
    {"kind": "batch_norm"}, {"kind": "relu"}]}"#;

/// `per_class` training and 20 validation images per class of the
/// shipped MNIST.
fn mnist(per_class: usize) -> Datasets {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
    let mut cfg = DataConfig::new(DatasetKind::Mnist, dir);
    cfg.train_per_class = Some(per_class);
    cfg.val_per_class = 20;
    Datasets::load(&cfg).expect("the shipped MNIST reads")
}

fn config(epochs: usize) -> TrainConfig {
    let mut cfg = TrainConfig::paper(DatasetKind::Mnist, epochs);
    cfg.batch_size = 32;
    cfg.threads = 2;
    cfg
}

#[test]
fn learns_above_chance_and_reports_every_epoch() {
    let arch = Architecture::from_json(ARCH).unwrap();
    let data = mnist(100);
    let mut epochs = Vec::new();
    let mut batches = 0;
    let mut progress = |p: Progress| match p {
        Progress::Batch { .. } => batches += 1,
        Progress::Epoch(r) => epochs.push(r.epoch),
        Progress::Validating { .. } => {}
    };
    let cancel = AtomicBool::new(false);
    let out = train(&arch, &data, &config(2), &mut progress, &cancel).unwrap();

    assert_eq!(out.status, Status::Completed);
    assert_eq!(epochs, [1, 2]);
    assert_eq!(batches, 2 * 1000usize.div_ceil(32));
    assert_eq!(out.curve.len(), 2);
    assert_eq!(out.arch, arch.id().to_string());
    let first = &out.curve[0];
    let last = &out.curve[1];
    assert!(last.train_loss < first.train_loss, "{:?}", out.curve);
    // Chance is 10%.
    assert!(last.val_accuracy > 0.3, "{:?}", out.curve);
}

#[test]
fn a_huge_learning_rate_diverges_with_a_partial_curve() {
    let arch = Architecture::from_json(ARCH).unwrap();
    let data = mnist(20);
    let mut cfg = config(3);
    cfg.learning_rate = 1e30;
    let cancel = AtomicBool::new(false);
    let out = train(&arch, &data, &cfg, &mut |_| {}, &cancel).unwrap();
    let Status::Diverged { epoch, batch } = out.status else {
        panic!("expected divergence, got {:?}", out.status)
    };
    assert_eq!(out.curve.len(), epoch - 1, "only finished epochs");
    assert!(batch >= 2, "the first loss is finite: {batch}");

    // The outcome serialises (no NaN reaches the JSON).
    let json = serde_json::to_string(&out).unwrap();
    assert!(json.contains(r#""status":"diverged""#), "{json}");
}

#[test]
fn cancelled_before_the_start_trains_nothing() {
    let arch = Architecture::from_json(ARCH).unwrap();
    let data = mnist(5);
    let cancel = AtomicBool::new(true);
    let out = train(&arch, &data, &config(2), &mut |_| {}, &cancel).unwrap();
    assert_eq!(out.status, Status::Cancelled);
    assert!(out.curve.is_empty());
}

#[test]
fn cancel_between_epochs_keeps_the_finished_one() {
    let arch = Architecture::from_json(ARCH).unwrap();
    let data = mnist(5);
    let cancel = AtomicBool::new(false);
    let mut progress = |p: Progress| {
        if let Progress::Epoch(r) = p {
            assert_eq!(r.epoch, 1, "no epoch after the cancel");
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let out = train(&arch, &data, &config(5), &mut progress, &cancel).unwrap();
    assert_eq!(out.status, Status::Cancelled);
    assert_eq!(out.curve.len(), 1);
}

#[test]
fn cancel_from_another_thread_stops_a_running_training() {
    let arch = Architecture::from_json(ARCH).unwrap();
    let data = mnist(100);
    let cancel = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();

    // The daemon's shape: training on its own thread, the flag set from
    // elsewhere once the run is under way.
    let (out, stopped_after) = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let mut progress = move |p: Progress| {
                let _ = tx.send(p);
            };
            train(&arch, &data, &config(50), &mut progress, &cancel)
        });
        let first = rx.recv_timeout(Duration::from_secs(120)).unwrap();
        assert!(matches!(first, Progress::Batch { batch: 1, .. }));
        let asked = Instant::now();
        cancel.store(true, Ordering::Relaxed);
        let out = worker.join().unwrap().unwrap();
        (out, asked.elapsed())
    });
    assert_eq!(out.status, Status::Cancelled);
    assert!(out.curve.is_empty(), "50 epochs cannot have finished");
    // At most one more batch runs after the flag is set.
    assert!(stopped_after < Duration::from_secs(30), "{stopped_after:?}");
}
