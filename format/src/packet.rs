//! The packet byte format (see docs/design.md, "Packet format"): a gzip stream of lines, a
//! `#`-prefixed header, one tab-separated data line per changed row, and a `# end N` trailer.
//! Reading is defensive: every limit is checked before memory is spent, nothing panics.

use std::io::{self, BufRead, Read, Write};

/// The format version written in the first header line. Format 2 added the feed identity and
/// the predecessor's sha256; format 3 the tables a packet reloads whole. Formats 1 and 2 (without
/// them) are still read.
pub const FORMAT_VERSION: u32 = 3;

/// The change a data line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Add = 0,
    Update = 1,
    Remove = 2,
}

impl Op {
    pub fn from_field(field: &[u8]) -> Option<Op> {
        match field {
            b"0" => Some(Op::Add),
            b"1" => Some(Op::Update),
            b"2" => Some(Op::Remove),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Update => "UPDATE",
            Op::Remove => "REMOVE",
        }
    }
}

/// What a packet says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketHeader {
    pub serial: u64,
    /// The serial of the packet before it (0 for the first).
    pub previous: u64,
    /// The identity of the feed that published it (empty in a format 1 packet).
    pub feed: String,
    /// The sha256 of packet `previous` as published, when this feed published it (`None` for a
    /// feed's first packet, and in a format 1 packet).
    pub previous_sha256: Option<String>,
    pub schema_version: u32,
    pub fingerprint: String,
    /// Creation time, RFC 3339 in UTC with microseconds.
    pub created: String,
    /// The tables this packet reloads whole, sorted: every row of each is an ADD line, and a
    /// replica deletes the rows of these tables that the packet does not list (a schema
    /// change's boundary packet, `dump --resync`). Empty before format 3.
    pub reload: Vec<u32>,
}

impl PacketHeader {
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        write!(
            out,
            "# replgen packet {FORMAT_VERSION}\n# serial {}\n# previous {}\n# feed {}\n# previous_sha256 {}\n# schema_version {}\n# fingerprint {}\n# created {}\n# reload {}\n",
            self.serial,
            self.previous,
            self.feed,
            self.previous_sha256.as_deref().unwrap_or("-"),
            self.schema_version,
            self.fingerprint,
            self.created,
            self.reload_text(),
        )
    }

    /// The `# reload` header value: the table ids, space-separated, or `-` for none.
    fn reload_text(&self) -> String {
        if self.reload.is_empty() {
            return "-".into();
        }
        let ids: Vec<String> = self.reload.iter().map(u32::to_string).collect();
        ids.join(" ")
    }
}

/// Whether `text` is a feed identity as replgen writes them: a lowercase UUID.
pub fn is_feed_id(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Whether `text` is a lowercase hex sha256.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The largest serial a feed may use: serials are stored as PostgreSQL `bigint`.
pub const MAX_SERIAL: u64 = i64::MAX as u64;

/// Limits that keep a hostile packet from costing unbounded memory or time. Passed explicitly
/// to every reader, so two readers in one process can hold different limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest line accepted, in bytes.
    pub max_line: usize,
    /// The longest raw value field accepted, in bytes (before unescaping).
    pub max_field: usize,
    /// The most decompressed bytes accepted for one packet (a decompression bomb stops here).
    pub max_bytes: u64,
}

impl Limits {
    /// The limits every replica applies by default. The dumper refuses to publish a row that
    /// would break them, so a feed never carries a line its replicas cannot load.
    pub const DEFAULT: Limits = Limits {
        max_line: 256 << 20,
        max_field: 256 << 20,
        max_bytes: 64 << 30,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Writes the trailer that marks a packet complete.
pub fn write_trailer(out: &mut impl Write, rows: u64) -> io::Result<()> {
    writeln!(out, "# end {rows}")
}

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("cannot read the packet: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: {reason}")]
    Format { line: u64, reason: String },
    #[error("the packet is truncated: it ends at line {line} without its `# end` trailer")]
    Truncated { line: u64 },
    #[error("line {line} is longer than the limit of {limit} bytes")]
    LineTooLong { line: u64, limit: usize },
    #[error("line {line}: a field of {len} bytes is longer than the limit of {limit} bytes")]
    FieldTooLong { line: u64, len: usize, limit: usize },
    #[error("the packet decompresses to more than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
}

fn format_err(line: u64, reason: impl Into<String>) -> PacketError {
    PacketError::Format {
        line,
        reason: reason.into(),
    }
}

/// One data line, borrowed from the reader's buffer.
#[derive(Debug)]
pub struct DataLine<'a> {
    pub line_no: u64,
    pub table_id: u32,
    pub rowid: &'a [u8],
    pub timestamp: &'a [u8],
    pub op: Op,
    /// The value fields (raw COPY text): every column for ADD/UPDATE, the key for REMOVE.
    pub values: &'a [&'a [u8]],
}

/// Streams a decompressed packet: the header first, then one data line at a time.
pub struct PacketReader<R> {
    input: R,
    limits: Limits,
    header: PacketHeader,
    line_no: u64,
    consumed: u64,
    rows: u64,
    finished: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> PacketReader<R> {
    /// Reads and checks the header.
    pub fn new(input: R, limits: Limits) -> Result<Self, PacketError> {
        let mut reader = PacketReader {
            input,
            limits,
            header: PacketHeader {
                serial: 0,
                previous: 0,
                feed: String::new(),
                previous_sha256: None,
                schema_version: 0,
                fingerprint: String::new(),
                created: String::new(),
                reload: Vec::new(),
            },
            line_no: 0,
            consumed: 0,
            rows: 0,
            finished: false,
            buf: Vec::with_capacity(4096),
        };
        reader.read_header()?;
        Ok(reader)
    }

    /// The data lines read so far (all of them once the trailer is read).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn header(&self) -> &PacketHeader {
        &self.header
    }

    /// The number of the last line read (1-based).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Reads the next line into `buf` without its newline; false at end of input.
    fn read_line(&mut self) -> Result<bool, PacketError> {
        self.buf.clear();
        let max = self.limits.max_line as u64 + 1;
        let read = (&mut self.input)
            .take(max)
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        self.consumed += read as u64;
        if self.consumed > self.limits.max_bytes {
            return Err(PacketError::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        if self.buf.last() != Some(&b'\n') {
            if read as u64 >= max {
                return Err(PacketError::LineTooLong {
                    line: self.line_no,
                    limit: self.limits.max_line,
                });
            }
            // A last line without its newline: the stream was cut.
            return Err(PacketError::Truncated { line: self.line_no });
        }
        self.buf.pop();
        Ok(true)
    }

    fn header_value(&mut self, name: &str) -> Result<String, PacketError> {
        if !self.read_line()? {
            return Err(PacketError::Truncated { line: self.line_no });
        }
        let text = std::str::from_utf8(&self.buf)
            .map_err(|_| format_err(self.line_no, "the header is not UTF-8"))?;
        let prefix = format!("# {name} ");
        match text.strip_prefix(&prefix) {
            Some(value) if !value.is_empty() => Ok(value.to_string()),
            _ => Err(format_err(
                self.line_no,
                format!(
                    "expected the header line `# {name} ...`, found `{}`",
                    clip(text)
                ),
            )),
        }
    }

    fn read_header(&mut self) -> Result<(), PacketError> {
        let magic = self.header_value("replgen packet")?;
        let format: u32 = match magic.as_str() {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            _ => {
                return Err(format_err(
                    1,
                    format!(
                    "unsupported packet format {} (this build reads formats 1 to {FORMAT_VERSION})",
                    clip(&magic)
                ),
                ))
            }
        };
        let serial = self.header_value("serial")?;
        self.header.serial = parse_num(&serial, self.line_no, "serial")?;
        if self.header.serial == 0 || self.header.serial > MAX_SERIAL {
            return Err(format_err(
                self.line_no,
                format!(
                    "serial {} is out of range (1 to {MAX_SERIAL})",
                    self.header.serial
                ),
            ));
        }
        let previous = self.header_value("previous")?;
        self.header.previous = parse_num(&previous, self.line_no, "previous")?;
        if self.header.previous >= self.header.serial {
            return Err(format_err(
                self.line_no,
                format!(
                    "previous {} is not before serial {}",
                    self.header.previous, self.header.serial
                ),
            ));
        }
        if format >= 2 {
            self.header.feed = self.header_value("feed")?;
            if !is_feed_id(&self.header.feed) {
                return Err(format_err(self.line_no, "the feed identity is not a UUID"));
            }
            let sha = self.header_value("previous_sha256")?;
            self.header.previous_sha256 = match sha.as_str() {
                "-" => None,
                sha if is_sha256(sha) => Some(sha.to_string()),
                _ => {
                    return Err(format_err(
                        self.line_no,
                        "previous_sha256 is neither a sha256 nor -",
                    ))
                }
            };
        }
        let version = self.header_value("schema_version")?;
        self.header.schema_version = parse_num(&version, self.line_no, "schema_version")?;
        self.header.fingerprint = self.header_value("fingerprint")?;
        self.header.created = self.header_value("created")?;
        if format >= 3 {
            let reload = self.header_value("reload")?;
            self.header.reload = parse_reload(&reload, self.line_no)?;
        }
        Ok(())
    }

    /// The next data line, or `None` after a valid trailer. `fields` is scratch space the
    /// returned line borrows from.
    pub fn next_line<'a>(
        &'a mut self,
        fields: &'a mut Vec<&'a [u8]>,
    ) -> Result<Option<DataLine<'a>>, PacketError> {
        if self.finished {
            return Ok(None);
        }
        if !self.read_line()? {
            return Err(PacketError::Truncated { line: self.line_no });
        }
        let line_no = self.line_no;
        if self.buf.first() == Some(&b'#') {
            let text = std::str::from_utf8(&self.buf).unwrap_or("");
            let Some(count) = text.strip_prefix("# end ") else {
                return Err(format_err(
                    line_no,
                    format!(
                        "unexpected header line `{}` after the data began",
                        clip(text)
                    ),
                ));
            };
            let count: u64 = parse_num(count, line_no, "end")?;
            if count != self.rows {
                return Err(format_err(
                    line_no,
                    format!(
                        "the trailer counts {count} rows but the packet has {}",
                        self.rows
                    ),
                ));
            }
            // Nothing may follow the trailer.
            let mut rest = [0u8; 1];
            if self.input.read(&mut rest)? != 0 {
                return Err(format_err(line_no + 1, "data after the `# end` trailer"));
            }
            self.finished = true;
            return Ok(None);
        }
        self.rows += 1;
        fields.clear();
        fields.extend(self.buf.split(|&b| b == b'\t'));
        if fields.len() < 5 {
            return Err(format_err(
                line_no,
                format!(
                    "a data line needs at least 5 tab-separated fields, found {}",
                    fields.len()
                ),
            ));
        }
        let table_id = std::str::from_utf8(fields[0])
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|id| *id > 0 && fields[0][0] != b'+' && fields[0][0] != b'0')
            .ok_or_else(|| {
                format_err(
                    line_no,
                    format!("`{}` is not a table id", clip_bytes(fields[0])),
                )
            })?;
        let op = Op::from_field(fields[3]).ok_or_else(|| {
            format_err(
                line_no,
                format!(
                    "`{}` is not an operation (0, 1 or 2)",
                    clip_bytes(fields[3])
                ),
            )
        })?;
        let limit = self.limits.max_field;
        if let Some(long) = fields[4..].iter().find(|f| f.len() > limit) {
            return Err(PacketError::FieldTooLong {
                line: line_no,
                len: long.len(),
                limit,
            });
        }
        let (rowid, timestamp) = (fields[1], fields[2]);
        Ok(Some(DataLine {
            line_no,
            table_id,
            rowid,
            timestamp,
            op,
            values: &fields[4..],
        }))
    }
}

fn parse_num<T: std::str::FromStr>(text: &str, line: u64, what: &str) -> Result<T, PacketError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format_err(
            line,
            format!("`{}` is not a valid {what}", clip(text)),
        ));
    }
    text.parse()
        .map_err(|_| format_err(line, format!("`{}` is not a valid {what}", clip(text))))
}

/// `-`, or table ids separated by single spaces, strictly increasing.
fn parse_reload(text: &str, line: u64) -> Result<Vec<u32>, PacketError> {
    if text == "-" {
        return Ok(Vec::new());
    }
    let mut ids: Vec<u32> = Vec::new();
    for part in text.split(' ') {
        let id: u32 = parse_num(part, line, "reloaded table id")?;
        if ids.last().is_some_and(|&last| last >= id) {
            return Err(format_err(
                line,
                "the reloaded table ids are not strictly increasing",
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

fn clip_bytes(bytes: &[u8]) -> String {
    clip(&String::from_utf8_lossy(&bytes[..bytes.len().min(240)]))
}

/// The path of packet `serial` relative to the feed root: subfolders keep every folder small.
pub fn packet_path(serial: u64, created: &str) -> String {
    format!(
        "packets/{:03}/{:03}/replication-{:09}-{}.gz",
        serial / 1_000_000,
        serial / 1000 % 1000,
        serial,
        crate::timefmt::file_stamp(created)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        PacketHeader {
            serial: 7,
            previous: 6,
            feed: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            previous_sha256: Some("ab".repeat(32)),
            schema_version: 1,
            fingerprint: "abc".into(),
            created: "2026-11-28T15:00:00.000000Z".into(),
            reload: Vec::new(),
        }
        .write_to(&mut out)
        .unwrap();
        out.extend_from_slice(body.as_bytes());
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u32, Op, usize)>, PacketError> {
        let mut reader = PacketReader::new(bytes, Limits::default())?;
        let mut out = Vec::new();
        loop {
            let mut fields = Vec::new();
            match reader.next_line(&mut fields)? {
                Some(line) => out.push((line.table_id, line.op, line.values.len())),
                None => return Ok(out),
            }
        }
    }

    #[test]
    fn reads_header_lines_and_trailer() {
        let bytes = packet("1\t5\tts\t0\t5\tx\n2\t(1,2)\tts\t2\t1\t2\n# end 2\n");
        let reader = PacketReader::new(&bytes[..], Limits::default()).unwrap();
        assert_eq!(reader.header().serial, 7);
        assert_eq!(reader.header().previous, 6);
        assert_eq!(
            read_all(&bytes).unwrap(),
            vec![(1, Op::Add, 2), (2, Op::Remove, 2)]
        );
    }

    #[test]
    fn reads_the_feed_identity_and_format_1_packets() {
        let bytes = packet("# end 0\n");
        let reader = PacketReader::new(&bytes[..], Limits::DEFAULT).unwrap();
        assert_eq!(reader.header().feed, "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(reader.header().previous_sha256, Some("ab".repeat(32)));
        let old = "# replgen packet 1\n# serial 3\n# previous 2\n# schema_version 1\n# fingerprint f\n# created c\n# end 0\n";
        let reader = PacketReader::new(old.as_bytes(), Limits::DEFAULT).unwrap();
        assert_eq!(
            (reader.header().serial, reader.header().feed.as_str()),
            (3, "")
        );
        let text = String::from_utf8(bytes).unwrap();
        for bad in [
            text.replace("0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b", "not-a-feed"),
            text.replace(&"ab".repeat(32), "xyz"),
            text.replace("# replgen packet 3", "# replgen packet 4"),
            text.replace("# reload -", "# reload 5 3"),
            text.replace("# reload -", "# reload 5 5"),
            text.replace("# reload -", "# reload 1,2"),
            text.replace("# reload -", "# reload "),
        ] {
            assert!(
                PacketReader::new(bad.as_bytes(), Limits::DEFAULT).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_the_reloaded_tables_and_format_2_packets() {
        let text = String::from_utf8(packet("# end 0\n")).unwrap();
        let reloads = text.replace("# reload -", "# reload 2 17 300");
        let reader = PacketReader::new(reloads.as_bytes(), Limits::DEFAULT).unwrap();
        assert_eq!(reader.header().reload, vec![2, 17, 300]);
        let format_2 = text
            .replace("# replgen packet 3", "# replgen packet 2")
            .replace("# reload -\n", "");
        let reader = PacketReader::new(format_2.as_bytes(), Limits::DEFAULT).unwrap();
        assert_eq!(reader.header().reload, Vec::<u32>::new());
    }

    #[test]
    fn refuses_truncation_and_bad_counts() {
        assert!(matches!(
            read_all(&packet("1\t5\tts\t0\t5\n")),
            Err(PacketError::Truncated { .. })
        ));
        assert!(matches!(
            read_all(&packet("1\t5\tts\t0\t5\n# end 2\n")),
            Err(PacketError::Format { .. })
        ));
        assert!(matches!(
            read_all(&packet("1\t5\tts\t0\t5\n# end 1")),
            Err(PacketError::Truncated { .. })
        ));
        let err = read_all(&packet("1\t5\tts\t7\t5\n# end 1\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 10: `7` is not an operation (0, 1 or 2)"
        );
        let err = read_all(&packet("x\t5\tts\t0\t5\n# end 1\n")).unwrap_err();
        assert_eq!(err.to_string(), "line 10: `x` is not a table id");
        assert!(read_all(&packet("1\t5\tts\t0\t5\n# end 1\nmore\n")).is_err());
    }

    #[test]
    fn refuses_overlong_lines() {
        let long = format!("1\t5\tts\t0\t{}\n# end 1\n", "a".repeat(1000));
        let bytes = packet(&long);
        let mut reader = PacketReader::new(
            &bytes[..],
            Limits {
                max_line: 100,
                ..Limits::DEFAULT
            },
        )
        .unwrap();
        let mut fields = Vec::new();
        assert!(matches!(
            reader.next_line(&mut fields),
            Err(PacketError::LineTooLong { line: 10, .. })
        ));
    }

    #[test]
    fn refuses_oversized_fields_under_explicit_limits() {
        let bytes = packet(&format!("1\t5\tts\t0\t{}\n# end 1\n", "a".repeat(17)));
        let limits = Limits {
            max_field: 16,
            ..Limits::DEFAULT
        };
        let mut reader = PacketReader::new(&bytes[..], limits).unwrap();
        let mut fields = Vec::new();
        let err = reader.next_line(&mut fields).unwrap_err();
        assert!(err.to_string().contains("longer than the limit"), "{err}");
        // Another reader in the same process keeps its own (default) limits.
        assert_eq!(read_all(&bytes).unwrap(), vec![(1, Op::Add, 1)]);
    }

    #[test]
    fn refuses_out_of_range_serials() {
        let header = |serial: &str, previous: &str| {
            format!("# replgen packet 1\n# serial {serial}\n# previous {previous}\n# schema_version 1\n# fingerprint f\n# created c\n# end 0\n")
        };
        let read = |text: String| PacketReader::new(text.as_bytes(), Limits::DEFAULT).map(|_| ());
        assert!(read(header("9223372036854775807", "9223372036854775806")).is_ok());
        assert!(read(header("9223372036854775808", "1")).is_err());
        assert!(read(header("18446744073709551615", "18446744073709551614")).is_err());
        assert!(read(header("0", "0")).is_err());
        assert!(read(header("5", "5")).is_err());
    }

    #[test]
    fn packet_paths_shard_by_thousands() {
        assert_eq!(
            packet_path(1_234_567, "2026-11-28T15:04:05.123456Z"),
            "packets/001/234/replication-001234567-20261128T150405Z.gz"
        );
    }
}
