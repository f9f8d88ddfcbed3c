//! `/admin/users`: people, their roles and message setting, sign-in passwords,
//! and API tokens.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::{Extension, Json};
use keepit_domain::UserId;
use keepit_store::ApiTokenRecord;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Problems, done, notice, path_id, render_form, text};
use crate::AppState;
use crate::dto::{NewTokenRequest, NewUserRequest, UserDto, UserPatchRequest};
use crate::error::AppError;
use crate::routes::people as api;
use crate::routes::{Body, Bounded};
use crate::web::pages::{Page, PageError, caller, layout};
use crate::web::session::SignedIn;
use crate::web::view::{Layout, When};

/// One user and their tokens.
pub(crate) struct UserRow {
    pub(crate) user: UserDto,
    pub(crate) is_me: bool,
    pub(crate) tokens: Vec<TokenRow>,
}

/// One API token (never its secret).
pub(crate) struct TokenRow {
    pub(crate) id: i64,
    pub(crate) label: String,
    pub(crate) created: When,
    pub(crate) last_used: Option<When>,
}

/// A token just created: its secret, shown on this one page.
pub(crate) struct CreatedToken {
    pub(crate) owner: String,
    pub(crate) label: String,
    pub(crate) secret: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    notice: Option<String>,
    rows: Vec<UserRow>,
    form: NewUserForm,
    problems: Problems,
    /// Which user a problem of a row form belongs to.
    problem_user: Option<i64>,
    created_token: Option<CreatedToken>,
}

/// The "add a person" form as typed (the password is never sent back).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct NewUserForm {
    email: String,
    name: String,
    role: String,
    send_messages: Option<String>,
    password: String,
}

impl std::fmt::Debug for NewUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserForm")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

const NOTICES: &[(&str, &str)] = &[
    ("created", "The person was added."),
    ("saved", "The change was saved."),
    (
        "password",
        "The password was set. Their browser sessions ended; they sign in with the new one.",
    ),
    (
        "deleted",
        "The person was deleted, with their tokens and sessions.",
    ),
    (
        "revoked",
        "The token was revoked. Requests that carry it are refused from now on.",
    ),
];

fn token_row(token: &ApiTokenRecord, now: chrono::DateTime<chrono::Utc>) -> TokenRow {
    TokenRow {
        id: token.id.0,
        label: token.label.clone(),
        created: When::new(token.created_at, now),
        last_used: When::maybe(token.last_used_at, now),
    }
}

async fn rows(state: &AppState, me: UserId) -> Result<Vec<UserRow>, PageError> {
    let now = state.clock.now();
    let Json(users) = api::list_users(State(state.clone())).await?;
    let tokens = state.store.all_api_tokens().await?;
    Ok(users
        .into_iter()
        .map(|user| UserRow {
            is_me: user.id == me.0,
            tokens: tokens
                .iter()
                .filter(|token| token.user.0 == user.id && token.revoked_at.is_none())
                .map(|token| token_row(token, now))
                .collect(),
            user,
        })
        .collect())
}

struct Extra {
    notice: Option<String>,
    form: NewUserForm,
    problems: Problems,
    problem_user: Option<i64>,
    created_token: Option<CreatedToken>,
}

impl UsersPage {
    /// Whether a problem shown belongs to this user's row.
    fn problem_for(&self, user: &i64) -> bool {
        self.problem_user == Some(*user)
    }
}

impl Default for Extra {
    fn default() -> Self {
        Extra {
            notice: None,
            form: NewUserForm {
                role: "viewer".to_owned(),
                ..NewUserForm::default()
            },
            problems: Problems::default(),
            problem_user: None,
            created_token: None,
        }
    }
}

async fn users_page(state: &AppState, signed_in: &SignedIn, extra: Extra) -> Page {
    let page = UsersPage {
        layout: layout(state, signed_in, "People", "users").await?,
        notice: extra.notice,
        rows: rows(state, signed_in.0.user.id).await?,
        form: NewUserForm {
            password: String::new(),
            ..extra.form
        },
        problems: extra.problems,
        problem_user: extra.problem_user,
        created_token: extra.created_token,
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/users`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    let extra = Extra {
        notice: notice(raw.as_deref(), NOTICES),
        ..Extra::default()
    };
    users_page(&state, &signed_in, extra).await
}

/// A password typed into a form, checked as the store checks it; `None` when blank.
fn typed_password(text: &str, problems: &mut Problems) -> Option<SecretString> {
    if text.is_empty() {
        return None;
    }
    let secret = SecretString::from(text.to_owned());
    match keepit_store::check_password(&secret) {
        Ok(()) => Some(secret),
        Err(_) => {
            problems.add(
                "password",
                format!(
                    "Use {} to {} characters.",
                    keepit_store::MIN_PASSWORD_CHARS,
                    keepit_store::MAX_PASSWORD_CHARS
                ),
            );
            None
        }
    }
}

/// Sets a password with the page's share of hashing work.
async fn set_password(
    state: &AppState,
    user: UserId,
    secret: &SecretString,
) -> Result<(), PageError> {
    let Ok(_permit) = state.web.hashing.acquire().await else {
        return Err(PageError::from(AppError::client(
            crate::error::ErrorCode::Unavailable,
            "passwords cannot be set right now",
        )));
    };
    state
        .store
        .set_user_password(user, secret, state.clock.now())
        .await?;
    Ok(())
}

/// `POST /admin/users`: adds a person, with a sign-in password when one is given.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<NewUserForm>,
) -> Page {
    let mut problems = Problems::default();
    let secret = typed_password(&form.password, &mut problems);
    let request = NewUserRequest {
        email: form.email.trim().to_owned(),
        name: form.name.clone(),
        role: form.role.clone(),
        send_messages: Some(form.send_messages.is_some()),
    };
    if problems.is_empty() {
        let created = match request.check_bounds() {
            Ok(()) => api::create_user(State(state.clone()), Body(request)).await,
            Err(error) => Err(error),
        };
        match created {
            Ok((_, Json(user))) => {
                if let Some(secret) = &secret {
                    set_password(&state, UserId(user.id), secret).await?;
                }
                return Ok(done("/admin/users", "created"));
            }
            Err(error) => problems.absorb(error)?,
        }
    }
    let extra = Extra {
        form,
        problems,
        ..Extra::default()
    };
    users_page(&state, &signed_in, extra).await
}

/// A row's form: role and message setting.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UserForm {
    role: String,
    send_messages: Option<String>,
}

async fn row_problem(state: &AppState, signed_in: &SignedIn, user: i64, error: AppError) -> Page {
    let problems = Problems::from_error(error)?;
    let extra = Extra {
        problems,
        problem_user: Some(user),
        ..Extra::default()
    };
    users_page(state, signed_in, extra).await
}

/// `POST /admin/users/{id}`: changes a role or the message setting.
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<UserForm>,
) -> Page {
    let id = path_id(&id, "person")?;
    let request = UserPatchRequest {
        name: None,
        role: text(&form.role),
        send_messages: Some(form.send_messages.is_some()),
    };
    let result = match request.check_bounds() {
        Ok(()) => api::update_user(
            State(state.clone()),
            caller(&signed_in),
            Path(id.to_string()),
            Body(request),
        )
        .await
        .map(drop),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Ok(done("/admin/users", "saved")),
        Err(error) => row_problem(&state, &signed_in, id, error).await,
    }
}

/// The password reset form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct PasswordForm {
    password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordForm { .. }")
    }
}

/// Sets a new sign-in password, or shows the form's problem.
async fn password_reset(
    state: &AppState,
    signed_in: &SignedIn,
    id: i64,
    form: &PasswordForm,
) -> Page {
    let mut problems = Problems::default();
    match typed_password(&form.password, &mut problems) {
        Some(secret) => {
            state.store.user(UserId(id)).await?;
            set_password(state, UserId(id), &secret).await?;
            Ok(done("/admin/users", "password"))
        }
        None => {
            if problems.is_empty() {
                problems.add("password", "Type the new password.");
            }
            let extra = Extra {
                problems,
                problem_user: Some(id),
                ..Extra::default()
            };
            users_page(state, signed_in, extra).await
        }
    }
}

/// `POST /admin/users/{id}/password`.
pub(crate) async fn password(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Page {
    let id = path_id(&id, "person")?;
    password_reset(&state, &signed_in, id, &form).await
}

/// `POST /admin/users/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let id = path_id(&id, "person")?;
    match api::delete_user(
        State(state.clone()),
        caller(&signed_in),
        Path(id.to_string()),
    )
    .await
    {
        Ok(_) => Ok(done("/admin/users", "deleted")),
        Err(error) => row_problem(&state, &signed_in, id, error).await,
    }
}

/// The new token form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenForm {
    label: String,
}

/// `POST /admin/users/{id}/tokens`: creates a token and shows its secret once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Page {
    let id = path_id(&id, "person")?;
    let request = NewTokenRequest {
        label: form.label.trim().to_owned(),
        user_id: Some(id),
    };
    let created = match request.check_bounds() {
        Ok(()) => api::create_token(State(state.clone()), caller(&signed_in), Body(request)).await,
        Err(error) => Err(error),
    };
    match created {
        Ok((_, Json(created))) => {
            let owner = state.store.user(UserId(id)).await?;
            let extra = Extra {
                created_token: Some(CreatedToken {
                    owner: owner.name,
                    label: created.details.label,
                    secret: created.token,
                }),
                ..Extra::default()
            };
            users_page(&state, &signed_in, extra).await
        }
        Err(error) => {
            // The API calls the field `label`; on this page it belongs to one row.
            let mut problems = Problems::from_error(error)?;
            if let Some(message) = problems.fields.remove("label") {
                problems.add("token_label", message);
            }
            let extra = Extra {
                problems,
                problem_user: Some(id),
                ..Extra::default()
            };
            users_page(&state, &signed_in, extra).await
        }
    }
}

/// `POST /admin/tokens/{id}/revoke`.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let id = path_id(&id, "token")?;
    api::revoke_token(State(state), caller(&signed_in), Path(id.to_string())).await?;
    Ok(done("/admin/users", "revoked"))
}
