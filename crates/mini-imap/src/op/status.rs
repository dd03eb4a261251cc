//! STATUS (RFC 3501 §6.3.10), with STATUS=SIZE (RFC 8438) and HIGHESTMODSEQ (RFC 7162
//! §3.1.2.2); also what LIST's
//! `RETURN (STATUS ...)` gives (RFC 5819).

use yubin_store::{Account, StoreError};

use crate::command::StatusItem;
use crate::response::{Completion, Data, Responses};

/// The values of `items` for the mailbox `name`, in the order asked.
pub fn read(
    account: &Account,
    name: &str,
    items: &[StatusItem],
) -> Result<Vec<(StatusItem, u64)>, StoreError> {
    let st = account.mailbox(name).and_then(|m| m.status())?;
    Ok(items
        .iter()
        .map(|&i| {
            let n = match i {
                StatusItem::Messages => u64::from(st.messages),
                StatusItem::Recent => u64::from(st.recent),
                StatusItem::UidNext => u64::from(st.uid_next),
                StatusItem::UidValidity => u64::from(st.uid_validity),
                StatusItem::Unseen => u64::from(st.unseen),
                StatusItem::Size => st.size,
                StatusItem::HighestModSeq => st.highest_modseq,
            };
            (i, n)
        })
        .collect())
}

/// Answers STATUS: `* STATUS name (item n ...)`.
pub fn status(
    account: &Account,
    name: &str,
    items: &[StatusItem],
    out: &mut Responses,
) -> Completion {
    match read(account, name, items) {
        Ok(values) => {
            out.data(Data::Status {
                mailbox: name,
                items: values,
            });
            Completion::done("STATUS")
        }
        Err(e) => Completion::store_failed("STATUS", &e),
    }
}
