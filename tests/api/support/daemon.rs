//! The real `switchboard serve` binary as a child process, for the fault
//! suite: started with its configuration in the environment, on a port fixed
//! for its lifetime (so a restart answers on the same URL), killed with
//! SIGKILL or stopped with SIGTERM, its log kept for the failure message.

use std::{
    io::{BufRead, BufReader},
    net::{Ipv4Addr, TcpListener},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// How long a start may take before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that is free now; the daemon binds it a moment later.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct Daemon {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Every log line of every start, newest last.
    log: Arc<Mutex<Vec<String>>>,
    /// Working directory and attachment store, kept across restarts.
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `serve` on a free port with `env` (`SWITCHBOARD__…` keys) and
    /// waits for its "switchboard listening" line.
    pub fn start(env: &[(&str, String)]) -> Daemon {
        let port = free_port();
        let mut daemon = Daemon {
            base: format!("http://127.0.0.1:{port}"),
            port,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            child: None,
            log: Arc::default(),
            dir: tempfile::tempdir().expect("daemon directory"),
        };
        daemon.restart();
        daemon
    }

    /// Starts the process again (after [`kill9`](Self::kill9)) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the daemon is still running");
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env(
                "SWITCHBOARD__SERVER__LISTEN",
                format!("127.0.0.1:{}", self.port),
            )
            .env("SWITCHBOARD__LOG__FORMAT", "json")
            .env(
                "SWITCHBOARD__STORAGE__DATA_DIR",
                self.dir.path().join("data"),
            )
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let started = Instant::now();
        // The port was free a moment ago; a start that loses it to another
        // process is tried again rather than failing the test.
        loop {
            let mut child = command.spawn().expect("the switchboard binary starts");
            let stderr = BufReader::new(child.stderr.take().expect("stderr"));
            let (tx, rx) = mpsc::channel();
            let log = self.log.clone();
            std::thread::spawn(move || {
                for line in stderr.lines().map_while(Result::ok) {
                    log.lock().expect("log").push(line.clone());
                    let _ = tx.send(line);
                }
            });
            let listening = loop {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(line) => {
                        let event: Value = serde_json::from_str(&line).unwrap_or_default();
                        if event["message"] == "switchboard listening" {
                            break true;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if child.try_wait().ok().flatten().is_some()
                            || started.elapsed() > START_TIMEOUT
                        {
                            break false;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break false,
                }
            };
            if listening {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = self.log();
            if started.elapsed() > START_TIMEOUT || !log.contains("ddress already in use") {
                panic!("the daemon did not start:\n{log}");
            }
        }
    }

    /// SIGKILL: no shutdown, no cleanup, claims left as they were.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the daemon is running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// SIGTERM, then waits up to `within` for the exit; answers the status
    /// and how long the exit took. Kills the process if it overstays.
    pub fn sigterm(&mut self, within: Duration) -> (Option<ExitStatus>, Duration) {
        let mut child = self.child.take().expect("the daemon is running");
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        while sent.elapsed() < within {
            if let Ok(Some(status)) = child.try_wait() {
                return (Some(status), sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (None, sent.elapsed())
    }

    /// The log lines so far, one per line.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `switchboard <args>` against the database at `database_url`; answers
/// (exit code, standard output — and standard error when it failed).
pub fn cli(database_url: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .args(args)
        .env("SWITCHBOARD__DATABASE__URL", database_url)
        .output()
        .expect("the switchboard binary runs");
    let mut out = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        out.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    (output.status.code(), out)
}
