//! One module per action. Each takes what it needs of the job and its definition and answers a
//! JSON summary of what it did (shown in the rule's runs) or an [`ActionError`](super::ActionError).

pub mod notify;
pub mod records;
