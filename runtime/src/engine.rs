//! The runtime: one wasmtime engine for every processor, the thread that drives
//! its epoch (CPU deadlines), the linker with what the WIT grants, and the
//! compiled-component cache on disk.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::{self, ProcessorPre};
use crate::host::Host;
use crate::limits::{self, EPOCH_TICK};
use crate::manifest::Manifest;
use crate::processor::Processor;
use crate::store::{LogStore, StoreError};

/// How the runtime is set up.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are kept so restarts do not recompile; None
    /// compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// Why the runtime could not start.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration or the linker.
    #[error("starting the Wasm engine failed: {0}")]
    Engine(String),
    /// The cache directory cannot be created.
    #[error("cannot create the component cache {path}: {source}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a module was refused at deployment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    /// Not WebAssembly at all.
    #[error(
        "the module is not WebAssembly (it does not start with \\0asm): upload the .wasm file \
         built for wasm32-wasip2"
    )]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "the module is a core WebAssembly module, not a component: build it for the \
         wasm32-wasip2 target (cargo build --target wasm32-wasip2) or wrap it with \
         `wasm-tools component new`"
    )]
    CoreModule,
    /// Wasmtime could not validate or compile it.
    #[error("the component is not valid: {0}")]
    Invalid(String),
    /// It does not implement the world `weir:processor/processor@0.1.0`.
    #[error(
        "the component does not implement world weir:processor/processor@0.1.0: {0} \
         (build it against runtime/wit/processor.wit, e.g. with the weir-sdk crate)"
    )]
    WrongWorld(String),
}

/// A compiled, validated processor component, ready to instantiate.
#[derive(Clone)]
pub struct Module {
    /// SHA-256 of the component's bytes, hex.
    digest: Arc<str>,
    /// Pre-linked against the host's imports.
    pub(crate) pre: ProcessorPre<Host>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("digest", &self.digest).finish_non_exhaustive()
    }
}

impl Module {
    /// SHA-256 of the component's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The engine it was compiled for.
    pub(crate) fn engine(&self) -> &Engine {
        self.pre.engine()
    }
}

/// The Wasm host shared by every processor.
#[derive(Clone)]
pub struct Runtime {
    /// Shared state; the epoch thread stops when the last clone is dropped.
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<Host>,
    cache_dir: Option<PathBuf>,
    /// Tells the epoch thread to end.
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache_dir", &self.inner.cache_dir).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the engine and its epoch thread.
    pub fn new(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        limits::add_wasi(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        bindings::Processor::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        if let Some(dir) = &options.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|source| RuntimeError::Cache { path: dir.clone(), source })?;
        }
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), Arc::clone(&stop_ticker));
        std::thread::Builder::new()
            .name("weir-wasm-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Runtime {
            inner: Arc::new(Inner { engine, linker, cache_dir: options.cache_dir, stop_ticker }),
        })
    }

    /// Validates that `wasm` is a component of world `weir:processor/processor`
    /// and compiles it, or loads it from the cache. Blocking: compiling takes
    /// seconds for a large component.
    pub fn compile(&self, wasm: &[u8]) -> Result<Module, CompileError> {
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(CompileError::NotWasm);
        }
        // Core modules have layer 0 in bytes 6..8; components layer 1.
        if wasm[6..8] == [0, 0] {
            return Err(CompileError::CoreModule);
        }
        let digest: String = Sha256::digest(wasm).iter().map(|b| format!("{b:02x}")).collect();
        let component = self.load_or_compile(wasm, &digest)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| CompileError::WrongWorld(format!("{e:#}")))?;
        let pre = ProcessorPre::new(pre).map_err(|e| CompileError::WrongWorld(format!("{e:#}")))?;
        Ok(Module { digest: digest.into(), pre })
    }

    fn load_or_compile(&self, wasm: &[u8], digest: &str) -> Result<Component, CompileError> {
        let cached = self.cache_path(digest);
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file was written by `Component::serialize` of an engine
            // with the same compatibility hash (it is in the name), into the
            // runtime's own cache directory, and renamed into place only once
            // complete.
            match unsafe { Component::deserialize_file(&self.inner.engine, path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cached component unusable; recompiling")
                }
            }
        }
        let component = Component::new(&self.inner.engine, wasm)
            .map_err(|e| CompileError::Invalid(format!("{e:#}")))?;
        if let Some(path) = &cached
            && let Err(e) = write_cache(path, &component)
        {
            tracing::warn!(path = %path.display(), error = %e, "caching a compiled component failed");
        }
        Ok(component)
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.inner.cache_dir.as_ref()?;
        let mut hasher = DefaultHasher::new();
        self.inner.engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish())))
    }

    /// Starts `manifest`'s processor on `module`: one worker thread per input
    /// partition, each resuming from its checkpoint. Fails if the input topic
    /// or an output topic does not exist.
    pub fn start(
        &self,
        manifest: Manifest,
        module: Module,
        store: Arc<dyn LogStore>,
    ) -> Result<Processor, StoreError> {
        Processor::start(manifest, module, store, false)
    }

    /// Starts a processor paused, as a deployment paused by the operator is
    /// restarted: its workers load their checkpoints but process nothing until
    /// `resume`.
    pub fn start_paused(
        &self,
        manifest: Manifest,
        module: Module,
        store: Arc<dyn LogStore>,
    ) -> Result<Processor, StoreError> {
        Processor::start(manifest, module, store, true)
    }

    /// The engine (for tests that instantiate directly).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

fn write_cache(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
