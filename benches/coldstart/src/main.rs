//! Cold start, latency and memory of the real function binaries, measured the way Lambda sees
//! them: the harness serves the Lambda Runtime API on loopback, starts a function's release
//! binary with `AWS_LAMBDA_RUNTIME_API` pointing at it, and hands it Function URL events whose
//! destination is a loopback stand-in that answers at once.
//!
//! `init` is process start to the first `/next`; `first` and `warm` are event handed out to
//! result posted; `peak RSS` is the kernel's high-water mark (`VmHWM`) after the warm run.
//! Run `flagger-relay-coldstart --help` for the options; `make bench` runs it for every function.

mod functions;
mod measure;
mod report;

use flagger_relay_coldstart::{destination, runtime_api};

use std::path::PathBuf;
use std::process::ExitCode;

use functions::Function;

const USAGE: &str = "\
usage: flagger-relay-coldstart [OPTIONS] [FUNCTION...]

FUNCTION              slack, teams, sns (default: all three); hello, the calibration function
--bin-dir DIR         release binaries to run (default: target/release)
--cold-starts N       process starts measured for init and first invocation (default: 40)
--invocations N       warm invocations after the first, in one process (default: 3000)
--max-concurrency N   set AWS_LAMBDA_MAX_CONCURRENCY: run_concurrent's N long-poll loops
--env KEY=VALUE       add to (or override in) every function's environment; repeatable
--lambda-dir DIR      `cargo lambda build` output, for arm64 binary sizes (default: target/lambda)
--criterion-dir DIR   criterion output, for µs/event (default: target/criterion)
--json FILE           where to write every figure (default: target/bench/coldstart.json)
";

pub struct Options {
    pub functions: Vec<&'static Function>,
    pub bin_dir: PathBuf,
    pub cold_starts: usize,
    pub invocations: usize,
    pub max_concurrency: Option<u32>,
    pub extra_env: Vec<(String, String)>,
    pub lambda_dir: PathBuf,
    pub criterion_dir: PathBuf,
    pub json: PathBuf,
    pub events_dir: PathBuf,
}

fn options() -> Result<Options, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let mut options = Options {
        functions: Vec::new(),
        bin_dir: root.join("target/release"),
        cold_starts: 40,
        invocations: 3000,
        max_concurrency: None,
        extra_env: Vec::new(),
        lambda_dir: root.join("target/lambda"),
        criterion_dir: root.join("target/criterion"),
        json: root.join("target/bench/coldstart.json"),
        events_dir: root.join("events/flagger"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, raw: String| {
            raw.parse::<usize>()
                .map_err(|_| format!("{name}: not a number: {raw}"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--bin-dir" => options.bin_dir = value(&arg)?.into(),
            "--cold-starts" => options.cold_starts = number(&arg, value(&arg)?)?.max(1),
            "--invocations" => options.invocations = number(&arg, value(&arg)?)?,
            "--max-concurrency" => {
                let n = number(&arg, value(&arg)?)?;
                options.max_concurrency =
                    Some(u32::try_from(n).map_err(|_| "--max-concurrency is too large")?);
            }
            "--env" => {
                let pair = value(&arg)?;
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))?;
                options.extra_env.push((key.to_owned(), value.to_owned()));
            }
            "--lambda-dir" => options.lambda_dir = value(&arg)?.into(),
            "--criterion-dir" => options.criterion_dir = value(&arg)?.into(),
            "--json" => options.json = value(&arg)?.into(),
            name if !name.starts_with('-') => {
                options
                    .functions
                    .push(Function::named(name).ok_or_else(|| format!("unknown function {name}"))?);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.functions.is_empty() {
        options.functions = functions::ALL.iter().collect();
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("flagger-relay-coldstart: {message}");
            }
            eprint!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    // One thread: the harness never competes with the function for the second core, and its
    // two servers never run at the same time anyway (invocations are sequential).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("flagger-relay-coldstart: cannot start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let events = match measure::function_url_events(&options.events_dir) {
        Ok(events) => events,
        Err(err) => {
            eprintln!("flagger-relay-coldstart: {err}");
            return ExitCode::FAILURE;
        }
    };
    let load_before = report::load_average();
    eprintln!(
        "{} starts of each function, interleaved; then {} warm invocations each, in the last start ({} recorded events in rotation)",
        options.cold_starts,
        options.invocations,
        events.len()
    );
    let mut benches: Vec<(&'static Function, Result<measure::Bench, String>)> = options
        .functions
        .iter()
        .map(|function| {
            (
                *function,
                runtime.block_on(measure::Bench::new(function, &options)),
            )
        })
        .collect();
    for start in 0..options.cold_starts {
        let warm = if start + 1 == options.cold_starts {
            options.invocations
        } else {
            0
        };
        for (function, bench) in &mut benches {
            let Ok(running) = bench else { continue };
            if let Err(err) = runtime.block_on(running.start(&options, &events, warm)) {
                eprintln!("{}: {err}", function.name);
                *bench = Err(err);
            }
        }
    }
    let results: Vec<report::Row> = benches
        .into_iter()
        .map(|(function, bench)| {
            let measured = bench.and_then(|bench| match bench.measured.delivered {
                0 => Err("no invocation succeeded".to_owned()),
                _ => Ok(bench.measured),
            });
            report::Row::new(function, &options, measured)
        })
        .collect();
    let load_after = report::load_average();
    let load = (load_before.as_str(), load_after.as_str());
    report::print(&results, &options, load);
    if let Err(err) = report::write_json(&results, &options, load) {
        eprintln!("flagger-relay-coldstart: {}: {err}", options.json.display());
    }
    if results.iter().all(|row| row.measured.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
