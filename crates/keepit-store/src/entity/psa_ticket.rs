//! Entity of the `psa_tickets` table: a ticket opened in a PSA for an alert.

use sea_orm::entity::prelude::*;

/// A ticket opened in a PSA for an alert.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "psa_tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub connection_id: i64,
    pub alert_id: Option<i64>,
    pub rule_id: i64,
    pub connector_id: String,
    pub customer_id: Option<i64>,
    pub ticket_key: String,
    pub ticket_id: String,
    pub company_id: String,
    pub state: String,
    pub opened_status: Option<String>,
    pub notes: i32,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_note_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
