//! Encoding responses, with record bytes that go from segment files to the socket
//! without passing through a user-space buffer.
//!
//! A Fetch response is encoded by `kafka-protocol` like any other message, except
//! that each partition's records field holds a *placeholder*: a slice of a reserved,
//! never-touched anonymous mapping, of the right length. [`SpliceBuf`] recognises
//! the placeholder when the encoder copies it, records a hole at that position
//! instead of copying, and `Response::write_to` later fills each hole with
//! `sendfile(2)` from the segment file.

use std::io;
use std::sync::LazyLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;
use memmap2::{Mmap, MmapOptions};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use crate::log::FileSlice;

/// The largest records field a placeholder can stand for.
const PLACEHOLDER_MAX: usize = 1 << 31;

/// Address space reserved for placeholders: mapped, never read or written, so it
/// costs no memory.
static PLACEHOLDER: LazyLock<Mmap> = LazyLock::new(|| {
    MmapOptions::new()
        .len(PLACEHOLDER_MAX)
        .map_anon()
        .and_then(|m| m.make_read_only())
        .expect("reserving address space for fetch placeholders")
});

/// A stand-in for `slice`'s bytes in a message to encode. The slice must be
/// registered with [`SpliceBuf::expect`] in the same order the encoder meets the
/// placeholders.
pub fn placeholder(slice: &FileSlice) -> Bytes {
    let base: &'static [u8] = &PLACEHOLDER[..];
    Bytes::from_static(&base[..slice.len.min(PLACEHOLDER_MAX)])
}

fn is_placeholder(bytes: &[u8]) -> bool {
    !bytes.is_empty() && std::ptr::eq(bytes.as_ptr(), PLACEHOLDER.as_ptr())
}

/// An encoding buffer that turns placeholders into holes.
#[derive(Debug, Default)]
pub struct SpliceBuf {
    /// The encoded bytes, holes excluded.
    buf: BytesMut,
    /// Slices still to meet, in encoding order.
    expected: std::collections::VecDeque<FileSlice>,
    /// (position in `buf`, slice) for each hole met.
    holes: Vec<(usize, FileSlice)>,
}

impl SpliceBuf {
    /// An empty buffer.
    pub fn new() -> SpliceBuf {
        SpliceBuf::default()
    }

    /// Registers the next slice whose placeholder the encoder will meet.
    pub fn expect(&mut self, slice: FileSlice) {
        self.expected.push_back(slice);
    }

    /// The bytes encoded so far (for the size prefix and the header).
    pub fn bytes_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

// SAFETY: every method forwards to BytesMut's implementation, which upholds the
// BufMut contract; `put_slice` only adds a bookkeeping path that writes nothing.
unsafe impl BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.buf.remaining_mut()
    }
    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller upholds advance_mut's contract for `buf`'s chunk.
        unsafe { self.buf.advance_mut(cnt) }
    }
    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.buf.chunk_mut()
    }
    fn put_slice(&mut self, src: &[u8]) {
        if is_placeholder(src)
            && let Some(slice) = self.expected.pop_front()
        {
            debug_assert_eq!(slice.len, src.len());
            self.holes.push((self.buf.len(), slice));
            return;
        }
        self.buf.put_slice(src)
    }
}

impl ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.buf.len()
    }
    fn seek(&mut self, offset: usize) {
        self.buf.resize(offset, 0);
    }
    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.buf[r]
    }
}

/// A response ready to write: encoded bytes (header and body) and the file slices
/// spliced into them.
#[derive(Debug)]
pub struct Response {
    /// Header and body, holes excluded, without the size prefix.
    bytes: BytesMut,
    /// (position in `bytes`, slice) of each hole, in order.
    holes: Vec<(usize, FileSlice)>,
}

impl Response {
    /// A response with no holes.
    pub fn plain(bytes: BytesMut) -> Response {
        Response { bytes, holes: Vec::new() }
    }

    /// A response encoded into a `SpliceBuf`.
    pub fn spliced(buf: SpliceBuf) -> io::Result<Response> {
        if !buf.expected.is_empty() {
            return Err(io::Error::other("a fetch placeholder was not met while encoding"));
        }
        Ok(Response { bytes: buf.buf, holes: buf.holes })
    }

    /// Bytes on the wire after the size prefix.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.holes.iter().map(|(_, s)| s.len).sum::<usize>()
    }

    /// True for an empty response (never sent in practice).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the size prefix, then bytes and holes in order.
    pub async fn write_to(self, out: &mut BufWriter<TcpStream>) -> io::Result<()> {
        let size =
            i32::try_from(self.len()).map_err(|_| io::Error::other("response over 2 GiB"))?;
        out.write_all(&size.to_be_bytes()).await?;
        let mut at = 0;
        for (position, slice) in self.holes {
            out.write_all(&self.bytes[at..position]).await?;
            at = position;
            out.flush().await?;
            send_file(out.get_mut(), &slice).await?;
        }
        out.write_all(&self.bytes[at..]).await
    }
}

/// Sends a file slice to the socket: `sendfile(2)` on Linux, a read and a write
/// elsewhere.
#[cfg(target_os = "linux")]
async fn send_file(stream: &mut TcpStream, slice: &FileSlice) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    let (mut offset, mut left) = (slice.position as libc::off_t, slice.len);
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the call's duration (the socket
            // is borrowed, the file held by the slice's Arc); `offset` is a valid
            // pointer to a local that sendfile updates.
            let n = unsafe {
                libc::sendfile(stream.as_raw_fd(), slice.file.as_raw_fd(), &mut offset, left)
            };
            if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended early",
                ));
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn send_file(stream: &mut TcpStream, slice: &FileSlice) -> io::Result<()> {
    stream.write_all(&slice.read()?).await
}
