//! The Trainer actor: runs training jobs on its own threads, one job per
//! thread of a `SyncArbiter` (the pool's size is the number of slots).
//!
//! Takes: [`TrainJob`]. Replies: [`TrainingDone`]. Training blocks for
//! seconds to hours, so it never runs on the async threads.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix::{Actor, Handler, SyncContext};
use runtime::metrics as m;

use crate::backend::TrainBackend;
use crate::messages::{TrainJob, TrainingDone};

pub struct Trainer {
    pub backend: Arc<dyn TrainBackend>,
    /// Set on shutdown: running trainings stop at the next batch.
    pub cancel: Arc<AtomicBool>,
}

impl Actor for Trainer {
    type Context = SyncContext<Self>;
}

impl Handler<TrainJob> for Trainer {
    type Result = TrainingDone;

    fn handle(&mut self, job: TrainJob, _: &mut SyncContext<Self>) -> TrainingDone {
        metrics::counter!(m::MESSAGES, "actor" => "trainer").increment(1);
        tracing::info!(arch = %job.arch_id, "training started");

        // A panic inside a backend must cost one job, not the daemon.
        let backend = &self.backend;
        let cancel = &self.cancel;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            backend.train(&job.arch, cancel)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("trainer panicked: {what}"))
        });
        TrainingDone {
            arch_id: job.arch_id,
            arch: job.arch,
            outcome,
        }
    }
}
