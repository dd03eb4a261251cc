//! STATUS (RFC 3501 §6.3.10), with STATUS=SIZE (RFC 8438) and HIGHESTMODSEQ (RFC 7162
//! §3.1.2.2) and IMAP4rev2's DELETED (RFC 9051 §6.3.11); also what LIST's
//! `RETURN (STATUS ...)` gives (RFC 5819).

use yubin_store::{Account, StoreError};

use crate::command::StatusItem;
use crate::mailbox_name::NameForm;
use crate::response::{Completion, Data, Responses};

/// The values of `items` for the mailbox `name`, in the order asked.
pub fn read(
    account: &Account,
    name: &str,
    items: &[StatusItem],
) -> Result<Vec<(StatusItem, u64)>, StoreError> {
    let mailbox = account.mailbox(name)?;
    let st = mailbox.status()?;
    // RFC 9051 §6.3.11 DELETED: counted from the flags, and only when asked for.
    let deleted = match items.contains(&StatusItem::Deleted) {
        true => mailbox
            .view()?
            .iter()
            .filter(|m| m.flags.contains(&yubin_store::Flag::Deleted))
            .count() as u64,
        false => 0,
    };
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
                StatusItem::Deleted => deleted,
            };
            (i, n)
        })
        .collect())
}

/// Answers STATUS: `* STATUS name (item n ...)`, the name in the client's `form`.
pub fn status(
    account: &Account,
    name: &str,
    items: &[StatusItem],
    form: NameForm,
    out: &mut Responses,
) -> Completion {
    match read(account, name, items) {
        Ok(values) => {
            out.data(Data::Status {
                mailbox: &form.to_client(name),
                items: values,
            });
            Completion::done("STATUS")
        }
        Err(e) => Completion::store_failed("STATUS", &e),
    }
}
