//! Any bytes: the SMTP parser must not panic, and what it accepts must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mini_smtp::parse;

fuzz_target!(|line: &[u8]| {
    if let Ok(cmd) = parse::command(line) {
        assert_eq!(parse::command(&cmd.encode()), Ok(cmd));
    }
});
