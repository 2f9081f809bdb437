//! ListTransactions (key 66): every transactional id with its producer id and
//! state, filtered by state names and producer ids when the request gives them.
//! A state name Kafka does not know is returned in `unknown_state_filters`.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, RequestHeader, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Kafka's transaction state names.
const STATES: [&str; 8] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

/// Answers a ListTransactions request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown: Vec<StrBytes> =
        request.state_filters.iter().filter(|s| !STATES.contains(&&***s)).cloned().collect();
    let states = broker
        .txns
        .list()
        .into_iter()
        .filter(|t| {
            let state = t.meta.status.kafka_name();
            (request.state_filters.is_empty()
                || request.state_filters.iter().any(|s| &**s == state))
                && (request.producer_id_filters.is_empty()
                    || request.producer_id_filters.contains(&ProducerId(t.meta.producer_id)))
        })
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.id)))
                .with_producer_id(ProducerId(t.meta.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.meta.status.kafka_name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}

impl ErrorCodes for ListTransactionsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
