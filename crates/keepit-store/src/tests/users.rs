//! Users, API tokens, messages and deliveries.

use keepit_domain::{MessageKind, MessagePreference, UserId};
use secrecy::ExposeSecret;

use super::each_backend;
use super::fixtures::{at, connector_id};
use crate::{DeliveryAttempt, DeliveryStatus, Error, InboxQuery, NewMessage, NewUser, Role, Store};

async fn user(store: &Store, email: &str, primary: bool, preference: MessagePreference) -> UserId {
    store
        .create_user(
            &NewUser {
                email: email.to_owned(),
                name: email.split('@').next().unwrap().to_owned(),
                role: if primary { Role::Admin } else { Role::Viewer },
                primary_admin: primary,
                message_preference: preference,
            },
            at(0),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn users_are_unique_by_email_and_have_one_primary_admin() {
    each_backend(|store| async move {
        let first = user(&store, "Ada@Example.com", true, MessagePreference::Default).await;
        let error = store
            .create_user(
                &NewUser {
                    email: "ada@example.COM ".to_owned(),
                    name: "Ada again".to_owned(),
                    role: Role::Viewer,
                    primary_admin: false,
                    message_preference: MessagePreference::Default,
                },
                at(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
        let second = user(&store, "bob@example.com", true, MessagePreference::OptedIn).await;
        assert!(!store.user(first).await.unwrap().primary_admin);
        assert!(store.user(second).await.unwrap().primary_admin);
        assert_eq!(
            store
                .user_by_email("ADA@example.com")
                .await
                .unwrap()
                .unwrap()
                .id,
            first
        );

        store
            .set_message_preference(first, MessagePreference::OptedOut, at(2))
            .await
            .unwrap();
        let candidates = store.recipient_candidates().await.unwrap();
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0].preference, MessagePreference::OptedOut);
        assert!(candidates[1].primary_admin);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_are_stored_hashed_and_can_be_revoked() {
    each_backend(|store| async move {
        let ada = user(&store, "ada@example.com", true, MessagePreference::Default).await;
        let (record, token) = store.create_api_token(ada, "ci", at(0)).await.unwrap();
        assert!(token.expose_secret().starts_with("kw_"));
        let (who, used) = store
            .authenticate_api_token(token.expose_secret(), at(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(who.id, ada);
        assert_eq!(used.last_used_at, Some(at(10)));
        assert!(
            store
                .authenticate_api_token("kw_wrong", at(11))
                .await
                .unwrap()
                .is_none()
        );
        let hashes: Vec<String> = {
            use sea_orm::ConnectionTrait;
            store
                .db()
                .query_all_raw(sea_orm::Statement::from_string(
                    store.db_backend(),
                    "SELECT token_hash FROM api_tokens",
                ))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get_by_index(0).unwrap())
                .collect()
        };
        assert_eq!(hashes.len(), 1);
        assert_ne!(hashes[0], token.expose_secret().to_owned());
        assert!(store.revoke_api_token(record.id, at(20)).await.unwrap());
        assert!(!store.revoke_api_token(record.id, at(21)).await.unwrap());
        assert!(
            store
                .authenticate_api_token(token.expose_secret(), at(22))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.api_tokens(ada).await.unwrap()[0].revoked_at,
            Some(at(20))
        );
    })
    .await;
}

#[tokio::test]
async fn messages_are_stored_once_with_recipients_and_private_read_state() {
    each_backend(|store| async move {
        let ada = user(&store, "ada@example.com", true, MessagePreference::Default).await;
        let bob = user(&store, "bob@example.com", false, MessagePreference::OptedIn).await;
        let eve = user(
            &store,
            "eve@example.com",
            false,
            MessagePreference::OptedOut,
        )
        .await;
        let new = |key: &str, seconds| NewMessage {
            severity: None,
            kind: MessageKind::BackupUnsuccessful,
            subject: "Backup unsuccessful".to_owned(),
            body: "The backup of Mail failed.".to_owned(),
            customer: None,
            connector: Some(connector_id(1)),
            job: None,
            dedup_key: key.to_owned(),
            created_at: at(seconds),
        };
        let first = store
            .store_message(&new("job-1", 0), &[ada, bob])
            .await
            .unwrap();
        assert!(first.created);
        let again = store
            .store_message(&new("job-1", 5), &[ada, bob, eve])
            .await
            .unwrap();
        assert_eq!(again.id, first.id);
        assert!(!again.created);
        let second = store
            .store_message(&new("job-2", 10), &[ada])
            .await
            .unwrap();

        let inbox = store.inbox(ada, &InboxQuery::default()).await.unwrap();
        assert_eq!(
            inbox.iter().map(|i| i.message.id).collect::<Vec<_>>(),
            vec![second.id, first.id]
        );
        assert_eq!(inbox[1].message.connector, Some(connector_id(1)));
        assert!(
            store
                .inbox(eve, &InboxQuery::default())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.unread_count(bob).await.unwrap(), 1);

        // Eve cannot mark Bob's message read; Bob can, once.
        assert!(
            !store
                .mark_message_read(eve, first.id, at(20))
                .await
                .unwrap()
        );
        assert!(
            store
                .mark_message_read(bob, first.id, at(20))
                .await
                .unwrap()
        );
        assert!(
            !store
                .mark_message_read(bob, first.id, at(21))
                .await
                .unwrap()
        );
        assert_eq!(store.unread_count(bob).await.unwrap(), 0);
        assert_eq!(store.unread_count(ada).await.unwrap(), 2);
        let unread = store
            .inbox(
                ada,
                &InboxQuery {
                    unread_only: true,
                    before: Some(second.id),
                    limit: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(unread.len(), 1);
        assert_eq!(
            store.inbox(bob, &InboxQuery::default()).await.unwrap()[0].read_at,
            Some(at(20))
        );
        assert_eq!(store.message(first.id).await.unwrap().created_at, at(0));
    })
    .await;
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_recorded() {
    each_backend(|store| async move {
        let ada = user(&store, "ada@example.com", true, MessagePreference::Default).await;
        let message = store
            .store_message(
                &NewMessage {
                    severity: None,
                    kind: MessageKind::ConnectorAdded,
                    subject: "s".to_owned(),
                    body: "b".to_owned(),
                    customer: None,
                    connector: None,
                    job: None,
                    dedup_key: "k".to_owned(),
                    created_at: at(0),
                },
                &[ada],
            )
            .await
            .unwrap()
            .id;
        let id = store
            .enqueue_delivery(message, "email", "ada@example.com", at(0))
            .await
            .unwrap();
        assert_eq!(
            store
                .enqueue_delivery(message, "email", "ada@example.com", at(1))
                .await
                .unwrap(),
            id
        );
        assert_eq!(store.due_deliveries(at(0), 10).await.unwrap().len(), 1);
        let failed = store
            .record_delivery_attempt(
                id,
                &DeliveryAttempt::Failed {
                    at: at(1),
                    error: "smtp 451".to_owned(),
                    retry_at: Some(at(60)),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (failed.status, failed.attempts),
            (DeliveryStatus::Pending, 1)
        );
        assert!(store.due_deliveries(at(30), 10).await.unwrap().is_empty());
        assert_eq!(store.due_deliveries(at(60), 10).await.unwrap().len(), 1);
        let done = store
            .record_delivery_attempt(id, &DeliveryAttempt::Delivered { at: at(61) })
            .await
            .unwrap();
        assert_eq!(
            (done.status, done.attempts, done.delivered_at),
            (DeliveryStatus::Delivered, 2, Some(at(61)))
        );
        assert_eq!(done.last_error.as_deref(), Some("smtp 451"));
        assert!(store.due_deliveries(at(1000), 10).await.unwrap().is_empty());
        // Every attempt is kept, not only the count and the last error.
        assert_eq!(
            store.delivery_attempts(id).await.unwrap(),
            vec![(at(1), Some("smtp 451".to_owned())), (at(61), None)]
        );
    })
    .await;
}

#[tokio::test]
async fn deliveries_are_queued_with_their_message_and_go_out_in_order_per_target() {
    each_backend(|store| async move {
        let ada = user(&store, "ada@example.com", true, MessagePreference::Default).await;
        let message = |key: &str, seconds| NewMessage {
            kind: MessageKind::AlertOpened,
            subject: key.to_owned(),
            body: "b".to_owned(),
            customer: None,
            connector: None,
            job: None,
            dedup_key: key.to_owned(),
            severity: Some(keepit_domain::Severity::Critical),
            created_at: at(seconds),
        };
        let targets = [("webhook", "webhook"), ("email", "ada@example.com")];
        let first = store
            .store_and_queue_message(&message("one", 0), &[ada], &targets)
            .await
            .unwrap();
        let second = store
            .store_and_queue_message(&message("two", 1), &[ada], &targets)
            .await
            .unwrap();
        // The same key again: nothing new, no second set of deliveries.
        let again = store
            .store_and_queue_message(&message("one", 2), &[ada], &targets)
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(store.deliveries_of(first.id).await.unwrap().len(), 2);
        assert_eq!(
            store.message(first.id).await.unwrap().severity,
            Some(keepit_domain::Severity::Critical)
        );

        // Only the oldest pending delivery of each target is due.
        let due = store.due_deliveries(at(5), 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|delivery| delivery.message == first.id));
        let webhook = due.iter().find(|d| d.channel == "webhook").unwrap().id;
        let email = due.iter().find(|d| d.channel == "email").unwrap().id;
        store
            .record_delivery_attempt(
                webhook,
                &DeliveryAttempt::Failed {
                    at: at(6),
                    error: "503".into(),
                    retry_at: Some(at(600)),
                },
            )
            .await
            .unwrap();
        store
            .record_delivery_attempt(email, &DeliveryAttempt::Delivered { at: at(6) })
            .await
            .unwrap();
        // The e-mail of the second message may go; the webhook waits for the first.
        let due = store.due_deliveries(at(10), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].message, due[0].channel.as_str()),
            (second.id, "email")
        );
        let due = store.due_deliveries(at(600), 10).await.unwrap();
        let webhook_due: Vec<_> = due.iter().filter(|d| d.channel == "webhook").collect();
        assert_eq!(webhook_due.len(), 1);
        assert_eq!(webhook_due[0].message, first.id);
    })
    .await;
}
