//! Opaque pagination cursors: a position in a newest-first listing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// Why a cursor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The text is not a cursor this store issued.
    #[error("invalid cursor: {0}")]
    Invalid(&'static str),
    /// The cursor belongs to another listing (a timeline cursor given to the Job Monitor, ...).
    #[error("cursor belongs to another listing")]
    WrongListing,
}

fn encode(tag: &str, fields: &[i64]) -> String {
    let text = std::iter::once(tag.to_owned())
        .chain(fields.iter().map(i64::to_string))
        .collect::<Vec<_>>()
        .join(":");
    URL_SAFE_NO_PAD.encode(text)
}

fn decode<const N: usize>(tag: &str, cursor: &str) -> Result<[i64; N], CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| CursorError::Invalid("not base64url"))?;
    let text = String::from_utf8(bytes).map_err(|_| CursorError::Invalid("not text"))?;
    let mut parts = text.split(':');
    let found_tag = parts.next().unwrap_or_default();
    if found_tag != tag {
        return Err(if ["j1", "t1"].contains(&found_tag) {
            CursorError::WrongListing
        } else {
            CursorError::Invalid("unknown cursor kind")
        });
    }
    let mut out = [0_i64; N];
    for slot in &mut out {
        *slot = parts
            .next()
            .ok_or(CursorError::Invalid("too few fields"))?
            .parse()
            .map_err(|_| CursorError::Invalid("field is not a number"))?;
    }
    if parts.next().is_some() {
        return Err(CursorError::Invalid("too many fields"));
    }
    Ok(out)
}

fn time_from_micros(micros: i64) -> Result<DateTime<Utc>, CursorError> {
    DateTime::from_timestamp_micros(micros).ok_or(CursorError::Invalid("time out of range"))
}

/// A position in the Job Monitor listing: the last job of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    /// The sort time of the last job returned.
    pub sort_time: DateTime<Utc>,
    /// Its row id (breaks ties between equal sort times).
    pub id: i64,
}

impl JobCursor {
    /// The opaque text form handed to API clients.
    pub fn encode(&self) -> String {
        encode("j1", &[self.sort_time.timestamp_micros(), self.id])
    }

    /// Parses the text form.
    pub fn decode(cursor: &str) -> Result<JobCursor, CursorError> {
        let [micros, id] = decode::<2>("j1", cursor)?;
        Ok(JobCursor {
            sort_time: time_from_micros(micros)?,
            id,
        })
    }
}

/// A position in a customer timeline: the last entry of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    /// Time of the last entry returned.
    pub time: DateTime<Utc>,
    /// 1 for a job outcome, 0 for an audit event (jobs sort first at equal times).
    pub source: i64,
    /// Row id of the last entry.
    pub id: i64,
}

impl TimelineCursor {
    /// The opaque text form handed to API clients.
    pub fn encode(&self) -> String {
        encode("t1", &[self.time.timestamp_micros(), self.source, self.id])
    }

    /// Parses the text form.
    pub fn decode(cursor: &str) -> Result<TimelineCursor, CursorError> {
        let [micros, source, id] = decode::<3>("t1", cursor)?;
        if !(0..=1).contains(&source) {
            return Err(CursorError::Invalid("unknown timeline source"));
        }
        Ok(TimelineCursor {
            time: time_from_micros(micros)?,
            source,
            id,
        })
    }
}
