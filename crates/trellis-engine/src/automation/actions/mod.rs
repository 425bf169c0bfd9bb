//! One module per action. Each takes the [`ActionCtx`](super::ActionCtx) and its definition and
//! answers a JSON summary of what it did (shown in the rule's runs) or an [`ActionError`].
