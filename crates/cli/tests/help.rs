//! `--help` snapshots: the help a newcomer reads is checked in, so a change to it shows up
//! in review as a diff of these files. Run with `UPDATE_HELP=1` to write them anew after an
//! intended change.

mod common;

use std::path::PathBuf;

use common::{run_with_timeout, yubin};

fn check(args: &[&str], file: &str) {
    let (ok, out, err) = run_with_timeout(yubin().args(args), 30);
    assert!(ok, "yubin {args:?}: {err}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/help")
        .join(file);
    if std::env::var_os("UPDATE_HELP").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_HELP=1)", path.display()));
    assert_eq!(
        out,
        want,
        "`yubin {}` changed: review it, then run with UPDATE_HELP=1 to accept",
        args.join(" ")
    );
}

#[test]
fn the_top_level_help() {
    check(&["--help"], "yubin.txt");
}

#[test]
fn the_serve_help() {
    check(&["serve", "--help"], "serve.txt");
}

#[test]
fn the_web_help() {
    check(&["web", "--help"], "web.txt");
}

#[test]
fn the_tls_ca_path_help_offers_only_its_flags() {
    check(&["tls", "ca-path", "--help"], "tls-ca-path.txt");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/help/tls-ca-path.txt"),
    )
    .unwrap();
    assert!(!text.contains("--user"), "{text}");
    assert!(text.contains("--data <DIR>"), "{text}");
}
