//! Fetch (key 1): whole batches from each partition's fetch offset, long-polling
//! until `min_bytes` are there or `max_wait_ms` passes. Topics are named by name
//! (v4-12) or by topic id (v13+; an unknown id is UNKNOWN_TOPIC_ID). Record bytes are not read
//! here: the response carries file slices, which the connection sends with
//! sendfile. A `read_committed` fetch (isolation level 1) gets nothing at or past
//! the partition's last stable offset, and the aborted transactions its records
//! may hold, which the client skips.
//!
//! Each look at the partitions runs on the blocking pool: finding a batch reads
//! the offset index and batch headers, which wait on the disk when the data is no
//! longer cached, and the slices found are announced to the kernel
//! ([`FileSlice::will_need`]) so their pages are read in before sendfile asks. The
//! wait between looks stays on the connection's task.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, RequestHeader};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::ErrorCode;
use crate::kafka::response::placeholder;
use crate::log::{FileSlice, Partition, ReadError};

/// Answers a Fetch request: the response, with a placeholder in each records field
/// that has data, and the slices to splice there, in order.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: FetchRequest,
) -> (FetchResponse, Vec<FileSlice>) {
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    // Woken by an append to any partition asked for (registered before the first
    // look, so none is missed).
    let appended = Arc::new(Notify::new());
    // v13+ name topics by id: each topic's name, None for an unknown id.
    let names: Arc<Vec<Option<String>>> = Arc::new(
        request
            .topics
            .iter()
            .map(|t| match t.topic_id.is_nil() {
                true => Some(t.topic.0.to_string()),
                false => broker.storage.topic_by_id(t.topic_id).map(|spec| spec.name),
            })
            .collect(),
    );
    if request.max_wait_ms > 0 {
        for (topic, name) in request.topics.iter().zip(names.iter()) {
            let Some(name) = name else { continue };
            for wanted in &topic.partitions {
                let partition = u32::try_from(wanted.partition)
                    .ok()
                    .and_then(|p| broker.storage.partition(name, p));
                if let Some(partition) = partition {
                    partition.appends().register(&appended);
                }
            }
        }
    }
    let request = Arc::new(request);
    loop {
        let (look_broker, look_request) = (Arc::clone(broker), Arc::clone(&request));
        let look_names = Arc::clone(&names);
        let look = off_thread(move || gather(&look_broker, &look_request, &look_names)).await;
        let enough = look.bytes >= request.min_bytes.max(0) as usize;
        if enough || look.errors || Instant::now() >= deadline {
            for (partition, bytes, records) in look.served {
                partition.traffic().fetched(bytes, records);
            }
            return (look.response, look.slices);
        }
        let _ = tokio::time::timeout_at(deadline, appended.notified()).await;
    }
}

/// What one look over the requested partitions found.
struct Look {
    /// The response, with a placeholder where each slice goes.
    response: FetchResponse,
    /// The slices, in the response's order.
    slices: Vec<FileSlice>,
    /// Bytes found.
    bytes: usize,
    /// Whether any partition answered an error.
    errors: bool,
    /// Each partition with records, with the bytes and records found, for the
    /// traffic counters of the look that is answered.
    served: Vec<(Arc<Partition>, u64, u64)>,
}

/// One look over the requested partitions (blocking: it may read the disk).
fn gather(broker: &Broker, request: &FetchRequest, names: &[Option<String>]) -> Look {
    let mut served = Vec::new();
    let max_bytes = if request.max_bytes > 0 { request.max_bytes as usize } else { usize::MAX };
    let mut total = 0usize;
    let mut slices = Vec::new();
    let mut errors = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for (topic, name) in request.topics.iter().zip(names) {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(wanted.partition)
                .with_records(Some(Bytes::new()))
                .with_aborted_transactions(Some(Vec::new()));
            let partition = name.as_deref().and_then(|name| {
                let p = u32::try_from(wanted.partition).ok()?;
                broker.storage.partition(name, p)
            });
            let Some(partition) = partition else {
                errors = true;
                let code = match name {
                    None => ResponseError::UnknownTopicId,
                    Some(_) => ResponseError::UnknownTopicOrPartition,
                };
                partitions.push(data.with_error_code(code.code()));
                continue;
            };
            // The request's and the partition's limits hold, except that the first
            // partition with data always gets its first whole batch, however big, so
            // a consumer always progresses (KIP-74). After that a batch that does not
            // fit is left for the next fetch.
            let budget =
                (wanted.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            let offset = u64::try_from(wanted.fetch_offset).unwrap_or(u64::MAX);
            let mut records = 0;
            // read_committed: nothing past the last stable offset, and the aborted
            // transactions the records may hold, for the client to skip.
            let committed = request.isolation_level == 1;
            let read = match total {
                0 => partition.read_isolated(offset, budget.max(1), true, committed),
                _ => partition.read_isolated(offset, budget, false, committed),
            };
            let last_stable = partition.last_stable_offset();
            if committed {
                let aborted = partition.aborted_transactions(offset, last_stable).into_iter();
                let aborted = aborted.map(|a| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(a.producer_id))
                        .with_first_offset(a.first_offset as i64)
                });
                data.aborted_transactions = Some(aborted.collect());
            }
            let read = read.map(|r| {
                data.high_watermark = r.high_watermark as i64;
                data.last_stable_offset = last_stable.min(r.high_watermark) as i64;
                data.log_start_offset = r.log_start_offset as i64;
                records = r.records;
                r.slice
            });
            match read {
                Ok(Some(slice)) => {
                    slice.will_need();
                    total += slice.len;
                    served.push((Arc::clone(&partition), slice.len as u64, records));
                    data.records = Some(placeholder(&slice));
                    slices.push(slice);
                }
                Ok(None) => {
                    data.high_watermark = partition.high_watermark() as i64;
                    data.last_stable_offset = partition.last_stable_offset() as i64;
                    data.log_start_offset = partition.log_start_offset() as i64;
                }
                Err(ReadError::OffsetOutOfRange { high_watermark, log_start_offset, .. }) => {
                    errors = true;
                    data.error_code = ResponseError::OffsetOutOfRange.code();
                    data.high_watermark = high_watermark as i64;
                    data.last_stable_offset = high_watermark as i64;
                    data.log_start_offset = log_start_offset as i64;
                }
                Err(e @ ReadError::Io { .. }) => {
                    tracing::error!(topic = name.as_deref().unwrap_or("?"), partition = wanted.partition, error = %e, "fetch failed");
                    errors = true;
                    data.error_code = e.error_code();
                }
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    let response = FetchResponse::default().with_responses(topics);
    Look { response, slices, bytes: total, errors, served }
}

impl ErrorCodes for FetchResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.responses {
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
    }
}
