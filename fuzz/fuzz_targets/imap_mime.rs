//! Any message bytes: ENVELOPE/BODYSTRUCTURE derivation and section extraction never
//! panic, and the top-level HEADER and TEXT sections split the message exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mini_imap::command::{Section, SectionText};
use mini_imap::mime::MessageInfo;

fuzz_target!(|raw: &[u8]| {
    let info = MessageInfo::parse(raw);
    let sec = |part: &[u32], text: Option<SectionText>| Section {
        part: part.to_vec(),
        text,
    };
    if let (Some(h), Some(t)) = (
        info.section(raw, &sec(&[], Some(SectionText::Header))),
        info.section(raw, &sec(&[], Some(SectionText::Text))),
    ) {
        assert!(h.len() + t.len() <= raw.len());
    }
    for part in [&[1][..], &[2], &[1, 1], &[2, 1], &[1, 2, 3]] {
        for text in [
            None,
            Some(SectionText::Mime),
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::HeaderFields(vec!["subject".into()])),
        ] {
            let _ = info.section(raw, &sec(part, text));
        }
    }
});
