//! Shortening and masking of response text before it reaches an error or a log.
//!
//! Keepit bodies can carry e-mail addresses, API-token logins and client IP
//! addresses; none of them may leak through an error message.

/// Elements whose text is masked in snippets.
const MASKED_ELEMENTS: &[&str] = &[
    "token",
    "client-ip",
    "aname",
    "apass",
    "email",
    "password",
    "fullname",
    "full_name",
    "phone",
    "primary_aname",
];

const SNIPPET_CHARS: usize = 160;
const MESSAGE_CHARS: usize = 200;

/// The start of a body with sensitive element text masked and whitespace collapsed.
pub(crate) fn redact_snippet(body: &str) -> String {
    let mut text = body.to_owned();
    for element in MASKED_ELEMENTS {
        text = mask_element(&text, element);
    }
    truncate(&collapse(&mask_words(&text)), SNIPPET_CHARS)
}

/// A one-line, shortened, masked version of an error description.
pub(crate) fn short_message(message: &str) -> String {
    truncate(&collapse(&mask_words(message)), MESSAGE_CHARS)
}

fn mask_element(text: &str, element: &str) -> String {
    let open = format!("<{element}>");
    let close = format!("</{element}>");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after_open = start + open.len();
        out.push_str(&rest[..after_open]);
        match rest[after_open..].find(&close) {
            Some(end) => {
                out.push_str("***");
                rest = &rest[after_open + end..];
            }
            None => {
                // A truncated body: mask whatever follows the opening tag.
                out.push_str("***");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Masks words that look like e-mail addresses or IPv4 addresses.
fn mask_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str("***@***");
        } else if looks_like_ipv4(word) {
            out.push_str("***.***.***.***");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ',' | ';' | '(' | ')') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn looks_like_ipv4(word: &str) -> bool {
    let trimmed = word.trim_end_matches('.');
    let parts: Vec<&str> = trimmed.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|part| {
            !part.is_empty() && part.len() <= 3 && part.chars().all(|c| c.is_ascii_digit())
        })
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_addresses_and_ips_are_masked() {
        let body = "<audit><record><token>Zq4L+dyQsns1k6gB5Ia,aX%</token><client-ip>203.0.113.7</client-ip><message>by jane@contoso.example from 198.51.100.23</message></record></audit>";
        let snippet = redact_snippet(body);
        assert!(!snippet.contains("Zq4L"), "{snippet}");
        assert!(!snippet.contains("203.0.113.7"), "{snippet}");
        assert!(!snippet.contains("jane@contoso.example"), "{snippet}");
        assert!(!snippet.contains("198.51.100.23"), "{snippet}");
        assert!(
            snippet.starts_with("<audit><record><token>***</token>"),
            "{snippet}"
        );
    }

    #[test]
    fn truncated_bodies_are_masked_to_the_end() {
        assert_eq!(redact_snippet("<x><token>secret-and-cut"), "<x><token>***");
    }

    #[test]
    fn snippets_are_short_and_on_char_boundaries() {
        let body = "ø".repeat(500);
        let snippet = redact_snippet(&body);
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(
            short_message("User authentication error:\n Username or password is incorrect.\n"),
            "User authentication error: Username or password is incorrect."
        );
    }
}
