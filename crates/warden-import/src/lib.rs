//! Importers: the exports people already make of their systems, read into the identities,
//! credentials and entitlements Warden keeps.
//!
//! One module per format, each citing the documented shape it reads; [`detect`] tells them
//! apart; [`model`] is the common output. A parser takes a file's name and bytes and returns a
//! whole [`ImportBatch`] or the first [`ImportError`], which names the file, the place (row,
//! line, document, JSON path) and the field, and says what to do.
//!
//! Architecture invariant: no I/O. Bytes in, values out; the caller reads the file and names
//! it. No secret is read into the output: credentials are ids and dates.

pub mod aws_access_keys;
pub mod aws_credential_report;
pub mod detect;
pub mod error;
pub mod gcp_sa_keys;
pub mod generic_csv;
pub mod github_pats;
mod json;
pub mod k8s;
pub mod model;
mod text;

pub use error::{ImportError, ImportFailure, Location};
pub use model::{
    AttributeValue, CredentialKind, Entitlement, ImportBatch, ImportedCredential, ImportedIdentity,
    ManagedBy, Provenance, SourceFormat, UnknownFormat, attribute,
};

/// Parses one file in the given format, or the one [`detect::detect`] finds.
pub fn parse(
    file: &str,
    bytes: &[u8],
    format: Option<SourceFormat>,
) -> Result<ImportBatch, ImportError> {
    let format = match format {
        Some(format) => format,
        None => detect::detect(file, bytes)?,
    };
    match format {
        SourceFormat::AwsCredentialReport => aws_credential_report::parse(file, bytes),
        SourceFormat::AwsAccessKeys => aws_access_keys::parse(file, bytes),
        SourceFormat::K8s => k8s::parse(file, bytes),
        SourceFormat::GcpSaKeys => gcp_sa_keys::parse(file, bytes),
        SourceFormat::GithubPats => github_pats::parse(file, bytes),
        SourceFormat::Csv => generic_csv::parse(file, bytes),
    }
}

/// One file handed to [`parse_files`].
#[derive(Debug, Clone, Copy)]
pub struct ImportFile<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub format: Option<SourceFormat>,
}

/// Parses several files as one import: every file must parse, or nothing is returned.
///
/// `list-access-keys` files given together with a credential report are joined into it (their
/// key ids onto the report's users) instead of standing as batches of their own.
pub fn parse_files(files: &[ImportFile<'_>]) -> Result<Vec<ImportBatch>, ImportError> {
    let mut batches = Vec::new();
    let mut key_files = Vec::new();
    for file in files {
        let format = match file.format {
            Some(format) => format,
            None => detect::detect(file.name, file.bytes)?,
        };
        if format == SourceFormat::AwsAccessKeys {
            key_files.push((
                file.name,
                aws_access_keys::parse_keys(file.name, file.bytes)?,
            ));
        } else {
            batches.push(parse(file.name, file.bytes, Some(format))?);
        }
    }
    let report = batches
        .iter_mut()
        .find(|batch| batch.source == SourceFormat::AwsCredentialReport);
    match report {
        Some(report) => {
            for (name, keys) in &key_files {
                aws_access_keys::join(report, keys, name)?;
            }
        }
        None => {
            for file in files
                .iter()
                .filter(|file| key_files.iter().any(|(name, _)| *name == file.name))
            {
                batches.push(aws_access_keys::parse(file.name, file.bytes)?);
            }
        }
    }
    Ok(batches)
}
