//! Checks the monitoring files in `dashboards/` against the daemon's real
//! metrics.
//!
//! Without servers: every query of the Grafana dashboard (panels,
//! annotations, template variables) and every alert rule names only series
//! the exporter renders, every histogram in a `histogram_quantile` is read
//! through its `_bucket` series, and every exported metric has a panel.
//! The exposition is rendered in process from `runtime::metrics`.
//!
//! With a real Prometheus (Debian's `prometheus` package; skipped with a
//! message when the binary is absent): a short simulated search is scraped
//! every second through the shipped `dashboards/prometheus.yml`, then every
//! query is evaluated through the HTTP API. `promtool` checks the config,
//! the rules and a scraped exposition, and runs the alert unit tests in
//! `dashboards/alerts_test.yml`.
//!
//! Limits: metric names are found by a small PromQL lexer, enough for the
//! shapes these files use; Prometheus itself is the parser of record.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runtime::metrics as m;
use serde_json::Value;

/// Series Prometheus adds to every target itself.
const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Panels that must return data from a running simulated search.
const CORE_PANELS: [&str; 12] = [
    "Best accuracy",
    "Trainings per hour",
    "Held-out Kendall tau",
    "Screening rate",
    "Screening latency",
    "Prediction error of trained candidates",
    "Queue depth",
    "Running jobs",
    "Job duration",
    "Mailbox depth",
    "Message rates",
    "Up",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    let path = repo(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("dashboards/peephole.json")).expect("dashboard is JSON")
}

/// One PromQL expression and where it lives, for messages.
#[derive(Debug, Clone)]
struct Query {
    origin: String,
    panel: Option<String>,
    expr: String,
}

/// Every PromQL expression of the dashboard. A variable's
/// `label_values(SELECTOR, LABEL)` contributes its selector.
fn dashboard_queries(dash: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                origin: format!("panel {title:?} {}", target["refId"]),
                panel: Some(title.clone()),
                expr: target["expr"].as_str().expect("target expr").into(),
            });
        }
    }
    for a in dash["annotations"]["list"].as_array().expect("annotations") {
        if let Some(expr) = a["expr"].as_str() {
            out.push(Query {
                origin: format!("annotation {}", a["name"]),
                panel: None,
                expr: expr.into(),
            });
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        let Some(q) = v["query"]["query"].as_str() else {
            continue;
        };
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.rsplit_once(','))
            .map(|(selector, _label)| selector.trim())
            .unwrap_or_else(|| panic!("variable {}: unexpected query {q}", v["name"]));
        out.push(Query {
            origin: format!("variable {}", v["name"]),
            panel: None,
            expr: inner.into(),
        });
    }
    out
}

/// The `expr` of every rule in an alert rule file. Reads the two shapes
/// the file uses: `expr: ONE LINE` and a block scalar (`expr: >-`) whose
/// lines are indented deeper than the key.
fn alert_queries(yaml: &str) -> Vec<Query> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut alert = String::from("?");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            alert = name.trim().to_string();
        }
        if let Some(value) = trimmed.strip_prefix("expr:") {
            let value = value.trim();
            let expr = if value.starts_with('>') || value.starts_with('|') {
                let mut parts = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let deeper = next.len() - next.trim_start().len() > indent;
                    if !deeper && !next.trim().is_empty() {
                        break;
                    }
                    parts.push(next.trim());
                    i += 1;
                }
                parts.join(" ").trim().to_string()
            } else {
                value.to_string()
            };
            out.push(Query {
                origin: format!("alert {alert}"),
                panel: None,
                expr,
            });
        }
        i += 1;
    }
    out
}

fn alerts() -> Vec<Query> {
    let yaml = read("dashboards/alerts.yml");
    let queries = alert_queries(&yaml);
    let rules = yaml.matches("- alert:").count();
    assert_eq!(queries.len(), rules, "an alert rule's expr was not read");
    queries
}

/// Metric names in a PromQL expression: identifiers outside label
/// matchers, ranges, strings and grouping lists that are neither
/// functions, aggregations nor keywords. Grafana variables are skipped.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 18] = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
    ];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let next_non_space = |mut j: usize| {
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        c.get(j).copied()
    };
    let is_ident = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';
    let (mut names, mut i, mut nested) = (Vec::new(), 0, 0i32);
    let (mut list_next, mut in_list) = (false, false);
    while i < c.len() {
        match c[i] {
            // Strings: label values and regexes.
            q @ ('"' | '\'' | '`') => {
                i += 1;
                while i < c.len() && c[i] != q {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
            }
            '{' | '[' => nested += 1,
            '}' | ']' => nested -= 1,
            '(' if list_next => (list_next, in_list) = (false, true),
            ')' if in_list => in_list = false,
            // Grafana variables and numbers or durations.
            ch if ch == '$' || ch.is_ascii_digit() || ch == '.' => {
                while i + 1 < c.len() && (is_ident(c[i + 1]) || c[i + 1] == '.') {
                    i += 1;
                }
            }
            ch if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' => {
                let start = i;
                while i + 1 < c.len() && is_ident(c[i + 1]) {
                    i += 1;
                }
                let word: String = c[start..=i].iter().collect();
                let next = next_non_space(i + 1);
                if nested > 0 || in_list {
                    // A label name.
                } else if GROUPING.contains(&word.as_str()) {
                    list_next = next == Some('(');
                } else if KEYWORDS.contains(&word.to_lowercase().as_str())
                    || word.eq_ignore_ascii_case("nan")
                    || next == Some('(')
                {
                    // An aggregation, keyword or function.
                } else {
                    names.push(word);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// The argument text of each `histogram_quantile(...)` call.
fn quantile_arguments(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (start, _) in expr.match_indices("histogram_quantile(") {
        let open = start + "histogram_quantile(".len();
        let mut depth = 1;
        for (k, ch) in expr[open..].char_indices() {
            depth += match ch {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            if depth == 0 {
                out.push(&expr[open..open + k]);
                break;
            }
        }
    }
    out
}

/// The exposition the daemon serves, rendered in process: every series
/// `describe()` registers, plus one sample per histogram so that its
/// `_bucket`, `_sum` and `_count` series exist.
fn rendered_exposition() -> String {
    let recorder = m::builder().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        m::describe();
        for (name, value) in [
            (m::SCREENING_SECONDS, 1e-3),
            (m::JOB_SECONDS, 1.0),
            (m::REFIT_SECONDS, 1.0),
            (m::PREDICTED_ACCURACY, 0.9),
            (m::MEASURED_ACCURACY, 0.9),
        ] {
            metrics::histogram!(name).record(value);
        }
    });
    handle.render()
}

/// Series names (without labels) in an exposition.
fn series_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn lexer_finds_metric_names_and_skips_the_rest() {
    let expr = "histogram_quantile(0.9, sum by (le) (rate(\
                a_bucket{job=~\"$job\", le!=\"x y\"}[$__rate_interval]))) \
                / on (job) group_left b_total offset 5m > bool 1e-3 \
                and c:recorded";
    assert_eq!(metric_names(expr), ["a_bucket", "b_total", "c:recorded"]);
    assert_eq!(
        quantile_arguments("1 + histogram_quantile(0.5, rate(x[1m])) + f(y)"),
        ["0.5, rate(x[1m])"]
    );
}

#[test]
fn alert_exprs_are_read_from_both_yaml_shapes() {
    let yaml = "- alert: A\n  expr: up == 0\n  for: 1m\n\
                - alert: B\n  expr: >-\n    sum(x)\n    > 1\n  for: 2m\n";
    let q = alert_queries(yaml);
    let exprs: Vec<_> = q.iter().map(|q| q.expr.as_str()).collect();
    assert_eq!(exprs, ["up == 0", "sum(x) > 1"]);
}

#[test]
fn every_query_reads_series_the_daemon_exports() {
    let text = rendered_exposition();
    let exported = series_names(&text);
    for name in m::ALL {
        assert!(
            exported.iter().any(|s| s.starts_with(name)),
            "{name} is not rendered; record a sample for it in \
             rendered_exposition if it is a histogram:\n{text}"
        );
    }

    let mut missing = Vec::new();
    let mut queries = dashboard_queries(&dashboard());
    queries.extend(alerts());
    for q in &queries {
        let names = metric_names(&q.expr);
        assert!(!names.is_empty(), "{}: no metric in {}", q.origin, q.expr);
        for name in names {
            if !exported.contains(&name) && !SYNTHETIC.contains(&name.as_str()) {
                missing.push(format!("{}: {name}", q.origin));
            }
        }

        // A quantile must read a histogram's buckets, not a gauge.
        for arg in quantile_arguments(&q.expr) {
            for name in metric_names(arg) {
                assert!(
                    name.ends_with("_bucket") && exported.contains(&name),
                    "{}: histogram_quantile over {name}, not exported buckets",
                    q.origin
                );
            }
        }
    }
    assert!(missing.is_empty(), "not exported: {missing:#?}");
}

#[test]
fn every_exported_metric_has_a_panel() {
    let used: BTreeSet<String> = dashboard_queries(&dashboard())
        .iter()
        .flat_map(|q| metric_names(&q.expr))
        .collect();
    let unused: Vec<_> = m::ALL
        .iter()
        .filter(|name| {
            !used.iter().any(|u| {
                u.strip_prefix(*name)
                    .is_some_and(|rest| ["", "_bucket", "_sum", "_count"].contains(&rest))
            })
        })
        .collect();
    assert!(unused.is_empty(), "metrics without a panel: {unused:?}");
}

#[test]
fn dashboard_is_provisionable_as_is() {
    let dash = dashboard();
    assert!(
        dash.get("__inputs").is_none(),
        "file provisioning cannot fill __inputs"
    );
    assert!(dash["uid"].is_string(), "a fixed uid keeps links stable");

    // The variables the issue asks for, and the datasource default is the
    // provisioned datasource's uid.
    let vars = dash["templating"]["list"].as_array().expect("variables");
    let names: Vec<_> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["datasource", "job", "instance"]);
    let uid = vars[0]["current"]["value"]
        .as_str()
        .expect("default datasource");
    let provisioned = read("dashboards/provisioning/datasources/prometheus.yml");
    assert!(
        provisioned.contains(&format!("uid: {uid}")),
        "datasource uid {uid} is not provisioned"
    );

    // Every query goes through the datasource variable.
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }

    // The rows, in order, and unique panel ids.
    let rows: Vec<_> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(
        rows,
        [
            "Search progress",
            "Predictor",
            "Training",
            "Actors",
            "Process"
        ]
    );
    let ids: Vec<_> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| p["id"].as_u64().expect("panel id"))
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    for title in CORE_PANELS {
        assert!(
            dashboard_queries(&dash)
                .iter()
                .any(|q| q.panel.as_deref() == Some(title)),
            "core panel {title:?} missing"
        );
    }

    // The provider's folder is the one the docs tell operators to mount.
    let provider = read("dashboards/provisioning/dashboards/peephole.yml");
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path:"))
        .expect("provider path")
        .trim();
    assert!(
        read("docs/monitoring.md").contains(&format!("dashboards:{path}")),
        "docs/monitoring.md does not mount dashboards/ at {path}"
    );
}

// ---------------------------------------------------------------------
// With a real Prometheus.

/// A child process killed when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0; the status code and the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

/// Polls `ready` until it holds; on time-out fails with the log of the
/// process waited for.
fn wait_for(what: &str, log: &Path, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < limit,
            "{what}: not ready in {limit:?}; {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What Grafana sends for an expression with every variable at "All":
/// `$__rate_interval` is at least four scrapes (1s here).
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "15s")
        .replace("$__interval", "5s")
        .replace("$job", ".*")
        .replace("$instance", ".*")
}

/// Evaluates an instant query; the API's whole JSON answer.
fn query(port: u16, expr: &str) -> Value {
    let path = format!("/api/v1/query?query={}", url_encode(expr));
    let (_, body) = http_get(port, &path).expect("Prometheus answers");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Whether an instant query's answer holds a finite sample: NaN (a
/// quantile over no observations) does not count as data.
fn has_data(answer: &Value) -> bool {
    answer["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
        .any(f64::is_finite)
}

fn tool_present(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_promtool(args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A table-backend search that runs until killed, slow enough that the
/// queue, the slots and refits all move during the test.
fn start_daemon(dir: &Path, port: u16) -> Killed {
    let table = repo("data/nas-bench-201/nats_tss_test_acc_200ep.csv");
    let config = format!(
        "[search]\nspace = \"nb201\"\nseed = 5\n\
         store = \"sqlite://{store}\"\nmax_trainings = 2000\n\
         [screener]\nbatch = 200\nforward = 2\n\
         [trainer]\nbackend = \"table\"\nslots = 2\n\
         table_csv = \"{table}\"\nsimulated_seconds = 0.3\n\
         [refitter]\nmin_results = 8\nevery = 8\nepochs = 30\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        store = dir.join("s.db").display(),
        table = table.display(),
    );
    let path = dir.join("search.toml");
    std::fs::write(&path, config).unwrap();
    let log = File::create(dir.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_peephole"))
        .args(["search", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts");
    Killed(child)
}

/// The shipped Prometheus config, pointed at `target` and scraping and
/// evaluating rules every second; its rule file copied beside it.
fn prometheus_config(dir: &Path, target: u16) -> PathBuf {
    let shipped = read("dashboards/prometheus.yml");
    let mut text = shipped.clone();
    for (from, to) in [
        ("127.0.0.1:9464", format!("127.0.0.1:{target}")),
        ("scrape_interval: 15s", "scrape_interval: 1s".into()),
        ("evaluation_interval: 15s", "evaluation_interval: 1s".into()),
    ] {
        assert!(
            text.contains(from),
            "dashboards/prometheus.yml lost {from:?}"
        );
        text = text.replace(from, &to);
    }
    std::fs::write(dir.join("alerts.yml"), read("dashboards/alerts.yml")).unwrap();
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn alert_rules_fire_when_they_should() {
    // Every rule has a unit test that expects it to fire.
    let cases = read("dashboards/alerts_test.yml");
    for q in alerts() {
        let name = q.origin.trim_start_matches("alert ");
        assert!(
            cases.contains(&format!("alertname: {name}")),
            "dashboards/alerts_test.yml does not test {name}"
        );
    }

    if !tool_present("promtool") {
        eprintln!(
            "SKIPPED alert_rules_fire_when_they_should: `promtool` not on \
             PATH (apt-get install prometheus)"
        );
        return;
    }
    let path = repo("dashboards/alerts_test.yml");
    run_promtool(&["test", "rules", &path.to_string_lossy()], None);
}

#[test]
fn prometheus_scrapes_the_daemon_and_evaluates_every_query() {
    if !tool_present("prometheus") || !tool_present("promtool") {
        eprintln!(
            "SKIPPED prometheus_scrapes_the_daemon_and_evaluates_every_query: \
             `prometheus` or `promtool` not on PATH (apt-get install prometheus)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (daemon_port, prom_port) = (free_port(), free_port());

    // The shipped files pass promtool's own checks.
    run_promtool(
        &[
            "check",
            "rules",
            &repo("dashboards/alerts.yml").to_string_lossy(),
        ],
        None,
    );
    let config = prometheus_config(dir.path(), daemon_port);
    run_promtool(&["check", "config", &config.to_string_lossy()], None);

    // A daemon to scrape, then Prometheus.
    let _daemon = start_daemon(dir.path(), daemon_port);
    wait_for(
        "daemon /metrics",
        &dir.path().join("daemon.log"),
        Duration::from_secs(60),
        || http_get(daemon_port, "/metrics").is_ok_and(|(c, _)| c == 200),
    );
    let prom_log = dir.path().join("prometheus.log");
    let log = File::create(&prom_log).unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );
    wait_for(
        "prometheus /-/ready",
        &prom_log,
        Duration::from_secs(60),
        || http_get(prom_port, "/-/ready").is_ok_and(|(c, _)| c == 200),
    );

    // The daemon's exposition passes promtool's lint.
    let (_, exposition) = http_get(daemon_port, "/metrics").unwrap();
    run_promtool(&["check", "metrics"], Some(&exposition));

    // Wait until every core panel has data: trainings finish, rates cover
    // a few scrapes.
    let dash = dashboard();
    let queries = dashboard_queries(&dash);
    let core: Vec<&Query> = queries
        .iter()
        .filter(|q| q.panel.as_deref().is_some_and(|p| CORE_PANELS.contains(&p)))
        .collect();
    let start = Instant::now();
    let empty = loop {
        let empty: Vec<String> = core
            .iter()
            .filter(|q| !has_data(&query(prom_port, &as_grafana_sends(&q.expr))))
            .map(|q| q.origin.clone())
            .collect();
        let trained = query(
            prom_port,
            "sum(increase(peephole_training_jobs_finished_total[15s])) > 0",
        );
        let done = empty.is_empty() && has_data(&trained);
        if done || start.elapsed() > Duration::from_secs(120) {
            break empty;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        empty.is_empty(),
        "core panels without data after {:?}: {empty:#?}\nprometheus log:\n{}",
        start.elapsed(),
        std::fs::read_to_string(&prom_log).unwrap_or_default()
    );

    eprintln!(
        "{} core panel queries had data after {:.1}s",
        core.len(),
        start.elapsed().as_secs_f64()
    );

    // Every query parses and evaluates, panels and alerts alike.
    let mut all = queries.clone();
    all.extend(alerts());
    for q in &all {
        let answer = query(prom_port, &as_grafana_sends(&q.expr));
        assert_eq!(
            answer["status"], "success",
            "{}: {}\n{answer}",
            q.origin, q.expr
        );
    }
    eprintln!("{} queries evaluated by Prometheus", all.len());

    // The job variable lists the daemon's job.
    let jobs = query(prom_port, "peephole_build_info");
    assert_eq!(
        jobs["data"]["result"][0]["metric"]["job"], "peephole",
        "{jobs}"
    );

    // Prometheus loaded the rule file and evaluates every rule cleanly.
    let mut rules = Vec::new();
    wait_for(
        "rule evaluation",
        &prom_log,
        Duration::from_secs(30),
        || {
            let (_, body) = http_get(prom_port, "/api/v1/rules").unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            rules = v["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown")
        },
    );
    assert_eq!(rules.len(), alerts().len(), "{rules:#?}");
    for r in &rules {
        assert_eq!(r["health"], "ok", "{r}");
    }
}
