//! A function running under `cargo lambda watch`, the Lambda runtime emulator: the real
//! binary, the real runtime client, a real Function URL over HTTP.
//!
//! cargo-lambda is the project's own (`.venv/bin`, installed by `make tools`) or else the one
//! on `PATH`. Without it, tests that need it begin with `skip_without!(watch::available())`
//! and pass skipped, after one line that says how to run them.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

fn cargo_lambda() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(|| crate::tool("cargo-lambda")).clone()
}

/// Whether cargo-lambda is installed. When it is not, says so once, with how to run the tests
/// that need it.
pub fn available() -> bool {
    static SAID: Once = Once::new();
    let available = cargo_lambda().is_some();
    if !available {
        crate::say_skipped(
            &SAID,
            "tests under cargo lambda watch (cargo-lambda is not in .venv/bin nor on PATH)",
            "run `make tools`, then `cargo test -- --include-ignored`",
        );
    }
    available
}

pub struct Emulator {
    child: Child,
    pub port: u16,
    binary: String,
}

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound address").port()
}

impl Emulator {
    /// Starts `binary` under `cargo lambda watch` with the given environment and waits until
    /// the emulator accepts connections. The function itself is built on first invocation.
    pub fn start(binary: &str, env: &[(&str, &str)], extra_args: &[&str]) -> Emulator {
        Emulator::start_with_stdout(binary, env, extra_args, Stdio::null())
    }

    /// [`Emulator::start`], with what the function writes to stdout (its log, as Lambda would
    /// hand it to CloudWatch Logs) going to `stdout`.
    pub fn start_with_stdout(
        binary: &str,
        env: &[(&str, &str)],
        extra_args: &[&str],
        stdout: impl Into<Stdio>,
    ) -> Emulator {
        let Some(program) = cargo_lambda() else {
            panic!(
                "no cargo-lambda: a test that needs it starts with `skip_without!(watch::available())`"
            );
        };
        let port = free_port();
        // Run as cargo would run its subcommand: the program, then the subcommand's name.
        let mut command = Command::new(program);
        command
            .current_dir(crate::root())
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--bin",
                binary,
                "-A",
                "127.0.0.1",
            ])
            .args(["-P", &port.to_string()])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            // Its own process group, so that the function it spawns is stopped with it.
            .process_group(0);
        for (key, value) in env {
            command.args(["--env-var", &format!("{key}={value}")]);
        }
        let child = command.spawn().expect("cargo-lambda starts");
        let emulator = Emulator {
            child,
            port,
            binary: binary.to_owned(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        emulator
    }

    /// The Function URL of the function, as `cargo lambda watch` serves it.
    pub fn function_url(&self) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{}/", self.port, self.binary)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}
