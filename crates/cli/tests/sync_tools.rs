//! Third-party sync tools against `yubin serve`: mbsync (isync) over IMAP, fetchmail over
//! POP3. `.ci/run` installs both; where one is missing the test fails in CI (`CI` set) and
//! elsewhere says so and skips.

mod common;

use common::{ServerProcess, deliver_corpus, port_of, run_with_timeout, yubin};
use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI (CI is set) but could not be run"
        );
        eprintln!("{tool} is not installed; skipping (.ci/run installs it)");
    }
    found
}

fn serve(data: &Path) -> (ServerProcess, u16, u16) {
    let (mut server, pop) = ServerProcess::start(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--smtp-port",
            "0",
            "--pop-port",
            "0",
            "--imap-port",
            "0",
        ],
        "POP3 listening on",
    );
    let imap = port_of(&server.wait_for("IMAP listening on"));
    (server, port_of(&pop), imap)
}

/// A message without the tracking header mbsync adds to the copies it stores (X-TUID).
fn without_tuid(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len());
    for line in m.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"X-TUID: ") {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Message bytes with line ends normalized, as a local Maildir may store them.
fn lf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .replace("\r\n", "\n")
        .into_bytes()
}

#[test]
fn mbsync_mirrors_the_mailbox_and_pushes_flags_and_deletions_back() {
    if !have("mbsync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(&dir.path().join("data"));
    let (_server, _, imap) = serve(&dir.path().join("data"));
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let rc = dir.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount y\nHost 127.0.0.1\nPort {imap}\nUser alice\nPass secret\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount y\n\nMaildirStore near\nPath {p}/\nInbox {p}/INBOX\nSubFolders Verbatim\n\n\
             Channel c\nFar :remote:\nNear :near:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            p = local.display()
        ),
    )
    .unwrap();
    let sync = || {
        let (ok, out, err) =
            run_with_timeout(Command::new("mbsync").arg("-c").arg(&rc).arg("c"), 120);
        assert!(ok, "mbsync failed:\n{out}\n{err}");
    };
    sync();
    let inbox = local.join("INBOX");
    let mut files: Vec<_> = ["new", "cur"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(inbox.join(d))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        .collect();
    assert_eq!(files.len(), corpus.len(), "every message mirrored");
    let mut got: Vec<Vec<u8>> = files
        .iter()
        .map(|f| without_tuid(&lf(&std::fs::read(f).unwrap())))
        .collect();
    let mut want: Vec<Vec<u8>> = corpus.iter().map(|m| without_tuid(&lf(m))).collect();
    got.sort();
    want.sort();
    assert!(got == want, "mirrored messages are the delivered ones");
    // Mark one read and delete another locally; the next sync tells the server.
    files.sort();
    let seen = &files[0];
    let name = seen.file_name().unwrap().to_string_lossy().into_owned();
    let flagged = inbox.join("cur").join(if name.contains(":2,") {
        format!("{name}S")
    } else {
        format!("{name}:2,S")
    });
    std::fs::rename(seen, &flagged).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    // mbsync waits when a Maildir changed within the last second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sync();
    let (ok, out, err) = run_with_timeout(
        yubin().args([
            "imap",
            "fetch",
            "INBOX",
            "--peek",
            "--json",
            "--port",
            &imap.to_string(),
        ]),
        30,
    );
    assert!(ok, "{err}");
    let messages: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        messages.len(),
        corpus.len() - 1,
        "the local deletion reached the server"
    );
    let seen_count = messages
        .iter()
        .filter(|m| {
            m["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "\\Seen"))
        })
        .count();
    assert_eq!(seen_count, 1, "the local \\Seen reached the server");
}

#[test]
fn fetchmail_downloads_everything_and_pop_removes_it() {
    if !have("fetchmail") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(&dir.path().join("data"));
    let (_server, pop, _) = serve(&dir.path().join("data"));
    let mbox = dir.path().join("fetched.mbox");
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "poll 127.0.0.1 protocol POP3 port {pop} user alice password secret mda \"cat >> {}\" sslproto ''\n",
            mbox.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, out, err) = run_with_timeout(
        Command::new("fetchmail")
            .env("HOME", dir.path())
            .args(["--nosyslog", "-f"])
            .arg(&rc),
        120,
    );
    assert!(ok, "fetchmail failed:\n{out}\n{err}");
    let fetched = std::fs::read(&mbox).unwrap();
    let fetched = lf(&fetched);
    for m in &corpus {
        let m = lf(m);
        let body = &m[m.len().saturating_sub(200)..];
        assert!(
            fetched.windows(body.len()).any(|w| w == body),
            "a message's end is in the download"
        );
    }
    let (ok, out, _) = run_with_timeout(
        yubin().args(["pop", "stat", "--port", &pop.to_string()]),
        30,
    );
    assert!(ok);
    assert!(
        out.starts_with("0 messages"),
        "POP removed what fetchmail retrieved: {out}"
    );
}
