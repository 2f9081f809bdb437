//! The Kafka error code of every domain error, in one place: topic and storage
//! errors, appends, reads, producer ids and the group coordinator's errors. The
//! domain modules know no protocol; handlers never choose a code for a domain
//! error themselves, they ask [`ErrorCode`].
//!
//! The broker's own faults get the code Kafka answers for them: a storage failure
//! is KAFKA_STORAGE_ERROR (clients refresh metadata and retry), except from the
//! group coordinator, which, as Kafka's, answers NOT_COORDINATOR so members find
//! the coordinator again and retry; anything else is UNKNOWN_SERVER_ERROR.
//! [`refusal`] logs those faults and gives the client a message without the
//! broker's paths.

use kafka_protocol::ResponseError;

use crate::group::GroupError;
use crate::log::{AppendError, ReadError};
use crate::producer_ids::ProducerIdError;
use crate::storage::StorageError;
use crate::topic::TopicError;
use crate::topics::TopicsError;
use crate::txn::TxnError;

/// A domain error that reaches a Kafka response.
pub trait ErrorCode: std::error::Error {
    /// The Kafka error a response carries for this failure.
    fn response_error(&self) -> ResponseError;

    /// The same, as the i16 a response field holds.
    fn error_code(&self) -> i16 {
        self.response_error().code()
    }
}

/// True for the codes that mean the broker failed, not the request.
pub fn is_server_fault(code: ResponseError) -> bool {
    matches!(
        code,
        ResponseError::UnknownServerError
            | ResponseError::KafkaStorageError
            | ResponseError::NotCoordinator
    )
}

/// The code and message a response carries for `e`. The broker's own faults are
/// logged here in full; the client reads only what kind of fault it was.
pub fn refusal(e: &(impl ErrorCode + ?Sized)) -> (ResponseError, String) {
    let code = e.response_error();
    if !is_server_fault(code) {
        return (code, e.to_string());
    }
    tracing::error!(error = %e, ?code, "request failed in the broker");
    let message = match code {
        ResponseError::UnknownServerError => "the broker failed; see its log",
        _ => "the broker's storage failed; see its log",
    };
    (code, message.into())
}

impl ErrorCode for TopicError {
    fn response_error(&self) -> ResponseError {
        match self {
            TopicError::InvalidTopicName(_) => ResponseError::InvalidTopicException,
            TopicError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            TopicError::InvalidConfig { .. } | TopicError::UnknownConfig(_) => {
                ResponseError::InvalidConfig
            }
            TopicError::Io { .. } | TopicError::Corrupt { .. } => ResponseError::KafkaStorageError,
        }
    }
}

impl ErrorCode for ProducerIdError {
    fn response_error(&self) -> ResponseError {
        match self {
            ProducerIdError::Io { .. } | ProducerIdError::Corrupt { .. } => {
                ResponseError::KafkaStorageError
            }
            ProducerIdError::Exhausted => ResponseError::UnknownServerError,
        }
    }
}

impl ErrorCode for StorageError {
    fn response_error(&self) -> ResponseError {
        match self {
            StorageError::Topic(e) => e.response_error(),
            StorageError::Partition { .. } => ResponseError::KafkaStorageError,
            StorageError::ProducerIds(e) => e.response_error(),
        }
    }
}

impl ErrorCode for TxnError {
    fn response_error(&self) -> ResponseError {
        match self {
            TxnError::EmptyId => ResponseError::InvalidRequest,
            TxnError::InvalidTimeout(_) => ResponseError::InvalidTransactionTimeout,
            TxnError::ProducerIdMismatch { .. } => ResponseError::InvalidProducerIdMapping,
            TxnError::Fenced { .. } => ResponseError::ProducerFenced,
            TxnError::InvalidState { .. } | TxnError::GroupNotAdded { .. } => {
                ResponseError::InvalidTxnState
            }
            TxnError::Storage(_) => ResponseError::KafkaStorageError,
        }
    }
}

impl ErrorCode for AppendError {
    fn response_error(&self) -> ResponseError {
        match self {
            AppendError::InvalidBatch { .. }
            | AppendError::InvalidRecords { .. }
            | AppendError::Empty => ResponseError::CorruptMessage,
            AppendError::TooLarge { .. } => ResponseError::MessageTooLarge,
            AppendError::KeylessRecord { .. } | AppendError::ControlBatch { .. } => {
                ResponseError::InvalidRecord
            }
            AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            // No transaction can be open (InitProducerId grants no transactional
            // id), so a transactional batch is outside one, as Kafka's partition
            // verification answers it; not an ACL problem.
            AppendError::Transactional { .. } => ResponseError::InvalidTxnState,
            AppendError::Io { .. } | AppendError::Closed => ResponseError::KafkaStorageError,
        }
    }
}

impl ErrorCode for ReadError {
    fn response_error(&self) -> ResponseError {
        match self {
            ReadError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            ReadError::Io { .. } => ResponseError::KafkaStorageError,
        }
    }
}

impl ErrorCode for TopicsError {
    fn response_error(&self) -> ResponseError {
        match self {
            // Kafka refuses a write to an internal topic with INVALID_TOPIC_EXCEPTION
            // ("Cannot append to internal topic"); deleting or altering one is
            // refused the same way (INVALID_REQUEST would say the request is
            // malformed).
            TopicsError::ReservedName(_) | TopicsError::Internal { .. } => {
                ResponseError::InvalidTopicException
            }
            TopicsError::UnknownPartition { .. } => ResponseError::UnknownTopicOrPartition,
            TopicsError::Append(e) => e.response_error(),
            TopicsError::Read(e) => e.response_error(),
            TopicsError::BadOffset(_) => ResponseError::OffsetOutOfRange,
            TopicsError::PartitionsNotAdded { .. } => ResponseError::InvalidPartitions,
            TopicsError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            TopicsError::Storage(e) => e.response_error(),
        }
    }
}

impl ErrorCode for GroupError {
    fn response_error(&self) -> ResponseError {
        match self {
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::InvalidSessionTimeout(_) => ResponseError::InvalidSessionTimeout,
            GroupError::MemberIdRequired(_) => ResponseError::MemberIdRequired,
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::IllegalGeneration { .. } => ResponseError::IllegalGeneration,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::OffsetMetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
            GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            GroupError::Storage(e) => coordinator(e.response_error()),
            GroupError::Append(e) => coordinator(e.response_error()),
            GroupError::Encode(_) => ResponseError::InvalidCommitOffsetSize,
            GroupError::Replay(_) => ResponseError::UnknownServerError,
        }
    }
}

/// What the group coordinator answers when its own log (`__consumer_offsets`)
/// refuses or fails, as Kafka's GroupMetadataManager translates an append's error:
/// a missing log is COORDINATOR_NOT_AVAILABLE, a failed one NOT_COORDINATOR (both
/// send members back to FindCoordinator, then retry), a commit too big for it
/// INVALID_COMMIT_OFFSET_SIZE. Any other refusal of the coordinator's own batch is
/// the broker's fault.
fn coordinator(log: ResponseError) -> ResponseError {
    match log {
        ResponseError::UnknownTopicOrPartition => ResponseError::CoordinatorNotAvailable,
        ResponseError::KafkaStorageError => ResponseError::NotCoordinator,
        ResponseError::MessageTooLarge => ResponseError::InvalidCommitOffsetSize,
        _ => ResponseError::UnknownServerError,
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;
    use crate::log::batch::BatchError;
    use crate::log::record::RecordError;

    fn io() -> io::Error {
        io::Error::other("disk on fire")
    }

    fn path() -> PathBuf {
        PathBuf::from("/data/t-0")
    }

    fn topic_errors() -> Vec<(TopicError, ResponseError)> {
        use ResponseError as E;
        vec![
            (TopicError::InvalidTopicName("a/b".into()), E::InvalidTopicException),
            (TopicError::TopicAlreadyExists("t".into()), E::TopicAlreadyExists),
            (TopicError::UnknownTopic("t".into()), E::UnknownTopicOrPartition),
            (TopicError::InvalidPartitions(0), E::InvalidPartitions),
            (
                TopicError::InvalidConfig {
                    key: "k".into(),
                    value: "v".into(),
                    reason: "r".into(),
                },
                E::InvalidConfig,
            ),
            (TopicError::UnknownConfig("k".into()), E::InvalidConfig),
            (TopicError::Io { path: path(), source: io() }, E::KafkaStorageError),
            (TopicError::Corrupt { path: path(), reason: "r".into() }, E::KafkaStorageError),
        ]
    }

    fn producer_id_errors() -> Vec<(ProducerIdError, ResponseError)> {
        use ResponseError as E;
        vec![
            (ProducerIdError::Io { path: path(), source: io() }, E::KafkaStorageError),
            (ProducerIdError::Corrupt { path: path(), reason: "r".into() }, E::KafkaStorageError),
            (ProducerIdError::Exhausted, E::UnknownServerError),
        ]
    }

    fn storage_errors() -> Vec<(StorageError, ResponseError)> {
        let mut all: Vec<_> =
            topic_errors().into_iter().map(|(e, code)| (StorageError::Topic(e), code)).collect();
        all.push((
            StorageError::Partition { dir: path(), source: io() },
            ResponseError::KafkaStorageError,
        ));
        all.extend(
            producer_id_errors().into_iter().map(|(e, c)| (StorageError::ProducerIds(e), c)),
        );
        all
    }

    fn append_errors() -> Vec<(AppendError, ResponseError)> {
        use ResponseError as E;
        let batch = BatchError::BadMagic(1);
        vec![
            (AppendError::InvalidBatch { index: 0, source: batch }, E::CorruptMessage),
            (
                AppendError::InvalidRecords { index: 0, source: RecordError::TrailingBytes(1) },
                E::CorruptMessage,
            ),
            (AppendError::TooLarge { size: 10, max: 5 }, E::MessageTooLarge),
            (AppendError::Empty, E::CorruptMessage),
            (
                AppendError::InvalidProducerEpoch {
                    index: 0,
                    producer_id: 1,
                    epoch: 0,
                    current: 1,
                },
                E::InvalidProducerEpoch,
            ),
            (
                AppendError::OutOfOrderSequence {
                    index: 0,
                    producer_id: 1,
                    epoch: 0,
                    sequence: 5,
                    expected: 3,
                },
                E::OutOfOrderSequenceNumber,
            ),
            (AppendError::Transactional { index: 0 }, E::InvalidTxnState),
            (AppendError::Io { dir: path(), source: io() }, E::KafkaStorageError),
            (AppendError::Closed, E::KafkaStorageError),
        ]
    }

    #[track_caller]
    fn check<E: ErrorCode>(cases: Vec<(E, ResponseError)>) {
        for (e, code) in cases {
            assert_eq!(e.response_error(), code, "{e}");
            assert_eq!(e.error_code(), code.code(), "{e}");
        }
    }

    #[test]
    fn topic_storage_and_producer_id_errors() {
        check(topic_errors());
        check(producer_id_errors());
        check(storage_errors());
    }

    #[test]
    fn append_and_read_errors() {
        check(append_errors());
        check(vec![
            (
                ReadError::OffsetOutOfRange { offset: 9, log_start_offset: 0, high_watermark: 3 },
                ResponseError::OffsetOutOfRange,
            ),
            (ReadError::Io { dir: path(), source: io() }, ResponseError::KafkaStorageError),
        ]);
    }

    #[test]
    fn client_topic_operations_agree_with_the_errors_they_wrap() {
        use ResponseError as E;
        let internal = |operation| TopicsError::Internal { topic: "__x".into(), operation };
        let mut cases = vec![
            (TopicsError::ReservedName("__x".into()), E::InvalidTopicException),
            (
                TopicsError::NotEnoughReplicas { topic: "t".into(), min_insync: 2 },
                E::NotEnoughReplicas,
            ),
            (internal("delete"), E::InvalidTopicException),
            (internal("alter"), E::InvalidTopicException),
            (internal("produce to"), E::InvalidTopicException),
            (
                TopicsError::UnknownPartition { topic: "t".into(), partition: 3 },
                E::UnknownTopicOrPartition,
            ),
        ];
        cases.extend(append_errors().into_iter().map(|(e, c)| (TopicsError::Append(e), c)));
        cases.extend(storage_errors().into_iter().map(|(e, c)| (TopicsError::Storage(e), c)));
        check(cases);
    }

    #[test]
    fn group_errors_answer_as_a_coordinator() {
        use ResponseError as E;
        let mut cases = vec![
            (GroupError::InvalidGroupId, E::InvalidGroupId),
            (GroupError::InvalidSessionTimeout(1), E::InvalidSessionTimeout),
            (GroupError::MemberIdRequired("m".into()), E::MemberIdRequired),
            (GroupError::UnknownMemberId, E::UnknownMemberId),
            (GroupError::IllegalGeneration { given: 1, current: 2 }, E::IllegalGeneration),
            (GroupError::RebalanceInProgress, E::RebalanceInProgress),
            (GroupError::InconsistentGroupProtocol, E::InconsistentGroupProtocol),
            (GroupError::FencedInstanceId, E::FencedInstanceId),
            (GroupError::NonEmptyGroup, E::NonEmptyGroup),
            (GroupError::GroupIdNotFound, E::GroupIdNotFound),
            (GroupError::CoordinatorNotAvailable, E::CoordinatorNotAvailable),
            (GroupError::OffsetMetadataTooLarge { len: 9, max: 1 }, E::OffsetMetadataTooLarge),
            (GroupError::UnknownTopicOrPartition, E::UnknownTopicOrPartition),
            (GroupError::Encode(RecordError::Empty), E::InvalidCommitOffsetSize),
            (
                GroupError::Replay(ReadError::Io { dir: path(), source: io() }),
                E::UnknownServerError,
            ),
            (
                GroupError::Storage(StorageError::Topic(TopicError::UnknownTopic("o".into()))),
                E::CoordinatorNotAvailable,
            ),
            (
                GroupError::Storage(StorageError::Topic(TopicError::InvalidTopicName("o".into()))),
                E::UnknownServerError,
            ),
            (
                GroupError::Storage(StorageError::Partition { dir: path(), source: io() }),
                E::NotCoordinator,
            ),
        ];
        for (e, code) in append_errors() {
            let answer = match code {
                E::KafkaStorageError => E::NotCoordinator,
                E::MessageTooLarge => E::InvalidCommitOffsetSize,
                _ => E::UnknownServerError,
            };
            cases.push((GroupError::Append(e), answer));
        }
        check(cases);
    }

    #[test]
    fn server_faults_are_logged_and_their_details_kept_from_clients() {
        let (code, message) =
            refusal(&TopicsError::Storage(StorageError::Partition { dir: path(), source: io() }));
        assert_eq!(code, ResponseError::KafkaStorageError);
        assert!(!message.contains("/data"), "{message}");
        let (code, message) =
            refusal(&TopicsError::UnknownPartition { topic: "t".into(), partition: 3 });
        assert_eq!(code, ResponseError::UnknownTopicOrPartition);
        assert_eq!(message, "t-3 does not exist");
        let (code, _) = refusal(&ProducerIdError::Exhausted);
        assert_eq!(code, ResponseError::UnknownServerError);
    }
}
