//! Endpoint templates ("GET /users/{a}/devices") and the account a request touches.

use keepit_domain::AccountId;

/// Turns a concrete request into its endpoint template, for request accounting.
///
/// Segments that follow `users`, `devices` and `jobs` are identifiers and become
/// `{a}`, `{d}` and `{j}`; everything else is kept. `GET /users/` stays `GET /users/`.
pub fn endpoint_template(method: &str, path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    if segments == ["users"] {
        return format!("{method} /users/");
    }
    let mut out = String::with_capacity(path.len() + 8);
    let mut previous = "";
    for segment in &segments {
        out.push('/');
        let placeholder = match previous {
            "users" => Some("{a}"),
            "devices" => Some("{d}"),
            "jobs" => Some("{j}"),
            _ => None,
        };
        out.push_str(placeholder.unwrap_or(segment));
        previous = if placeholder.is_some() { "" } else { segment };
    }
    if out.is_empty() {
        out.push('/');
    }
    format!("{method} {out}")
}

/// The account GUID a request is about: the segment after `/users/`, or the
/// `<account>` of an audit filter body.
pub(crate) fn account_of(path: &str, body: &[u8]) -> Option<AccountId> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    match segments.next() {
        Some("users") => segments.next().and_then(|raw| AccountId::new(raw).ok()),
        Some("audit") => {
            let text = std::str::from_utf8(body).ok()?;
            let start = text.find("<account>")? + "<account>".len();
            let end = start + text[start..].find("</account>")?;
            AccountId::new(&text[start..end]).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_replace_identifiers_by_position() {
        let cases = [
            ("GET", "/users/", "GET /users/"),
            ("GET", "/users", "GET /users/"),
            ("GET", "/users/abc-def", "GET /users/{a}"),
            ("GET", "/users/abc/users", "GET /users/{a}/users"),
            ("GET", "/users/abc/devices", "GET /users/{a}/devices"),
            (
                "GET",
                "/users/abc/devices/d1/health",
                "GET /users/{a}/devices/{d}/health",
            ),
            (
                "PUT",
                "/users/abc/devices/d1/history/range",
                "PUT /users/{a}/devices/{d}/history/range",
            ),
            (
                "GET",
                "/users/abc/devices/d1/jobs/j1",
                "GET /users/{a}/devices/{d}/jobs/{j}",
            ),
            ("PUT", "/audit/filter/pretty", "PUT /audit/filter/pretty"),
            ("GET", "/", "GET /"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(endpoint_template(method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn the_account_comes_from_the_path_or_the_audit_body() {
        assert_eq!(
            account_of("/users/abc-def/devices", b""),
            Some(AccountId::new("abc-def").unwrap())
        );
        assert_eq!(
            account_of(
                "/audit/filter/pretty",
                b"<filter><account> xyz-123 </account></filter>"
            ),
            Some(AccountId::new("xyz-123").unwrap())
        );
        assert_eq!(account_of("/users/", b""), None);
        assert_eq!(account_of("/other", b""), None);
    }
}
