//! PSA connections (sealed credentials, settings), company imports and ticket records.

use secrecy::{ExposeSecret as _, SecretString};

use super::each_backend;
use super::fixtures::{account, at, connector_id, integration};
use crate::secrets::MasterKey;
use crate::{
    AlertId, AlertRuleId, Error, KeepitAccountSighting, LinkState, NewPsaConnection, NewPsaTicket,
    PsaConnectionChange, PsaSettings, PsaTicketChange, PsaTicketState,
};

fn new_connection(name: &str) -> NewPsaConnection {
    NewPsaConnection {
        name: name.to_owned(),
        kind: "halopsa".to_owned(),
        base_url: "https://acme.halopsa.com".to_owned(),
        credentials: SecretString::from(r#"{"client_id":"app","client_secret":"s3cret"}"#),
        settings: PsaSettings {
            board: Some("4".into()),
            closed_status: Some("9".into()),
            reopen_days: 3,
            close_on_resolve: false,
            ..PsaSettings::default()
        },
        enabled: true,
    }
}

#[tokio::test]
async fn connections_keep_their_credentials_sealed_and_their_settings_whole() {
    each_backend(|store| async move {
        let key = MasterKey::generate();
        let created = store
            .create_psa_connection(&new_connection("Halo"), &key, at(0))
            .await
            .unwrap();
        assert_eq!(created.settings.board.as_deref(), Some("4"));
        assert_eq!(created.settings.reopen_days, 3);
        assert!(!created.settings.close_on_resolve);
        assert_eq!(created.settings.note_interval_minutes, 240, "default kept");
        // Sealed at rest: the row holds no plain secret, and another key cannot open it.
        let credentials = store.psa_credentials(created.id, &key).await.unwrap();
        assert!(credentials.expose_secret().contains("s3cret"));
        assert!(
            store
                .psa_credentials(created.id, &MasterKey::generate())
                .await
                .is_err()
        );
        assert!(!format!("{created:?}").contains("s3cret"));
        assert!(matches!(
            store
                .create_psa_connection(&new_connection("Halo"), &key, at(1))
                .await,
            Err(Error::Conflict { .. })
        ));

        let changed = store
            .update_psa_connection(
                created.id,
                &PsaConnectionChange {
                    enabled: Some(false),
                    credentials: Some(SecretString::from(
                        r#"{"client_id":"app","client_secret":"rotated"}"#,
                    )),
                    ..PsaConnectionChange::default()
                },
                &key,
                at(2),
            )
            .await
            .unwrap();
        assert!(!changed.enabled);
        assert_eq!(changed.settings, created.settings, "settings left alone");
        assert!(
            store
                .psa_credentials(created.id, &key)
                .await
                .unwrap()
                .expose_secret()
                .contains("rotated")
        );
        store
            .record_psa_outcome(created.id, Some("HTTP 401"), false, at(3))
            .await
            .unwrap();
        store
            .record_psa_outcome(created.id, None, true, at(4))
            .await
            .unwrap();
        let listed = store.psa_connections().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_error, None);
        assert_eq!(listed[0].last_import_at, Some(at(4)));
        store.delete_psa_connection(created.id).await.unwrap();
        assert!(store.psa_connections().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn imported_companies_link_accounts_by_name_update_renames_and_leave_manual_links() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        for (n, name) in [(1, "Contoso Ltd"), (2, "Fabrikam"), (3, "Northwind")] {
            store
                .sync_customer(&KeepitAccountSighting {
                    integration,
                    account: account(n),
                    parent: None,
                    company_name: name.to_owned(),
                    seen_at: at(0),
                })
                .await
                .unwrap();
        }
        // Northwind was linked by hand to Fabrikam's customer: that stays.
        let fabrikam = store.keepit_account(&account(2)).await.unwrap().unwrap();
        store
            .link_customer_manually(&account(3), fabrikam.customer.unwrap(), at(1))
            .await
            .unwrap();

        let report = store
            .import_psa_companies(
                vec![
                    ("Contoso".into(), "101".into()),
                    ("Northwind".into(), "103".into()),
                    ("  ".into(), "104".into()),
                ],
                at(2),
            )
            .await
            .unwrap();
        assert_eq!((report.inserted, report.updated), (2, 0));
        let contoso = store.keepit_account(&account(1)).await.unwrap().unwrap();
        let customer = store.customer(contoso.customer.unwrap()).await.unwrap();
        assert_eq!(customer.external_id.as_deref(), Some("101"));
        assert_ne!(contoso.link, LinkState::Manual);
        let northwind = store.keepit_account(&account(3)).await.unwrap().unwrap();
        assert_eq!(northwind.link, LinkState::Manual);
        assert_eq!(northwind.customer, fabrikam.customer, "a manual link wins");

        // Renamed in the PSA: the same customer, its new name.
        let again = store
            .import_psa_companies(
                vec![
                    ("Contoso Group".into(), "101".into()),
                    ("Northwind".into(), "103".into()),
                ],
                at(3),
            )
            .await
            .unwrap();
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 1, 1));
        let renamed = store.customer(customer.id).await.unwrap();
        assert_eq!(renamed.name, "Contoso Group");
        let psa_customers = store
            .customers()
            .await
            .unwrap()
            .into_iter()
            .filter(|customer| customer.external_id.is_some())
            .count();
        assert_eq!(psa_customers, 2, "no duplicate");
    })
    .await;
}

#[tokio::test]
async fn ticket_records_follow_their_episodes() {
    each_backend(|store| async move {
        let key = MasterKey::generate();
        let connection = store
            .create_psa_connection(&new_connection("Halo"), &key, at(0))
            .await
            .unwrap();
        let ticket = store
            .insert_psa_ticket(&NewPsaTicket {
                connection: connection.id,
                alert: AlertId(7),
                rule: AlertRuleId(1),
                connector: connector_id(1),
                customer: None,
                key: "kw-1-c1".into(),
                ticket: "5150".into(),
                company: "12".into(),
                opened_status: Some("1".into()),
                at: at(10),
            })
            .await
            .unwrap();
        assert_eq!(ticket.state, PsaTicketState::Open);
        assert_eq!(
            store
                .psa_ticket_of_alert(connection.id, AlertId(7))
                .await
                .unwrap(),
            Some(ticket.clone())
        );
        let noted = store
            .update_psa_ticket(
                ticket.id,
                &PsaTicketChange {
                    noted_at: Some(at(20)),
                    ..PsaTicketChange::default()
                },
                at(20),
            )
            .await
            .unwrap();
        assert_eq!((noted.notes, noted.last_note_at), (1, Some(at(20))));
        store
            .update_psa_ticket(
                ticket.id,
                &PsaTicketChange {
                    state: Some(PsaTicketState::Closed),
                    closed_at: Some(at(30)),
                    ..PsaTicketChange::default()
                },
                at(30),
            )
            .await
            .unwrap();
        // A new episode reopens it: the record moves to the new alert.
        let reopened = store
            .update_psa_ticket(
                ticket.id,
                &PsaTicketChange {
                    state: Some(PsaTicketState::Open),
                    alert: Some(AlertId(8)),
                    reopened: true,
                    ..PsaTicketChange::default()
                },
                at(40),
            )
            .await
            .unwrap();
        assert_eq!(reopened.closed_at, None);
        assert_eq!(
            store
                .latest_psa_ticket(connection.id, "kw-1-c1")
                .await
                .unwrap()
                .map(|found| found.alert),
            Some(Some(AlertId(8)))
        );
        assert_eq!(
            store
                .psa_ticket_of_alert(connection.id, AlertId(7))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .psa_tickets(Some(connection.id), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // Deleting the connection forgets its tickets.
        store.delete_psa_connection(connection.id).await.unwrap();
        assert!(store.psa_tickets(None, 10).await.unwrap().is_empty());
    })
    .await;
}
