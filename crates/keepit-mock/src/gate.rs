//! The shared state of one mock and the gate every request passes through.
//!
//! wiremock handles one request at a time: it evaluates the mounted mocks' matchers in
//! priority order and calls the first matching mock's responder, all under one lock.
//! The mock uses that: a gate mock of the highest priority sees every request first,
//! logs it, checks the credentials and decides the faults, and leaves the decision in a
//! one-request slot. A second gate answers the decisions that replace the normal answer
//! (401, 429, 5xx); a dropped connection is the first gate's own answer, a Rust error
//! that makes the server close the connection. Every other responder (fixtures, the
//! fleet, the catch-all) picks the decision up in [`Shared::finish`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wiremock::{Match, Request, Respond, ResponseTemplate};

use crate::auth::{AuthOutcome, MockCredentials};
use crate::bodies;
use crate::faults::{Decision, EarlyAnswer, FaultEngine, FaultKind, Faults};
use crate::log::{Arrival, RequestLog};

/// Locks a mutex, ignoring poisoning: a panicking test must not break every later request.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by every responder of one mock.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) credentials: MockCredentials,
    faults: Mutex<(Faults, FaultEngine)>,
    pub(crate) log: Mutex<RequestLog>,
    pending: Mutex<Option<Pending>>,
    tail_generation: AtomicU64,
}

#[derive(Debug)]
struct Pending {
    key: RequestKey,
    seq: usize,
    decision: Decision,
}

/// Identifies a request well enough to make sure a decision is used for the request it
/// was made for.
#[derive(Debug, PartialEq, Eq)]
struct RequestKey {
    method: String,
    url: String,
    body_len: usize,
}

impl RequestKey {
    fn of(request: &Request) -> Self {
        RequestKey {
            method: request.method.as_str().to_owned(),
            url: request.url.as_str().to_owned(),
            body_len: request.body.len(),
        }
    }
}

/// A normal answer, before latency and body faults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) unmatched: bool,
}

impl Reply {
    /// 200 with an XML body.
    pub(crate) fn xml(body: String) -> Self {
        Reply::with(200, body, "application/xml")
    }

    /// Any status, body and content type.
    pub(crate) fn with(status: u16, body: String, content_type: &'static str) -> Self {
        Reply {
            status,
            body,
            content_type,
            headers: Vec::new(),
            unmatched: false,
        }
    }

    /// Keepit's plain-text 404 for an unknown path or resource.
    pub(crate) fn not_found() -> Self {
        Reply::with(404, bodies::NOT_FOUND.to_owned(), "text/plain")
    }

    /// Keepit's plain-text 404 for an account the caller cannot see.
    pub(crate) fn account_not_found() -> Self {
        Reply::with(404, bodies::ACCOUNT_NOT_FOUND.to_owned(), "text/plain")
    }

    /// 400 with an `<error>` body.
    pub(crate) fn bad_request(description: &str) -> Self {
        Reply::with(400, bodies::bad_request(description), "application/xml")
    }

    /// Adds a response header.
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl Shared {
    pub(crate) fn new(credentials: MockCredentials, faults: Faults) -> Self {
        Shared {
            credentials,
            faults: Mutex::new((faults.clone(), FaultEngine::new(faults))),
            log: Mutex::new(RequestLog::new()),
            pending: Mutex::new(None),
            tail_generation: AtomicU64::new(0),
        }
    }

    /// The generation of tail mocks (fleet, catch-all) that currently answers.
    pub(crate) fn tail_generation(&self) -> u64 {
        self.tail_generation.load(Ordering::SeqCst)
    }

    pub(crate) fn set_tail_generation(&self, generation: u64) {
        self.tail_generation.store(generation, Ordering::SeqCst);
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = (faults.clone(), FaultEngine::new(faults));
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).0.clone()
    }

    /// Logs a request, checks its credentials and decides its faults.
    fn admit(&self, request: &Request) -> bool {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let auth = self.credentials.check(header("authorization").as_deref());
        let path = request.url.path().to_owned();
        let account = crate::endpoint::account_of(&path, &request.body);
        let seq = lock(&self.log).arrive(Arrival {
            method: request.method.as_str().to_owned(),
            path,
            query: request.url.query().map(str::to_owned),
            accept: header("accept"),
            username: auth.username().map(str::to_owned),
            authenticated: matches!(auth, AuthOutcome::Accepted { .. }),
            account: account.clone(),
        });
        let decision = {
            let mut faults = lock(&self.faults);
            let engine = &mut faults.1;
            match auth {
                AuthOutcome::Anonymous => Decision::Early(EarlyAnswer {
                    status: 401,
                    body: bodies::ANONYMOUS.to_owned(),
                    content_type: "text/plain",
                    headers: Vec::new(),
                    fault: None,
                    delay: engine.base_latency(),
                }),
                AuthOutcome::Rejected { .. } => Decision::Early(EarlyAnswer {
                    status: 401,
                    body: bodies::UNAUTHORIZED.to_owned(),
                    content_type: "text/plain",
                    headers: Vec::new(),
                    fault: None,
                    delay: engine.base_latency(),
                }),
                AuthOutcome::Accepted { .. } => engine.decide(account.as_ref()),
            }
        };
        let drop = decision == Decision::Drop;
        *lock(&self.pending) = Some(Pending {
            key: RequestKey::of(request),
            seq,
            decision,
        });
        drop
    }

    fn pending_is_early(&self, request: &Request) -> bool {
        lock(&self.pending).as_ref().is_some_and(|pending| {
            pending.key == RequestKey::of(request) && matches!(pending.decision, Decision::Early(_))
        })
    }

    fn take_pending(&self, request: &Request) -> Option<Pending> {
        let mut slot = lock(&self.pending);
        if slot
            .as_ref()
            .is_some_and(|pending| pending.key == RequestKey::of(request))
        {
            slot.take()
        } else {
            None
        }
    }

    /// Answers a request that reached a normal responder: applies the gate's decision
    /// (latency, body faults) to the reply `build` produces, and logs the outcome.
    pub(crate) fn finish(
        &self,
        request: &Request,
        build: impl FnOnce(&Request) -> Reply,
    ) -> ResponseTemplate {
        let pending = self.take_pending(request);
        let (seq, decision) = match pending {
            Some(pending) => (Some(pending.seq), pending.decision),
            // Only happens if the gate was removed (for example by resetting the server).
            None => (
                None,
                Decision::Proceed {
                    delay: Duration::ZERO,
                    body_fault: None,
                },
            ),
        };
        let (delay, body_fault) = match decision {
            Decision::Proceed { delay, body_fault } => (delay, body_fault),
            Decision::Early(early) => return self.answer_early(seq, early),
            Decision::Drop => (Duration::ZERO, None),
        };
        let mut reply = build(request);
        let mut fault = None;
        if let Some(body_fault) = body_fault {
            let is_xml = reply.content_type.contains("xml");
            if (200..300).contains(&reply.status) && is_xml && !reply.body.is_empty() {
                reply.body = crate::faults::spoil(&reply.body, body_fault);
                if body_fault == crate::faults::BodyFault::Html {
                    reply.content_type = "text/html";
                }
                fault = Some(body_fault.kind());
            }
        }
        if let Some(seq) = seq {
            lock(&self.log).answer(seq, Some(reply.status), fault, delay, reply.unmatched);
        }
        template(
            reply.status,
            reply.body,
            reply.content_type,
            &reply.headers,
            delay,
        )
    }

    fn answer_early(&self, seq: Option<usize>, early: EarlyAnswer) -> ResponseTemplate {
        if let Some(seq) = seq {
            lock(&self.log).answer(seq, Some(early.status), early.fault, early.delay, false);
        }
        template(
            early.status,
            early.body,
            early.content_type,
            &early.headers,
            early.delay,
        )
    }
}

fn template(
    status: u16,
    body: String,
    content_type: &str,
    headers: &[(&'static str, String)],
    delay: Duration,
) -> ResponseTemplate {
    let mut template = ResponseTemplate::new(status);
    if !body.is_empty() {
        template = template.set_body_raw(body.into_bytes(), content_type);
    }
    for (name, value) in headers {
        template = template.insert_header(*name, value.as_str());
    }
    if !delay.is_zero() {
        template = template.set_delay(delay);
    }
    template
}

/// Matcher of the first gate: sees every request, matches those to drop.
pub(crate) struct AdmitGate(pub(crate) Arc<Shared>);

impl Match for AdmitGate {
    fn matches(&self, request: &Request) -> bool {
        self.0.admit(request)
    }
}

/// Drops the connection by failing the request inside the server (hyper then closes
/// the connection without writing an answer).
pub(crate) fn drop_connection(
    shared: Arc<Shared>,
) -> impl Fn(&Request) -> std::io::Error + Send + Sync + 'static {
    move |request: &Request| {
        if let Some(pending) = shared.take_pending(request) {
            lock(&shared.log).answer(
                pending.seq,
                None,
                Some(FaultKind::DroppedConnection),
                Duration::ZERO,
                false,
            );
        }
        std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "keepit-mock dropped the connection on purpose",
        )
    }
}

/// Matcher of the second gate: matches requests whose decision replaces the answer.
pub(crate) struct EarlyGate(pub(crate) Arc<Shared>);

impl Match for EarlyGate {
    fn matches(&self, request: &Request) -> bool {
        self.0.pending_is_early(request)
    }
}

/// Answers the decisions that replace the normal answer.
pub(crate) struct EarlyResponder(pub(crate) Arc<Shared>);

impl Respond for EarlyResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match self.0.take_pending(request) {
            Some(Pending {
                seq,
                decision: Decision::Early(early),
                ..
            }) => self.0.answer_early(Some(seq), early),
            _ => ResponseTemplate::new(500),
        }
    }
}

/// The last mock: answers 404 naming the request nobody expected.
pub(crate) struct CatchAll(pub(crate) Arc<Shared>);

impl Respond for CatchAll {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.finish(request, |request| {
            let query = request
                .url
                .query()
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            let mut reply = Reply::with(
                404,
                format!(
                    "keepit-mock: no mock answers {} {}{query}\nmount one with an intent-named method (for example MockKeepit::devices) or serve a fleet\n",
                    request.method,
                    request.url.path()
                ),
                "text/plain",
            );
            reply.unmatched = true;
            reply
        })
    }
}
