//! Helpers shared by the crate's tests: an HTTP caller and an independent XML check.

use quick_xml::events::Event;
use secrecy::ExposeSecret as _;

use crate::MockKeepit;

/// Whether `text` is one well-formed XML document (checked with quick-xml, not with the
/// crate's own reader, so the two can't share a blind spot).
pub(crate) fn well_formed(text: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event() {
            Err(_) => return false,
            Ok(Event::Start(_)) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Ok(Event::End(_)) => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Ok(Event::Empty(_)) => {
                if depth == 0 {
                    roots += 1;
                }
            }
            Ok(Event::Text(text)) => {
                if depth == 0 && !text.xml10_content().trim().is_empty() {
                    return false;
                }
            }
            Ok(Event::Eof) => return depth == 0 && roots == 1,
            Ok(_) => {}
        }
    }
}

/// An answer, read completely.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Calls a mock with its own credentials (or others).
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    username: Option<String>,
    password: String,
}

pub(crate) fn http(mock: &MockKeepit) -> Http {
    Http {
        client: reqwest::Client::new(),
        base: mock.uri(),
        username: Some(mock.credentials().username().to_owned()),
        password: mock.credentials().password().expose_secret().to_owned(),
    }
}

impl Http {
    /// The same caller with other credentials (`None`: no `Authorization` header).
    pub(crate) fn as_user(&self, username: Option<&str>, password: &str) -> Http {
        Http {
            username: username.map(str::to_owned),
            password: password.to_owned(),
            ..self.clone()
        }
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Answer, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(username) = &self.username {
            request = request.basic_auth(username, Some(&self.password));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/xml")
                .body(body.to_owned());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None)
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    pub(crate) async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, None)
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    pub(crate) async fn put(&self, path: &str, body: &str) -> Answer {
        self.send("PUT", path, &[], Some(body))
            .await
            .unwrap_or_else(|error| panic!("PUT {path}: {error}"))
    }
}
