//! The error codes a response carries, for the per-API error counters (as Kafka
//! counts `ErrorsPerSec` from a response's error counts): the top-level code and
//! every per-topic, per-partition or per-member code of each API Weir serves.

use kafka_protocol::messages::{FetchResponse, ResponseKind};

/// Calls `each` with every error code in `response`, zeros (no error) included.
pub fn each(response: &ResponseKind, mut each: impl FnMut(i16)) {
    match response {
        ResponseKind::ApiVersions(r) => each(r.error_code),
        ResponseKind::Metadata(r) => {
            each(r.error_code);
            for topic in &r.topics {
                each(topic.error_code);
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
        }
        ResponseKind::Produce(r) => {
            for topic in &r.responses {
                topic.partition_responses.iter().for_each(|p| each(p.error_code));
            }
        }
        ResponseKind::Fetch(r) => fetch(r, each),
        ResponseKind::ListOffsets(r) => {
            for topic in &r.topics {
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
        }
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| each(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| each(t.error_code)),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|t| each(t.error_code)),
        ResponseKind::InitProducerId(r) => each(r.error_code),
        ResponseKind::FindCoordinator(r) => {
            each(r.error_code);
            r.coordinators.iter().for_each(|c| each(c.error_code));
        }
        ResponseKind::JoinGroup(r) => each(r.error_code),
        ResponseKind::SyncGroup(r) => each(r.error_code),
        ResponseKind::Heartbeat(r) => each(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            each(r.error_code);
            r.members.iter().for_each(|m| each(m.error_code));
        }
        ResponseKind::OffsetCommit(r) => {
            for topic in &r.topics {
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
        }
        ResponseKind::OffsetFetch(r) => {
            each(r.error_code);
            for topic in &r.topics {
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
            for group in &r.groups {
                each(group.error_code);
                for topic in &group.topics {
                    topic.partitions.iter().for_each(|p| each(p.error_code));
                }
            }
        }
        ResponseKind::ListGroups(r) => each(r.error_code),
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| each(g.error_code)),
        // Not served: the connection refuses them before a handler runs.
        _ => {}
    }
}

/// Every error code of a Fetch response.
pub fn fetch(response: &FetchResponse, mut each: impl FnMut(i16)) {
    each(response.error_code);
    for topic in &response.responses {
        topic.partitions.iter().for_each(|p| each(p.error_code));
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ProduceResponse;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };

    use super::*;

    #[test]
    fn finds_per_partition_codes() {
        let partitions =
            [0, 3, 3].map(|code| PartitionProduceResponse::default().with_error_code(code));
        let response = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(partitions.to_vec()),
        ]);
        let mut codes = Vec::new();
        each(&ResponseKind::Produce(response), |c| codes.push(c));
        assert_eq!(codes, [0, 3, 3]);
    }
}
