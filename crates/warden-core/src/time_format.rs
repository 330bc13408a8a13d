//! RFC 3339 formatting and parsing for `Timestamp`, kept apart so the clock stays small.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) fn format_rfc3339_millis(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(at) => {
            let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
            format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                at.hour(),
                at.minute(),
                at.second(),
                at.millisecond()
            )
        }
        // Out-of-range instants cannot come from the clock; show the raw value rather than fail.
        Err(_) => format!("@{millis}ms"),
    }
}

pub(crate) fn parse_rfc3339_millis(text: &str) -> Result<i64, String> {
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|error| {
        format!("`{text}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z ({error})")
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("`{text}` is out of range"))
}
