//! Connecting, migrating, configuration and credentials at rest.

use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;

use super::each_backend;
use super::fixtures::{at, integration_with_key};
use crate::secrets::{MasterKey, SecretError};
use crate::{Error, KeepitCredentials, Store, StoreConfig};

#[tokio::test]
async fn migrations_are_idempotent_and_every_table_exists() {
    each_backend(|store| async move {
        store.migrate().await.unwrap();
        for table in [
            "keepit_integrations",
            "customers",
            "backup_connectors",
            "backup_connector_status",
            "backup_jobs",
            "backup_audit_events",
            "alert_rules",
            "alerts",
            "alert_transitions",
            "messages",
            "message_recipients",
            "users",
            "api_tokens",
            "sync_runs",
            "sync_cursors",
            "sync_leases",
        ] {
            let count = store
                .db()
                .query_one_raw(sea_orm::Statement::from_string(
                    store.db_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .unwrap_or_else(|e| panic!("{table} on {:?}: {e}", store.backend()));
            assert!(count.is_some(), "{table}");
        }
        store.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn default_url_creates_a_sqlite_file_in_wal_mode() {
    let dir = std::env::temp_dir().join(format!("keepit-store-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keepit-watch.db");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .unwrap();
    assert!(path.exists());
    let row = store
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            store.db_backend(),
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    store.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        StoreConfig::default().database_url,
        "sqlite://keepit-watch.db?mode=rwc"
    );
}

#[tokio::test]
async fn passwords_never_appear_in_config_debug_or_errors() {
    let mut config = StoreConfig::new("postgres://keepit:s3cret@127.0.0.1:1/none?password=other");
    config.connect_timeout = std::time::Duration::from_millis(300);
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains("other"),
        "{debug}"
    );
    assert!(debug.contains("keepit:***@127.0.0.1"), "{debug}");
    let error = Store::connect(&config).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(matches!(error, Error::Connect { .. }));

    let error = Store::connect(&StoreConfig::new("mysql://u:pw@host/db"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid database url mysql://u:***@host/db: expected a sqlite: or postgres:// url"
    );
}

#[tokio::test]
async fn credentials_round_trip_and_fail_clearly_with_a_wrong_key_or_tampering() {
    each_backend(|store| async move {
        let key = MasterKey::from_bytes([1; 32]);
        let other = MasterKey::from_bytes([2; 32]);
        // Nothing sealed yet: any key will do.
        store.check_master_key(&other).await.unwrap();
        let id = integration_with_key(&store, &key).await;
        // A process with another key is told before it needs the credentials.
        store.check_master_key(&key).await.unwrap();
        let refused = store.check_master_key(&other).await.unwrap_err();
        match &refused {
            Error::Secret(SecretError::WrongKey {
                sealed_with,
                configured,
            }) => {
                assert_eq!(sealed_with, key.key_id());
                assert_eq!(configured, other.key_id());
            }
            wrong => panic!("{wrong:?}"),
        }
        let credentials = store.integration_credentials(id, &key).await.unwrap();
        assert_eq!(credentials.username.as_deref(), Some("msp@example.com"));
        assert_eq!(
            credentials.password.as_ref().unwrap().expose_secret(),
            "hunter2"
        );
        assert!(!format!("{credentials:?}").contains("hunter2"));

        // Stored sealed, never in plaintext.
        let stored: String = store
            .db()
            .query_one_raw(sea_orm::Statement::from_string(
                store.db_backend(),
                "SELECT credentials FROM keepit_integrations",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert!(stored.starts_with("kw1:") && !stored.contains("hunter2"));

        let wrong = store
            .integration_credentials(id, &MasterKey::from_bytes([2; 32]))
            .await
            .unwrap_err();
        assert!(
            matches!(wrong, Error::Secret(SecretError::WrongKey { .. })),
            "{wrong:?}"
        );

        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'x' { b'y' } else { b'x' };
        store
            .db()
            .execute_unprepared(&format!(
                "UPDATE keepit_integrations SET credentials = '{}'",
                String::from_utf8(tampered).unwrap()
            ))
            .await
            .unwrap();
        let error = store.integration_credentials(id, &key).await.unwrap_err();
        assert!(
            matches!(error, Error::Secret(SecretError::Tampered)),
            "{error:?}"
        );

        // Replacing the credentials seals them again.
        let replacement = KeepitCredentials {
            api_token_login: Some("token-login".to_owned()),
            api_token_password: Some("token-pass".to_owned().into()),
            ..KeepitCredentials::default()
        };
        store
            .set_integration_credentials(id, &replacement, &key, at(5))
            .await
            .unwrap();
        let read = store.integration_credentials(id, &key).await.unwrap();
        assert_eq!(
            read.api_token_password.unwrap().expose_secret(),
            "token-pass"
        );
        assert!(read.username.is_none());

        store
            .set_integration_enabled(id, false, at(6))
            .await
            .unwrap();
        let run = store.start_sync_run(Some(id), at(6)).await.unwrap();
        store
            .finish_sync_run(
                run,
                &crate::SyncRunSummary::new(crate::SyncOutcome::Partial),
                at(7),
            )
            .await
            .unwrap();
        let record = store.integration(id).await.unwrap();
        assert!(!record.enabled);
        assert_eq!(record.last_sync_at, Some(at(7)));
        assert_eq!(record.last_sync_outcome, Some(crate::SyncOutcome::Partial));
        // "Sync now" requests collapse into one, and are taken once.
        assert_eq!(
            store
                .request_sync(id, at(8))
                .await
                .unwrap()
                .sync_requested_at,
            Some(at(8))
        );
        assert_eq!(
            store
                .request_sync(id, at(9))
                .await
                .unwrap()
                .sync_requested_at,
            Some(at(8))
        );
        assert_eq!(store.take_sync_requests().await.unwrap(), vec![id]);
        assert!(store.take_sync_requests().await.unwrap().is_empty());
        assert!(
            store
                .integration(id)
                .await
                .unwrap()
                .sync_requested_at
                .is_none()
        );
        assert!(matches!(
            store.request_sync(crate::IntegrationId(9_999), at(9)).await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(store.integrations().await.unwrap().len(), 1);
        // A second integration for the same parent account clashes.
        let again = store
            .create_integration(
                &crate::NewIntegration {
                    name: "again".to_owned(),
                    region: None,
                    base_url: Some("http://127.0.0.1:1".to_owned()),
                    parent_account: record.parent_account.clone(),
                    credentials: KeepitCredentials::default(),
                    enabled: true,
                    settings: crate::IntegrationSettings::default(),
                },
                &key,
                at(8),
            )
            .await
            .unwrap_err();
        assert!(matches!(again, Error::Conflict { .. }));
    })
    .await;
}

#[test]
fn hand_written_insert_columns_match_the_entities() {
    use sea_orm::{IdenStatic, Iterable};
    let job_columns: Vec<&str> = crate::entity::job::Column::iter()
        .map(|column| column.as_str())
        .filter(|name| *name != "id")
        .collect();
    assert_eq!(job_columns, crate::jobs::INSERT_COLUMNS);
    let audit_columns: Vec<&str> = crate::entity::audit_event::Column::iter()
        .map(|column| column.as_str())
        .filter(|name| *name != "id")
        .collect();
    assert_eq!(audit_columns, crate::audit::INSERT_COLUMNS);
}

#[tokio::test]
async fn readiness_needs_the_schema_and_an_undamaged_file() {
    each_backend(|store| async move {
        store.ready().await.unwrap();
        store
            .db()
            .execute_unprepared("DROP TABLE sync_pass_accounts")
            .await
            .unwrap();
        store
            .db()
            .execute_unprepared("DROP TABLE sync_run_requests")
            .await
            .unwrap();
        store
            .db()
            .execute_unprepared("DROP TABLE sync_runs")
            .await
            .unwrap();
        // The connection still answers; the schema does not.
        store.ping().await.unwrap();
        assert!(store.ready().await.is_err());
    })
    .await;

    // A file whose pages were overwritten: it opens, but is not ready.
    let dir = std::env::temp_dir().join(format!("keepit-store-ready-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("damaged.db");
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect_and_migrate(&StoreConfig::new(url.clone()))
        .await
        .unwrap();
    store.ready().await.unwrap();
    store.close().await.unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "the migrated file has several pages");
    // Keep the header page, scribble over every page after it.
    for byte in &mut bytes[4096..] {
        *byte = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.join("damaged.db-wal"));
    let _ = std::fs::remove_file(dir.join("damaged.db-shm"));
    // Refusing to open it at all is as good as opening it and not being ready.
    if let Ok(store) = Store::connect(&StoreConfig::new(url)).await {
        assert!(store.ready().await.is_err(), "a damaged file is not ready");
        let _ = store.close().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
