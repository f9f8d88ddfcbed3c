//! A small XML writer for responses and a lenient XML reader for request bodies.
//!
//! Responses are written by hand (no serde) so the bytes are stable and cheap to produce.
//! Request bodies are read into a tiny element tree with quick-xml; anything that is not
//! well-formed XML is refused with a message that ends up in a 400 `<error>` body.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::events::Event;

/// Escapes text for an XML text node.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    // A byte scan: the char-set pattern search is slow in unoptimised builds, and the
    // fleet server escapes every value it writes.
    if !text.bytes().any(|byte| matches!(byte, b'&' | b'<' | b'>')) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Keepit's timestamp format: RFC 3339, UTC, whole seconds, `Z`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Writes indented XML into a string.
pub(crate) struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        XmlWriter {
            out: String::with_capacity(512),
            depth: 0,
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    /// Opens `<tag>` on its own line.
    pub(crate) fn open(&mut self, tag: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
        self
    }

    /// Closes `</tag>` on its own line.
    pub(crate) fn close(&mut self, tag: &str) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
        self
    }

    /// Writes `<tag>text</tag>` with the text escaped.
    pub(crate) fn text(&mut self, tag: &str, text: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>{}</{tag}>", escape(text));
        self
    }

    /// Writes `<tag>text</tag>` when there is a value.
    pub(crate) fn opt_text(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.text(tag, text);
        }
        self
    }

    /// Writes a timestamp element.
    pub(crate) fn time(&mut self, tag: &str, at: DateTime<Utc>) -> &mut Self {
        self.text(tag, &timestamp(at))
    }

    /// Writes a timestamp element when there is a value.
    pub(crate) fn opt_time(&mut self, tag: &str, at: Option<DateTime<Utc>>) -> &mut Self {
        if let Some(at) = at {
            self.time(tag, at);
        }
        self
    }

    /// Writes anything displayable as a text element.
    pub(crate) fn display(&mut self, tag: &str, value: impl std::fmt::Display) -> &mut Self {
        self.text(tag, &value.to_string())
    }

    /// Writes `<tag/>`.
    pub(crate) fn empty(&mut self, tag: &str) -> &mut Self {
        self.indent();
        let _ = writeln!(self.out, "<{tag}/>");
        self
    }

    /// The document written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// One element of a parsed request body: its name, its direct text and its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The first direct child called `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// The trimmed text of the first direct child called `name`, if it is not empty.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|child| child.text.trim())
            .filter(|text| !text.is_empty())
    }

    /// Every descendant (depth first, this element included).
    pub(crate) fn walk(&self) -> Vec<&Element> {
        let mut out = vec![self];
        let mut index = 0;
        while index < out.len() {
            let current = out[index];
            out.extend(current.children.iter());
            index += 1;
        }
        out
    }
}

/// Parses a request body into an element tree.
///
/// Lenient about what Keepit is lenient about (whitespace, declarations, comments,
/// attributes, unknown elements); strict about well-formedness.
pub(crate) fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("body is not well-formed XML: {error}"))?;
        match event {
            Event::Start(start) => {
                if root.is_some() && stack.is_empty() {
                    return Err("body has more than one root element".to_owned());
                }
                stack.push(Element {
                    name: AsRef::<str>::as_ref(&start.name()).to_owned(),
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: AsRef::<str>::as_ref(&start.name()).to_owned(),
                    ..Element::default()
                };
                attach(&mut stack, &mut root, element)?;
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| "body has a closing tag without an opening one".to_owned())?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::Text(content) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&content.xml10_content());
                }
            }
            Event::CData(content) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&content.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|error| format!("body has a bad character reference: {error}"))?
                {
                    Some(character) => character,
                    None => match reference.xml10_content().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("body uses the unknown entity &{other};")),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("body ends before every element is closed".to_owned());
    }
    root.ok_or_else(|| "body has no XML element".to_owned())
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("body has more than one root element".to_owned()),
    }
    Ok(())
}

/// Parses a timestamp the way Keepit accepts them: RFC 3339 with or without
/// fractional seconds, or a bare date (midnight UTC).
pub(crate) fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(raw) {
        return Some(parsed.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Parses an ISO 8601 duration such as `P7D`, `P1M`, `PT12H` or `P1DT6H30M`.
///
/// A year counts as 365 days and a month as 30 days: the mock needs a window, not a calendar.
pub(crate) fn parse_duration(raw: &str) -> Option<chrono::TimeDelta> {
    let raw = raw.trim();
    let rest = raw.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut seconds: i64 = 0;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    let mut time_units = 0;
    for c in rest.chars() {
        if c == 'T' {
            if in_time || !number.is_empty() {
                return None;
            }
            in_time = true;
            continue;
        }
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: i64 = number.parse().ok()?;
        number.clear();
        let unit = match (in_time, c) {
            (false, 'Y') => 365 * 86_400,
            (false, 'M') => 30 * 86_400,
            (false, 'W') => 7 * 86_400,
            (false, 'D') => 86_400,
            (true, 'H') => 3_600,
            (true, 'M') => 60,
            (true, 'S') => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(value.checked_mul(unit)?)?;
        any = true;
        if in_time {
            time_units += 1;
        }
    }
    if !number.is_empty() || !any || (in_time && time_units == 0) {
        return None;
    }
    chrono::TimeDelta::try_seconds(seconds)
}

/// Reads a Keepit boolean: `true`/`false`/`1`/`0`, case-insensitively. A present but
/// empty element counts as true (Keepit's presence flags).
pub(crate) fn parse_flag(element: Option<&Element>) -> Option<bool> {
    let element = element?;
    match element.text.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
