//! `aws-credential-report`: the CSV that `aws iam generate-credential-report` prepares and
//! `aws iam get-credential-report` returns (base64 in the `Content` of its JSON answer; this
//! importer reads either the decoded CSV or that JSON answer as it is).
//!
//! The documented shape (IAM User Guide, "Getting credential reports for your AWS account"):
//! one header row, then one row per IAM user plus a row for the account's root user named
//! `<root_account>`. Columns, in order: `user`, `arn`, `user_creation_time`,
//! `password_enabled`, `password_last_used`, `password_last_changed`,
//! `password_next_rotation`, `mfa_active`, then for N = 1, 2 `access_key_N_active`,
//! `access_key_N_last_rotated`, `access_key_N_last_used_date`, `access_key_N_last_used_region`,
//! `access_key_N_last_used_service`, then `cert_N_active`, `cert_N_last_rotated`. Times are
//! ISO 8601 with an offset. Placeholders: `N/A` (no such thing: no password, no key, never
//! used), `no_information` (never used, or last used before IAM tracked it in 2014) and
//! `not_supported` (the root user has no password rotation settings). Columns are found by
//! name, so a column AWS adds later is ignored rather than misread.
//!
//! The report names no access key ids; a key is `access_key_N` (its slot) until
//! [`crate::aws_access_keys::join`] puts the ids from `list-access-keys` in.

use base64::Engine;
use serde::Deserialize;
use warden_core::{IdentityKind, Timestamp};

use crate::error::{ErrorContext, ImportError, Location, quote};
use crate::model::{
    AttributeValue, CredentialKind, ImportBatch, ImportedCredential, ImportedIdentity, Provenance,
    SourceFormat, attribute,
};
use crate::text::{decode, parse_time};

const FORMAT: SourceFormat = SourceFormat::AwsCredentialReport;

/// The user name AWS gives the account's root user in the report.
pub const ROOT_ACCOUNT: &str = "<root_account>";

/// Parses a credential report, as CSV or as `get-credential-report`'s JSON answer.
pub fn parse(file: &str, bytes: &[u8]) -> Result<ImportBatch, ImportError> {
    let ctx = ErrorContext::new(file, FORMAT);
    let text = decode(&ctx, bytes)?;
    if text.trim_start().starts_with('{') {
        let (csv, generated_at) = unwrap_json_answer(&ctx, text)?;
        let text = decode(&ctx, &csv)?;
        let mut batch = parse_csv(&ctx, text)?;
        batch.generated_at = generated_at;
        return Ok(batch);
    }
    parse_csv(&ctx, text)
}

/// `get-credential-report` answers `{"Content": base64, "ReportFormat": "text/csv",
/// "GeneratedTime": …}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonAnswer {
    content: String,
    report_format: Option<String>,
    generated_time: Option<String>,
}

fn unwrap_json_answer(
    ctx: &ErrorContext<'_>,
    text: &str,
) -> Result<(Vec<u8>, Option<Timestamp>), ImportError> {
    let path = |p: &str| Location::JsonPath {
        path: p.to_string(),
    };
    let answer: JsonAnswer = serde_json::from_str(text).map_err(|error| {
        ctx.error(
            Location::Line {
                line: error.line() as u64,
            },
            None,
            format!("this is not the JSON answer of get-credential-report ({error})"),
            "pass the answer of `aws iam get-credential-report --output json` unchanged, or the decoded CSV",
        )
    })?;
    if let Some(format) = answer.report_format.as_deref()
        && format != "text/csv"
    {
        return Err(ctx.error(
            path("$.ReportFormat"),
            Some("ReportFormat"),
            format!("the report format is {}", quote(format)),
            "only text/csv credential reports exist; export the report again",
        ));
    }
    let csv = base64::engine::general_purpose::STANDARD
        .decode(answer.content.trim())
        .map_err(|_| {
            ctx.error(
                path("$.Content"),
                Some("Content"),
                "the report content is not base64",
                "pass the answer of get-credential-report unchanged",
            )
        })?;
    let generated_at = answer
        .generated_time
        .map(|time| parse_time(ctx, &path("$.GeneratedTime"), "GeneratedTime", &time))
        .transpose()?;
    Ok((csv, generated_at))
}

/// Column positions, found by name in the header.
struct Columns {
    user: usize,
    arn: usize,
    user_creation_time: Option<usize>,
    password_enabled: Option<usize>,
    password_last_used: Option<usize>,
    password_last_changed: Option<usize>,
    mfa_active: Option<usize>,
    access_keys: Vec<KeyColumns>,
    certs: Vec<CertColumns>,
}

struct KeyColumns {
    slot: u8,
    active: usize,
    last_rotated: Option<usize>,
    last_used_date: Option<usize>,
    last_used_region: Option<usize>,
    last_used_service: Option<usize>,
}

struct CertColumns {
    slot: u8,
    active: usize,
    last_rotated: Option<usize>,
}

impl Columns {
    fn from_header(
        ctx: &ErrorContext<'_>,
        header: &csv::StringRecord,
    ) -> Result<Self, ImportError> {
        let find = |name: &str| header.iter().position(|column| column.trim() == name);
        let require = |name: &str| {
            find(name).ok_or_else(|| {
                ctx.error(
                    Location::Row { row: 0, line: 1 },
                    Some(name),
                    "the header has no such column",
                    "pass the credential report as AWS returns it, header row included",
                )
            })
        };
        let mut access_keys = Vec::new();
        let mut certs = Vec::new();
        for slot in 1..=9u8 {
            if let Some(active) = find(&format!("access_key_{slot}_active")) {
                let column = |suffix: &str| find(&format!("access_key_{slot}_{suffix}"));
                access_keys.push(KeyColumns {
                    slot,
                    active,
                    last_rotated: column("last_rotated"),
                    last_used_date: column("last_used_date"),
                    last_used_region: column("last_used_region"),
                    last_used_service: column("last_used_service"),
                });
            }
            if let Some(active) = find(&format!("cert_{slot}_active")) {
                certs.push(CertColumns {
                    slot,
                    active,
                    last_rotated: find(&format!("cert_{slot}_last_rotated")),
                });
            }
        }
        Ok(Self {
            user: require("user")?,
            arn: require("arn")?,
            user_creation_time: find("user_creation_time"),
            password_enabled: find("password_enabled"),
            password_last_used: find("password_last_used"),
            password_last_changed: find("password_last_changed"),
            mfa_active: find("mfa_active"),
            access_keys,
            certs,
        })
    }
}

fn parse_csv(ctx: &ErrorContext<'_>, text: &str) -> Result<ImportBatch, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|error| csv_error(ctx, &error, 0))?
        .clone();
    let columns = Columns::from_header(ctx, &header)?;
    let mut identities = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => return Err(csv_error(ctx, &error, row + 1)),
        }
        row += 1;
        let line = record.position().map_or(0, csv::Position::line);
        let cells = Row {
            ctx,
            record: &record,
            header: &header,
            location: Location::Row { row, line },
        };
        identities.push(read_user(&cells, &columns)?);
    }
    Ok(ImportBatch {
        source: FORMAT,
        full_export: true,
        generated_at: None,
        identities,
    })
}

pub(crate) fn csv_error(ctx: &ErrorContext<'_>, error: &csv::Error, row: u64) -> ImportError {
    let line = error.position().map_or(0, csv::Position::line);
    let problem = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} cells where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not UTF-8 text".to_string(),
        _ => "the row is not valid CSV".to_string(),
    };
    ctx.error(
        Location::Row { row, line },
        None,
        problem,
        "fix the row (quote cells that contain commas) or export the file again",
    )
}

/// One record with what is needed to name a bad cell.
struct Row<'a> {
    ctx: &'a ErrorContext<'a>,
    record: &'a csv::StringRecord,
    header: &'a csv::StringRecord,
    location: Location,
}

/// What a cell says once AWS's placeholders are read.
enum Cell<'a> {
    /// `N/A`, `no_information`, `not_supported` or empty.
    Absent,
    Value(&'a str),
}

impl<'a> Row<'a> {
    fn name(&self, column: usize) -> &'a str {
        self.header.get(column).unwrap_or("?")
    }

    fn cell(&self, column: usize) -> Cell<'a> {
        match self.record.get(column).map(str::trim) {
            None | Some("" | "N/A" | "no_information" | "not_supported") => Cell::Absent,
            Some(value) => Cell::Value(value),
        }
    }

    fn text(&self, column: Option<usize>) -> Option<&'a str> {
        match column.map(|c| self.cell(c)) {
            Some(Cell::Value(value)) => Some(value),
            _ => None,
        }
    }

    fn required(&self, column: usize) -> Result<&'a str, ImportError> {
        self.text(Some(column)).ok_or_else(|| {
            self.ctx.error(
                self.location.clone(),
                Some(self.name(column)),
                "the cell is empty",
                "every row of a credential report names its user and ARN; export the report again",
            )
        })
    }

    fn flag(&self, column: Option<usize>) -> Result<Option<bool>, ImportError> {
        let Some(column) = column else {
            return Ok(None);
        };
        match self.cell(column) {
            Cell::Absent => Ok(None),
            Cell::Value(value) if value.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Cell::Value(value) if value.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Cell::Value(value) => Err(self.ctx.error(
                self.location.clone(),
                Some(self.name(column)),
                format!("{} is not true or false", quote(value)),
                "write true, false or N/A as the credential report does",
            )),
        }
    }

    fn time(&self, column: Option<usize>) -> Result<Option<Timestamp>, ImportError> {
        let Some(column) = column else {
            return Ok(None);
        };
        match self.cell(column) {
            Cell::Absent => Ok(None),
            Cell::Value(value) => {
                parse_time(self.ctx, &self.location, self.name(column), value).map(Some)
            }
        }
    }
}

fn read_user(row: &Row<'_>, columns: &Columns) -> Result<ImportedIdentity, ImportError> {
    let user = row.required(columns.user)?;
    let arn = row.required(columns.arn)?;
    if !arn.starts_with("arn:") {
        return Err(row.ctx.error(
            row.location.clone(),
            Some("arn"),
            format!("{} is not an ARN", quote(arn)),
            "an IAM ARN starts with `arn:aws:iam::`; export the report again",
        ));
    }
    let mut attributes = std::collections::BTreeMap::new();
    let mut flag = |key: &str, value: Option<bool>| {
        if let Some(value) = value {
            attributes.insert(key.to_string(), AttributeValue::Flag(value));
        }
    };
    flag(
        attribute::PASSWORD_ENABLED,
        row.flag(columns.password_enabled)?,
    );
    flag(attribute::MFA_ACTIVE, row.flag(columns.mfa_active)?);
    if user == ROOT_ACCOUNT {
        flag(attribute::ROOT_ACCOUNT, Some(true));
    }
    for (key, column) in [
        (attribute::PASSWORD_LAST_USED, columns.password_last_used),
        (
            attribute::PASSWORD_LAST_CHANGED,
            columns.password_last_changed,
        ),
    ] {
        if let Some(time) = row.time(column)? {
            attributes.insert(key.to_string(), AttributeValue::Time(time));
        }
    }

    let mut credentials = Vec::new();
    for key in &columns.access_keys {
        let active = row.flag(Some(key.active))?.unwrap_or(false);
        let rotated = row.time(key.last_rotated)?;
        // An inactive slot that was never rotated holds no key at all.
        if !active && rotated.is_none() {
            continue;
        }
        let mut credential = ImportedCredential::new(
            CredentialKind::AccessKey,
            format!("access_key_{}", key.slot),
            active,
        );
        // The report's "last rotated" is when the slot's current key was created.
        credential.created_at = rotated;
        credential.last_rotated_at = rotated;
        credential.last_used_at = row.time(key.last_used_date)?;
        credential.last_used_region = row.text(key.last_used_region).map(str::to_string);
        credential.last_used_service = row.text(key.last_used_service).map(str::to_string);
        credentials.push(credential);
    }
    for cert in &columns.certs {
        let active = row.flag(Some(cert.active))?.unwrap_or(false);
        let rotated = row.time(cert.last_rotated)?;
        if !active && rotated.is_none() {
            continue;
        }
        let mut credential = ImportedCredential::new(
            CredentialKind::Certificate,
            format!("cert_{}", cert.slot),
            active,
        );
        credential.created_at = rotated;
        credential.last_rotated_at = rotated;
        credentials.push(credential);
    }

    Ok(ImportedIdentity {
        kind: IdentityKind::ServiceAccount,
        name: user.to_string(),
        external_id: arn.to_string(),
        owner_hint: None,
        environment_hint: None,
        labels: Default::default(),
        created_at: row.time(columns.user_creation_time)?,
        credentials,
        entitlements: Vec::new(),
        attributes,
        origin: Provenance {
            file: row.ctx.file.to_string(),
            location: row.location.clone(),
            via: None,
        },
    })
}
