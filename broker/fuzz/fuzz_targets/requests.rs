//! Fuzzes request decoding and handling: each input is one Kafka request frame
//! (without its size prefix), processed by the real server code against a real
//! broker on a temporary data directory. Time is paused, so long polls and group
//! waits finish at once. Any panic is a bug: bad input must become an error code
//! or a closed connection.
//!
//! Run: `cd broker/fuzz && cargo +nightly fuzz run requests corpus/requests`

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::kafka::server;
use weir_broker::storage::{Storage, StorageOptions};

struct World {
    runtime: tokio::runtime::Runtime,
    broker: Arc<Broker>,
    _dir: tempfile::TempDir,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::open(dir.path(), StorageOptions::default()).expect("storage");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
    let addr: SocketAddr = "127.0.0.1:9092".parse().expect("addr");
    let broker = runtime.block_on(async { Broker::new(storage, BrokerOptions::default(), addr).expect("broker") });
    World { runtime, broker, _dir: dir }
});

fuzz_target!(|data: &[u8]| {
    let world = &*WORLD;
    let _ = world.runtime.block_on(server::process(&world.broker, Bytes::copy_from_slice(data)));
});
