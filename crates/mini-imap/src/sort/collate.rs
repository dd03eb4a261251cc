//! The comparison key for text in SORT and THREAD.
//!
//! RFC 5256 §3 sorts strings "according to ascending values established by their
//! collation algorithm"; yubin's is i;unicode-casemap (RFC 5051), under which each
//! character is mapped to its titlecase form and decomposed, and the results compare as
//! octet strings. yubin maps each character to its full Unicode uppercase form
//! ([`char::to_uppercase`]) and compares the UTF-8 octets, without decomposition. For
//! ASCII this is exactly i;unicode-casemap (and i;ascii-casemap): letters compare as
//! capitals, so `a` sorts before `_` as `A` does. Beyond ASCII it differs only where
//! titlecase and uppercase differ (the digraphs such as `ǅ`) and where RFC 5051 would
//! decompose a precomposed character (`é` against `e` + U+0301): text that is the same
//! under both maps still compares equal, and the order stays a total order on strings.

/// The key under which `text` sorts and compares: equal keys mean equal text for SORT
/// and THREAD.
pub fn casemap(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_uppercase();
    }
    text.chars().flat_map(char::to_uppercase).collect()
}

#[cfg(test)]
mod tests {
    use super::casemap;

    #[test]
    fn case_does_not_matter_and_letters_sort_as_capitals() {
        assert_eq!(casemap("Hello"), casemap("hELLO"));
        assert_eq!(casemap("grüße"), casemap("GRÜSSE"));
        // i;unicode-casemap compares titlecase: "a" (as "A", 0x41) precedes "_" (0x5F).
        assert!(casemap("a") < casemap("_"));
        assert!(casemap("apple") < casemap("Banana"));
        assert!(casemap("") < casemap("a"));
    }
}
