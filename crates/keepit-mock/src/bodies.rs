//! Keepit's error bodies, compiled in from `fixtures/keepit/errors/` so a served fleet
//! needs no files at run time.

/// 401 for a wrong login or password.
pub(crate) const UNAUTHORIZED: &str = include_str!("../fixtures/keepit/errors/unauthorized.txt");
/// 401 when no `Authorization` header was sent.
pub(crate) const ANONYMOUS: &str = include_str!("../fixtures/keepit/errors/anonymous.txt");
/// 404 for an account the caller cannot see.
pub(crate) const ACCOUNT_NOT_FOUND: &str =
    include_str!("../fixtures/keepit/errors/account-not-found.txt");
/// 404 for an unknown path or resource.
pub(crate) const NOT_FOUND: &str = include_str!("../fixtures/keepit/errors/not-found.txt");
/// 5xx with an `<error>` body.
pub(crate) const SERVER_ERROR: &str = include_str!("../fixtures/keepit/errors/server-error.xml");

/// A 400 answer's `<error>` body for a request body or parameter the mock cannot use.
pub(crate) fn bad_request(description: &str) -> String {
    format!(
        "<error>\n  <code>BAD_REQUEST</code>\n  <description>{}</description>\n</error>\n",
        crate::xml::escape(description)
    )
}
