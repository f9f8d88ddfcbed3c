//! Tests of the XML writer and the lenient request reader.

use chrono::{TimeDelta, TimeZone as _, Utc};

use super::*;
use crate::test_support::well_formed;

#[test]
fn request_bodies_are_read_leniently() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<filter version="2">
  <account> abc-def </account>
  <from>2026-01-01T00:00:00Z</from>
  <recursive/>
  <note>R&amp;D &lt;team&gt; &#65;<![CDATA[<raw>]]></note>
  <unknown><nested>ignored</nested></unknown>
</filter>
"#;
    let root = parse(body).unwrap();
    assert_eq!(root.name, "filter");
    assert_eq!(root.child_text("account"), Some("abc-def"));
    assert_eq!(root.child_text("recursive"), None);
    assert_eq!(parse_flag(root.child("recursive")), Some(true));
    assert_eq!(root.child("note").unwrap().text, "R&D <team> A<raw>");
    assert_eq!(root.walk().len(), 7);
}

#[test]
fn malformed_bodies_are_refused_with_a_reason() {
    let cases: [(&[u8], &str); 6] = [
        (b"<filter><from>x</filter>", "well-formed"),
        (b"<filter><from>x</from>", "closed"),
        (b"<a/><b/>", "more than one root"),
        (b"   ", "no XML element"),
        (b"<a>&bogus;</a>", "unknown entity"),
        (&[0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e], "UTF-8"),
    ];
    for (body, expected) in cases {
        let error = parse(body).unwrap_err();
        assert!(error.contains(expected), "{body:?}: {error}");
    }
}

#[test]
fn times_durations_and_flags_parse_like_keepit_sends_them() {
    let at = Utc.with_ymd_and_hms(2026, 1, 7, 21, 29, 31).unwrap();
    assert_eq!(parse_time("2026-01-07T21:29:31Z"), Some(at));
    assert_eq!(parse_time(" 2026-01-07T21:29:31.000Z "), Some(at));
    assert_eq!(parse_time("2026-01-07T22:29:31+01:00"), Some(at));
    assert_eq!(
        parse_time("2026-01-07"),
        Some(Utc.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap())
    );
    assert_eq!(parse_time("yesterday"), None);

    assert_eq!(parse_duration("P7D"), Some(TimeDelta::days(7)));
    assert_eq!(parse_duration("P1M"), Some(TimeDelta::days(30)));
    assert_eq!(parse_duration("P1Y"), Some(TimeDelta::days(365)));
    assert_eq!(parse_duration("PT12H"), Some(TimeDelta::hours(12)));
    assert_eq!(
        parse_duration("P1DT6H30M5S"),
        Some(TimeDelta::seconds(86_400 + 6 * 3_600 + 30 * 60 + 5))
    );
    assert_eq!(parse_duration("P2W"), Some(TimeDelta::days(14)));
    for bad in ["", "P", "7D", "PT", "P1H", "PT1D", "P1.5D", "P1DT"] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }

    let flag = |text: &str| Element {
        name: "f".to_owned(),
        text: text.to_owned(),
        children: Vec::new(),
    };
    assert_eq!(parse_flag(Some(&flag("TRUE"))), Some(true));
    assert_eq!(parse_flag(Some(&flag(" false "))), Some(false));
    assert_eq!(parse_flag(Some(&flag("0"))), Some(false));
    assert_eq!(parse_flag(Some(&flag("maybe"))), None);
    assert_eq!(parse_flag(None), None);
}

#[test]
fn the_writer_escapes_text_and_indents() {
    let mut xml = XmlWriter::new();
    xml.open("users")
        .text("company_name", "Bellows & Co <Ltd>")
        .opt_text("missing", None)
        .empty("flag")
        .close("users");
    let text = xml.finish();
    assert_eq!(
        text,
        "<users>\n  <company_name>Bellows &amp; Co &lt;Ltd&gt;</company_name>\n  <flag/>\n</users>\n"
    );
    assert!(well_formed(&text));
    assert_eq!(
        parse(text.as_bytes()).unwrap().child_text("company_name"),
        Some("Bellows & Co <Ltd>")
    );
    assert_eq!(
        timestamp(Utc.with_ymd_and_hms(2026, 1, 7, 9, 5, 0).unwrap()),
        "2026-01-07T09:05:00Z"
    );
}

#[test]
fn the_well_formedness_check_catches_what_it_should() {
    assert!(well_formed("<a><b>text</b><c/></a>"));
    assert!(well_formed("<?xml version=\"1.0\"?>\n<a/>\n"));
    assert!(!well_formed("<a><b>text</a>"));
    assert!(!well_formed("<a><b>text</b>"));
    assert!(!well_formed("<a/><a/>"));
    assert!(!well_formed("text"));
    assert!(!well_formed("<a><b>te"));
    assert!(!well_formed(""));
}
