//! What the OpenAPI document says beyond each route's own attributes, so that the
//! document is the truth about every answer a client can get.
//!
//! Statuses that come from layers every route shares (the bearer check, the role
//! check, the JSON body extractor, path and query parsing, the database) are added
//! here by rule rather than written on each route, where one would be forgotten.
//! The closed vocabularies (job statuses, alert states and severities, rule kinds,
//! message kinds, sync outcomes, health verdicts, audit categories) are schemas built
//! from the domain's own lists, so a new value cannot be missing from the document.

use std::borrow::Cow;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// Declares a string schema whose values are the given codes.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident => $codes:expr) => {
        $(#[$meta])*
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let codes: Vec<&'static str> = $codes;
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

vocabulary!(
    /// A job's status.
    JobStatusCode => keepit_domain::JobStatus::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// A job type this version knows (Keepit may add more; they are listed as sent).
    JobTypeCode => keepit_domain::JobType::known_codes().collect()
);
vocabulary!(
    /// Where an alert is in its lifecycle.
    AlertStateCode => keepit_domain::AlertState::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// What one entry of an alert's history records.
    AlertEventCode => keepit_domain::AlertEvent::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// How bad an alert is.
    SeverityCode => keepit_domain::Severity::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// What an alert rule watches.
    RuleKindCode => keepit_domain::RuleKind::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// What a message is about.
    MessageKindCode => keepit_domain::MessageKind::all().map(|k| k.as_str()).collect()
);
vocabulary!(
    /// How a sync run ended.
    SyncOutcomeCode => keepit_store::SyncOutcome::ALL.iter().map(|s| s.as_str()).collect()
);
vocabulary!(
    /// Keepit's health verdict on a connector.
    HealthCode => keepit_domain::Health::ALL.iter().map(|h| h.as_str()).collect()
);
vocabulary!(
    /// The category keepit-watch gives an audit event.
    AuditCategoryCode => keepit_domain::AuditCategory::ALL.iter().map(|c| c.as_str()).collect()
);

/// Adds the answers of the shared layers to every operation.
pub(crate) struct SharedAnswers;

impl utoipa::Modify for SharedAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("DELETE", &mut item.delete),
                ("PATCH", &mut item.patch),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    add_shared_answers(path, method, operation);
                }
            }
        }
    }
}

fn add_shared_answers(path: &str, method: &str, operation: &mut Operation) {
    if crate::auth::PUBLIC_PATHS.contains(&path) {
        // An empty requirement: no credentials are needed.
        operation.security = Some(vec![SecurityRequirement::default()]);
        return;
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (has_path, has_query) = (has(ParameterIn::Path), has(ParameterIn::Query));
    let has_body = operation.request_body.is_some();

    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    add("401", "The bearer token is missing, unknown or revoked");
    if method != "GET" && !crate::auth::is_personal(path_with_id(path).as_str()) {
        add("403", "Viewers may only read; this needs an admin");
    }
    if has_path || has_query || has_body {
        add(
            "400",
            "A parameter is malformed, or the body is not JSON; the message names what",
        );
    }
    if has_path {
        add("404", "Nothing with this id");
    }
    if has_body {
        add("413", "The body is larger than 64 KiB");
        add(
            "422",
            "A field is unknown, missing or invalid; the message names it",
        );
    }
    add("503", "The database cannot be reached right now");
}

/// A concrete path for the personal-route check: `{id}` becomes a number.
fn path_with_id(path: &str) -> String {
    path.replace("{id}", "1")
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(document: &OpenApi) -> Vec<(String, &'static str, &Operation)> {
        let mut all = Vec::new();
        for (path, item) in &document.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
            ] {
                if let Some(operation) = operation {
                    all.push((path.clone(), method, operation));
                }
            }
        }
        all
    }

    #[test]
    fn every_protected_operation_states_the_shared_answers() {
        let document = crate::openapi();
        let all = operations(&document);
        assert!(all.len() > 20);
        for (path, method, operation) in all {
            let statuses: Vec<&str> = operation
                .responses
                .responses
                .keys()
                .map(String::as_str)
                .collect();
            if crate::auth::PUBLIC_PATHS.contains(&path.as_str()) {
                assert!(!statuses.contains(&"401"), "{method} {path}");
                continue;
            }
            for status in ["401", "503"] {
                assert!(statuses.contains(&status), "{method} {path} lacks {status}");
            }
            // Writes to the caller's own state (their inbox, their tokens) are open to
            // viewers; the routes document their own 403s where they have them.
            let writes_own_state = crate::auth::is_personal(&path.replace("{id}", "1"));
            if !writes_own_state {
                assert_eq!(
                    statuses.contains(&"403"),
                    method != "GET",
                    "{method} {path}: {statuses:?}"
                );
            }
            if operation.request_body.is_some() {
                for status in ["400", "413", "422"] {
                    assert!(statuses.contains(&status), "{method} {path} lacks {status}");
                }
            }
            if path.contains('{') {
                assert!(statuses.contains(&"404"), "{method} {path} lacks 404");
            }
        }
    }

    #[test]
    fn vocabularies_list_the_domain_codes() {
        let json = serde_json::to_value(JobStatusCode::schema()).unwrap();
        let codes: Vec<&str> = json["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), keepit_domain::JobStatus::ALL.len());
        assert!(codes.contains(&"unsuccessful"));
        let json = serde_json::to_value(JobTypeCode::schema()).unwrap();
        let types: Vec<String> = keepit_domain::JobType::known()
            .map(|t| t.as_str().to_owned())
            .collect();
        assert_eq!(json["enum"], serde_json::json!(types));
    }
}
