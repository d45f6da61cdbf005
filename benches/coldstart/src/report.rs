//! The table, the budget check and the JSON record.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Options;
use crate::functions::Function;
use crate::measure::Measured;

pub struct Row {
    pub function: &'static Function,
    pub measured: Result<Measured, String>,
    /// The stripped x86_64 release binary that was run.
    pub host_bytes: Option<u64>,
    /// `cargo lambda build --release --arm64` output, when present.
    pub arm64_bytes: Option<u64>,
    /// Parse + classify + render per event, from the criterion `pipeline` bench, when present.
    pub per_event: Option<Duration>,
}

impl Row {
    pub fn new(
        function: &'static Function,
        options: &Options,
        measured: Result<Measured, String>,
    ) -> Row {
        let size = |path: &Path| std::fs::metadata(path).ok().map(|meta| meta.len());
        Row {
            function,
            measured,
            host_bytes: size(&options.bin_dir.join(function.binary)),
            arm64_bytes: size(&options.lambda_dir.join(function.binary).join("bootstrap")),
            per_event: criterion_per_event(&options.criterion_dir, function.name),
        }
    }
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn max(samples: &[Duration]) -> Option<Duration> {
    samples.iter().max().copied()
}

fn ms(value: Option<Duration>, decimals: usize) -> String {
    value.map_or_else(
        || "-".into(),
        |d| format!("{:.decimals$} ms", d.as_secs_f64() * 1e3),
    )
}

fn us(value: Option<Duration>) -> String {
    value.map_or_else(
        || "-".into(),
        |d| format!("{:.2} µs", d.as_secs_f64() * 1e6),
    )
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".into(),
        |b| format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}

const HEADER: [&str; 11] = [
    "function",
    "init p50",
    "init max",
    "first p50",
    "warm p50",
    "warm p99",
    "warm net p50",
    "peak RSS",
    "x86_64 bin",
    "arm64 bin",
    "parse+render",
];

/// What the figures were measured on; the load average says how busy it was.
pub fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
    };
    json!({
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "cpu_model": field(&cpuinfo, "model name"),
        "memory": field(&meminfo, "MemTotal:"),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "arch": std::env::consts::ARCH,
    })
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn print(rows: &[Row], options: &Options, load: (&str, &str)) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let m = row.measured.as_ref().ok();
            let pick =
                |f: fn(&Measured) -> &[Duration], p: f64| m.and_then(|m| percentile(f(m), p));
            vec![
                row.function.name.to_owned(),
                ms(pick(|m| &m.init, 50.0), 2),
                ms(m.and_then(|m| max(&m.init)), 2),
                ms(pick(|m| &m.first, 50.0), 2),
                ms(pick(|m| &m.warm, 50.0), 3),
                ms(pick(|m| &m.warm, 99.0), 3),
                ms(pick(|m| &m.warm_net, 50.0), 3),
                mib(m.map(|m| m.peak_rss)),
                mib(row.host_bytes),
                mib(row.arm64_bytes),
                us(row.per_event),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([HEADER[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:>width$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    println!();
    println!("{}", line(&HEADER.map(str::to_owned)));
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| format!("{}:", "-".repeat(w + 1)))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &cells {
        println!("{}", line(row));
    }
    println!();
    println!(
        "{} starts per function (init, first); {} warm invocations in the last process; latencies from \
         the binaries in {}; sizes of arm64 binaries from {}.",
        options.cold_starts,
        options.invocations,
        options.bin_dir.display(),
        options.lambda_dir.display()
    );
    let machine = machine();
    println!(
        "machine: {} x {} ({}), {}; load average {} before, {} after.",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        machine["arch"].as_str().unwrap_or("?"),
        machine["memory"].as_str().unwrap_or("?"),
        load.0,
        load.1
    );
    println!();
    println!("budgets (a miss is reported, not hidden):");
    for row in rows {
        let Some(budget) = row.function.budget else {
            println!("  {:<6} calibration only: no budget", row.function.name);
            continue;
        };
        let verdict = |what: &str, got: Option<String>, within: Option<bool>, limit: String| match (
            got, within,
        ) {
            (Some(got), Some(true)) => format!("{what} {got} <= {limit} ok"),
            (Some(got), Some(false)) => format!("{what} {got} > {limit} MISS"),
            _ => format!("{what} not measured"),
        };
        let m = row.measured.as_ref().ok();
        let init = m.and_then(|m| percentile(&m.init, 50.0));
        // Latency with several invocations in flight is not the per-invocation overhead.
        let warm = m
            .filter(|m| m.concurrent.is_none())
            .and_then(|m| percentile(&m.warm_net, 50.0));
        let checks = [
            verdict(
                "init p50",
                init.map(|d| ms(Some(d), 2)),
                init.map(|d| d <= budget.init),
                ms(Some(budget.init), 0),
            ),
            verdict(
                "warm net p50",
                warm.map(|d| ms(Some(d), 3)),
                warm.map(|d| d <= budget.warm_p50),
                ms(Some(budget.warm_p50), 1),
            ),
            verdict(
                "peak RSS",
                m.map(|m| mib(Some(m.peak_rss))),
                m.map(|m| m.peak_rss <= budget.peak_rss_bytes),
                mib(Some(budget.peak_rss_bytes)),
            ),
            verdict(
                "arm64 bin",
                row.arm64_bytes.map(|b| mib(Some(b))),
                row.arm64_bytes.map(|b| b <= budget.arm64_bytes),
                mib(Some(budget.arm64_bytes)),
            ),
            verdict(
                "parse+render",
                row.per_event.map(|d| us(Some(d))),
                row.per_event.map(|d| d <= budget.render),
                us(Some(budget.render)),
            ),
        ];
        println!("  {:<6} {}", row.function.name, checks.join(" | "));
        match &row.measured {
            Ok(m) if m.not_delivered > 0 => println!(
                "         {} of {} invocations ended without a delivery (filtered chatter) and are not in the figures",
                m.not_delivered,
                m.delivered + m.not_delivered
            ),
            Ok(_) => {}
            Err(err) => println!(
                "         not measured: {}",
                err.lines().next().unwrap_or_default()
            ),
        }
    }
    if options.max_concurrency.is_some_and(|n| n > 1) {
        println!();
        println!("concurrency (warm run with that many events queued at once):");
        print_concurrency(rows);
    }
}

/// The `--max-concurrency` run: whether one process served several invocations at once.
fn print_concurrency(rows: &[Row]) {
    for row in rows {
        let Ok(Measured {
            concurrent: Some(run),
            warm,
            peak_rss,
            ..
        }) = &row.measured
        else {
            continue;
        };
        println!(
            "  {:<6} AWS_LAMBDA_MAX_CONCURRENCY={}: at most {} invocations in flight in one process, {:.0} invocations/s, \
             latency p50 {} p99 {}, peak RSS {}",
            row.function.name,
            run.width,
            run.most_in_flight,
            run.per_second,
            ms(percentile(warm, 50.0), 3),
            ms(percentile(warm, 99.0), 3),
            mib(Some(*peak_rss)),
        );
    }
}

pub fn write_json(rows: &[Row], options: &Options, load: (&str, &str)) -> std::io::Result<()> {
    let micros = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6 * 10.0).round() / 10.0);
    let functions: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut record = json!({
                "function": row.function.name,
                "binary": row.function.binary,
                "x86_64_binary_bytes": row.host_bytes,
                "arm64_binary_bytes": row.arm64_bytes,
                "parse_classify_render_us_per_event": row.per_event.map(|d| d.as_secs_f64() * 1e6),
            });
            match &row.measured {
                Ok(m) => {
                    let summary = |samples: &[Duration]| {
                        json!({
                            "n": samples.len(),
                            "p50_us": micros(percentile(samples, 50.0)),
                            "p90_us": micros(percentile(samples, 90.0)),
                            "p99_us": micros(percentile(samples, 99.0)),
                            "max_us": micros(max(samples)),
                        })
                    };
                    record["init"] = summary(&m.init);
                    record["first_invocation"] = summary(&m.first);
                    record["warm"] = summary(&m.warm);
                    record["warm_net_of_destination"] = summary(&m.warm_net);
                    record["peak_rss_bytes"] = json!(m.peak_rss);
                    record["rss_at_end_bytes"] = json!(m.rss);
                    record["delivered"] = json!(m.delivered);
                    record["not_delivered"] = json!(m.not_delivered);
                    if let Some(run) = m.concurrent {
                        record["concurrent"] = json!({
                            "max_concurrency": run.width,
                            "most_in_flight": run.most_in_flight,
                            "invocations_per_second": run.per_second,
                        });
                    }
                }
                Err(err) => record["error"] = json!(err),
            }
            record
        })
        .collect();
    let document = json!({
        "machine": machine(),
        "load_average_before": load.0,
        "load_average_after": load.1,
        "cold_starts": options.cold_starts,
        "warm_invocations": options.invocations,
        "max_concurrency": options.max_concurrency,
        "extra_env": options.extra_env.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>(),
        "bin_dir": options.bin_dir,
        "functions": functions,
    });
    if let Some(dir) = options.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &options.json,
        serde_json::to_string_pretty(&document)? + "\n",
    )
}

/// Criterion's estimate for `pipeline/<function>` divided by the events in one iteration
/// (the bench declares them as its throughput).
fn criterion_per_event(dir: &Path, function: &str) -> Option<Duration> {
    let read = |file: &str| -> Option<Value> {
        let text =
            std::fs::read_to_string(dir.join("pipeline").join(function).join("new").join(file))
                .ok()?;
        serde_json::from_str(&text).ok()
    };
    let estimates = read("estimates.json")?;
    let events = read("benchmark.json")?["throughput"]["Elements"].as_u64()?;
    let nanos = estimates["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| estimates["mean"]["point_estimate"].as_f64())?;
    (events > 0).then(|| Duration::from_secs_f64(nanos / events as f64 / 1e9))
}
