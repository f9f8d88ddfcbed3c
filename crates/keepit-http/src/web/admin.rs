//! The admin pages: integrations, customer matching, people, alert rules and the PSA.
//!
//! Only administrators reach them (viewers get 403 and see no links). Every form
//! goes through the same checks as its API route, by calling the route's own
//! validation, and a refusal comes back next to the field it is about, with what
//! was typed kept (secrets excepted: they are never written back into a page).

mod customers;
mod integrations;
mod people;
mod psa;
mod rules;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keepit_store::Role;

use super::pages::{PageError, refusal, render};
use super::session::SignedIn;
use crate::AppState;
use crate::error::AppError;

/// The admin routes, behind the administrator check.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin",
            get(|| async { Redirect::to("/admin/integrations") }),
        )
        .route(
            "/admin/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route("/admin/integrations/live", get(integrations::live))
        .route("/admin/integrations/test", post(integrations::test_new))
        .route(
            "/admin/integrations/{id}",
            get(integrations::edit).post(integrations::update),
        )
        .route("/admin/integrations/{id}/sync", post(integrations::sync))
        .route(
            "/admin/integrations/{id}/test",
            post(integrations::test_stored),
        )
        .route(
            "/admin/integrations/{id}/enable",
            post(integrations::enable),
        )
        .route(
            "/admin/integrations/{id}/disable",
            post(integrations::disable),
        )
        .route(
            "/admin/integrations/{id}/delete",
            get(integrations::confirm_delete).post(integrations::delete),
        )
        .route("/admin/customers", get(customers::page))
        .route("/admin/customers/link", post(customers::link))
        .route("/admin/customers/unlink", post(customers::unlink))
        .route("/admin/customers/merge", post(customers::merge))
        .route(
            "/admin/customers/import",
            post(customers::import).layer(DefaultBodyLimit::max(customers::IMPORT_LIMIT_BYTES)),
        )
        .route("/admin/users", get(people::page).post(people::create))
        .route("/admin/users/{id}", post(people::update))
        .route("/admin/users/{id}/password", post(people::password))
        .route("/admin/users/{id}/delete", post(people::delete))
        .route("/admin/users/{id}/tokens", post(people::create_token))
        .route("/admin/tokens/{id}/revoke", post(people::revoke_token))
        .route("/admin/psa", get(psa::list).post(psa::create))
        .route("/admin/psa/{id}", get(psa::edit).post(psa::update))
        .route("/admin/psa/{id}/test", post(psa::test))
        .route("/admin/psa/{id}/import", post(psa::import))
        .route("/admin/psa/{id}/enable", post(psa::enable))
        .route("/admin/psa/{id}/disable", post(psa::disable))
        .route("/admin/psa/{id}/delete", post(psa::delete))
        .route("/admin/rules", get(rules::list))
        .route("/admin/rules/new", get(rules::new_form).post(rules::create))
        .route("/admin/rules/preview", post(rules::preview_new))
        .route("/admin/rules/{id}", get(rules::edit).post(rules::update))
        .route("/admin/rules/{id}/preview", post(rules::preview_change))
        .route("/admin/rules/{id}/enable", post(rules::enable))
        .route("/admin/rules/{id}/disable", post(rules::disable))
        .route("/admin/rules/{id}/delete", post(rules::delete))
        .route("/admin/rules/{id}/overrides", post(rules::put_override))
        .route(
            "/admin/rules/{id}/overrides/{customer}/delete",
            post(rules::delete_override),
        )
        .layer(from_fn_with_state(state.clone(), require_admin))
}

/// Administrators only; the session check ran before this.
async fn require_admin(State(_): State<AppState>, request: Request, next: Next) -> Response {
    let admin = request
        .extensions()
        .get::<SignedIn>()
        .is_some_and(|signed_in| signed_in.0.user.role == Role::Admin);
    if admin {
        next.run(request).await
    } else {
        refusal(
            StatusCode::FORBIDDEN,
            "Only administrators can manage keepit-watch.",
        )
    }
}

/// What was wrong with a form: messages by field, and one for the whole form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Problems {
    fields: BTreeMap<String, String>,
    /// A problem that belongs to no single field.
    pub(crate) general: Option<String>,
}

impl Problems {
    /// The problem with `field`, for the template next to it.
    pub(crate) fn of(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// Whether the field has a problem (for `aria-invalid`).
    pub(crate) fn invalid(&self, field: &str) -> &'static str {
        if self.fields.contains_key(field) {
            "true"
        } else {
            "false"
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// A refusal from an API route's checks as a problem of the form: a client
    /// error names its field (or the whole form); anything else is not the user's
    /// doing and becomes an error page.
    pub(crate) fn from_error(error: AppError) -> Result<Problems, PageError> {
        let mut problems = Problems::default();
        problems.absorb(error)?;
        Ok(problems)
    }

    /// Adds a refusal (see [`Problems::from_error`]).
    pub(crate) fn absorb(&mut self, error: AppError) -> Result<(), PageError> {
        match error {
            AppError::Client {
                message, parameter, ..
            } => {
                let message = sentence(&message, parameter.as_deref());
                match parameter {
                    Some(field) => self.add(&field, message),
                    None => self.general = Some(message),
                }
                Ok(())
            }
            other => Err(PageError::from(other)),
        }
    }
}

/// An API message as a sentence for a person: without the field name the API puts
/// in front (the page shows it next to the field) and with a capital letter.
fn sentence(message: &str, field: Option<&str>) -> String {
    let mut text = message.trim();
    if let Some(field) = field {
        for prefix in [format!("invalid {field}: "), format!("{field}: ")] {
            if let Some(rest) = text.strip_prefix(prefix.as_str()) {
                text = rest;
            }
        }
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

/// A form page: 200, or 422 when it comes back with problems.
pub(crate) fn render_form(template: &impl askama::Template, problems: &Problems) -> Response {
    let mut response = render(template);
    if !problems.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// A whole number typed into a form: `None` when left empty, a problem on `field`
/// when it is not a number.
pub(crate) fn number<T: std::str::FromStr>(
    text: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<T> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<T>() {
        Ok(value) => Some(value),
        Err(_) => {
            problems.add(field, "Enter a whole number.");
            None
        }
    }
}

/// Text typed into a form, `None` when blank.
pub(crate) fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A numeric id from a path, or a 404 page.
pub(crate) fn path_id(text: &str, what: &str) -> Result<i64, PageError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            PageError::from_response(refusal(
                StatusCode::NOT_FOUND,
                &format!("There is no such {what}."),
            ))
        })
}

/// After a change: back to `path` with a note of what was done.
pub(crate) fn done(path: &str, what: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!(
        "{path}{separator}done={}",
        url::form_urlencoded::byte_serialize(what.as_bytes()).collect::<String>()
    ))
    .into_response()
}

/// The note a page shows after a change: one of the page's own sentences, never
/// text from the query string.
pub(crate) fn notice(raw: Option<&str>, known: &[(&str, &str)]) -> Option<String> {
    let pairs = crate::query::pairs(raw);
    let code = pairs.iter().find(|(key, _)| key == "done")?.1.as_str();
    known
        .iter()
        .find(|(key, _)| *key == code)
        .map(|(_, text)| (*text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn api_refusals_land_next_to_their_field() {
        let problems =
            Problems::from_error(AppError::validation("name", "must not be empty")).unwrap();
        assert_eq!(problems.of("name"), Some("Must not be empty."));
        assert_eq!(problems.invalid("name"), "true");
        assert_eq!(problems.invalid("kind"), "false");

        let problems = Problems::from_error(AppError::invalid("guid", "too long")).unwrap();
        assert_eq!(problems.of("guid"), Some("Too long."));

        let problems =
            Problems::from_error(AppError::client(ErrorCode::Conflict, "already there")).unwrap();
        assert_eq!(problems.general.as_deref(), Some("Already there."));
        assert!(!problems.is_empty());
    }

    #[test]
    fn numbers_are_checked_and_blanks_are_absent() {
        let mut problems = Problems::default();
        assert_eq!(number::<i64>(" 12 ", "hours", &mut problems), Some(12));
        assert_eq!(number::<i64>("", "hours", &mut problems), None);
        assert!(problems.is_empty());
        assert_eq!(number::<u32>("twelve", "count", &mut problems), None);
        assert_eq!(problems.of("count"), Some("Enter a whole number."));
    }

    #[test]
    fn notices_come_from_the_page_not_the_query() {
        let known = [("saved", "Saved.")];
        assert_eq!(
            notice(Some("done=saved"), &known).as_deref(),
            Some("Saved.")
        );
        assert_eq!(notice(Some("done=<script>"), &known), None);
        assert_eq!(notice(None, &known), None);
    }
}
