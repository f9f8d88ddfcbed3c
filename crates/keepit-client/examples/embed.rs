//! Embedding keepit-client: list every customer's connectors with their health and
//! last backup, against a small fake Keepit started in-process on 127.0.0.1.
//!
//! Run with `cargo run -p keepit-client --example embed`. Point `base_url` at
//! `https://<region>.keepit.com` (or use `.region(..)`) to talk to the real service.

#![allow(clippy::print_stdout)] // An example program reports on stdout.

use keepit_client::{Credentials, KeepitClient};
use secrecy::SecretString;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() -> Result<(), keepit_client::Error> {
    let keepit = fake_keepit().await;

    let credentials = Credentials::choose(
        Some("admin@msp.example".into()),
        Some(SecretString::from("example-password")),
        None,
        None,
    )
    .ok_or_else(|| keepit_client::Error::Config("no credentials".into()))?;
    let client = KeepitClient::builder()
        .base_url(keepit.uri())
        .credentials(credentials)
        .max_concurrency(5)
        .build()?;

    let report = client.test_connection().await?;
    println!(
        "signed in as {}; {} customer account(s) visible",
        report.account, report.customer_accounts
    );
    for node in client.account_tree(&report.account).await? {
        let customer = &node.account;
        for connector in client.connectors(&customer.id, true).await? {
            let health = client.connector_health(&customer.id, &connector.id).await?;
            let last = client.latest_snapshot(&customer.id, &connector.id).await?;
            println!(
                "{:<20} {:<28} {:<16} {:<9} last backup {}",
                customer.display_name(),
                connector.name,
                connector.kind.display_name(),
                health.health,
                last.map(|snapshot| snapshot.taken_at.to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
        }
    }
    println!("{} requests sent", client.requests_sent());
    Ok(())
}

async fn fake_keepit() -> MockServer {
    let server = MockServer::start().await;
    let xml = |body: &str| ResponseTemplate::new(200).set_body_string(body.to_owned());
    Mock::given(method("GET"))
        .and(path("/users/"))
        .respond_with(xml("<user><id>msp000-parent-000001</id></user>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/msp000-parent-000001/users"))
        .respond_with(xml("<users><user><id>cust01-contos-000001</id><company_name>Contoso Ltd</company_name></user></users>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/cust01-contos-000001/users"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/cust01-contos-000001/devices"))
        .respond_with(xml(
            "<devices><cloud><guid>m365c0-nn3ct0-r00001</guid><name>Contoso Microsoft 365</name><type>o365-admin</type><accessible>true</accessible></cloud>\
             <cloud><guid>jira00-nn3ct0-r00003</guid><name>Contoso Jira</name><type>dsl</type><agent-type>jira</agent-type></cloud></devices>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/health$"))
        .respond_with(xml(
            "<devhealth><health>critical</health><reason>BADLOGIN</reason></devhealth>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("m365c0-nn3ct0-r00001/history/latest$"))
        .respond_with(xml("<history><backup><tstamp>2026-01-07T21:29:31Z</tstamp><type>c</type><size>2023899411</size></backup></history>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/history/latest$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    server
}
