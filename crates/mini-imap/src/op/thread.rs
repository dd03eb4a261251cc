//! THREAD and UID THREAD (RFC 5256 §3): the messages the search keys select, grouped
//! by [`crate::sort::thread`], answered as `* THREAD (...)...` (§4).

use crate::command::{SearchKey, ThreadAlgorithm};
use crate::op::search::{charset_ok, matching};
use crate::op::sort::{number, read_facts};
use crate::response::{Code, Completion, Data, Responses};
use crate::selected::Selected;
use crate::sort::facts::Needs;
use crate::sort::thread;

/// Answers a THREAD: `* THREAD` with one `thread-list` per thread (none when nothing
/// matched, RFC 5256 §4 `thread-data = "THREAD" [SP 1*thread-list]`), then the tagged
/// OK; an unsupported charset is `NO [BADCHARSET ...]`.
pub fn thread(
    sel: &mut Selected,
    uid: bool,
    algorithm: ThreadAlgorithm,
    charset: &str,
    keys: &[SearchKey],
    out: &mut Responses,
) -> Completion {
    let command = if uid { "UID THREAD" } else { "THREAD" };
    if !charset_ok(charset) {
        return Completion::no(Code::BadCharset, "Unsupported charset");
    }
    let positions = matching(sel, keys);
    let mut needs = Needs::for_thread();
    needs.ids = algorithm == ThreadAlgorithm::References;
    let facts = read_facts(sel, &positions, needs);
    let forest = match algorithm {
        ThreadAlgorithm::OrderedSubject => thread::ordered_subject(&facts),
        ThreadAlgorithm::References => thread::references(&facts),
    };
    let numbers: Vec<u32> = positions.iter().map(|&p| number(sel, p, uid)).collect();
    out.data(Data::Thread {
        forest: &forest,
        numbers: &numbers,
    });
    Completion::done(command)
}
