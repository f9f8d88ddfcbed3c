//! What templates show: the layout every page shares, and times as people read them.

use chrono::{DateTime, SecondsFormat, Utc};

use super::assets;
use super::session::SignedIn;
use keepit_store::Role;

/// The frame of every page: title, navigation, who is signed in. (No `Debug`: it
/// holds the session's CSRF token.)
#[derive(Clone)]
pub(crate) struct Layout {
    /// The page's own title ("Alerts"); the document title adds the product.
    pub(crate) title: String,
    /// Which navigation entry is the current page.
    pub(crate) section: &'static str,
    /// Signed in as; `None` on the sign-in page.
    pub(crate) user: Option<UserView>,
    /// The session's CSRF token, for forms and htmx requests.
    pub(crate) csrf: String,
    /// Unread messages in the user's inbox.
    pub(crate) unread: u64,
    pub(crate) css: String,
    pub(crate) htmx: String,
    pub(crate) app_js: String,
}

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone)]
pub(crate) struct UserView {
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) is_admin: bool,
}

impl Layout {
    /// The frame of a page for a signed-in user.
    pub(crate) fn new(
        title: impl Into<String>,
        section: &'static str,
        signed_in: &SignedIn,
        unread: u64,
    ) -> Layout {
        let user = &signed_in.0.user;
        Layout {
            title: title.into(),
            section,
            user: Some(UserView {
                name: user.name.clone(),
                email: user.email.clone(),
                is_admin: user.role == Role::Admin,
            }),
            csrf: signed_in.0.csrf_token.clone(),
            unread,
            ..Layout::public(String::new())
        }
    }

    /// The frame of a page anybody may see (signing in, errors).
    pub(crate) fn public(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            section: "",
            user: None,
            csrf: String::new(),
            unread: 0,
            css: assets::url("app.css"),
            htmx: assets::url("htmx.min.js"),
            app_js: assets::url("app.js"),
        }
    }

    /// Whether the user may change things (not only their inbox).
    pub(crate) fn can_act(&self) -> bool {
        self.user.as_ref().is_some_and(|user| user.is_admin)
    }

    /// `aria-current` for a navigation entry.
    pub(crate) fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A moment, for a `<time>` element: machine-readable, in UTC, and relative to now.
#[derive(Debug, Clone)]
pub(crate) struct When {
    /// RFC 3339, for the `datetime` attribute (the browser shows it in its zone).
    pub(crate) iso: String,
    /// "2026-11-29 14:05 UTC", shown without JavaScript and on hover.
    pub(crate) utc: String,
    /// "31 h ago", "in 3 h".
    pub(crate) relative: String,
}

impl When {
    pub(crate) fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> When {
        When {
            iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            utc: at.format("%Y-%m-%d %H:%M UTC").to_string(),
            relative: relative(at, now),
        }
    }

    pub(crate) fn maybe(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<When> {
        at.map(|at| When::new(at, now))
    }

    /// Parses an RFC 3339 time from a DTO.
    pub(crate) fn parse(text: Option<&str>, now: DateTime<Utc>) -> Option<When> {
        let at = DateTime::parse_from_rfc3339(text?).ok()?;
        Some(When::new(at.with_timezone(&Utc), now))
    }
}

/// "just now", "12 min ago", "31 h ago", "9 d ago"; "in 3 h" for the future.
pub(crate) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let (future, seconds) = (seconds < 0, seconds.unsigned_abs());
    let amount = if seconds < 60 {
        return "just now".to_owned();
    } else if seconds < 3600 {
        format!("{} min", seconds / 60)
    } else if seconds < 72 * 3600 {
        format!("{} h", seconds / 3600)
    } else {
        format!("{} d", seconds / 86_400)
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Bytes as people read them.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(relative(now - TimeDelta::seconds(20), now), "just now");
        assert_eq!(relative(now - TimeDelta::minutes(12), now), "12 min ago");
        assert_eq!(relative(now - TimeDelta::hours(31), now), "31 h ago");
        assert_eq!(relative(now - TimeDelta::days(9), now), "9 d ago");
        assert_eq!(relative(now + TimeDelta::hours(3), now), "in 3 h");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_500_000), "1.5 MB");
    }
}
