//! Customer matching, manual links and the CSV import.

use super::each_backend;
use super::fixtures::{account, at, integration};
use crate::{CustomerId, CustomerSyncOutcome, KeepitAccountSighting, LinkState, Store};

fn sighting(
    integration: crate::IntegrationId,
    n: u32,
    company: &str,
    seen: i64,
) -> KeepitAccountSighting {
    KeepitAccountSighting {
        integration,
        account: account(n),
        parent: None,
        company_name: company.to_owned(),
        seen_at: at(seen),
    }
}

async fn psa(store: &Store, name: &str, external_id: &str) -> CustomerId {
    store
        .create_customer(name, Some(external_id), at(0))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn matching_exact_suffix_accents_ambiguous_none_and_manual() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let contoso = psa(&store, "Contoso", "c-1").await;
        let fabrikam = psa(&store, "Fabrikam Ltd.", "c-2").await;
        let societe = psa(&store, "Société Générale", "c-3").await;
        let tailspin_a = psa(&store, "Tailspin Toys Inc", "c-4").await;
        let tailspin_b = psa(&store, "TAILSPIN TOYS", "c-5").await;

        let outcome = |n, name: &'static str| {
            let store = store.clone();
            async move {
                store
                    .sync_customer(&sighting(integration, n, name, 10))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            outcome(1, "Contoso").await,
            CustomerSyncOutcome::Linked(contoso)
        );
        assert_eq!(
            outcome(2, "Fabrikam Limited").await,
            CustomerSyncOutcome::Linked(fabrikam)
        );
        assert_eq!(
            outcome(3, "Societe Generale S.A.").await,
            CustomerSyncOutcome::Linked(societe)
        );
        assert_eq!(
            outcome(4, "Tailspin Toys").await,
            CustomerSyncOutcome::Ambiguous(vec![tailspin_a, tailspin_b])
        );
        let CustomerSyncOutcome::Created(created) = outcome(5, "Wingtip Partners").await else {
            panic!("a new customer should be created");
        };
        let created_customer = store.customer(created).await.unwrap();
        assert_eq!(created_customer.name, "Wingtip Partners");
        assert_eq!(created_customer.source, crate::CustomerSource::Keepit);

        // A re-sync keeps every link and creates nothing.
        let before = store.customers().await.unwrap().len();
        assert_eq!(
            outcome(1, "Contoso").await,
            CustomerSyncOutcome::AlreadyLinked(contoso)
        );
        assert_eq!(
            outcome(5, "Wingtip Partners").await,
            CustomerSyncOutcome::AlreadyLinked(created)
        );
        assert_eq!(store.customers().await.unwrap().len(), before);

        // The ambiguous account waits for a person; a manual link then survives syncs,
        // even when the Keepit name would now match another customer.
        let waiting = store
            .keepit_accounts(Some(LinkState::Ambiguous))
            .await
            .unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].account, account(4));
        assert_eq!(waiting[0].customer, None);
        store
            .link_customer_manually(&account(4), tailspin_b, at(20))
            .await
            .unwrap();
        assert_eq!(
            store
                .sync_customer(&sighting(integration, 4, "Contoso", 30))
                .await
                .unwrap(),
            CustomerSyncOutcome::KeptManual(tailspin_b)
        );
        let linked = store.keepit_account(&account(4)).await.unwrap().unwrap();
        assert_eq!(linked.customer, Some(tailspin_b));
        assert_eq!(linked.link, LinkState::Manual);
        assert_eq!(linked.company_name, "Contoso");

        // Accounts missing from a complete walk are marked removed, and come back when seen.
        let present: Vec<_> = [1, 2, 3, 4].into_iter().map(account).collect();
        assert_eq!(
            store
                .mark_accounts_removed(integration, &present, at(50))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .keepit_account(&account(5))
                .await
                .unwrap()
                .unwrap()
                .removed_at,
            Some(at(50))
        );
        assert_eq!(
            store
                .sync_customer(&sighting(integration, 5, "Wingtip Partners", 60))
                .await
                .unwrap(),
            CustomerSyncOutcome::AlreadyLinked(created)
        );
        assert_eq!(
            store
                .keepit_account(&account(5))
                .await
                .unwrap()
                .unwrap()
                .removed_at,
            None
        );

        let missing = store
            .link_customer_manually(&account(9), contoso, at(40))
            .await
            .unwrap_err();
        assert!(
            matches!(missing, crate::Error::NotFound { .. }),
            "{missing:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_manual_link_moves_the_accounts_connectors_and_jobs() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let CustomerSyncOutcome::Created(first) = store
            .sync_customer(&sighting(integration, 1, "Northwind", 0))
            .await
            .unwrap()
        else {
            panic!("created");
        };
        store
            .upsert_connectors(&[super::fixtures::connector(1, 1, "Mail")], at(0))
            .await
            .unwrap();
        store
            .upsert_jobs(
                &[super::fixtures::job(
                    1,
                    1,
                    100,
                    keepit_domain::JobStatus::Successful,
                )],
                at(0),
            )
            .await
            .unwrap();
        let other = psa(&store, "Northwind Traders", "n-1").await;
        store
            .link_customer_manually(&account(1), other, at(5))
            .await
            .unwrap();
        let connector = store
            .connector(&super::fixtures::connector_id(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(connector.customer, Some(other));
        let job = store
            .job(&super::fixtures::job_id(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.customer, Some(other));
        assert_eq!(job.customer_name.as_deref(), Some("Northwind Traders"));
        assert_ne!(first, other);
    })
    .await;
}

#[tokio::test]
async fn csv_import_reports_bad_rows_and_is_idempotent() {
    each_backend(|store| async move {
        let csv = "\u{feff}name,external_id\r\nContoso Ltd,PSA-1\r\n\"Fabrikam, Inc.\",PSA-2\r\n,PSA-3\r\nNo Id,\r\nDup,PSA-1\r\n\"Quote \"\"Co\"\"\",PSA-4\r\n";
        let report = store.import_customers_csv(csv.as_bytes(), at(0)).await.unwrap();
        assert_eq!(report.inserted, 3);
        assert_eq!(report.updated + report.unchanged, 0);
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6], "{:?}", report.errors);
        assert!(report.errors[0].message.contains("name is empty"));
        assert!(report.errors[2].message.contains("more than once"));

        let again = store.import_customers_csv(csv.as_bytes(), at(1)).await.unwrap();
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 3));

        let renamed = "external_id,name\nPSA-2,Fabrikam Group\n,\n";
        let report = store.import_customers_csv(renamed.as_bytes(), at(2)).await.unwrap();
        assert_eq!((report.inserted, report.updated), (0, 1));
        assert_eq!(report.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3], "LF line endings");
        let names: Vec<String> = store.customers().await.unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["Contoso Ltd", "Fabrikam Group", "Quote \"Co\""]);

        let bad_header = store.import_customers_csv("company,id\nx,y\n".as_bytes(), at(3)).await.unwrap_err();
        assert!(bad_header.to_string().contains("expected columns name and external_id"), "{bad_header}");
    })
    .await;
}

#[tokio::test]
async fn a_merge_moves_accounts_alerts_and_history_and_keeps_the_psa_id() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        // A sync made a customer for account 1; the MSP also has its own, from the PSA.
        store
            .sync_customer(&sighting(integration, 1, "Duplicate Co", 10))
            .await
            .unwrap();
        let made = store
            .keepit_account(&account(1))
            .await
            .unwrap()
            .unwrap()
            .customer
            .unwrap();
        let kept = store
            .create_customer("Duplicate Company", Some("PSA-9"), at(0))
            .await
            .unwrap()
            .id;
        store
            .upsert_connectors(&[super::fixtures::connector(1, 1, "Mail")], at(20))
            .await
            .unwrap();
        let rule = store.alert_rules().await.unwrap()[0].rule.id;
        let opened = store
            .apply_alert_observation(&crate::AlertObservation {
                rule,
                connector: super::fixtures::connector_id(1),
                account: account(1),
                state: keepit_domain::AlertState::Firing,
                severity: keepit_domain::Severity::Critical,
                reason: None,
                last_success_at: None,
                last_attempt_at: None,
                at: at(30),
                note: Some("opened".into()),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opened.alert.customer, Some(made));

        let result = store.merge_customers(made, kept, at(40)).await.unwrap();
        assert_eq!(result.id, kept);
        assert_eq!(result.external_id.as_deref(), Some("PSA-9"));
        let moved = store.keepit_account(&account(1)).await.unwrap().unwrap();
        assert_eq!(
            (moved.customer, moved.link),
            (Some(kept), LinkState::Manual)
        );
        let alert = store.alert(opened.alert.id).await.unwrap();
        assert_eq!(alert.customer, Some(kept), "the alert follows");
        assert_eq!(
            store.alert_transitions(alert.id).await.unwrap().len(),
            1,
            "its history is kept"
        );
        let connectors = store
            .connectors(&crate::ConnectorFilter {
                customer: Some(kept),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(connectors.len(), 1);
        assert!(store.customer(made).await.is_err(), "the duplicate is gone");
        assert!(store.merge_customers(kept, kept, at(50)).await.is_err());
        assert!(
            store
                .merge_customers(CustomerId(9_999), kept, at(50))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn the_fleet_fingerprint_moves_with_every_change_a_fleet_view_shows() {
    each_backend(|store| async move {
        let first = store.fleet_version().await.unwrap();
        assert_eq!(
            store.fleet_version().await.unwrap(),
            first,
            "stable while nothing changes"
        );
        let customer = psa(&store, "Contoso", "PSA-1").await;
        let second = store.fleet_version().await.unwrap();
        assert_ne!(second, first, "a new customer");
        let integration = integration(&store).await;
        let third = store.fleet_version().await.unwrap();
        assert_ne!(third, second, "a new integration");
        store
            .set_integration_enabled(integration, false, at(5))
            .await
            .unwrap();
        let fourth = store.fleet_version().await.unwrap();
        assert_ne!(fourth, third, "an integration disabled");
        store
            .merge_customers(customer, psa(&store, "Contoso Ltd", "PSA-2").await, at(6))
            .await
            .unwrap();
        assert_ne!(store.fleet_version().await.unwrap(), fourth, "a merge");
    })
    .await;
}
