//! A response body written while it is sent, from a blocking thread: [`BodyWriter`] is a
//! [`std::io::Write`] whose bytes reach the client in chunks as they are written, and [`body`]
//! the response body they make. Large answers (the annotated frames' archive, a flight's export)
//! are never held in memory whole: a slow client makes the writer wait, one that goes makes it
//! fail.

use axum::body::Body;

/// A response body made while it is sent: the chunks a [`BodyWriter`] writes.
pub type Chunks = tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// A blocking [`std::io::Write`] whose bytes become an HTTP response body as they are written,
/// in chunks of [`BodyWriter::CHUNK`]: a large export is never held in memory whole. It waits while the client is slow (a few chunks are buffered) and fails with
/// `BrokenPipe` once the client has gone. Use it from a blocking thread.
pub struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl BodyWriter {
    pub const CHUNK: usize = 64 * 1024;

    /// A writer and the body it feeds.
    pub fn new() -> (Self, Chunks) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let buf = Vec::with_capacity(Self::CHUNK);
        (Self { tx, buf }, rx)
    }

    fn send(&mut self, chunk: std::io::Result<Vec<u8>>) -> std::io::Result<()> {
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }

    /// Sends what is left: the body ends complete.
    pub fn finish(mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self)
    }

    /// Ends the body with an error: the client sees the download fail, not a short file that
    /// looks whole.
    pub fn fail(mut self, why: String) {
        let _ = self.send(Err(std::io::Error::other(why)));
    }
}

impl std::io::Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(Self::CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == Self::CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::CHUNK));
            self.send(Ok(chunk))?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.send(Ok(chunk))
    }
}

/// The response body of what a [`BodyWriter`] writes into `chunks`.
pub fn body(chunks: Chunks) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        chunks,
        |mut chunks| async move { chunks.recv().await.map(|c| (c, chunks)) },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_writer_sends_bounded_chunks_in_order_and_stops_when_the_client_goes() {
        let (mut w, mut chunks) = BodyWriter::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = std::thread::spawn(move || {
            std::io::Write::write_all(&mut w, &data).unwrap();
            w.finish().unwrap();
            data
        });
        let mut got = Vec::new();
        while let Some(chunk) = chunks.blocking_recv() {
            let chunk = chunk.unwrap();
            assert!(!chunk.is_empty() && chunk.len() <= BodyWriter::CHUNK);
            got.extend(chunk);
        }
        assert_eq!(got, writer.join().unwrap());

        // The client goes after one chunk: the writer fails instead of filling memory.
        let (mut w, mut chunks) = BodyWriter::new();
        let writer = std::thread::spawn(move || {
            let big = vec![7u8; 64 * BodyWriter::CHUNK];
            std::io::Write::write_all(&mut w, &big)
        });
        assert!(chunks.blocking_recv().unwrap().is_ok());
        drop(chunks);
        let err = writer.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);

        // A failure ends the body with an error after what was sent.
        let (mut w, mut chunks) = BodyWriter::new();
        std::thread::spawn(move || {
            std::io::Write::write_all(&mut w, b"half an archive").unwrap();
            std::io::Write::flush(&mut w).unwrap();
            w.fail("cannot read 12.jpg".into());
        });
        assert_eq!(chunks.blocking_recv().unwrap().unwrap(), b"half an archive");
        let err = chunks.blocking_recv().unwrap().unwrap_err();
        assert!(err.to_string().contains("12.jpg"));
        assert!(chunks.blocking_recv().is_none());
    }
}
