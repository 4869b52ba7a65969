//! The on-disk format: segment header and records (encoding, and parsing that never panics).
//!
//! ```text
//! segment header (24 bytes)
//!   0  magic    8 bytes  "SEGMQWAL"
//!   8  version  u16 LE   2 (version 1, without "attempts" records, is read too)
//!  10  reserved u16      0
//!  12  base_id  u64 LE   the next message ID when the segment was created
//!  20  crc      u32 LE   CRC32C of bytes 0..20
//! record (8 + body bytes)
//!   0  len      u32 LE   body length (9 ..= MAX_BODY)
//!   4  crc      u32 LE   CRC32C of the len bytes followed by the body
//!   8  body:    kind u8 (1 = published, 2 = done, 3 = attempts), id u64 LE,
//!               then for "published" the payload (postcard) up to the end of the body,
//!               for "attempts" the number of failed attempts so far, u32 LE
//! ```

/// Segment magic.
pub(crate) const MAGIC: [u8; 8] = *b"SEGMQWAL";
/// Format version written. Version 2 added "attempts" records; version 1 logs are read too.
pub(crate) const VERSION: u16 = 2;
/// The oldest format version read.
pub(crate) const OLDEST_READ: u16 = 1;
/// Header size.
pub(crate) const HEADER_LEN: usize = 24;
/// Record framing: length and checksum.
pub(crate) const FRAME_LEN: usize = 8;
/// Kind and ID.
pub(crate) const MIN_BODY: usize = 9;
/// Largest body accepted (256 MiB): a bigger length is damage, not a record.
pub(crate) const MAX_BODY: usize = 256 << 20;
/// Bytes of a "done" record.
pub(crate) const DONE_LEN: usize = FRAME_LEN + MIN_BODY;
/// Body bytes of an "attempts" record.
const ATTEMPTS_BODY: usize = MIN_BODY + 4;

pub(crate) const KIND_PUBLISHED: u8 = 1;
pub(crate) const KIND_DONE: u8 = 2;
pub(crate) const KIND_ATTEMPTS: u8 = 3;

/// A segment header for a segment whose first message ID is at least `base_id`.
pub(crate) fn header(base_id: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&base_id.to_le_bytes());
    let crc = crc32c::crc32c(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a header is not readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadHeader {
    /// Fewer than `HEADER_LEN` bytes (a segment whose creation was interrupted).
    Short,
    /// Not a segment of this format, or a damaged header.
    Invalid(&'static str),
}

/// The `base_id` of a segment's header.
pub(crate) fn parse_header(buf: &[u8]) -> Result<u64, BadHeader> {
    let h = buf.get(..HEADER_LEN).ok_or(BadHeader::Short)?;
    if h[..8] != MAGIC {
        return Err(BadHeader::Invalid("not a segmq log segment (bad magic)"));
    }
    if u32::from_le_bytes(le4(&h[20..24])) != crc32c::crc32c(&h[..20]) {
        return Err(BadHeader::Invalid("segment header checksum mismatch"));
    }
    if !(OLDEST_READ..=VERSION).contains(&u16::from_le_bytes([h[8], h[9]])) {
        return Err(BadHeader::Invalid("unsupported log format version"));
    }
    Ok(u64::from_le_bytes(le8(&h[12..20])))
}

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// A message accepted by `publish`.
    Published { id: u64, payload: &'a [u8] },
    /// A message finished with (handled, dead-lettered, or refused after logging).
    Done { id: u64 },
    /// A message whose handler failed `attempts` times so far (it is to be retried).
    Attempts { id: u64, attempts: u32 },
}

/// What is at an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A valid record, and the offset after it.
    Record(Record<'a>, usize),
    /// The buffer ends exactly here.
    End,
    /// The record runs past the end of the buffer.
    Truncated,
    /// The bytes here are not a valid record.
    Invalid(&'static str),
}

/// Parses the record at `off`. Never panics, whatever the bytes.
pub(crate) fn parse(buf: &[u8], off: usize) -> Parsed<'_> {
    let Some(rest) = buf.get(off..) else {
        return Parsed::Truncated;
    };
    if rest.is_empty() {
        return Parsed::End;
    }
    if rest.len() < FRAME_LEN {
        return Parsed::Truncated;
    }
    let len = u32::from_le_bytes(le4(&rest[..4])) as usize;
    if !(MIN_BODY..=MAX_BODY).contains(&len) {
        return Parsed::Invalid("impossible record length");
    }
    let Some(body) = rest.get(FRAME_LEN..FRAME_LEN + len) else {
        return Parsed::Truncated;
    };
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rest[..4]), body);
    if crc != u32::from_le_bytes(le4(&rest[4..8])) {
        return Parsed::Invalid("checksum mismatch");
    }
    let id = u64::from_le_bytes(le8(&body[1..9]));
    let record = match body[0] {
        KIND_PUBLISHED => Record::Published {
            id,
            payload: &body[MIN_BODY..],
        },
        KIND_DONE if len == MIN_BODY => Record::Done { id },
        KIND_ATTEMPTS if len == ATTEMPTS_BODY => Record::Attempts {
            id,
            attempts: u32::from_le_bytes(le4(&body[MIN_BODY..])),
        },
        _ => return Parsed::Invalid("unknown record kind"),
    };
    Parsed::Record(record, off + FRAME_LEN + len)
}

/// The first offset at or after `from` where a valid record starts, if any: tells a torn tail
/// (nothing valid after the damage) from damage in the middle (valid records follow).
///
/// Every offset is a candidate, but the checksum (the only costly part: up to the rest of the
/// buffer per offset) is computed only where the framing could be a record: a length in range
/// that fits in the buffer, a known kind, and the length that kind has. [`parse`] refuses every
/// other offset anyway, so the result is the same as parsing at each offset; on random damage
/// only the offsets whose kind byte also fits (about 1 in 256) reach the checksum.
///
/// Limits, kept on purpose: an adversarial region (many offsets framed as long "published"
/// records) still costs a checksum per such offset; and a record frame *inside* a payload
/// (messages that carry log bytes) is a valid record here, so a torn last record whose
/// written part embeds one is reported as damage in the middle (`Corrupt`, nothing
/// truncated) rather than as a torn tail. Telling the two apart needs more than the bytes
/// (a corrupted length field followed by real records looks the same).
pub(crate) fn next_valid(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len())
        .find(|&p| could_be_record(buf, p) && matches!(parse(buf, p), Parsed::Record(..)))
}

/// Whether the framing at `off` (length, kind) could be a record's, before any checksum.
fn could_be_record(buf: &[u8], off: usize) -> bool {
    let Some(head) = buf.get(off..off.saturating_add(FRAME_LEN + 1)) else {
        return false;
    };
    let len = u32::from_le_bytes(le4(&head[..4])) as usize;
    let fits = (MIN_BODY..=MAX_BODY).contains(&len) && len <= buf.len() - off - FRAME_LEN;
    fits && match head[FRAME_LEN] {
        KIND_PUBLISHED => true,
        KIND_DONE => len == MIN_BODY,
        KIND_ATTEMPTS => len == ATTEMPTS_BODY,
        _ => false,
    }
}

/// Starts a "published" record in `buf`: framing, kind and ID placeholders; the payload is
/// appended after it, then [`finish_published`] fills the rest in.
pub(crate) fn start_published(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0u8; FRAME_LEN]);
    buf.push(KIND_PUBLISHED);
    buf.extend_from_slice(&[0u8; 8]);
}

/// Completes a record started by [`start_published`] with the payload after it: sets its ID,
/// length and checksum. `record` is the record's bytes alone. `None` if the payload is too big.
pub(crate) fn finish_published(record: &mut [u8], id: u64) -> Option<()> {
    let len = record.len().checked_sub(FRAME_LEN)?;
    if len > MAX_BODY {
        return None;
    }
    record[..4].copy_from_slice(&u32::try_from(len).ok()?.to_le_bytes());
    record[FRAME_LEN + 1..FRAME_LEN + MIN_BODY].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&record[..4]), &record[FRAME_LEN..]);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
    Some(())
}

/// Appends a "done" record.
pub(crate) fn push_done(buf: &mut Vec<u8>, id: u64) {
    push_small(buf, KIND_DONE, id, &[]);
}

/// Appends an "attempts" record: `id` failed `attempts` times so far.
pub(crate) fn push_attempts(buf: &mut Vec<u8>, id: u64, attempts: u32) {
    push_small(buf, KIND_ATTEMPTS, id, &attempts.to_le_bytes());
}

/// Appends a record of `kind` for `id` with a short fixed `tail` after the ID.
fn push_small(buf: &mut Vec<u8>, kind: u8, id: u64, tail: &[u8]) {
    let start = buf.len();
    let len = (MIN_BODY + tail.len()) as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    buf.push(kind);
    buf.extend_from_slice(&id.to_le_bytes());
    buf.extend_from_slice(tail);
    let r = &mut buf[start..];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&r[..4]), &r[FRAME_LEN..]);
    r[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a complete "published" record (tests and tools).
#[cfg(test)]
pub(crate) fn push_published(buf: &mut Vec<u8>, id: u64, payload: &[u8]) {
    let start = buf.len();
    start_published(buf);
    buf.extend_from_slice(payload);
    finish_published(&mut buf[start..], id).expect("small payload");
}

fn le4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    a
}

fn le8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut b = Vec::new();
        push_published(&mut b, 7, b"hello");
        push_done(&mut b, 7);
        let Parsed::Record(r, next) = parse(&b, 0) else {
            panic!()
        };
        assert_eq!(
            r,
            Record::Published {
                id: 7,
                payload: b"hello"
            }
        );
        assert_eq!(
            parse(&b, next),
            Parsed::Record(Record::Done { id: 7 }, b.len())
        );
        assert_eq!(parse(&b, b.len()), Parsed::End);
        assert_eq!(parse(&b[..b.len() - 1], next), Parsed::Truncated);
        let mut bad = b.clone();
        bad[FRAME_LEN + 3] ^= 1;
        assert_eq!(parse(&bad, 0), Parsed::Invalid("checksum mismatch"));
        assert_eq!(next_valid(&bad, 1), Some(next));
    }

    /// `next_valid` with its pre-checksum filter finds exactly what parsing at every offset
    /// finds, on logs with flipped bytes, zeroed runs and frames embedded in payloads.
    #[test]
    fn next_valid_finds_what_parsing_every_offset_finds() {
        let brute = |buf: &[u8], from: usize| {
            (from..buf.len()).find(|&p| matches!(parse(buf, p), Parsed::Record(..)))
        };
        let mut inner = Vec::new();
        push_done(&mut inner, 3);
        push_attempts(&mut inner, 4, 2);
        let mut log = Vec::new();
        for id in 0..40u64 {
            match id % 4 {
                0 => push_done(&mut log, id),
                1 => push_attempts(&mut log, id, 1),
                2 => push_published(&mut log, id, &inner), // a payload holding records
                _ => push_published(&mut log, id, &[id as u8; 5]),
            }
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64; // xorshift: reproducible damage
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let mut buf = log.clone();
            let at = next() as usize % buf.len();
            match round % 3 {
                0 => buf[at] ^= 1 << (next() % 8),
                1 => {
                    let end = (at + 1 + next() as usize % 64).min(buf.len());
                    buf[at..end].fill(0);
                }
                _ => buf.truncate(at),
            }
            for from in (0..buf.len()).step_by(7) {
                assert_eq!(
                    next_valid(&buf, from),
                    brute(&buf, from),
                    "round {round}, from {from}"
                );
            }
        }
    }

    #[test]
    fn attempts_records_round_trip() {
        let mut b = Vec::new();
        push_attempts(&mut b, 9, 3);
        assert_eq!(
            parse(&b, 0),
            Parsed::Record(Record::Attempts { id: 9, attempts: 3 }, b.len())
        );
    }

    #[test]
    fn version_1_headers_are_read() {
        let mut h = header(42);
        h[8..10].copy_from_slice(&1u16.to_le_bytes());
        let crc = crc32c::crc32c(&h[..20]);
        h[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(&h), Ok(42));
        h[8..10].copy_from_slice(&3u16.to_le_bytes());
        let crc = crc32c::crc32c(&h[..20]);
        h[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            parse_header(&h),
            Err(BadHeader::Invalid("unsupported log format version"))
        );
    }

    #[test]
    fn header_round_trip() {
        let h = header(42);
        assert_eq!(parse_header(&h), Ok(42));
        assert_eq!(parse_header(&h[..10]), Err(BadHeader::Short));
        let mut bad = h;
        bad[13] ^= 1;
        assert!(matches!(parse_header(&bad), Err(BadHeader::Invalid(_))));
    }
}
