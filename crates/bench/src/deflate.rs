//! permessage-deflate (RFC 7692) for the load generator's clients, the way a browser
//! negotiates and uses it: the upgrade offers `permessage-deflate;
//! client_max_window_bits` (Chrome's and Firefox's offer), every compressed frame the
//! server sends is inflated, and every text or binary message the client sends is
//! compressed.
//!
//! tungstenite 0.28 has no permessage-deflate, so this is a thin layer between the TCP
//! socket and tungstenite: the same tungstenite parses every frame with compression or
//! without, and the only extra client work is the inflating (and compressing) itself.
//! On the way in, a compressed message (RSV1 set on its first frame, any continuation
//! frames after it) becomes one plain frame; on the way out, a client's unfragmented
//! data frame becomes a compressed one (RSV1 set, masked again with its own key).
//! Control frames and uncompressed messages pass through unchanged. Without an offer,
//! or when the server does not accept it, the layer only forwards bytes.
//!
//! Context takeover as negotiated by default (neither side asks for
//! `no_context_takeover`): one inflater per socket keeps its 32 KiB window across
//! messages. Each outgoing message is compressed by a fresh compressor: a valid stream
//! for a receiver that keeps its window (it only refers to nothing older), and it spares
//! the load generator a compressor per socket (~300 KiB each) for the one or two
//! messages a benchmark client sends.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The offer a browser sends.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// Payload bytes of the data frames received by compressing clients, as sent on the
/// wire and after inflating (all sockets of the process): the compression ratio a
/// scenario's messages get.
pub static WIRE_BYTES: AtomicU64 = AtomicU64::new(0);
pub static INFLATED_BYTES: AtomicU64 = AtomicU64::new(0);

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// The HTTP upgrade: bytes pass until the response's headers have been read.
    Handshake,
    /// No extension: bytes pass.
    Plain,
    /// permessage-deflate negotiated.
    Deflate,
}

/// A client's TCP socket, with permessage-deflate when `offer` was made and accepted.
pub struct Stream {
    inner: TcpStream,
    state: State,
    /// Read side: bytes from the socket not yet parsed, from `raw_at`.
    raw: Vec<u8>,
    raw_at: usize,
    /// Read side: bytes for tungstenite, from `plain_at`.
    plain: Vec<u8>,
    plain_at: usize,
    /// A compressed message arriving in several frames: its opcode and payload so far.
    collecting: Option<u8>,
    message: Vec<u8>,
    /// Inflated payload (reused).
    inflated: Vec<u8>,
    inflater: Option<Box<Decompress>>,
    /// Write side: frames from tungstenite not yet complete, and bytes to send.
    out_raw: Vec<u8>,
    out: Vec<u8>,
    out_at: usize,
}

impl Stream {
    /// `offer`: the upgrade request carries [`OFFER`] (the caller adds the header).
    pub fn new(inner: TcpStream, offer: bool) -> Stream {
        Stream {
            inner,
            state: if offer {
                State::Handshake
            } else {
                State::Plain
            },
            raw: Vec::new(),
            raw_at: 0,
            plain: Vec::new(),
            plain_at: 0,
            collecting: None,
            message: Vec::new(),
            inflated: Vec::new(),
            inflater: None,
            out_raw: Vec::new(),
            out: Vec::new(),
            out_at: 0,
        }
    }

    /// Moves what can be moved from `raw` to `plain`.
    fn process(&mut self) -> io::Result<()> {
        if self.state == State::Handshake {
            let Some(end) = find(&self.raw[self.raw_at..], b"\r\n\r\n") else {
                return Ok(());
            };
            let head_end = self.raw_at + end + 4;
            let head = String::from_utf8_lossy(&self.raw[self.raw_at..head_end]).to_lowercase();
            let accepted = head.lines().any(|l| {
                l.strip_prefix("sec-websocket-extensions:")
                    .is_some_and(|v| v.contains("permessage-deflate"))
            });
            self.plain
                .extend_from_slice(&self.raw[self.raw_at..head_end]);
            self.raw_at = head_end;
            self.state = if accepted {
                State::Deflate
            } else {
                State::Plain
            };
        }
        if self.state == State::Plain {
            self.plain.extend_from_slice(&self.raw[self.raw_at..]);
            self.raw.clear();
            self.raw_at = 0;
            return Ok(());
        }
        while let Some(frame) = Frame::parse(&self.raw[self.raw_at..]) {
            let start = self.raw_at;
            let end = start + frame.len;
            let payload = start + frame.header..end;
            if frame.mask.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "masked frame from the server",
                ));
            }
            match frame.opcode {
                // Control frames, possibly between the fragments of a message.
                0x8..=0xf => self.plain.extend_from_slice(&self.raw[start..end]),
                // A continuation of a compressed message.
                0x0 if self.collecting.is_some() => {
                    self.message.extend_from_slice(&self.raw[payload]);
                    if frame.fin {
                        let opcode = self.collecting.take().unwrap_or(1);
                        let message = std::mem::take(&mut self.message);
                        self.inflate_and_emit(opcode, &message)?;
                        self.message = message;
                        self.message.clear();
                    }
                }
                // The first frame of a compressed message.
                opcode if frame.rsv1 && opcode != 0 => {
                    if frame.fin {
                        let raw = std::mem::take(&mut self.raw);
                        let result = self.inflate_and_emit(opcode, &raw[payload]);
                        self.raw = raw;
                        result?;
                    } else {
                        self.collecting = Some(opcode);
                        self.message.clear();
                        self.message.extend_from_slice(&self.raw[payload]);
                    }
                }
                // An uncompressed message (or its continuation).
                _ => {
                    WIRE_BYTES.fetch_add(payload.len() as u64, Ordering::Relaxed);
                    INFLATED_BYTES.fetch_add(payload.len() as u64, Ordering::Relaxed);
                    self.plain.extend_from_slice(&self.raw[start..end]);
                }
            }
            self.raw_at = end;
        }
        if self.raw_at == self.raw.len() {
            self.raw.clear();
            self.raw_at = 0;
        }
        Ok(())
    }

    fn inflate_and_emit(&mut self, opcode: u8, compressed: &[u8]) -> io::Result<()> {
        let inflater = self
            .inflater
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        let out = &mut self.inflated;
        out.clear();
        out.reserve(compressed.len() * 4 + 64);
        for input in [compressed, &TAIL[..]] {
            let mut used = 0;
            loop {
                let before = inflater.total_in();
                inflater
                    .decompress_vec(&input[used..], out, FlushDecompress::Sync)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                used += (inflater.total_in() - before) as usize;
                if used == input.len() && out.len() < out.capacity() {
                    break;
                }
                out.reserve(out.capacity().max(256));
            }
        }
        WIRE_BYTES.fetch_add(compressed.len() as u64, Ordering::Relaxed);
        INFLATED_BYTES.fetch_add(out.len() as u64, Ordering::Relaxed);
        write_header(&mut self.plain, 0x80 | opcode, out.len(), None);
        self.plain.extend_from_slice(out);
        Ok(())
    }

    /// Moves the complete frames of `out_raw` to `out`, compressing data messages.
    fn encode(&mut self) -> io::Result<()> {
        let mut at = 0;
        while let Some(frame) = Frame::parse(&self.out_raw[at..]) {
            let (start, end) = (at, at + frame.len);
            let data = matches!(frame.opcode, 0x1 | 0x2);
            match frame.mask {
                Some(mask) if data && frame.fin && !frame.rsv1 => {
                    let mut payload = self.out_raw[start + frame.header..end].to_vec();
                    apply_mask(&mut payload, mask);
                    let mut compressed = deflate(&payload)?;
                    apply_mask(&mut compressed, mask);
                    write_header(
                        &mut self.out,
                        0x80 | 0x40 | frame.opcode,
                        compressed.len(),
                        Some(mask),
                    );
                    self.out.extend_from_slice(&compressed);
                }
                _ => self.out.extend_from_slice(&self.out_raw[start..end]),
            }
            at = end;
        }
        self.out_raw.drain(..at);
        Ok(())
    }

    /// Writes `out` to the socket until it is empty or the socket is full.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        self.out.clear();
        self.out_at = 0;
        Poll::Ready(Ok(()))
    }
}

/// Compresses one message as permessage-deflate does: raw deflate, flushed to a byte
/// boundary, the empty block's 00 00 ff ff removed.
fn deflate(input: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut used = 0;
    loop {
        let before = c.total_in();
        c.compress_vec(&input[used..], &mut out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(e.to_string()))?;
        used += (c.total_in() - before) as usize;
        if used == input.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(256));
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Ok(out)
}

fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

fn write_header(out: &mut Vec<u8>, first: u8, len: usize, mask: Option<[u8; 4]>) {
    let masked = if mask.is_some() { 0x80 } else { 0 };
    out.push(first);
    if len < 126 {
        out.push(masked | len as u8);
    } else if len <= 0xffff {
        out.push(masked | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(masked | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(mask) = mask {
        out.extend_from_slice(&mask);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One complete frame at the start of a buffer.
struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Header length, and header plus payload.
    header: usize,
    len: usize,
}

impl Frame {
    /// None until the buffer holds the whole frame.
    fn parse(b: &[u8]) -> Option<Frame> {
        if b.len() < 2 {
            return None;
        }
        let (b0, b1) = (b[0], b[1]);
        let mut header = 2;
        let payload = match b1 & 0x7f {
            126 => {
                header += 2;
                u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize
            }
            127 => {
                header += 8;
                u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize
            }
            n => n as usize,
        };
        let mask = if b1 & 0x80 != 0 {
            let m: [u8; 4] = b.get(header..header + 4)?.try_into().ok()?;
            header += 4;
            Some(m)
        } else {
            None
        };
        let len = header + payload;
        (b.len() >= len).then_some(Frame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            opcode: b0 & 0x0f,
            mask,
            header,
            len,
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state == State::Plain && this.plain_at == this.plain.len() && this.raw.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if this.plain_at < this.plain.len() {
                let n = buf.remaining().min(this.plain.len() - this.plain_at);
                buf.put_slice(&this.plain[this.plain_at..this.plain_at + n]);
                this.plain_at += n;
                if this.plain_at == this.plain.len() {
                    this.plain.clear();
                    this.plain_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            this.process()?;
            if !this.plain.is_empty() {
                continue;
            }
            this.raw.reserve(8192);
            let spare = this.raw.spare_capacity_mut();
            let mut rb = ReadBuf::uninit(spare);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            // SAFETY: `poll_read` initialized the first `n` bytes of the spare capacity.
            unsafe { this.raw.set_len(this.raw.len() + n) };
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.state != State::Deflate {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        // Back-pressure once a good deal is waiting for the socket.
        if this.out.len() - this.out_at > 64 * 1024 {
            ready!(this.poll_drain(cx))?;
        }
        this.out_raw.extend_from_slice(buf);
        this.encode()?;
        // Sent now if the socket takes it; otherwise by the flush that follows.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflates_and_inflates_with_context_takeover() {
        let messages = [
            r#"{"type":"bench.message","seq":1,"preview":"a benchmark message"}"#,
            r#"{"type":"bench.message","seq":2,"preview":"a benchmark message"}"#,
        ];
        let mut c = Compress::new(Compression::default(), false);
        let mut d = Decompress::new(false);
        for m in messages {
            // A compressor that keeps its window, as the server's does.
            let mut wire = Vec::with_capacity(256);
            c.compress_vec(m.as_bytes(), &mut wire, FlushCompress::Sync)
                .unwrap();
            assert!(wire.ends_with(&TAIL));
            wire.truncate(wire.len() - 4);
            let mut input = wire.clone();
            input.extend_from_slice(&TAIL);
            let mut out = Vec::with_capacity(256);
            d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert_eq!(out, m.as_bytes());
        }
        // A fresh compressor's message reads with the kept window too.
        let mut input = deflate(messages[0].as_bytes()).unwrap();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(256);
        d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, messages[0].as_bytes());
    }

    #[test]
    fn parses_frames() {
        let mut b = Vec::new();
        write_header(&mut b, 0xc1, 300, Some([1, 2, 3, 4]));
        b.extend(std::iter::repeat_n(0u8, 300));
        let f = Frame::parse(&b).unwrap();
        assert!(f.fin && f.rsv1);
        assert_eq!((f.opcode, f.header, f.len), (1, 8, 308));
        assert_eq!(f.mask, Some([1, 2, 3, 4]));
        assert!(Frame::parse(&b[..307]).is_none());
    }
}
