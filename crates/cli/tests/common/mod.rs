//! Helpers shared by the CLI integration tests: run `yubin` as a real process.
#![allow(dead_code)]

pub mod http;
pub mod live;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `yubin` binary under test.
pub fn yubin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("yubin"))
}

/// The repository's shared fixtures directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The repository's real-client scripts (Python).
pub fn client_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/clients")
        .join(name)
}

/// A server process that is killed when dropped; its stdout lines arrive on a channel.
pub struct ServerProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `yubin ARGS` and waits for a stdout line containing `ready_marker`.
    pub fn start(args: &[&str], ready_marker: &str) -> (ServerProcess, String) {
        Self::start_command(yubin().args(args), ready_marker)
    }

    /// Like [`ServerProcess::start`] for a prepared command (environment, directory).
    pub fn start_command(command: &mut Command, ready_marker: &str) -> (ServerProcess, String) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yubin starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = ServerProcess { child, lines };
        let line = server.wait_for(ready_marker);
        (server, line)
    }

    /// Waits (up to 20 s) for a stdout line containing `marker`.
    pub fn wait_for(&mut self, marker: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(marker) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no line containing {marker:?}: {e}"),
            }
        }
    }

    /// Every stdout line up to and including the first containing `marker` (up to 20 s
    /// per line).
    pub fn lines_until(&mut self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    let done = line.contains(marker);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("no line containing {marker:?}: {e}; saw {seen:?}"),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port at the end of a "... listening on 127.0.0.1:PORT" line.
pub fn port_of(line: &str) -> u16 {
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// Runs a command to completion within `secs`, returning (status ok, stdout, stderr).
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> (bool, String, String) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("command starts");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(out)) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Ok(Err(e)) => panic!("command failed to run: {e}"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("command timed out after {secs} s: {cmd:?}");
        }
    }
}

/// Delivers the corpus fixtures into `data` for user alice with `yubin deliver`.
pub fn deliver_corpus(data: &Path) -> Vec<Vec<u8>> {
    let corpus = fixtures().join("corpus");
    let (ok, out, err) = run_with_timeout(
        yubin()
            .args(["deliver", "--to", "alice", "--data"])
            .arg(data)
            .arg(&corpus),
        60,
    );
    assert!(ok, "deliver failed: {out}{err}");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}
