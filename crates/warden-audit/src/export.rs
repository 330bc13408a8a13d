//! The JSON-lines export an auditor verifies offline, and its verifier.
//!
//! # Format (version 1)
//!
//! One JSON object per line, each with exactly one key naming what it is:
//!
//! ```text
//! {"header":{"format":"warden-audit-export","version":1,"canonical":1,"nodes":[…],
//!            "public_key":"<base64 Ed25519>","key_id":"…"}}
//! {"event":{"id":…,"sequence":1,…,"prev_hash":"…","hash":"…"}}
//! {"checkpoint":{"sequence":1,"hash":"…","time":…,"node":…,"key_id":…,"signature":…}}
//! …
//! ```
//!
//! The header comes first. Records follow in sequence order; each checkpoint comes right
//! after the record it covers (or at the end, when it covers records beyond the export, so
//! that a cut tail is still noticed). That order lets [`verify_export`] check a file of any
//! size in one pass and constant memory.
//!
//! The public key in the header is informational: verification always uses the key the
//! auditor supplies, obtained from Warden's published key, never from the file it checks.
//!
//! This module performs no I/O of its own: it reads and writes through the reader and
//! writer its caller opened.

use std::borrow::Borrow;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::canonical::CANONICAL_VERSION;
use crate::chain::ChainHead;
use crate::checkpoint::{AuditPublicKey, Checkpoint};
use crate::event::AuditEvent;
use crate::verify::{Entry, RunError, Verifier, VerifyFailure, VerifyReport};

/// The value of [`ExportHeader::format`].
pub const EXPORT_FORMAT: &str = "warden-audit-export";
/// The export version this crate writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// Why an export could not be written, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading or writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not encode the export: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the export is empty or does not start with a header line")]
    MissingHeader,
    #[error("line {line} of the export is not valid: {message}")]
    Malformed { line: u64, message: String },
    #[error(
        "unsupported export format `{format}` version {version} (canonical {canonical}); this \
         verifier reads `{EXPORT_FORMAT}` version {EXPORT_VERSION}, canonical {CANONICAL_VERSION}"
    )]
    Unsupported {
        format: String,
        version: u32,
        canonical: u8,
    },
    #[error(
        "the export was signed with key {export_key_id}, not the key you supplied \
         ({trusted_key_id}); obtain Warden's published audit key and try again"
    )]
    KeyMismatch {
        export_key_id: String,
        trusted_key_id: String,
    },
    #[error(transparent)]
    Broken(#[from] VerifyFailure),
}

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    pub format: String,
    pub version: u32,
    /// [`CANONICAL_VERSION`] of the hashed encoding.
    pub canonical: u8,
    /// The Warden nodes whose records are in the export.
    pub nodes: Vec<String>,
    pub public_key: AuditPublicKey,
    pub key_id: String,
}

impl ExportHeader {
    pub fn new(nodes: Vec<String>, public_key: AuditPublicKey) -> Self {
        Self {
            format: EXPORT_FORMAT.to_owned(),
            version: EXPORT_VERSION,
            canonical: CANONICAL_VERSION,
            nodes,
            key_id: public_key.key_id(),
            public_key,
        }
    }
}

/// One line of an export, as read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExportLine {
    Header(ExportHeader),
    Event(Box<AuditEvent>),
    Checkpoint(Checkpoint),
}

/// The same shape as [`ExportLine`], borrowed, for writing without copies.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineRef<'a> {
    Header(&'a ExportHeader),
    Event(&'a AuditEvent),
    Checkpoint(&'a Checkpoint),
}

fn write_line<W: Write>(out: &mut W, line: &LineRef<'_>) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// What [`write_export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub checkpoints: u64,
}

/// Writes an export: the header, then `events` (in sequence order) with each checkpoint
/// placed right after the record it covers.
pub fn write_export<W, I>(
    out: &mut W,
    header: &ExportHeader,
    events: I,
    checkpoints: &[Checkpoint],
) -> Result<ExportSummary, ExportError>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<AuditEvent>,
{
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.sequence);
    let mut pending = sorted.into_iter().peekable();
    let mut summary = ExportSummary {
        events: 0,
        checkpoints: 0,
    };
    write_line(out, &LineRef::Header(header))?;
    for event in events {
        let event = event.borrow();
        write_line(out, &LineRef::Event(event))?;
        summary.events += 1;
        while let Some(checkpoint) = pending.next_if(|c| c.sequence <= event.sequence) {
            write_line(out, &LineRef::Checkpoint(checkpoint))?;
            summary.checkpoints += 1;
        }
    }
    for checkpoint in pending {
        write_line(out, &LineRef::Checkpoint(checkpoint))?;
        summary.checkpoints += 1;
    }
    out.flush()?;
    Ok(summary)
}

/// The outcome of checking an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportVerification {
    pub header: ExportHeader,
    pub report: VerifyReport,
}

/// Yields the records and checkpoints of an export after its header, one line at a time.
struct Lines<R> {
    reader: R,
    buffer: String,
    line: u64,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<Entry<AuditEvent>, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buffer.clear();
            match self.reader.read_line(&mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(Err(error.into())),
            }
            self.line += 1;
            if self.buffer.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<ExportLine>(&self.buffer);
            return Some(match parsed {
                Ok(ExportLine::Event(event)) => Ok(Entry::Event(*event)),
                Ok(ExportLine::Checkpoint(checkpoint)) => Ok(Entry::Checkpoint(checkpoint)),
                Ok(ExportLine::Header(_)) => Err(ExportError::Malformed {
                    line: self.line,
                    message: "a second header; exports must not be concatenated".into(),
                }),
                Err(error) => Err(ExportError::Malformed {
                    line: self.line,
                    message: error.to_string(),
                }),
            });
        }
    }
}

/// Verifies an export against the audit public key the auditor trusts: every record's
/// hash and link, every checkpoint's signature, and that no signed checkpoint points past
/// the end. Needs neither the server nor its database.
pub fn verify_export<R: BufRead>(
    reader: R,
    key: &AuditPublicKey,
) -> Result<ExportVerification, ExportError> {
    let mut lines = Lines {
        reader,
        buffer: String::new(),
        line: 0,
    };
    let header = loop {
        lines.buffer.clear();
        if lines.reader.read_line(&mut lines.buffer)? == 0 {
            return Err(ExportError::MissingHeader);
        }
        lines.line += 1;
        if !lines.buffer.trim().is_empty() {
            break lines.buffer.clone();
        }
    };
    let header = match serde_json::from_str::<ExportLine>(&header) {
        Ok(ExportLine::Header(header)) => header,
        Ok(_) => return Err(ExportError::MissingHeader),
        Err(error) => {
            return Err(ExportError::Malformed {
                line: lines.line,
                message: error.to_string(),
            });
        }
    };
    if header.format != EXPORT_FORMAT
        || header.version != EXPORT_VERSION
        || header.canonical != CANONICAL_VERSION
    {
        return Err(ExportError::Unsupported {
            format: header.format,
            version: header.version,
            canonical: header.canonical,
        });
    }
    if header.public_key != *key {
        return Err(ExportError::KeyMismatch {
            export_key_id: header.public_key.key_id(),
            trusted_key_id: key.key_id(),
        });
    }
    match Verifier::new(ChainHead::GENESIS, key).run(lines) {
        Ok(report) => Ok(ExportVerification { header, report }),
        Err(RunError::Broken(failure)) => Err(ExportError::Broken(failure)),
        Err(RunError::Source(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{chain_of, signer};
    use crate::verify::Problem;

    fn exported(events: usize, every: u64) -> (Vec<u8>, crate::AuditSigner, Vec<AuditEvent>) {
        let signer = signer();
        let (events, checkpoints) = chain_of(events as u64, every, &signer);
        let header = ExportHeader::new(vec!["node-a".into()], signer.public_key());
        let mut out = Vec::new();
        let summary = write_export(&mut out, &header, &events, &checkpoints)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.events, events.len() as u64);
        assert_eq!(summary.checkpoints, checkpoints.len() as u64);
        (out, signer, events)
    }

    fn lines(export: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(export)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn join(lines: &[String]) -> Vec<u8> {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    }

    #[test]
    fn an_export_verifies_offline() {
        let (export, signer, events) = exported(30, 10);
        let text = lines(&export);
        assert!(text[0].starts_with("{\"header\":{\"format\":\"warden-audit-export\""));
        // Each checkpoint follows the record it covers.
        assert!(
            text[11].starts_with("{\"checkpoint\":{\"sequence\":10,"),
            "{}",
            text[11]
        );

        // The auditor has only the file and the published key text.
        let key = crate::AuditPublicKey::from_text(&signer.public_key().to_pem())
            .unwrap_or_else(|e| panic!("{e}"));
        let verified = verify_export(export.as_slice(), &key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verified.report.events_verified, 30);
        assert_eq!(verified.report.checkpoints_verified, 3);
        assert_eq!(verified.report.last_hash, events[29].hash);
        assert_eq!(verified.header.nodes, vec!["node-a".to_owned()]);
    }

    #[test]
    fn export_lines_round_trip_exactly() {
        let (export, _, events) = exported(10, 0);
        for (line, event) in lines(&export)[1..].iter().zip(&events) {
            let parsed: ExportLine = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, ExportLine::Event(Box::new(event.clone())));
        }
    }

    #[test]
    fn an_edited_export_fails() {
        let (export, signer, _) = exported(30, 10);
        let key = signer.public_key();
        let mut text = lines(&export);
        assert!(text[5].contains("\"node\":\"node-a\""), "{}", text[5]);
        text[5] = text[5].replace("\"node\":\"node-a\"", "\"node\":\"node-b\"");
        match verify_export(join(&text).as_slice(), &key) {
            Err(ExportError::Broken(failure)) => {
                assert_eq!((failure.sequence, failure.problem), (5, Problem::Edited));
            }
            other => panic!("expected an edit to be found, got {other:?}"),
        }
    }

    #[test]
    fn deleted_swapped_and_cut_export_lines_fail() {
        let (export, signer, _) = exported(30, 10);
        let key = signer.public_key();
        let text = lines(&export);
        let outcome = |lines: Vec<String>| match verify_export(join(&lines).as_slice(), &key) {
            Err(ExportError::Broken(failure)) => (failure.sequence, failure.problem),
            other => panic!("expected a broken chain, got {other:?}"),
        };

        let mut deleted = text.clone();
        deleted.remove(3);
        assert_eq!(
            outcome(deleted),
            (3, Problem::Deleted { first: 3, last: 3 })
        );

        let mut swapped = text.clone();
        swapped.swap(3, 4);
        assert_eq!(outcome(swapped), (3, Problem::Reordered));

        // Lines 0..=22 keep the header, records 1..=20 and checkpoints 10 and 20; the final
        // checkpoint line is kept, as if only records had been cut.
        let mut cut: Vec<String> = text[..23].to_vec();
        cut.push(text[text.len() - 1].clone());
        assert_eq!(
            outcome(cut),
            (
                21,
                Problem::TruncatedAfterCheckpoint {
                    last_present: 20,
                    checkpoint: 30
                }
            )
        );

        let mut inserted = text.clone();
        inserted.insert(8, text[7].clone());
        assert_eq!(outcome(inserted).1, Problem::Inserted);
    }

    #[test]
    fn the_wrong_key_or_a_malformed_file_is_refused_with_a_reason() {
        let (export, _, _) = exported(5, 5);
        let stranger = signer().public_key();
        assert!(matches!(
            verify_export(export.as_slice(), &stranger),
            Err(ExportError::KeyMismatch { .. })
        ));

        let (export, signer, _) = exported(5, 5);
        let key = signer.public_key();
        assert!(matches!(
            verify_export(&b""[..], &key),
            Err(ExportError::MissingHeader)
        ));
        let mut text = lines(&export);
        text[2] = "{\"event\":{\"nonsense\":true}}".into();
        match verify_export(join(&text).as_slice(), &key) {
            Err(ExportError::Malformed { line: 3, message }) => {
                assert!(message.contains("nonsense"), "{message}");
            }
            other => panic!("expected a malformed line, got {other:?}"),
        }
        let mut headless = lines(&export);
        headless.remove(0);
        assert!(matches!(
            verify_export(join(&headless).as_slice(), &key),
            Err(ExportError::MissingHeader)
        ));
        let mut moved = lines(&export);
        let checkpoint = moved.pop().unwrap_or_default();
        moved.insert(1, checkpoint);
        assert!(
            verify_export(join(&moved).as_slice(), &key).is_ok(),
            "early is fine"
        );
    }

    #[test]
    fn a_checkpoint_moved_after_later_records_is_reported() {
        let (export, signer, _) = exported(30, 10);
        let mut text = lines(&export);
        let checkpoint = text.remove(11);
        text.insert(13, checkpoint);
        match verify_export(join(&text).as_slice(), &signer.public_key()) {
            Err(ExportError::Broken(failure)) => {
                assert_eq!(
                    (failure.sequence, failure.problem),
                    (10, Problem::CheckpointOutOfPlace)
                );
            }
            other => panic!("expected a misplaced checkpoint, got {other:?}"),
        }
    }
}
