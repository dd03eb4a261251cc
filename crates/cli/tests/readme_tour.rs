//! The README's tour, run as written: every `sh` block that runs yubin is executed line by
//! line, with `cargo run --release --` standing for the binary this test built, against one
//! `yubin serve` on the default ports and the default data directory of a fresh `$HOME`
//! (so the tour's `~/.local/share/yubin` paths are this test's). A step that fails, or a
//! README change that breaks a step, fails the test with the step and its output.
//!
//! Two lines are adapted, and said so: `serve` itself is the server this test starts, and
//! the socket lesson's two terminals become a background server and a client that retries
//! until the server listens.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::ServerProcess;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's `sh` blocks, each as its lines.
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), text) => block.push(text.to_owned()),
            (None, _) => {}
        }
    }
    blocks
}

/// The line with `cargo run [-q] --release --` replaced by the binary, its comment dropped.
fn as_command(line: &str, yubin: &Path) -> String {
    let bin = yubin.display().to_string();
    let line = line
        .replace("cargo run -q --release --", &bin)
        .replace("cargo run --release --", &bin);
    // A trailing `# ...` comment (not one inside quotes: the tour's quotes hold no `#`).
    match line.find("  #") {
        Some(i) => line[..i].trim_end().to_owned(),
        None => line,
    }
}

#[test]
fn the_readme_tour_works_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let yubin = assert_cmd::cargo::cargo_bin("yubin");
    let home = tempfile::tempdir().unwrap();
    let env = |cmd: &mut Command| {
        cmd.env("HOME", home.path())
            .env_remove("XDG_DATA_HOME")
            .env("YUBIN_PASSWORD", "secret")
            .current_dir(repo());
    };
    // The server the tour's other commands talk to: `yubin serve` as the README runs it.
    let mut serve = Command::new(&yubin);
    env(&mut serve);
    let (_server, _) = ServerProcess::start_command(serve.arg("serve"), "press Ctrl-C to stop");

    let blocks: Vec<Vec<String>> = sh_blocks(&readme)
        .into_iter()
        .filter(|b| b.iter().any(|l| l.contains("cargo run")))
        .collect();
    assert!(blocks.len() >= 5, "the tour's blocks: {blocks:?}");
    let mut ran = 0;
    for block in blocks {
        let mut script = String::from("set -e\n");
        for line in &block {
            if line.contains("cargo test") || line.contains("-- serve") {
                continue; // the test itself, and the server started above
            }
            let command = as_command(line, &yubin);
            if line.contains("socket server") {
                script.push_str(&format!("{command} &\n"));
            } else if line.contains("socket client") {
                // The second terminal: once the first one's server listens.
                script.push_str(&format!(
                    "for i in $(seq 100); do {command} && break; sleep 0.1; done\n"
                ));
            } else {
                script.push_str(&command);
                script.push('\n');
            }
            ran += 1;
        }
        script.push_str("wait\n");
        let mut sh = Command::new("sh");
        env(&mut sh);
        let out = sh
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README step failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(ran >= 10, "only {ran} tour commands ran");
}
