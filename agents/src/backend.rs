//! Trainer backends: how a forwarded architecture gets its accuracy.
//!
//! - [`NativeBackend`]: real training with the model crate's trainer.
//! - [`TableBackend`]: looks the accuracy up in a benchmark table after a
//!   simulated duration, so whole searches run in seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use model::Architecture;
use model::data::Datasets;
use model::table::BenchTable;
use model::train::{Status, TrainConfig};

/// What a training produced, ready for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Final validation accuracy (fraction).
    pub accuracy: f64,
    /// `completed`, `diverged` or `cancelled`.
    pub status: String,
    /// Per-epoch records as a JSON array.
    pub curve_json: String,
    pub seconds: f64,
}

/// Trains one architecture, blocking the calling thread. `cancel` asks a
/// running training to stop.
pub trait TrainBackend: Send + Sync {
    fn train(&self, arch: &Architecture, cancel: &AtomicBool) -> Result<Outcome, String>;
}

/// Real training on MNIST or CIFAR-10.
pub struct NativeBackend {
    pub data: Arc<Datasets>,
    pub config: TrainConfig,
}

impl TrainBackend for NativeBackend {
    fn train(&self, arch: &Architecture, cancel: &AtomicBool) -> Result<Outcome, String> {
        let start = Instant::now();
        let span = tracing::info_span!("train", arch = %arch.id());
        let _guard = span.enter();
        let outcome = model::train::train(arch, &self.data, &self.config, &mut |_| {}, cancel)
            .map_err(|e| e.to_string())?;
        let status = match outcome.status {
            Status::Completed => "completed",
            Status::Diverged { .. } => "diverged",
            Status::Cancelled => "cancelled",
        };
        let accuracy = outcome.curve.last().map(|r| r.val_accuracy).unwrap_or(0.0);
        let curve_json = serde_json::to_string(&outcome.curve)
            .map_err(|e| format!("serialising the curve: {e}"))?;
        Ok(Outcome {
            accuracy,
            status: status.into(),
            curve_json,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Answers from a benchmark table.
pub struct TableBackend {
    pub table: Arc<BenchTable>,
    /// Simulated duration of each training.
    pub duration: Duration,
}

impl TrainBackend for TableBackend {
    fn train(&self, arch: &Architecture, cancel: &AtomicBool) -> Result<Outcome, String> {
        let start = Instant::now();

        // Sleep in short steps so a shutdown is not held up.
        while start.elapsed() < self.duration {
            if cancel.load(Ordering::Relaxed) {
                return Ok(Outcome {
                    accuracy: 0.0,
                    status: "cancelled".into(),
                    curve_json: "[]".into(),
                    seconds: start.elapsed().as_secs_f64(),
                });
            }
            let left = self.duration.saturating_sub(start.elapsed());
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        let accuracy = self
            .table
            .accuracy(arch)
            .ok_or_else(|| format!("architecture {} is not in the benchmark table", arch.id()))?;
        Ok(Outcome {
            accuracy,
            status: "completed".into(),
            curve_json: format!("[{{\"epoch\":200,\"val_accuracy\":{accuracy}}}]"),
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
