//! ListOffsets (key 2): the earliest offset (-2), the latest (-1: the high
//! watermark, or the last stable offset for a `read_committed` client), the record
//! with the largest timestamp (-3, v7+), or the first offset whose record
//! timestamp is at or after a time.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::ErrorCode;

/// The timestamp that asks for the latest offset.
const LATEST: i64 = -1;
/// The timestamp that asks for the earliest offset.
const EARLIEST: i64 = -2;
/// The timestamp that asks for the record with the largest timestamp (v7+).
const MAX_TIMESTAMP: i64 = -3;

/// Answers a ListOffsets request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // On the blocking pool: a timestamp lookup reads the time index and the log.
    let broker = Arc::clone(broker);
    super::off_thread(move || answer(&broker, request)).await
}

fn answer(broker: &Arc<Broker>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let answer = ListOffsetsPartitionResponse::default()
                        .with_partition_index(wanted.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let partition = u32::try_from(wanted.partition_index)
                        .ok()
                        .and_then(|p| broker.storage.partition(&topic.name.0, p));
                    let Some(partition) = partition else {
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    match wanted.timestamp {
                        LATEST if request.isolation_level == 1 => {
                            answer.with_offset(partition.last_stable_offset() as i64)
                        }
                        LATEST => answer.with_offset(partition.high_watermark() as i64),
                        EARLIEST => answer.with_offset(partition.log_start_offset() as i64),
                        MAX_TIMESTAMP => match partition.offset_of_max_timestamp() {
                            Ok(Some((offset, timestamp))) => {
                                answer.with_offset(offset as i64).with_timestamp(timestamp)
                            }
                            Ok(None) => answer,
                            Err(e) => {
                                tracing::error!(error = %e, "max-timestamp lookup failed");
                                answer.with_error_code(e.error_code())
                            }
                        },
                        ts if ts < 0 => {
                            answer.with_error_code(ResponseError::InvalidRequest.code())
                        }
                        ts => match partition.offset_for_timestamp(ts) {
                            Ok(Some((offset, timestamp))) => {
                                answer.with_offset(offset as i64).with_timestamp(timestamp)
                            }
                            Ok(None) => answer,
                            Err(e) => {
                                tracing::error!(error = %e, "offset for timestamp failed");
                                answer.with_error_code(e.error_code())
                            }
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

impl ErrorCodes for ListOffsetsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
    }
}
