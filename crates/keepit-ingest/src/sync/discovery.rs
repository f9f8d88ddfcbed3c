//! Finding the integration's accounts: the credentials, the parent account and the
//! account tree, each account recorded as a customer.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt as _, stream};
use keepit_client::AccountNode;
use keepit_domain::AccountId;
use keepit_store::{KeepitAccountSighting, PassAccount, Store};

use crate::error::{Error, Result};

use super::{Integration, within};

/// Deepest account tree followed.
const MAX_DEPTH: usize = 16;

/// The account tree, and the accounts whose children could not be listed.
pub(super) struct Discovery {
    pub(super) accounts: Vec<PassAccount>,
    pub(super) failed: Vec<(AccountId, Error)>,
}

/// Checks the credentials, walks the tree and records every account as a customer.
///
/// Only a failure at the top (the credentials, the parent account) fails the pass. An
/// account whose children cannot be listed is reported as failed and skipped; the rest
/// of the tree is synced.
pub(super) async fn discover(
    store: &Store,
    integration: &Integration,
    account_deadline: Duration,
    now: DateTime<Utc>,
) -> Result<Discovery> {
    let client = &integration.client;
    // whoami proves the credentials and the region before anything else.
    client.whoami().await?;
    // Keepit answers 404 for the children of an account it does not know, which the
    // walk would take for "no customers": ask for the parent itself first.
    match client.account(&integration.parent).await {
        Ok(_) => {}
        Err(
            source @ (keepit_client::Error::NotFound { .. }
            | keepit_client::Error::Forbidden { .. }),
        ) => {
            return Err(Error::ParentNotVisible {
                account: integration.parent.clone(),
                source,
            });
        }
        Err(error) => return Err(error.into()),
    }
    let mut accounts: Vec<AccountNode> = Vec::new();
    let mut failed: Vec<(AccountId, Error)> = Vec::new();
    let mut seen: HashSet<AccountId> = HashSet::from([integration.parent.clone()]);
    let mut level = vec![integration.parent.clone()];
    let mut depth = 0;
    while !level.is_empty() && depth < MAX_DEPTH {
        depth += 1;
        let listings: Vec<(AccountId, Result<Vec<keepit_client::ChildAccount>>)> =
            stream::iter(level.drain(..))
                .map(|parent| async move {
                    // A listing counts against its account's deadline like the rest of it.
                    let children = within(account_deadline, async {
                        Ok(client.child_accounts(&parent).await?)
                    })
                    .await;
                    (parent, children)
                })
                .buffered(8)
                .collect()
                .await;
        for (parent, listing) in listings {
            match listing {
                Ok(children) => {
                    for child in children {
                        if seen.insert(child.id.clone()) {
                            level.push(child.id.clone());
                            accounts.push(AccountNode {
                                account: child,
                                depth,
                            });
                        }
                    }
                }
                Err(error) if parent == integration.parent => return Err(error),
                Err(error) => failed.push((parent, error)),
            }
        }
    }
    for node in &accounts {
        let sighting = KeepitAccountSighting {
            integration: integration.id,
            account: node.account.id.clone(),
            parent: node.account.parent.clone(),
            company_name: node.account.display_name(),
            seen_at: now,
        };
        let outcome = store.sync_customer(&sighting).await?;
        tracing::debug!(account = %node.account.id, ?outcome, "customer matched");
    }
    let broken: HashSet<&AccountId> = failed.iter().map(|(account, _)| account).collect();
    let accounts = accounts
        .into_iter()
        .filter(|node| !broken.contains(&node.account.id))
        .map(|node| PassAccount {
            name: node.account.display_name(),
            account: node.account.id,
            parent: node.account.parent,
            depth: u32::try_from(node.depth).unwrap_or(u32::MAX),
        })
        .collect();
    Ok(Discovery { accounts, failed })
}
