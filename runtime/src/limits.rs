//! The sandbox, in one place: what a processor instance may use and how the host
//! enforces it.
//!
//! - No filesystem, network, environment or ambient clock: the WASI context an
//!   instance gets has no preopened directories, no sockets, no variables or
//!   arguments, and clocks frozen at the Unix epoch (a processor that needs time
//!   uses its records' timestamps). Its stdout and stderr go to the processor's
//!   log, capped.
//! - Memory: each instance's linear memories and tables are capped
//!   (`memory_bytes`); growing past the cap traps.
//! - CPU: every call into the guest runs under an epoch deadline of
//!   `call_timeout_ms`; the engine's epoch is bumped every `EPOCH_TICK` by one
//!   thread, and a guest past its deadline traps.
//! - Output: per batch at most `max_outputs_per_batch` records and
//!   `max_output_bytes_per_batch` bytes may be emitted, only to declared topics.
//! - State: at most `max_state_bytes` of keys and values per input partition.
//! - Logs: at most `max_log_lines_per_call` lines per call, each cut to
//!   `MAX_LOG_LINE` bytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreContextMut};
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::guest_io::GuestOutput;
use crate::host::Host;

/// How often the epoch advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The longest log line kept; longer ones are cut and marked.
pub const MAX_LOG_LINE: usize = 4096;
/// The largest `memory_bytes` a deployment may ask for.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;
/// The longest `call_timeout_ms` a deployment may ask for.
pub const MAX_CALL_TIMEOUT_MS: u64 = 60_000;

/// A deployment's limits; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Cap on an instance's linear memory, in bytes.
    pub memory_bytes: u64,
    /// CPU deadline of one call into the guest, in milliseconds.
    pub call_timeout_ms: u64,
    /// Most records handed to one `process` call.
    pub max_batch_records: u32,
    /// Most records one batch may emit.
    pub max_outputs_per_batch: u32,
    /// Most bytes (keys, values, headers) one batch may emit.
    pub max_output_bytes_per_batch: u64,
    /// Most bytes of keys and values kept in state per input partition.
    pub max_state_bytes: u64,
    /// Most log lines one call may write; more are counted and dropped.
    pub max_log_lines_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_timeout_ms: 1000,
            max_batch_records: 1000,
            max_outputs_per_batch: 10_000,
            max_output_bytes_per_batch: 16 << 20,
            max_state_bytes: 256 << 20,
            max_log_lines_per_call: 100,
        }
    }
}

impl Limits {
    /// Checks every limit is in range; the message says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_bytes < (1 << 20) || self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "limits.memory_bytes {} is out of range: use 1 MiB to {MAX_MEMORY_BYTES}",
                self.memory_bytes
            ));
        }
        if self.call_timeout_ms < EPOCH_TICK.as_millis() as u64
            || self.call_timeout_ms > MAX_CALL_TIMEOUT_MS
        {
            return Err(format!(
                "limits.call_timeout_ms {} is out of range: use {} to {MAX_CALL_TIMEOUT_MS}",
                self.call_timeout_ms,
                EPOCH_TICK.as_millis()
            ));
        }
        let positive = [
            ("max_batch_records", u64::from(self.max_batch_records)),
            ("max_outputs_per_batch", u64::from(self.max_outputs_per_batch)),
            ("max_output_bytes_per_batch", self.max_output_bytes_per_batch),
            ("max_state_bytes", self.max_state_bytes),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("limits.{name} must be at least 1"));
            }
        }
        Ok(())
    }

    /// The call deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        (self.call_timeout_ms / EPOCH_TICK.as_millis() as u64).max(1)
    }
}

/// Caps an instance's memories and tables, and remembers the memory size for
/// status reports. Growing past the cap traps with a message naming the limit.
#[derive(Debug)]
pub struct MemoryLimiter {
    /// Cap on one linear memory, in bytes.
    memory_bytes: usize,
    /// The largest size any memory of the instance asked for and got.
    pub used: usize,
}

/// The most elements one table may have.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        MemoryLimiter { memory_bytes: limits.memory_bytes as usize, used: 0 }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::format_err!(
                "memory limit reached: the instance asked for {desired} bytes of linear memory, \
                 limits.memory_bytes is {}",
                self.memory_bytes
            ));
        }
        self.used = self.used.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::format_err!(
                "table limit reached: {desired} elements asked for, at most {MAX_TABLE_ELEMENTS}"
            ));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        // A component made by wasm-component-ld has a handful of core instances.
        100
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        10
    }
}

/// A wall clock stopped at the Unix epoch.
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that never moves.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The WASI context of an instance: no preopened directories, no sockets, no
/// environment or arguments, frozen clocks, stdout and stderr captured.
pub fn wasi_ctx(stdout: GuestOutput, stderr: GuestOutput) -> WasiCtx {
    WasiCtxBuilder::new()
        .stdout(stdout)
        .stderr(stderr)
        .wall_clock(FrozenWallClock)
        .monotonic_clock(FrozenMonotonicClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// A pollable that is always ready: what a guest's sleep waits on.
struct Ready;

impl Pollable for Ready {
    fn ready<'a, 'b>(
        &'a mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

fn ready_pollable(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let ready = table.push(Ready)?;
    wasmtime_wasi::p2::subscribe(table, ready)
}

/// The WASI version whose clock functions `add_wasi` replaces.
const WASI_CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Adds WASI 0.2 to `linker`, with the monotonic clock's timers replaced by ones
/// that are ready at once: time is frozen, so a guest's sleep returns at once
/// instead of holding its worker past the call deadline.
pub fn add_wasi(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(WASI_CLOCKS)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, Host>, (_,): (u64,)| {
            Ok((ready_pollable(&mut store.data_mut().table)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, Host>, (_,): (u64,)| {
            Ok((ready_pollable(&mut store.data_mut().table)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
