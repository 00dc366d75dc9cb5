//! A gzip file compressed off the writing thread: the text is cut into chunks of
//! [`CHUNK`] bytes, each compressed as one gzip member by a small pool of threads, and the
//! members are hashed and written in order by another. The concatenation is one valid gzip file
//! (RFC 1952 §2.2: a file is a series of members) that `gzip -d`, `zcat`, Python's `gzip` and
//! flate2's `MultiGzDecoder` (what apply and import read with) decompress to the same text.
//!
//! Why: a cut's COPY stream, its line rewriting and deflate all ran in one thread, and deflate
//! alone took longer than the COPY baseline. Memory stays bounded: at most [`IN_FLIGHT`] chunks
//! wait or are being compressed, whatever the packet's size.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::durable::{create_fresh, HashingWriter};

/// Text per gzip member: large enough that a member's header, trailer and fresh dictionary
/// cost nothing measurable (deflate's window is 32 KiB), small enough to keep memory low.
pub const CHUNK: usize = 1 << 20;

/// Chunks compressed or queued at once, beyond the one being filled.
const IN_FLIGHT: usize = 6;

/// A chunk to compress, and where its member goes.
type Job = (Vec<u8>, SyncSender<io::Result<Vec<u8>>>);

pub struct ParallelGzFile {
    buf: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    /// The members in order, as the writer thread takes them.
    order: Option<SyncSender<Receiver<io::Result<Vec<u8>>>>>,
    workers: Vec<JoinHandle<()>>,
    /// Members handed to the compressors so far.
    members: u64,
    writer: Option<JoinHandle<io::Result<(File, String, u64)>>>,
}

/// Compressor threads: the machine's cores less one for the thread reading the text (and the
/// server producing it), at least one, at most four.
fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .clamp(1, 4)
}

impl ParallelGzFile {
    pub fn create(path: &Path, level: u32) -> io::Result<ParallelGzFile> {
        let file = create_fresh(path)?;
        let level = flate2::Compression::new(level.min(9));
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(IN_FLIGHT / 2);
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let workers = (0..worker_count())
            .map(|_| {
                let jobs = Arc::clone(&jobs_rx);
                std::thread::spawn(move || loop {
                    let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((text, done)) = job else { return };
                    let _ = done.send(compress(&text, level));
                })
            })
            .collect();
        let (order_tx, order_rx) = mpsc::sync_channel::<Receiver<io::Result<Vec<u8>>>>(IN_FLIGHT);
        let writer = std::thread::spawn(move || {
            let mut out = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
            for member in order_rx {
                let bytes = member
                    .recv()
                    .map_err(|_| io::Error::other("a gzip compressor thread ended early"))??;
                out.write_all(&bytes)?;
            }
            let (buffered, sha256, size) = out.finish();
            let file = buffered.into_inner().map_err(|e| e.into_error())?;
            Ok((file, sha256, size))
        });
        Ok(ParallelGzFile {
            buf: Vec::with_capacity(CHUNK),
            jobs: Some(jobs_tx),
            order: Some(order_tx),
            workers,
            members: 0,
            writer: Some(writer),
        })
    }

    /// Hands the filled chunk to the compressors (an empty one only to end an empty file).
    fn send_chunk(&mut self) -> io::Result<()> {
        let text = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.members += 1;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let sent = match (&self.order, &self.jobs) {
            (Some(order), Some(jobs)) => {
                order.send(done_rx).is_ok() && jobs.send((text, done_tx)).is_ok()
            }
            _ => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped: its error says why.
            Err(self
                .stop()
                .err()
                .unwrap_or_else(|| io::Error::other("the gzip writer thread ended early")))
        }
    }

    /// Ends the threads; the writer's result.
    fn stop(&mut self) -> io::Result<(File, String, u64)> {
        self.order = None;
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        match self.writer.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the gzip writer thread panicked"))),
            None => Err(io::Error::other("the gzip file was already finished")),
        }
    }

    /// Completes the last member and fsyncs the file: its hex sha256 and size.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        if !self.buf.is_empty() || self.members == 0 {
            self.send_chunk()?;
        }
        let (file, sha256, size) = self.stop()?;
        file.sync_all()?;
        Ok((sha256, size))
    }
}

fn compress(text: &[u8], level: flate2::Compression) -> io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(text.len() / 3 + 64), level);
    gz.write_all(text)?;
    gz.finish()
}

impl Write for ParallelGzFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == CHUNK {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ParallelGzFile {
    /// An unfinished file (a failed cut removes it) still ends its threads.
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(text: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.gz");
        let mut gz = ParallelGzFile::create(&path, 3).unwrap();
        // Uneven writes, so chunks fill across calls.
        for piece in text.chunks(7919) {
            gz.write_all(piece).unwrap();
        }
        let (sha256, size) = gz.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((sha256, size), {
            let mut h = HashingWriter::new(io::sink());
            h.write_all(&bytes).unwrap();
            let (_, s, n) = h.finish();
            (s, n)
        });
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn members_decode_to_the_text_in_order() {
        let text: Vec<u8> = (0..3 * CHUNK + 12345)
            .map(|i| b"abcdefghij\t\n"[(i * 7 + i / 1000) % 12])
            .collect();
        roundtrip(&text);
        roundtrip(b"one line\n");
        roundtrip(b"");
        roundtrip(&text[..CHUNK]);
    }
}
