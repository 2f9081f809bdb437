//! DescribeCluster (key 60): the cluster id, the controller and the brokers,
//! as admin clients' `describeCluster` asks: one node, which is its own
//! controller, at its advertised address (the same as Metadata's). v1 names the
//! endpoint type asked for: brokers (1) it answers; controllers (2), which Weir
//! does not run apart, get MISMATCHED_ENDPOINT_TYPE as from a Kafka broker.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Kafka's bit field of the operations allowed on the cluster: every one
/// (CREATE 7, ALTER 4, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
/// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12), since Weir has no ACLs yet.
const CLUSTER_OPERATIONS: i32 = 1 << 4 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12;
/// Authorized operations when the client did not ask.
const NOT_REQUESTED: i32 = i32::MIN;

/// The endpoint type of brokers (v1+; v0 asks for brokers).
const BROKERS: i8 = 1;

/// Answers a DescribeCluster request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if header.request_api_version >= 1 && request.endpoint_type != BROKERS {
        let message = "this listener serves brokers (endpoint type 1); Weir runs no separate \
                       controllers";
        return DescribeClusterResponse::default()
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(message)))
            .with_endpoint_type(request.endpoint_type);
    }
    let node = BrokerId(broker.options.node_id);
    let me = DescribeClusterBroker::default()
        .with_broker_id(node)
        .with_host(StrBytes::from_string(broker.advertised.host.clone()))
        .with_port(i32::from(broker.advertised.port));
    let operations = match request.include_cluster_authorized_operations {
        true => CLUSTER_OPERATIONS,
        false => NOT_REQUESTED,
    };
    DescribeClusterResponse::default()
        .with_endpoint_type(BROKERS)
        .with_cluster_id(StrBytes::from_string(broker.options.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![me])
        .with_cluster_authorized_operations(operations)
}

impl ErrorCodes for DescribeClusterResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
