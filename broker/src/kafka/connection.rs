//! Framing on one client connection: Kafka's 4-byte size prefix, then the frame.
//!
//! An incomplete frame is a state, not an error: `read_frame` keeps reading until a
//! whole one is buffered. A size prefix that is negative or over the limit cannot be
//! answered (the correlation id is unknown), so it ends the connection.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use super::response::Response;

/// Why a connection stops being read.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The size prefix is negative or over `max_frame`.
    #[error("frame size {size} is outside 0..={max} bytes")]
    BadSize {
        /// The size the client sent.
        size: i32,
        /// The limit (Kafka: socket.request.max.bytes).
        max: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Torn,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One client connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket, with writes buffered so a response goes out in few syscalls.
    stream: BufWriter<TcpStream>,
    /// Bytes read and not yet framed.
    buffer: BytesMut,
    /// The largest frame accepted.
    max_frame: usize,
    /// The client's address, for logs.
    peer: SocketAddr,
}

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, peer: SocketAddr, max_frame: usize) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection {
            stream: BufWriter::with_capacity(64 * 1024, stream),
            buffer: BytesMut::with_capacity(64 * 1024),
            max_frame,
            peer,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The next whole frame (without its size prefix); None when the client closed
    /// the connection between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            if self.stream.get_mut().read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() { Ok(None) } else { Err(FrameError::Torn) };
            }
        }
    }

    fn parse_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let size =
            i32::from_be_bytes([self.buffer[0], self.buffer[1], self.buffer[2], self.buffer[3]]);
        if size < 0 || size as usize > self.max_frame {
            return Err(FrameError::BadSize { size, max: self.max_frame });
        }
        let size = size as usize;
        if self.buffer.len() < 4 + size {
            self.buffer.reserve(4 + size - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }

    /// Writes one response: size prefix, the encoded bytes, and any record bytes
    /// that go straight from segment files.
    pub async fn write_response(&mut self, response: Response) -> io::Result<()> {
        response.write_to(&mut self.stream).await?;
        self.stream.flush().await
    }
}
