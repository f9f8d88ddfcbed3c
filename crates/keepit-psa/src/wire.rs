//! Small helpers the three clients share: base URLs, query strings, ids that come as
//! numbers or text, lenient flags and error messages.

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize as _, Deserializer};
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result, shorten};

/// Parses a configured base URL, which must be `http` or `https`, and makes sure its
/// path ends with a slash so that relative paths join below it.
pub(crate) fn base_url(text: &str, psa: &str) -> Result<Url> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Config(format!("the {psa} address is missing")));
    }
    let mut url = Url::parse(text)
        .map_err(|error| Error::Config(format!("the {psa} address does not parse: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "the {psa} address must start with https://"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `path` below `base`, with a query string made of `query`, every value encoded.
pub(crate) fn endpoint(base: &Url, path: &str, query: &[(&str, &str)]) -> Result<Url> {
    let mut url = base
        .join(path)
        .map_err(|error| Error::Config(format!("cannot build a PSA address: {error}")))?;
    if query.is_empty() {
        url.set_query(None);
    } else {
        let query: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect();
        url.set_query(Some(&query.join("&")));
    }
    Ok(url)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a space is
/// `%20` (never `+`) and `"`, `&`, `'`, `*`, `%` and `+` are always encoded.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A header value for a secret, marked sensitive so that `Debug` hides it.
pub(crate) fn secret_header(secret: &SecretString) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(secret.expose_secret()).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Checks at setup that a secret can travel in an HTTP header.
pub(crate) fn check_header(secret: &SecretString, what: &str) -> Result<()> {
    if secret.expose_secret().trim().is_empty() {
        return Err(Error::Config(format!("the {what} is missing")));
    }
    if secret_header(secret).is_none() {
        return Err(Error::Config(format!(
            "the {what} contains characters an HTTP header cannot carry"
        )));
    }
    Ok(())
}

/// An id the PSA requires to be a number (ticket ids, ConnectWise references).
pub(crate) fn number(what: &str, text: &str) -> Result<u64> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("the {what} {:?} is not a number", shorten(text))))
}

/// An id as JSON: a number when it reads as one, else the text.
pub(crate) fn json_id(text: &str) -> Value {
    match text.trim().parse::<u64>() {
        Ok(number) => Value::from(number),
        Err(_) => Value::from(text.trim()),
    }
}

/// Reads an id sent as a number or as text; `null`, empty text and anything else
/// become `None`.
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(id_of(&Value::deserialize(deserializer)?))
}

/// The id in a JSON value, as text.
pub(crate) fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads a flag sent as a boolean, a number or text (`true`, `1`, `yes`...).
pub(crate) fn opt_flag<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    Ok(flag_of(&Value::deserialize(deserializer)?))
}

fn flag_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => number.as_f64().map(|number| number != 0.0),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Some(true),
            "false" | "0" | "no" | "n" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The text of one error entry: a string, or an object's `message` (any casing).
pub(crate) fn message_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Object(fields) => fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("message"))
            .and_then(|(_, value)| message_of(value)),
        _ => None,
    }
}

/// The message for an answer nothing better could be read from. The body itself is
/// never repeated: a base URL can point anywhere, and the connection test must not
/// become a way to read what an arbitrary host answers.
pub(crate) fn fallback_message(status: u16, _body: &str) -> String {
    format!("HTTP {status} without a message this client can read")
}

/// The rows of a list answer: a JSON array, or the first array inside an object (Halo
/// wraps some lists as `{"record_count": N, "<things>": [...]}`).
pub(crate) fn rows(value: Value) -> Vec<Value> {
    match value {
        Value::Array(rows) => rows,
        Value::Object(fields) => fields
            .into_iter()
            .find_map(|(_, value)| match value {
                Value::Array(rows) => Some(rows),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_get_a_trailing_slash_and_queries_are_encoded() {
        let base = base_url(" https://x.example/v4_6_release/apis/3.0 ", "PSA").unwrap();
        assert_eq!(base.as_str(), "https://x.example/v4_6_release/apis/3.0/");
        let url = endpoint(
            &base,
            "service/tickets",
            &[("conditions", "a=\"b c\" & d+e")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://x.example/v4_6_release/apis/3.0/service/tickets?conditions=a%3D%22b%20c%22%20%26%20d%2Be"
        );
        assert!(base_url("ftp://x.example", "PSA").is_err());
        assert!(base_url("", "PSA").is_err());
    }

    #[test]
    fn ids_and_flags_are_read_leniently() {
        assert_eq!(id_of(&serde_json::json!(12)), Some("12".into()));
        assert_eq!(id_of(&serde_json::json!(" 12 ")), Some("12".into()));
        assert_eq!(id_of(&serde_json::json!(null)), None);
        assert_eq!(flag_of(&serde_json::json!("True")), Some(true));
        assert_eq!(flag_of(&serde_json::json!(0)), Some(false));
        assert_eq!(json_id("7"), serde_json::json!(7));
        assert_eq!(json_id("abc"), serde_json::json!("abc"));
        assert!(number("ticket id", "../1").is_err());
    }
}
