//! CreatePartitions (key 37): raises topics' partition counts with
//! `Broker::add_partitions`, as `kafka-topics --alter --partitions` and admin
//! clients' `createPartitions` do. Consumer groups notice the new partitions in
//! Metadata and rebalance onto them; processors start workers for them (see
//! `processors::grow`). A count that is not more than the topic has is
//! INVALID_PARTITIONS; a replica assignment must put each new partition on this
//! broker alone (INVALID_REPLICA_ASSIGNMENT otherwise), as one broker can only.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers a CreatePartitions request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    // On the blocking pool: new partitions are directories and an fsync.
    let broker = Arc::clone(broker);
    super::off_thread(move || {
        let validate_only = request.validate_only;
        let results = request
            .topics
            .into_iter()
            .map(|topic| {
                let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
                match grow(&broker, &topic, validate_only) {
                    Ok(()) => result,
                    Err((code, message)) => result
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                }
            })
            .collect();
        CreatePartitionsResponse::default().with_results(results)
    })
    .await
}

fn grow(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let name = &topic.name.0;
    let Ok(count) = u32::try_from(topic.count) else {
        let message = format!("partition count {} is not a count", topic.count);
        return Err((ResponseError::InvalidPartitions, message));
    };
    if let (Some(assignments), Some(spec)) = (&topic.assignments, broker.storage.topic(name)) {
        let node = broker.options.node_id;
        let new = count.saturating_sub(spec.partitions) as usize;
        if assignments.len() != new {
            let message = format!(
                "{} replica assignments for {new} new partitions: give one per new partition",
                assignments.len()
            );
            return Err((ResponseError::InvalidReplicaAssignment, message));
        }
        if let Some(a) = assignments.iter().find(|a| a.broker_ids.iter().map(|b| b.0).ne([node])) {
            let brokers: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            let message = format!(
                "a new partition is assigned to brokers {brokers:?}: this cluster is broker \
                 {node} alone"
            );
            return Err((ResponseError::InvalidReplicaAssignment, message));
        }
    }
    match broker.add_partitions(name, count, validate_only) {
        Ok(_) => Ok(()),
        Err(e) => Err(refusal(&e)),
    }
}

impl ErrorCodes for CreatePartitionsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.results.iter().for_each(|r| each(r.error_code))
    }
}
