//! Running the real `weir` binary for the CLI tests: a `weir serve` child on port 0
//! with its own data directory, and one-shot commands with their output and exit
//! code. Every wait is bounded; a server still running when a test ends is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The longest any wait lasts (a deploy compiles a component).
pub const PATIENCE: Duration = Duration::from_secs(120);
/// The binary under test.
pub const WEIR: &str = env!("CARGO_BIN_EXE_weir");
/// Settings a developer's shell may have that would change what the CLI does.
const WEIR_ENV: [&str; 3] = ["WEIR_HTTP", "WEIR_BOOTSTRAP", "WEIR_OUTPUT"];

/// A `weir` child with its stdout read line by line, killed when dropped.
#[derive(Debug)]
pub struct Running {
    /// The process.
    child: Child,
    /// Its stdout, line by line.
    lines: Receiver<String>,
}

impl Running {
    /// Starts `weir args...` with its stderr to `stderr`.
    pub fn start(args: &[&str], stderr: Stdio) -> Running {
        let mut child = Command::new(WEIR)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("weir starts");
        let lines = read_lines(child.stdout.take().unwrap());
        Running { child, lines }
    }

    /// The next stdout line that contains `needle`; panics after `PATIENCE`.
    pub fn line_with(&self, needle: &str) -> String {
        self.next_line(|line| line.contains(needle))
            .unwrap_or_else(|e| panic!("no line with {needle:?} from weir: {e}"))
    }

    /// The next stdout line that is `wanted`, skipping others, within `PATIENCE`.
    fn next_line(&self, wanted: impl Fn(&str) -> bool) -> Result<String, RecvTimeoutError> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left)?;
            if wanted(&line) {
                return Ok(line);
            }
        }
    }

    /// SIGTERM, then the exit status (SIGKILL if it takes too long).
    pub fn stop(mut self) -> Option<i32> {
        // SAFETY: signalling our own child by its pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("weir did not stop within {PATIENCE:?} of SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `out` line by line on a thread of its own; the lines come through the
/// receiver until `out` ends or the receiver is dropped.
pub fn read_lines(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

/// A `weir serve` child with a fresh data directory.
#[derive(Debug)]
pub struct Server {
    /// The process, killed on drop.
    weir: Running,
    /// The HTTP API's URL, `http://127.0.0.1:PORT`.
    pub http: String,
    /// The Kafka listener, `127.0.0.1:PORT`.
    pub kafka: String,
    /// The data directory (and the server's stderr, `serve.stderr`), kept until
    /// the server is gone.
    pub dir: TempDir,
}

impl Server {
    /// Starts `weir serve` on free ports and waits until both listeners are bound.
    pub fn start() -> Server {
        Server::start_with(|_| {})
    }

    /// Starts `weir serve` as [`Server::start`] does, once `prepare` has filled
    /// its data directory (`dir/data`, not yet created).
    pub fn start_with(prepare: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        prepare(&data);
        let stderr = std::fs::File::create(dir.path().join("serve.stderr")).unwrap();
        let data = data.to_str().expect("a UTF-8 temporary path");
        let args = ["serve", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"];
        let weir = Running::start(&[&args[..], &["--data-dir", data]].concat(), stderr.into());
        let mut server = Server { weir, http: String::new(), kafka: String::new(), dir };
        server.kafka = server.line_after("kafka listening on ");
        server.http = format!("http://{}", server.line_after("http listening on "));
        server
    }

    /// What follows `prefix` on the next stdout line that starts with it.
    fn line_after(&self, prefix: &str) -> String {
        match self.weir.next_line(|line| line.starts_with(prefix)) {
            Ok(line) => line[prefix.len()..].to_string(),
            Err(e) => panic!("weir serve printed no line {prefix:?}: {e}; {}", self.stderr()),
        }
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.stderr")).unwrap_or_default()
    }

    /// `weir --http URL args...`, expecting exit code `code`.
    pub fn run(&self, args: &[&str], code: i32) -> Outcome {
        self.run_with_stdin(args, b"", code)
    }

    /// `weir --http URL args...` with `stdin` as standard input, expecting exit
    /// code `code`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8], code: i32) -> Outcome {
        let all: Vec<&str> = ["--http", self.http.as_str()].iter().chain(args).copied().collect();
        let outcome = weir(&all, stdin);
        assert_eq!(outcome.code, Some(code), "weir {all:?}: {outcome:#?}");
        outcome
    }

    /// SIGTERM, then the exit status (SIGKILL if it takes too long).
    pub fn stop(self) -> Option<i32> {
        self.weir.stop()
    }
}

/// What one CLI run did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Outcome {
    /// Stdout's lines, each split on whitespace (for tables).
    pub fn rows(&self) -> Vec<Vec<&str>> {
        self.stdout.lines().map(|l| l.split_whitespace().collect()).collect()
    }

    /// Stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Stdout as one JSON document per line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
            .collect()
    }
}

/// Runs `weir args...` to completion with `stdin` as its input (bounded), without
/// the `WEIR_*` settings of the environment.
pub fn weir(args: &[&str], stdin: &[u8]) -> Outcome {
    weir_env(args, &[], stdin)
}

/// Runs `weir args...` as [`weir`] does, with `env` as its only `WEIR_*` settings.
pub fn weir_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let mut command = Command::new(WEIR);
    for var in WEIR_ENV {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A command that does not read its input gets a broken pipe: fine.
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let pid = child.id();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(PATIENCE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("weir {args:?} did not finish within {PATIENCE:?}");
        }
    };
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
