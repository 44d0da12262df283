//! Who is on the other end of a request: the session cookie, read into an [`Actor`] by the app
//! layer, and the page context every template gets.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use tsunagu_app::{Actor, AppError};
use tsunagu_domain::person::Duty;

use crate::WebState;
use crate::csrf::CsrfToken;
use crate::i18n::{Lang, Tr};

pub const SESSION_COOKIE: &str = "tsunagu_session";
pub const PENDING_COOKIE: &str = "tsunagu_pending";

/// The client's address, when the server knows it.
pub fn client_address(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// A session-style cookie: HttpOnly, SameSite=Lax, Secure behind HTTPS.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value)).http_only(true).same_site(SameSite::Lax).secure(secure).path("/").build()
}

/// A cookie that removes `name`.
pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut c = Cookie::build((name, "")).path("/").build();
    c.make_removal();
    c
}

/// The logged-in person as the page header shows them.
#[derive(Debug, Clone)]
pub struct UserNav {
    pub display_name: String,
    pub login: String,
    pub is_admin: bool,
    /// The home-care coordinator keeps the directory (imports, unconfirmed entries).
    pub is_coordinator: bool,
}

/// What every page template needs.
#[derive(Debug, Clone)]
pub struct PageCtx {
    pub t: Tr,
    pub csrf: String,
    pub user: Option<UserNav>,
    pub path: String,
}

impl PageCtx {
    fn from_parts(parts: &Parts, actor: Option<&Actor>) -> Self {
        PageCtx {
            t: Tr::new(Lang::from_headers(&parts.headers)),
            csrf: parts.extensions.get::<CsrfToken>().map(|c| c.0.clone()).unwrap_or_default(),
            user: actor.map(|a| UserNav {
                display_name: a.display_name.clone(),
                login: a.login.clone(),
                is_admin: a.has_duty(Duty::SystemAdministrator),
                is_coordinator: a.has_duty(Duty::HomeCareCoordinator),
            }),
            path: parts.uri.path().to_string(),
        }
    }

    /// The other language, for the switch in the header.
    pub fn other_lang(&self) -> &'static str {
        match self.t.lang {
            Lang::Ja => "en",
            Lang::En => "ja",
        }
    }
}

/// Any visitor, logged in or not.
pub struct Visitor {
    pub page: PageCtx,
    pub actor: Option<Actor>,
    pub address: Option<String>,
}

impl FromRequestParts<WebState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        let address = client_address(parts);
        let jar = CookieJar::from_headers(&parts.headers);
        let actor = match jar.get(SESSION_COOKIE) {
            Some(c) => match state.app.authenticate_session(c.value(), address.clone()).await {
                Ok(a) => Some(a),
                Err(AppError::Unauthenticated) => None,
                Err(e) => return Err(crate::WebError(e).into_response()),
            },
            None => None,
        };
        Ok(Visitor { page: PageCtx::from_parts(parts, actor.as_ref()), actor, address })
    }
}

/// A logged-in person. Anyone else is sent to the login page; a person who must still enrol a
/// second factor is sent to the security page.
pub struct Authed {
    pub page: PageCtx,
    pub actor: Actor,
}

impl FromRequestParts<WebState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        let v = Visitor::from_request_parts(parts, state).await?;
        let Some(actor) = v.actor else {
            let jar = CookieJar::from_headers(&parts.headers).add(removal(SESSION_COOKIE));
            return Err((jar, Redirect::to("/login")).into_response());
        };
        let path = parts.uri.path();
        if actor.must_enrol_second_factor && !path.starts_with("/account/") && path != "/logout" {
            return Err(Redirect::to("/account/security").into_response());
        }
        Ok(Authed { page: v.page, actor })
    }
}
