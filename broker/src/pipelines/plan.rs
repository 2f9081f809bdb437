//! What applying a pipeline would change, or every reason it cannot.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::{Pipeline, PipelineError};
use crate::broker::Broker;
use crate::processors::Processors;
use crate::topic::validate_topic_name;

/// One change `apply` makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A declared topic is missing.
    CreateTopic {
        /// The topic.
        name: String,
        /// Its partitions.
        partitions: u32,
        /// Its config overrides.
        configs: BTreeMap<String, String>,
    },
    /// A declared topic's configs differ: these are set.
    SetConfigs {
        /// The topic.
        name: String,
        /// The configs set, with their new values.
        configs: BTreeMap<String, String>,
    },
    /// A declared processor is missing.
    Deploy {
        /// The processor.
        name: String,
        /// What it reads.
        input: String,
        /// What it writes.
        outputs: Vec<String>,
    },
    /// A deployed processor's module or config differs: upgraded in place.
    Upgrade {
        /// The processor.
        name: String,
        /// Its module changes.
        module: bool,
        /// Its config changes.
        config: bool,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateTopic { name, partitions, configs } => {
                write!(f, "create topic {name} ({partitions} partitions")?;
                for (k, v) in configs {
                    write!(f, ", {k}={v}")?;
                }
                write!(f, ")")
            }
            Change::SetConfigs { name, configs } => {
                let set: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "set configs of topic {name}: {}", set.join(", "))
            }
            Change::Deploy { name, input, outputs } => {
                write!(f, "deploy processor {name} ({input} -> {})", outputs.join(", "))
            }
            Change::Upgrade { name, module, config } => {
                let what = match (module, config) {
                    (true, true) => "module and config",
                    (true, false) => "module",
                    _ => "config",
                };
                write!(f, "upgrade processor {name} ({what}; offsets and state kept)")
            }
        }
    }
}

/// The changes that make the broker run `pipeline`, in the order to make them
/// (topics, then processors upstream first), or every reason it cannot be
/// applied. Compiles each module to be deployed or upgraded (blocking).
pub fn plan(
    broker: &Broker,
    processors: &Processors,
    pipeline: &Pipeline,
) -> Result<Vec<Change>, PipelineError> {
    let mut problems = Vec::new();
    if let Err(e) = validate_topic_name(&pipeline.name) {
        problems.push(format!("pipeline name {:?}: {e}", pipeline.name));
    }
    let mut changes = Vec::new();

    // Topics: each declared once; missing ones created, configs set, partitions as they are.
    let mut declared: BTreeMap<&str, &super::TopicDecl> = BTreeMap::new();
    for t in &pipeline.topics {
        if declared.insert(&t.name, t).is_some() {
            problems.push(format!("topic {} is declared twice", t.name));
        }
        match broker.storage.topic(&t.name) {
            None => {
                let spec = crate::topic::TopicSpec {
                    name: t.name.clone(),
                    partitions: t.partitions,
                    configs: t.configs.clone(),
                };
                match broker.create_topic(spec, true) {
                    Ok(_) => changes.push(Change::CreateTopic {
                        name: t.name.clone(),
                        partitions: t.partitions,
                        configs: t.configs.clone(),
                    }),
                    Err(e) => problems.push(format!("topic {}: {e}", t.name)),
                }
            }
            Some(spec) => {
                if spec.partitions != t.partitions {
                    problems.push(format!(
                        "topic {} has {} partition(s), the pipeline says {}: Weir does not \
                         repartition a topic in place; declare {} or use another topic",
                        t.name, spec.partitions, t.partitions, spec.partitions
                    ));
                }
                let differ: BTreeMap<String, String> = t
                    .configs
                    .iter()
                    .filter(|(k, v)| spec.configs.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !differ.is_empty() {
                    changes.push(Change::SetConfigs { name: t.name.clone(), configs: differ });
                }
            }
        }
    }
    let partitions = |topic: &str| match declared.get(topic) {
        Some(t) => Some(t.partitions),
        None => broker.storage.topic(topic).map(|t| t.partitions),
    };
    let exists = |topic: &str| partitions(topic).is_some();

    // Processors: each declared once, reading and writing topics that will exist.
    let mut names = BTreeSet::new();
    for decl in &pipeline.processors {
        let m = &decl.manifest;
        if !names.insert(m.name.as_str()) {
            problems.push(format!("processor {} is declared twice", m.name));
        }
        if let Err(e) = m.validate() {
            problems.push(format!("processor {}: {e}", m.name));
        }
        for topic in m.inputs.iter().chain(&m.outputs) {
            if !exists(topic) {
                problems.push(format!(
                    "processor {} uses topic {topic}, which neither exists nor is declared: \
                     add it to the pipeline's topics",
                    m.name
                ));
            }
        }
        let counts: Vec<(&str, u32)> =
            m.inputs.iter().filter_map(|t| Some((t.as_str(), partitions(t)?))).collect();
        if let Err(counts) = weir_runtime::manifest::co_partitioned(&counts) {
            let refused = crate::processors::ProcessorError::NotCoPartitioned(counts);
            problems.push(format!("processor {}: {refused}", m.name));
        }
    }
    let order = match upstream_first(pipeline) {
        Ok(order) => order,
        Err(cycle) => {
            problems.push(format!(
                "cycle: {cycle}; if the loop is meant (a stage feeding an earlier one), set \
                 feedback = true on a topic of it"
            ));
            (0..pipeline.processors.len()).collect()
        }
    };
    for i in order {
        let decl = &pipeline.processors[i];
        let m = &decl.manifest;
        let running = match processors.get(&m.name) {
            Err(_) => {
                match processors.check_module(&decl.module) {
                    Ok(()) => changes.push(Change::Deploy {
                        name: m.name.clone(),
                        input: m.inputs_label(),
                        outputs: m.outputs.clone(),
                    }),
                    Err(e) => problems.push(format!("processor {}: {e}", m.name)),
                }
                continue;
            }
            Ok(info) => info.manifest,
        };
        let fixed = [
            ("inputs", running.inputs != m.inputs),
            ("outputs", running.outputs != m.outputs),
            ("start", running.start != m.start),
            ("limits", running.limits != m.limits),
            ("on_error", running.on_error != m.on_error),
        ];
        for (field, differs) in fixed {
            if differs {
                problems.push(format!(
                    "processor {} runs with another `{field}` than declared, which an \
                     upgrade cannot change: delete the processor first (weir processor delete \
                     {}; its state and offsets go with it) or give the new one another name",
                    m.name, m.name
                ));
            }
        }
        let module = processors.module(&m.name).map_or(true, |bytes| bytes != decl.module);
        let config = running.config != m.config;
        if module || config {
            match processors.check_module(&decl.module) {
                Ok(()) => changes.push(Change::Upgrade { name: m.name.clone(), module, config }),
                Err(e) => problems.push(format!("processor {}: {e}", m.name)),
            }
        }
    }
    if problems.is_empty() { Ok(changes) } else { Err(PipelineError::Invalid(problems)) }
}

/// The processors' indexes, each after those writing what it reads, or a cycle
/// as `a -> topic -> b -> ...`. An edge through a feedback topic that closes a
/// loop (its reader reaches its writer) does not order them.
fn upstream_first(pipeline: &Pipeline) -> Result<Vec<usize>, String> {
    let feedback: BTreeSet<&str> =
        pipeline.topics.iter().filter(|t| t.feedback).map(|t| t.name.as_str()).collect();
    let procs = &pipeline.processors;
    // Edges: (i, topic, j) when i writes the topic and j reads it.
    let mut all = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        for t in &p.manifest.outputs {
            for (j, q) in procs.iter().enumerate() {
                if q.manifest.inputs.contains(t) {
                    all.push((i, t.as_str(), j));
                }
            }
        }
    }
    let reaches = |from: usize, to: usize| {
        let (mut seen, mut todo) = (vec![false; procs.len()], vec![from]);
        while let Some(k) = todo.pop() {
            if k == to {
                return true;
            }
            if !std::mem::replace(&mut seen[k], true) {
                todo.extend(all.iter().filter(|(a, _, _)| *a == k).map(|(_, _, b)| *b));
            }
        }
        false
    };
    let edges: Vec<(usize, &str, usize)> =
        all.iter().copied().filter(|&(i, t, j)| !(feedback.contains(t) && reaches(j, i))).collect();

    // Depth first, with the path kept to name a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    struct Walk<'a> {
        edges: &'a [(usize, &'a str, usize)],
        names: Vec<&'a str>,
        marks: Vec<Mark>,
        path: Vec<(usize, &'a str)>,
        out: Vec<usize>,
    }
    impl Walk<'_> {
        fn visit(&mut self, i: usize) -> Result<(), String> {
            self.marks[i] = Mark::OnPath;
            let next: Vec<(&str, usize)> =
                self.edges.iter().filter(|(a, _, _)| *a == i).map(|(_, t, b)| (*t, *b)).collect();
            for (topic, j) in next {
                self.path.push((i, topic));
                match self.marks[j] {
                    Mark::Done => {}
                    Mark::OnPath => {
                        let from = self.path.iter().position(|(k, _)| *k == j).unwrap_or(0);
                        let mut cycle: Vec<String> = self.path[from..]
                            .iter()
                            .map(|(k, t)| format!("{} -> {t}", self.names[*k]))
                            .collect();
                        cycle.push(self.names[j].to_owned());
                        return Err(cycle.join(" -> "));
                    }
                    Mark::New => self.visit(j)?,
                }
                self.path.pop();
            }
            self.marks[i] = Mark::Done;
            self.out.push(i);
            Ok(())
        }
    }
    let mut walk = Walk {
        edges: &edges,
        names: procs.iter().map(|p| p.manifest.name.as_str()).collect(),
        marks: vec![Mark::New; procs.len()],
        path: Vec::new(),
        out: Vec::with_capacity(procs.len()),
    };
    for i in 0..procs.len() {
        if walk.marks[i] == Mark::New {
            walk.visit(i)?;
        }
    }
    walk.out.reverse();
    Ok(walk.out)
}
