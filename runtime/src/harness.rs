//! One instance outside any worker, fed batches directly: for benchmarks and
//! tools that measure or try a module without a log behind it. Outputs and
//! state changes of each ok call are dropped, as if committed at once.

use std::sync::Arc;

use crate::engine::Module;
use crate::host::Output;
use crate::instance::{CallError, Instance, new_host};
use crate::limits::Limits;
use crate::logs::{LogBuffer, now_ms};
use crate::state::State;
use crate::store::{InputRecord, OutputRecord};

/// An instance and the host state around it.
#[derive(Debug)]
pub struct Harness {
    instance: Instance,
}

/// The input topic the harness's records seem to come from.
pub const HARNESS_INPUT: &str = "input";

impl Harness {
    /// Instantiates `module` with `limits`, allowed to emit to `outputs` (one
    /// partition each), and calls its `init` with `config`.
    pub fn new(
        module: &Module,
        limits: Limits,
        outputs: &[&str],
        config: &[(String, String)],
    ) -> Result<Harness, String> {
        Self::with_inputs(module, limits, &[HARNESS_INPUT], outputs, config)
    }

    /// `new` for a processor of several inputs: a record's `input` indexes
    /// `inputs`, as the manifest's do.
    pub fn with_inputs(
        module: &Module,
        limits: Limits,
        inputs: &[&str],
        outputs: &[&str],
        config: &[(String, String)],
    ) -> Result<Harness, String> {
        let outputs: Arc<[Output]> = outputs
            .iter()
            .map(|t| Output { topic: t.to_string(), partitions: 1, max_batch_bytes: None })
            .collect();
        let log = Arc::new(LogBuffer::new("harness"));
        let state = State::new(Default::default(), u64::MAX);
        let inputs: Arc<[String]> = inputs.iter().map(|t| t.to_string()).collect();
        let mut host = new_host(limits, 0, inputs, outputs, state, log);
        host.now_ms = now_ms();
        let instance =
            Instance::new(module, host, config).map_err(|e| e.0.message().to_string())?;
        Ok(Harness { instance })
    }

    /// Calls `process` with `batch` (passed as a worker passes it) and returns
    /// the records it emitted.
    pub fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<OutputRecord>, String> {
        let routed = self.process_routed(batch)?;
        Ok(routed.into_iter().map(|(_, record)| record).collect())
    }

    /// `process`, returning each emitted record with its output partition.
    pub fn process_routed(
        &mut self,
        batch: &[InputRecord],
    ) -> Result<Vec<(u32, OutputRecord)>, String> {
        let result = self.instance.process(batch);
        let host = self.instance.host();
        let emitted = host.batch_emitted.drain(..).map(|e| (e.partition, e.record)).collect();
        host.batch_emitted_bytes = 0;
        let changes = host.state.take_batch();
        host.state.committed(changes);
        result.map(|()| emitted).map_err(|e: CallError| e.message().to_string())
    }

    /// From now on serves input partition `input` and gives every output
    /// `partitions` partitions (call it before the first batch: the SDK asks
    /// for the outputs once).
    pub fn with_partitions(mut self, input: u32, partitions: u32) -> Self {
        let host = self.instance.host();
        host.partition = input;
        host.outputs = host
            .outputs
            .iter()
            .map(|o| Output {
                topic: o.topic.clone(),
                partitions,
                max_batch_bytes: o.max_batch_bytes,
            })
            .collect();
        self
    }

    /// From now on passes batches to `process` record by record even if the
    /// component exports `process-packed` (to test both paths).
    pub fn typed_only(mut self) -> Self {
        self.instance.disable_packed();
        self
    }
}
