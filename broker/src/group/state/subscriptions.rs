//! The topics a consumer group's members subscribe to, read from their
//! consumer-protocol metadata (Kafka's `ConsumerProtocolSubscription`, after its
//! i16 version), as Kafka's coordinator reads them to refuse deleting the
//! offsets of a topic in use.

use std::collections::BTreeSet;

use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

use super::Group;

/// The protocol type of Kafka consumers.
const CONSUMER: &str = "consumer";

impl Group {
    /// True when the group has members.
    pub fn has_members(&self) -> bool {
        !self.members.is_empty()
    }

    /// The topics its members subscribe to; None unless it is a consumer group
    /// (its protocol type `consumer`). A member whose metadata does not decode
    /// subscribes to nothing readable, so none of its topics are known.
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER) {
            return None;
        }
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let metadata = match &self.protocol {
                Some(protocol) => member.metadata(protocol),
                None => member.protocols.first().map(|p| p.metadata.clone()).unwrap_or_default(),
            };
            topics.extend(subscription(metadata));
        }
        Some(topics)
    }
}

/// The topics of one member's subscription metadata.
fn subscription(mut metadata: bytes::Bytes) -> Vec<String> {
    if metadata.remaining() < 2 {
        return Vec::new();
    }
    // Decoders take versions they know; a newer member's fields come after.
    let version = metadata.get_i16().clamp(0, 3);
    match ConsumerProtocolSubscription::decode(&mut metadata, version) {
        Ok(s) => s.topics.iter().map(|t| t.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}
