//! Benchmark tables: CSV files of architectures that were trained for real
//! (NAS-Bench-201 and the like), used to measure predictors and to
//! simulate searches.
//!
//! The CSV dialect is the one of `data/README.md`: one header row, comma
//! separated, no quoting. Accuracies may be percentages or fractions: a
//! column whose largest value exceeds 1 is read as percent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::arch::{ArchId, Architecture};
use crate::nb201::Cell;

/// Why a table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no column '{column}' (columns: {available})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the table has no rows")]
    Empty { path: PathBuf },
    #[error("{path}: space '{space}' has no table format (known: nb201)")]
    Space { path: PathBuf, space: String },
}

/// One trained architecture.
#[derive(Debug, Clone)]
pub struct TableRow {
    pub arch: Architecture,
    /// Accuracy as a fraction in [0, 1].
    pub accuracy: f64,
}

/// A whole table, in file order, with a lookup by id.
#[derive(Debug, Clone)]
pub struct BenchTable {
    pub rows: Vec<TableRow>,
    by_id: HashMap<ArchId, usize>,
}

impl BenchTable {
    /// Loads `arch_column` and `accuracy_column` of a CSV file, parsing
    /// architectures as `space` writes them.
    pub fn load_csv(
        path: &Path,
        space: &str,
        arch_column: &str,
        accuracy_column: &str,
    ) -> Result<BenchTable, TableError> {
        let text = std::fs::read_to_string(path).map_err(|source| TableError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, space, arch_column, accuracy_column)
    }

    /// As [`BenchTable::load_csv`], from text already read; `path` is only
    /// used in messages.
    pub fn parse(
        text: &str,
        path: &Path,
        space: &str,
        arch_column: &str,
        accuracy_column: &str,
    ) -> Result<BenchTable, TableError> {
        let path = path.to_path_buf();
        if !matches!(space, "nb201" | "nas-bench-201") {
            let space = space.to_string();
            return Err(TableError::Space { path, space });
        }
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| TableError::MissingColumn {
                    path: path.clone(),
                    column: name.to_string(),
                    available: header.join(", "),
                })
        };
        let (ai, yi) = (column(arch_column)?, column(accuracy_column)?);

        let mut rows = Vec::new();
        for (n, line) in lines.enumerate() {
            let line_no = n + 2;
            if line.trim().is_empty() {
                continue;
            }
            let row_err = |message: String| TableError::Row {
                path: path.clone(),
                line: line_no,
                message,
            };
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(row_err(format!(
                    "{} fields, header has {}",
                    fields.len(),
                    header.len()
                )));
            }
            let cell: Cell = fields[ai]
                .trim()
                .parse()
                .map_err(|e| row_err(format!("{arch_column}: {e}")))?;
            let raw = fields[yi].trim();
            let accuracy: f64 = raw
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && *a >= 0.0)
                .ok_or_else(|| {
                    row_err(format!(
                        "{accuracy_column}: '{raw}' is not a finite, \
                         non-negative number"
                    ))
                })?;
            rows.push(TableRow {
                arch: Architecture::nb201(cell),
                accuracy,
            });
        }
        if rows.is_empty() {
            return Err(TableError::Empty { path });
        }

        // Percent or fraction: a fraction never exceeds 1.
        let max = rows.iter().map(|r| r.accuracy).fold(0.0, f64::max);
        if max > 1.0 {
            if max > 100.0 {
                return Err(TableError::Row {
                    path,
                    line: 0,
                    message: format!(
                        "{accuracy_column}: largest value {max} is neither \
                         a fraction nor a percentage"
                    ),
                });
            }
            rows.iter_mut().for_each(|r| r.accuracy /= 100.0);
        }
        let by_id = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.arch.id(), i))
            .collect();
        Ok(BenchTable { rows, by_id })
    }

    /// The measured accuracy of `arch`, if the table has it.
    pub fn accuracy(&self, arch: &Architecture) -> Option<f64> {
        self.by_id.get(&arch.id()).map(|i| self.rows[*i].accuracy)
    }

    /// The best accuracy in the table.
    pub fn best(&self) -> f64 {
        self.rows.iter().map(|r| r.accuracy).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: &str = "|nor_conv_3x3~0|+|none~0|none~1|\
                        +|none~0|none~1|skip_connect~2|";

    fn parse(text: &str) -> Result<BenchTable, TableError> {
        BenchTable::parse(text, Path::new("t.csv"), "nb201", "arch", "acc")
    }

    #[test]
    fn detects_percent_and_looks_up() {
        let t = parse(&format!("acc,arch\n93.5,{CELL}\n")).unwrap();
        assert!((t.rows[0].accuracy - 0.935).abs() < 1e-12);
        let arch = Architecture::nb201(CELL.parse().unwrap());
        assert_eq!(t.accuracy(&arch), Some(t.rows[0].accuracy));
        let t = parse(&format!("acc,arch\n0.5,{CELL}\n")).unwrap();
        assert_eq!(t.rows[0].accuracy, 0.5);
    }

    #[test]
    fn bad_tables_name_file_line_and_value() {
        let cases = [
            ("x,arch\n1,a\n".to_string(), "no column 'acc'"),
            ("acc,arch\n".to_string(), "no rows"),
            (format!("acc,arch\nNaN,{CELL}\n"), "t.csv:2: acc: 'NaN'"),
            ("acc,arch\n1,|bogus~0|\n".to_string(), "t.csv:2: arch"),
            ("acc,arch\n1\n".to_string(), "1 fields"),
        ];
        for (text, needle) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn loads_the_shipped_nb201_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/nas-bench-201/nats_tss_test_acc_200ep.csv");
        let t = BenchTable::load_csv(
            &path,
            "nb201",
            "ArchitectureString",
            "CIFAR10TestAccuracy200Epochs",
        )
        .unwrap();
        assert_eq!(t.rows.len(), Cell::COUNT);
        assert!((t.best() - 0.9437).abs() < 1e-3, "{}", t.best());
    }
}
