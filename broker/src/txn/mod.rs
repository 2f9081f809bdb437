//! Kafka transactions: the coordinator of transactional ids (`coordinator`) and
//! the record it keeps of each (`meta`). What a transaction does inside one
//! partition (open transactions, markers, the last stable offset, aborted
//! ranges) lives with the partition's producers, in `log::producers::txn`.

pub mod coordinator;
pub mod meta;

pub use coordinator::{MAX_TIMEOUT_MS, TXN_TOPIC, TxnCoordinator, TxnError, TxnListing};
pub use meta::{PendingOffset, TxnMeta, TxnStatus};

#[cfg(test)]
mod tests;
