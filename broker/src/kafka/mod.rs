//! The Kafka wire protocol, served over the partition log.
//!
//! Layout:
//! - `server`: the listener and each connection's request loop (read frame, parse
//!   header, check version, decode, dispatch, encode, write).
//! - `connection`: framing (4-byte size prefix); incomplete frames are a state.
//! - `response`: response encoding, with fetched records spliced from segment files
//!   by sendfile rather than copied.
//! - `handlers`: one file per API, and the registry that declares each API once;
//!   ApiVersions, dispatch and the per-API metrics derive from it.
//! - `error_codes`: the Kafka error code of every domain error (storage, topics,
//!   appends, groups), in one place.
//!
//! Message types come from the `kafka-protocol` crate, generated from Kafka's own
//! message specs. Client errors are answered with Kafka error codes in the
//! response; a frame that cannot be parsed closes the connection, with a log line.

pub mod connection;
pub mod error_codes;
pub mod handlers;
pub mod response;
pub mod server;
