//! sea-orm entities, one module per table. They are private to the crate:
//! repositories convert them to and from the public record types.

// The derive macros generate `pub` items (Column, Entity, ActiveModel) inside these
// crate-private modules; they are reachable only through `crate::entity`.
#![allow(unreachable_pub)]

pub(crate) mod account;
pub(crate) mod alert;
pub(crate) mod alert_rule;
pub(crate) mod alert_rule_override;
pub(crate) mod alert_transition;
pub(crate) mod api_token;
pub(crate) mod audit_event;
pub(crate) mod connector;
pub(crate) mod connector_status;
pub(crate) mod customer;
pub(crate) mod integration;
pub(crate) mod job;
pub(crate) mod message;
pub(crate) mod message_delivery;
pub(crate) mod message_delivery_attempt;
pub(crate) mod message_recipient;
pub(crate) mod psa_connection;
pub(crate) mod psa_ticket;
pub(crate) mod sync_cursor;
pub(crate) mod sync_lease;
pub(crate) mod sync_pass_account;
pub(crate) mod sync_run;
pub(crate) mod sync_run_request;
pub(crate) mod user;
pub(crate) mod web_session;
