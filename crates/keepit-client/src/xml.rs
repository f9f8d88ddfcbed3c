//! A small streaming XML reader for the list endpoints, walking quick-xml events directly.
//!
//! The serde path (`quick_xml::de`) builds every value through the `Deserialize`
//! machinery and allocates a `String` per field. The list endpoints (audit pages,
//! connectors, jobs) are large, so their wire types are filled by hand from the event
//! stream instead: element local names are matched as bytes, text borrows the body
//! unless entities, CDATA next to text or line endings force a copy, and unknown
//! elements are skipped whole.
//!
//! The reader keeps the serde path's leniency and its strictness:
//!
//! - unknown elements are ignored at any depth, attributes are ignored, and a known
//!   text element that unexpectedly holds child elements keeps only its own text;
//! - entities and character references are resolved (an unknown entity is an
//!   error), CDATA is taken verbatim, and line endings are normalised as XML 1.0 says;
//! - the document must be well formed: mismatched or missing end tags, a truncated
//!   body, text before the root element and anything but whitespace, comments and
//!   processing instructions after it are [`Error::Decode`] naming the endpoint, with
//!   a redacted snippet of the body;
//! - a field element that appears twice in one item is an error, as it is for serde.

use std::borrow::Cow;
use std::fmt::Display;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::error::{Error, Result};
use crate::redact::redact_snippet;

/// An element start tag as read: `<name ...>` or `<name .../>`.
pub(crate) struct Open<'i> {
    start: BytesStart<'i>,
    /// Self-closing (`<name/>`): no children, no text, no end tag to read.
    empty: bool,
}

impl Open<'_> {
    /// The element's name without a namespace prefix.
    pub(crate) fn local_name(&self) -> &[u8] {
        self.start.local_name().into_inner().as_bytes()
    }
}

/// A cursor over one XML body; every method reads forward only.
pub(crate) struct XmlCursor<'i> {
    reader: Reader<&'i [u8]>,
    endpoint: &'static str,
    body: &'i str,
}

impl<'i> XmlCursor<'i> {
    /// A cursor over `body`, trimmed of a byte-order mark and surrounding whitespace.
    pub(crate) fn new(endpoint: &'static str, body: &'i str) -> Self {
        let body = body.trim_start_matches('\u{feff}').trim();
        let mut reader = Reader::from_str(body);
        // Whitespace between elements is skipped inside quick-xml instead of coming out
        // as text events nobody reads. Text that is read is never trimmed by the
        // reader: `text` switches this off, because trimming would also eat the
        // spaces next to an entity (`Tom &amp; Jerry`).
        reader.config_mut().trim_text_start = true;
        XmlCursor {
            reader,
            endpoint,
            body,
        }
    }

    /// Whether the (trimmed) body is empty: Keepit's way of saying "nothing".
    pub(crate) fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// A decode error naming the endpoint, with a redacted snippet of the body.
    pub(crate) fn error(&self, reason: impl Display) -> Error {
        Error::Decode {
            endpoint: self.endpoint,
            reason: reason.to_string(),
            snippet: redact_snippet(self.body),
        }
    }

    #[inline]
    fn event(&mut self) -> Result<Event<'i>> {
        match self.reader.read_event() {
            Ok(event) => Ok(event),
            Err(err) => Err(self.error(format_args!(
                "malformed XML at byte {}: {err}",
                self.reader.error_position()
            ))),
        }
    }

    fn truncated(&self) -> Error {
        self.error("the document ends before all elements are closed")
    }

    /// Reads up to the root element, past the XML declaration, comments, processing
    /// instructions and a doctype. `None` for an empty body.
    pub(crate) fn root(&mut self) -> Result<Option<Open<'i>>> {
        if self.is_empty() {
            return Ok(None);
        }
        loop {
            match self.event()? {
                Event::Start(start) => {
                    return Ok(Some(Open {
                        start,
                        empty: false,
                    }));
                }
                Event::Empty(start) => return Ok(Some(Open { start, empty: true })),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
                Event::Text(text) if is_blank(&text) => {}
                Event::Eof => return Err(self.error("the document has no root element")),
                _ => {
                    return Err(self.error("the body is not XML: text before the root element"));
                }
            }
        }
    }

    /// Reads up to the root element and checks its local name against `roots`.
    ///
    /// An empty body and a root of another name are [`Error::Decode`]: Keepit answers
    /// every read with a document, and an empty list is an empty wrapper element.
    pub(crate) fn expect_root(&mut self, roots: &[&str]) -> Result<Open<'i>> {
        let expected = || {
            roots
                .iter()
                .map(|name| format!("<{name}>"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let Some(root) = self.root()? else {
            return Err(self.error(format_args!(
                "the body is empty where {} was expected",
                expected()
            )));
        };
        if roots
            .iter()
            .any(|name| name.as_bytes() == root.local_name())
        {
            Ok(root)
        } else {
            Err(self.error(format_args!(
                "the document is <{}> where {} was expected",
                String::from_utf8_lossy(root.local_name()),
                expected()
            )))
        }
    }

    /// Checks that nothing but whitespace, comments and processing instructions
    /// follows the root element.
    pub(crate) fn finish(&mut self) -> Result<()> {
        loop {
            match self.event()? {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(text) if is_blank(&text) => {}
                _ => return Err(self.error("content follows the root element")),
            }
        }
    }

    /// The next child element of `parent`, or `None` once `parent` is closed.
    ///
    /// Text directly inside `parent` is ignored (it is whitespace between items in
    /// every shape Keepit sends). Call it in a loop until it gives `None`; every child
    /// it returns must be consumed with [`XmlCursor::text`], [`XmlCursor::skip`] or
    /// another loop over its own children.
    #[inline]
    pub(crate) fn next_child(&mut self, parent: &Open<'i>) -> Result<Option<Open<'i>>> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            match self.event()? {
                Event::Start(start) => {
                    return Ok(Some(Open {
                        start,
                        empty: false,
                    }));
                }
                Event::Empty(start) => return Ok(Some(Open { start, empty: true })),
                // quick-xml checks that end tags match, so this one closes `parent`.
                Event::End(_) => return Ok(None),
                Event::GeneralRef(reference) => {
                    // Ignored like the text around it, but an unknown entity is still an error.
                    let mut sink = String::new();
                    self.resolve(&mut sink, &reference)?;
                }
                Event::Text(_)
                | Event::CData(_)
                | Event::Comment(_)
                | Event::PI(_)
                | Event::Decl(_)
                | Event::DocType(_) => {}
                Event::Eof => return Err(self.truncated()),
            }
        }
    }

    /// Skips an element and everything inside it.
    #[inline]
    pub(crate) fn skip(&mut self, element: Open<'i>) -> Result<()> {
        if element.empty {
            return Ok(());
        }
        match self.reader.read_to_end(element.start.name()) {
            Ok(_) => Ok(()),
            Err(err) => Err(self.error(format_args!(
                "malformed XML at byte {}: {err}",
                self.reader.error_position()
            ))),
        }
    }

    /// The text of a leaf element: text, CDATA and references joined, child elements
    /// skipped. Borrows the body when it can. The text is not trimmed.
    #[inline]
    pub(crate) fn text(&mut self, element: Open<'i>) -> Result<Cow<'i, str>> {
        if element.empty {
            return Ok(Cow::Borrowed(""));
        }
        self.reader.config_mut().trim_text_start = false;
        let text = self.leaf_text();
        self.reader.config_mut().trim_text_start = true;
        text
    }

    #[inline]
    fn leaf_text(&mut self) -> Result<Cow<'i, str>> {
        let mut value: Cow<'i, str> = Cow::Borrowed("");
        loop {
            match self.event()? {
                Event::Text(text) => append(&mut value, text.xml10_content()),
                Event::CData(data) => append(&mut value, data.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = value.to_mut();
                    self.resolve(resolved, &reference)?;
                }
                Event::End(_) => return Ok(value),
                Event::Start(start) => self.skip(Open {
                    start,
                    empty: false,
                })?,
                Event::Empty(_)
                | Event::Comment(_)
                | Event::PI(_)
                | Event::Decl(_)
                | Event::DocType(_) => {}
                Event::Eof => return Err(self.truncated()),
            }
        }
    }

    /// Fills a field from a leaf element; a field that is already set is an error.
    #[inline]
    pub(crate) fn field(
        &mut self,
        slot: &mut Option<Cow<'i, str>>,
        element: Open<'i>,
    ) -> Result<()> {
        if slot.is_some() {
            return Err(self.duplicate(&element));
        }
        *slot = Some(self.text(element)?);
        Ok(())
    }

    /// The error for a field element that appears twice in one item.
    pub(crate) fn duplicate(&self, element: &Open<'i>) -> Error {
        self.error(format_args!(
            "element <{}> appears more than once",
            String::from_utf8_lossy(element.local_name())
        ))
    }

    fn resolve(&self, out: &mut String, reference: &BytesRef<'_>) -> Result<()> {
        match reference.resolve_char_ref() {
            Ok(Some(character)) => {
                out.push(character);
                return Ok(());
            }
            Ok(None) => {}
            Err(err) => return Err(self.error(format_args!("bad character reference: {err}"))),
        }
        match quick_xml::escape::resolve_predefined_entity(reference) {
            Some(value) => {
                out.push_str(value);
                Ok(())
            }
            None => Err(self.error(format_args!(
                "unknown entity &{};",
                reference.as_ref() as &str
            ))),
        }
    }
}

/// Appends a piece of text, borrowing while there is only one piece.
#[inline]
fn append<'i>(value: &mut Cow<'i, str>, piece: Cow<'i, str>) {
    if value.is_empty() {
        *value = piece;
    } else if !piece.is_empty() {
        value.to_mut().push_str(&piece);
    }
}

fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Reads a list document: `<root><item/>...</root>`, handing each child of the root
/// to `item` (which must consume it), then checks the end of the document.
///
/// The root element must be one of `roots` (by local name), and the body must not be
/// empty: an empty list is a well-formed empty wrapper such as `<jobs/>`. A proxy's
/// HTML page, a JSON answer or an empty 200 is therefore an error and never "nothing
/// there", which would make the caller forget connectors or skip history.
///
/// Conversion errors returned by `item` do not stop the walk: the rest of the document
/// is still checked, so a malformed document is reported as such, and otherwise the
/// first conversion error is returned.
pub(crate) fn read_list<'i>(
    xml: &mut XmlCursor<'i>,
    roots: &[&str],
    mut item: impl FnMut(&mut XmlCursor<'i>, Open<'i>) -> Result<Option<Error>>,
) -> Result<()> {
    let root = xml.expect_root(roots)?;
    let mut first_error: Option<Error> = None;
    while let Some(child) = xml.next_child(&root)? {
        if let Some(error) = item(xml, child)?
            && first_error.is_none()
        {
            first_error = Some(error);
        }
    }
    xml.finish()?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "TEST /xml";

    /// Reads `<root><item><a/><b/></item>...</root>` into (a, b) pairs.
    fn pairs(body: &str) -> Result<Vec<(Option<String>, Option<String>)>> {
        let mut xml = XmlCursor::new(ENDPOINT, body);
        let mut found = Vec::new();
        read_list(&mut xml, &["root"], |xml, item| {
            if item.local_name() != b"item" {
                xml.skip(item)?;
                return Ok(None);
            }
            let (mut a, mut b) = (None, None);
            while let Some(child) = xml.next_child(&item)? {
                match child.local_name() {
                    b"a" => xml.field(&mut a, child)?,
                    b"b" => xml.field(&mut b, child)?,
                    _ => xml.skip(child)?,
                }
            }
            found.push((a.map(Cow::into_owned), b.map(Cow::into_owned)));
            Ok(None)
        })?;
        Ok(found)
    }

    fn one(a: &str, b: &str) -> (Option<String>, Option<String>) {
        (Some(a.to_owned()), Some(b.to_owned()))
    }

    fn decode_error(body: &str) -> String {
        match pairs(body) {
            Err(Error::Decode {
                endpoint,
                reason,
                snippet,
            }) => {
                assert_eq!(endpoint, ENDPOINT);
                assert!(snippet.chars().count() <= 161);
                reason
            }
            other => panic!("expected a decode error for {body:?}, got {other:?}"),
        }
    }

    #[test]
    fn items_and_fields_are_read_in_order() {
        let body = "<?xml version=\"1.0\"?>\n<!-- list -->\n<root>\n <item><a> x </a><b>y</b></item>\n <item><b>2</b><a>1</a></item>\n</root>\n";
        assert_eq!(pairs(body).unwrap(), vec![one(" x ", "y"), one("1", "2")]);
    }

    #[test]
    fn nested_unknown_elements_are_skipped_at_any_depth() {
        let body = "<root><meta><item><a>not an item</a></item><deep><deeper>x</deeper><deeper/></deep></meta><item><unknown><a>no</a><x><y><z/></y></x></unknown><a>yes</a><b>b</b><extra/></item></root>";
        assert_eq!(pairs(body).unwrap(), vec![one("yes", "b")]);
    }

    #[test]
    fn text_elements_with_children_keep_their_own_text() {
        let body = "<root><item><a>left<i>skipped</i>right</a></item></root>";
        assert_eq!(
            pairs(body).unwrap(),
            vec![(Some("leftright".to_owned()), None)]
        );
    }

    #[test]
    fn cdata_and_entities_are_unescaped() {
        let body = "<root><item><a><![CDATA[<b>R&D</b>]]></a><b>R&amp;D &lt;x&gt; &quot;q&quot; &apos;s&apos; &#65;&#x42; caf&#xE9;</b></item><item><a>a <![CDATA[&amp;]]> b</a><b>&amp;</b></item></root>";
        assert_eq!(
            pairs(body).unwrap(),
            vec![
                one("<b>R&D</b>", "R&D <x> \"q\" 's' AB café"),
                one("a &amp; b", "&")
            ]
        );
    }

    #[test]
    fn line_endings_are_normalised() {
        let body = "<root><item><a>one\r\ntwo\rthree</a></item></root>";
        assert_eq!(
            pairs(body).unwrap(),
            vec![(Some("one\ntwo\nthree".to_owned()), None)]
        );
    }

    #[test]
    fn self_closing_elements_are_empty() {
        assert_eq!(pairs("<root/>").unwrap(), vec![]);
        assert_eq!(pairs("<root></root>").unwrap(), vec![]);
        assert_eq!(
            pairs("<root><item/><item><a/><b></b></item></root>").unwrap(),
            vec![(None, None), one("", "")]
        );
    }

    #[test]
    fn attributes_are_ignored() {
        let body = "<root version=\"4\" xmlns:k=\"urn:keepit\"><item id=\"7\"><a lang='en'>x</a><k:b kind=\"y\">y</k:b><c a=\"1\"/></item></root>";
        assert_eq!(pairs(body).unwrap(), vec![one("x", "y")]);
    }

    #[test]
    fn empty_wrappers_are_empty_lists_and_empty_bodies_are_errors() {
        assert_eq!(pairs("\u{feff}<root/>\n").unwrap(), vec![]);
        assert_eq!(
            pairs("<?xml version=\"1.0\"?><root>\n</root>").unwrap(),
            vec![]
        );
        for body in ["", " \n\t ", "\u{feff}"] {
            let reason = decode_error(body);
            assert!(
                reason.contains("empty where <root> was expected"),
                "{reason}"
            );
        }
    }

    #[test]
    fn another_root_is_an_error() {
        // A well-formed XHTML maintenance page is not an empty list.
        let reason = decode_error(
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>Down for maintenance</p></body></html>",
        );
        assert_eq!(reason, "the document is <html> where <root> was expected");
        let reason = decode_error("<items><item><a>x</a></item></items>");
        assert!(reason.contains("<items>"), "{reason}");
        // A namespace prefix on the right root is fine.
        assert!(pairs("<k:root xmlns:k=\"urn:k\"/>").is_ok());
    }

    #[test]
    fn truncated_documents_are_errors() {
        for body in [
            "<root><item><a>x</a>",
            "<root><item><a>x",
            "<root><item><a>x</a></item>",
            "<root><item><unknown><deep>",
            "<root><item><a>x</a></item></ro",
            "<root><item><a",
        ] {
            decode_error(body);
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        for body in [
            "<root><item><a>x</a></item></root>garbage",
            "<root/><root/>",
            "<root></root></root>",
            "<root></root>&amp;",
        ] {
            decode_error(body);
        }
        // Whitespace, comments and processing instructions may follow the root.
        assert!(pairs("<root/>\n<!-- end -->\n<?done?>\n").is_ok());
    }

    #[test]
    fn non_xml_bodies_are_errors() {
        for body in [
            "Service Unavailable",
            "{\"error\": \"nope\"}",
            "<!DOCTYPE html>\n<html><head><title>502</title></head><body><p>Bad<br>Gateway</p></body></html>",
            "<!-- only a comment -->",
        ] {
            decode_error(body);
        }
    }

    #[test]
    fn malformed_documents_are_errors() {
        for body in [
            "<root><item><a>x</b></item></root>",
            "<root><item><a>&nbsp;</a></item></root>",
            "<root><item><a>&#0;</a></item></root>",
            "<root><item><a>x</a><a>y</a></item></root>",
        ] {
            decode_error(body);
        }
    }

    #[test]
    fn snippets_are_redacted() {
        let reason = decode_error("<root><item><token>secret-token</token><a>x</a>");
        assert!(
            reason.contains("before all elements are closed"),
            "{reason}"
        );
        match pairs("<root><item><token>secret-token</token><a>x</a>") {
            Err(Error::Decode { snippet, .. }) => {
                assert!(!snippet.contains("secret-token"), "{snippet}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn item_errors_wait_for_the_document_check() {
        let mut xml = XmlCursor::new(ENDPOINT, "<root><item/><item/></root><junk/>");
        let result = read_list(&mut xml, &["root"], |xml, item| {
            xml.skip(item)?;
            Ok(Some(xml.error("item conversion failed")))
        });
        match result {
            Err(Error::Decode { reason, .. }) => {
                assert!(reason.contains("follows the root"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut xml = XmlCursor::new(ENDPOINT, "<root><item/><item/></root>");
        let mut seen = 0;
        let result = read_list(&mut xml, &["root"], |xml, item| {
            seen += 1;
            xml.skip(item)?;
            Ok(Some(xml.error(format_args!("item {seen} failed"))))
        });
        match result {
            Err(Error::Decode { reason, .. }) => assert_eq!(reason, "item 1 failed"),
            other => panic!("{other:?}"),
        }
    }
}
