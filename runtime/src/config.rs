//! Search configuration: TOML files such as `configs/quickstart.toml`.
//!
//! Every section and field is optional and has a default documented in
//! `docs/daemon.md` (section Configuration); unknown fields are errors
//! that name the field, and invalid values name the field and the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {field} = {value}: {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub search: SearchSection,
    pub screener: ScreenerSection,
    pub trainer: TrainerSection,
    pub refitter: RefitterSection,
    pub metrics: MetricsSection,
}

/// What to search and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSection {
    /// `peephole-mnist`, `peephole-cifar10` or `nb201`.
    pub space: String,
    pub seed: u64,
    /// `sqlite://FILE` (created if missing) or `postgres://...`.
    pub store: String,
    /// Stop after this many finished trainings in the store (all runs
    /// of this store together); none: no limit.
    pub max_trainings: Option<u64>,
    /// Stop after this many seconds of this process; none: no limit.
    pub wall_clock_seconds: Option<u64>,
    /// Share of candidates made by mutating the best architectures so far
    /// instead of sampling the space afresh.
    pub mutation_share: f64,
    /// Folder for predictor checkpoints (default: next to the store).
    pub predictor_dir: Option<PathBuf>,
    /// Drop candidates above this many million FLOPs per image before
    /// screening (a compute budget); none: no limit.
    pub max_mflops: Option<f64>,
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            space: "peephole-mnist".into(),
            seed: 0,
            store: "sqlite://peephole.db".into(),
            max_trainings: None,
            wall_clock_seconds: None,
            mutation_share: 0.3,
            predictor_dir: None,
            max_mflops: None,
        }
    }
}

/// Which screened candidates go on to training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The top `forward` candidates of each batch by predicted accuracy.
    TopK,
    /// The top `forward` by mean + `ucb_beta` x ensemble spread.
    Ucb,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScreenerSection {
    /// Candidates scored per batch.
    pub batch: usize,
    /// Candidates forwarded per batch.
    pub forward: usize,
    /// Share of forwarded candidates picked at random (exploration).
    pub explore_share: f64,
    pub policy: Policy,
    pub ucb_beta: f64,
}

impl Default for ScreenerSection {
    fn default() -> Self {
        ScreenerSection {
            batch: 200,
            forward: 2,
            explore_share: 0.1,
            policy: Policy::TopK,
            ucb_beta: 1.0,
        }
    }
}

/// How candidates are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Real training with the native (burn) trainer.
    Native,
    /// Answers from a benchmark table after a simulated duration.
    Table,
    /// No local trainer: `peephole worker` processes claim the queued
    /// jobs from the (shared) store; `slots` is how many jobs to keep
    /// queued or running for them.
    Workers,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerSection {
    pub backend: Backend,
    /// Jobs trained at once.
    pub slots: usize,
    /// `mnist` or `cifar10` (native backend).
    pub dataset: String,
    /// Folder of the data set's files (native backend).
    pub data_dir: PathBuf,
    /// Train on the first N images per class only.
    pub train_per_class: Option<usize>,
    /// Validation images per class, held out of the training file.
    pub val_per_class: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Epochs at which the learning rate is multiplied by 0.1.
    pub lr_milestones: Vec<usize>,
    /// Threads per job; 0 = all cores.
    pub threads: usize,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Benchmark table (table backend).
    pub table_csv: PathBuf,
    pub arch_column: String,
    pub accuracy_column: String,
    /// Seconds each simulated training takes.
    pub simulated_seconds: f64,
}

impl Default for TrainerSection {
    fn default() -> Self {
        TrainerSection {
            backend: Backend::Native,
            slots: 1,
            dataset: "mnist".into(),
            data_dir: "data/mnist".into(),
            train_per_class: None,
            val_per_class: 1000,
            epochs: 2,
            batch_size: 128,
            learning_rate: 0.1,
            lr_milestones: Vec::new(),
            threads: 0,
            device: "cpu".into(),
            table_csv: "data/nas-bench-201/nats_tss_test_acc_200ep.csv".into(),
            arch_column: "ArchitectureString".into(),
            accuracy_column: "CIFAR10TestAccuracy200Epochs".into(),
            simulated_seconds: 0.0,
        }
    }
}

/// When and how the predictor is refitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefitterSection {
    /// Results needed before the first fit (cold start: random picks).
    pub min_results: usize,
    /// New results that trigger the next refit.
    pub every: usize,
    /// Share of results held out to measure a refit.
    pub holdout: f64,
    /// Training epochs of each refit.
    pub epochs: usize,
    /// Ensemble members.
    pub members: usize,
}

impl Default for RefitterSection {
    fn default() -> Self {
        RefitterSection {
            min_results: 8,
            every: 4,
            holdout: 0.2,
            epochs: 150,
            members: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Address of the `/metrics` endpoint; empty string: no endpoint.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

impl MetricsSection {
    /// The parsed address, or `None` when disabled.
    pub fn addr(&self) -> Option<SocketAddr> {
        // Checked by `SearchConfig::validate`.
        (!self.listen.is_empty())
            .then(|| self.listen.parse().ok())
            .flatten()
    }
}

impl SearchConfig {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<SearchConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates TOML text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<SearchConfig, ConfigError> {
        let config: SearchConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            // toml's message spans lines (it quotes the source); keep
            // the first and the location.
            message: e.to_string().replace('\n', " ").replace("  ", " "),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field, value: &dyn std::fmt::Display, reason| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field,
                value: value.to_string(),
                reason,
            })
        };
        let s = &self.search;
        if model::space::Space::parse(&s.space).is_err() {
            return bad(
                "search.space",
                &s.space,
                "expected peephole-mnist, peephole-cifar10 or nb201",
            );
        }
        if !(s.store.starts_with("sqlite:") || s.store.starts_with("postgres")) {
            return bad(
                "search.store",
                &s.store,
                "expected sqlite:// or postgres://",
            );
        }
        if !(0.0..=1.0).contains(&s.mutation_share) {
            return bad(
                "search.mutation_share",
                &s.mutation_share,
                "must be in [0, 1]",
            );
        }
        let sc = &self.screener;
        if sc.batch == 0 {
            return bad("screener.batch", &sc.batch, "must be at least 1");
        }
        if sc.forward == 0 || sc.forward > sc.batch {
            return bad("screener.forward", &sc.forward, "must be in 1..=batch");
        }
        if !(0.0..=1.0).contains(&sc.explore_share) {
            return bad(
                "screener.explore_share",
                &sc.explore_share,
                "must be in [0, 1]",
            );
        }
        let t = &self.trainer;
        if t.slots == 0 {
            return bad("trainer.slots", &t.slots, "must be at least 1");
        }
        if t.backend == Backend::Native {
            if t.dataset.parse::<model::data::DatasetKind>().is_err() {
                return bad("trainer.dataset", &t.dataset, "expected mnist or cifar10");
            }
            if t.epochs == 0 {
                return bad("trainer.epochs", &t.epochs, "must be at least 1");
            }
        }
        if !(t.simulated_seconds >= 0.0 && t.simulated_seconds.is_finite()) {
            return bad(
                "trainer.simulated_seconds",
                &t.simulated_seconds,
                "must be >= 0",
            );
        }
        let r = &self.refitter;
        if r.min_results < 4 {
            return bad("refitter.min_results", &r.min_results, "must be at least 4");
        }
        if r.every == 0 {
            return bad("refitter.every", &r.every, "must be at least 1");
        }
        if !(0.05..=0.5).contains(&r.holdout) {
            return bad("refitter.holdout", &r.holdout, "must be in [0.05, 0.5]");
        }
        if r.members == 0 {
            return bad("refitter.members", &r.members, "must be at least 1");
        }
        let m = &self.metrics;
        if !m.listen.is_empty() && m.listen.parse::<SocketAddr>().is_err() {
            return bad(
                "metrics.listen",
                &m.listen,
                "expected HOST:PORT, e.g. 127.0.0.1:9464",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SearchConfig, ConfigError> {
        SearchConfig::parse(text, Path::new("c.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").unwrap(), SearchConfig::default());
    }

    #[test]
    fn unknown_and_invalid_fields_are_named() {
        let cases = [
            ("[search]\nspcae = \"nb201\"\n", "spcae"),
            ("[serach]\n", "serach"),
            (
                "[search]\nspace = \"imagenet\"\n",
                "search.space = imagenet",
            ),
            ("[screener]\nforward = 0\n", "screener.forward = 0"),
            ("[trainer]\nslots = \"two\"\n", "slots"),
            ("[metrics]\nlisten = \"nowhere\"\n", "metrics.listen"),
            ("[trainer]\nbackend = \"gpu-farm\"\n", "gpu-farm"),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.starts_with("c.toml"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn shipped_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                SearchConfig::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 4, "configs/ should ship at least 4 configs");
    }
}
