//! DeleteRecords (key 21): moves each partition's log start to the offset asked
//! (-1: the high watermark) with `Broker::delete_records`, as
//! `kafka-delete-records` and admin clients' `deleteRecords` do; answers each
//! partition's new log start as its low watermark. An offset past the high
//! watermark is OFFSET_OUT_OF_RANGE, an unknown partition
//! UNKNOWN_TOPIC_OR_PARTITION, an internal topic INVALID_TOPIC_EXCEPTION.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers a DeleteRecords request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    // On the blocking pool: moving a log start fsyncs and may delete segments.
    let broker = Arc::clone(broker);
    super::off_thread(move || {
        let topics = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index);
                        match broker.delete_records(&t.name.0, p.partition_index, p.offset) {
                            Ok(start) => result.with_low_watermark(start as i64),
                            Err(e) => {
                                result.with_low_watermark(-1).with_error_code(refusal(&e).0.code())
                            }
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default().with_name(t.name).with_partitions(partitions)
            })
            .collect();
        DeleteRecordsResponse::default().with_topics(topics)
    })
    .await
}

impl ErrorCodes for DeleteRecordsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| each(p.error_code))
    }
}
