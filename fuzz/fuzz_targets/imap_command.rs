//! The IMAP command grammar: never panics, and whatever parses re-encodes to bytes that
//! parse to the same command (encode∘parse is the identity on parsed commands).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mini_imap::parse::command;
use mini_imap::request::encode_command;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = command(data) {
        let bytes = encode_command(&cmd);
        let again = command(&bytes).expect("an encoded command parses");
        assert_eq!(again, cmd);
    }
});
