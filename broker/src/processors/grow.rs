//! Processors follow their inputs when partitions are added (CreatePartitions,
//! `weir topic alter --partitions`): the log shipper's thread looks after each
//! round, and for a processor whose inputs now share more partitions than it has
//! workers it adds partitions to its state changelog and starts the workers
//! (`Processor::grow`). A processor whose inputs no longer share a count (one
//! of a join's inputs grew) keeps running on the partitions it has, and says so
//! once in its log and the broker's: nothing on the new partitions reaches it
//! until the other inputs match (and after a restart it does not start until
//! they do, as a deployment of such inputs is refused).

use std::collections::HashMap;

use tracing::{info, warn};
use weir_runtime::LogLevel;
use weir_runtime::manifest::co_partitioned;

use super::{Deployments, state_topic};
use crate::broker::Broker;

/// What was last said about each processor whose inputs disagree, so it is said once.
#[derive(Debug, Default)]
pub(super) struct Uneven(HashMap<String, String>);

/// Grows every processor whose inputs gained partitions.
pub(super) fn grow_all(broker: &Broker, deployments: &Deployments, uneven: &mut Uneven) {
    let running: Vec<_> = deployments
        .read()
        .iter()
        .map(|(name, d)| (name.clone(), d.processor.clone(), d.record.manifest.inputs.clone()))
        .collect();
    for (name, processor, inputs) in running {
        let mut counts = Vec::new();
        for input in &inputs {
            match broker.storage.topic(input) {
                Some(spec) => counts.push((input.as_str(), spec.partitions)),
                None => break,
            }
        }
        if counts.len() != inputs.len() {
            continue;
        }
        let partitions = match co_partitioned(&counts) {
            Ok(n) => n,
            Err(listed) => {
                if uneven.0.get(&name) != Some(&listed) {
                    let message = format!(
                        "its inputs no longer have the same partition count ({listed}): it \
                         keeps running on partitions 0 to {}; add partitions to the others",
                        processor.partitions().saturating_sub(1)
                    );
                    warn!(processor = %name, "{message}");
                    processor.note(LogLevel::Warn, &message);
                    uneven.0.insert(name.clone(), listed);
                }
                continue;
            }
        };
        uneven.0.remove(&name);
        if partitions <= processor.partitions() {
            continue;
        }
        let changelog = state_topic(&name);
        let has = broker.storage.topic(&changelog).map_or(0, |t| t.partitions);
        if has < partitions
            && let Err(e) = broker.storage.add_partitions(&changelog, partitions)
        {
            warn!(processor = %name, error = %e, "adding partitions to its state changelog failed; retrying");
            continue;
        }
        match processor.grow(partitions) {
            Ok(true) => info!(processor = %name, partitions, "workers started for new partitions"),
            Ok(false) => {}
            Err(e) => {
                warn!(processor = %name, error = %e, "starting workers for new partitions failed")
            }
        }
    }
}
