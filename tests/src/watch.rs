//! A function running under `cargo lambda watch`, the Lambda runtime emulator: the real
//! binary, the real runtime client, a real Function URL over HTTP.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let port = free_port();
        let mut command = Command::new("cargo");
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
        let child = command
            .spawn()
            .expect("cargo lambda is installed (make tools)");
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
