//! Errors a processor sees and returns.

use std::fmt;

/// Why a processor's `init` or `process` failed.
///
/// Any `std::error::Error` converts into it, so `?` works on emit, state, JSON and
/// parse errors; [`Error::msg`] makes one from a message. Like `anyhow::Error` it
/// does not implement `std::error::Error` itself (that would conflict with the
/// blanket `From`).
pub struct Error {
    /// The message the host records: in the status, the logs and the dead letter.
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self { message: message.to_string() }
    }

    /// The message, including the messages of the sources it was made from.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, by value.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

/// Why `process` failed for a batch, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessError {
    /// The processor's error message.
    pub message: String,
    /// The offset of the record whose `process` failed: the host dead-letters that
    /// record without splitting the batch.
    pub offset: Option<u64>,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "record at offset {offset}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ProcessError {}

/// Why a record could not be emitted (the WIT `emit-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The topic is not one of the deployment's output topics.
    UndeclaredTopic,
    /// The topic has no such partition.
    NoSuchPartition,
    /// The batch's cap on output records or bytes is reached.
    OutputLimit,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UndeclaredTopic => "emit: the topic is not a declared output topic",
            Self::NoSuchPartition => "emit: the topic has no such partition",
            Self::OutputLimit => "emit: the batch's output limit is reached",
        })
    }
}

impl std::error::Error for EmitError {}

/// Why a state change was refused (the WIT `state-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// The partition's state would pass its size cap.
    StateLimit,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StateLimit => "state: the partition's state would pass its size cap",
        })
    }
}

impl std::error::Error for StateError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bad count")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn from_error_keeps_the_source_chain() {
        let inner = "x".parse::<u32>().unwrap_err();
        let error = Error::from(Outer(inner));
        assert_eq!(error.message(), "bad count: invalid digit found in string");
    }

    #[test]
    fn process_error_names_the_offset() {
        let error = ProcessError { message: "boom".into(), offset: Some(7) };
        assert_eq!(error.to_string(), "record at offset 7: boom");
    }
}
