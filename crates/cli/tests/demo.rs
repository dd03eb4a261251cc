//! `yubin demo` as a real process: every conversation it shows comes under a step that
//! announced it, in both languages.

mod common;

use common::{run_with_timeout, yubin};

/// One announced step of the demo: its announcement and the lines printed under it.
struct Step {
    title: String,
    body: Vec<String>,
}

impl Step {
    /// The commands the client sent in this step, as the server's transcript shows them.
    fn client_lines(&self) -> impl Iterator<Item = &str> {
        self.body
            .iter()
            .filter_map(|line| line.trim_start().strip_prefix("C: "))
    }

    /// Whether the client sent `command` (an IMAP command after its tag) in this step.
    fn sent(&self, command: &str) -> bool {
        self.client_lines()
            .any(|line| line.split(' ').nth(1) == Some(command))
    }
}

/// Runs `yubin demo --lang LANG` and splits its output at the lines starting with
/// `announcement` ("Step " or "ステップ").
fn demo_steps(lang: &str, announcement: &str) -> Vec<Step> {
    let (ok, out, err) = run_with_timeout(yubin().args(["demo", "--lang", lang]), 120);
    assert!(ok, "demo --lang {lang} failed:\n{out}\n{err}");
    let mut steps: Vec<Step> = Vec::new();
    for line in out.lines() {
        if line.starts_with(announcement) {
            steps.push(Step {
                title: line.to_owned(),
                body: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.body.push(line.to_owned());
        }
    }
    steps
}

#[test]
fn demo_announces_its_examine_check_as_a_step_of_its_own() {
    for (lang, announcement) in [("en", "Step "), ("ja", "ステップ")] {
        let steps = demo_steps(lang, announcement);
        let titles: Vec<&str> = steps.iter().map(|s| s.title.as_str()).collect();
        // Numbered 1, 2, 3, ... in order.
        for (n, title) in titles.iter().enumerate() {
            assert!(
                title.starts_with(&format!("{announcement}{}. ", n + 1)),
                "{titles:#?}"
            );
        }
        // Every step that opens the INBOX read-only says so in its announcement, and
        // there are two: the check of the flags after IMAP read the mail, and the last look.
        let examining: Vec<&Step> = steps.iter().filter(|s| s.sent("EXAMINE")).collect();
        assert_eq!(examining.len(), 2, "{titles:#?}");
        for step in &examining {
            assert!(step.title.contains("EXAMINE"), "{}", step.title);
        }
        // The check is its own step, after the one that reads the mail (whose session
        // SELECTs and FETCHes BODY[] and nothing read-only), and it is where the \Seen
        // flags are checked.
        let read = steps
            .iter()
            .position(|s| s.sent("SELECT"))
            .expect("a step reads over IMAP");
        assert!(!steps[read].sent("EXAMINE"), "{:#?}", steps[read].body);
        let check = &steps[read + 1];
        assert!(
            check.sent("EXAMINE") && check.sent("FETCH"),
            "{}",
            check.title
        );
        assert!(check.title.contains("FETCH FLAGS"), "{}", check.title);
        assert!(
            check
                .body
                .iter()
                .any(|line| line.starts_with("  ✔ ") && line.contains("\\Seen")),
            "{:#?}",
            check.body
        );
    }
}
