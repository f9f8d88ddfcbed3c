//! Property tests for what the store reads from outside: customer CSV files and the
//! page cursors API clients hand back. Any input gives rows, row errors or a typed
//! error, never a panic; what is written is read back unchanged.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use crate::customers::read_customer_rows;
use crate::{JobCursor, TimelineCursor};

/// Text that a CSV reader finds hard: quotes, separators, line endings, a BOM.
fn csv_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"name,external_id\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        "[A-Za-z0-9 ]{0,8}".prop_map(String::into_bytes),
        any::<String>().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..30).prop_map(|pieces| pieces.concat())
}

/// A CSV field: quoted when it holds a separator, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_bytes_give_rows_row_errors_or_a_header_error(bytes in csv_noise()) {
        match read_customer_rows(&bytes) {
            Ok(read) => {
                let mut ids: Vec<_> = read.rows.iter().map(|(_, id)| id.clone()).collect();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), read.rows.len(), "an external id twice");
                for (name, id) in &read.rows {
                    prop_assert!(!name.is_empty() && !id.is_empty());
                }
                let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                for error in &read.errors {
                    prop_assert!(error.line <= lines, "line {} of {}", error.line, lines);
                }
            }
            Err(crate::Error::Csv(_) | crate::Error::InvalidInput { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn written_rows_are_read_back(
        customers in proptest::collection::btree_map(
            "[A-Za-z0-9-]{1,12}",
            "[A-Za-z0-9][A-Za-z0-9 ,\"&'.\n-]{0,20}[A-Za-z0-9.]",
            0..20,
        ),
        crlf in any::<bool>(),
        extra_column in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut file = String::from(if extra_column { "notes,Name,External_ID" } else { "name,external_id" });
        file.push_str(end);
        for (id, name) in &customers {
            if extra_column {
                file.push_str(&format!("x,{},{}{end}", field(name), field(id)));
            } else {
                file.push_str(&format!("{},{}{end}", field(name), field(id)));
            }
        }
        let read = read_customer_rows(file.as_bytes()).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert!(read.errors.is_empty(), "{:?}", read.errors);
        let expected: Vec<(String, String)> =
            customers.iter().map(|(id, name)| (name.clone(), id.clone())).collect();
        prop_assert_eq!(read.rows, expected);
    }

    #[test]
    fn cursors_refuse_garbage_and_round_trip(
        text in any::<String>(),
        micros in -62_135_596_800_000_000i64..253_402_300_799_000_000,
        id in any::<i64>(),
        source in 0i64..=1,
    ) {
        // Garbage is refused with a typed error or, by chance, read; never a panic.
        let _ = JobCursor::decode(&text);
        let _ = TimelineCursor::decode(&text);
        let time = Utc.timestamp_micros(micros).unwrap();
        let job = JobCursor { sort_time: time, id };
        prop_assert_eq!(JobCursor::decode(&job.encode()), Ok(job));
        let timeline = TimelineCursor { time, source, id };
        prop_assert_eq!(TimelineCursor::decode(&timeline.encode()), Ok(timeline));
        // One cursor is not taken for the other.
        prop_assert!(TimelineCursor::decode(&job.encode()).is_err());
    }
}
