//! Browser sessions. A signed-in browser holds three HttpOnly cookies: the refresh token
//! (`itinera_session`, 30 days), the current access token (`itinera_access`, until shortly before
//! it expires) and a CSRF token (`itinera_csrf`). Page scripts see none of them.
//!
//! The session layer runs before every page: it verifies the access token (as every service
//! does, against identity's published keys), renews it with the refresh token when it has
//! expired, and hands the page a [`Session`]. Every form carries the CSRF token, and [`Form`]
//! refuses a form whose token is not the browser's own.
//!
//! A refresh token is spent when used, and using a spent one ends the whole session (identity
//! takes it for theft). A browser often sends several requests at once with the same expired
//! access token, so renewals are shared: concurrent requests with one refresh token (and the same
//! browser's CSRF cookie) make one call, which runs in a task of its own so that a request the
//! browser abandons cannot lose the new tokens, and for [`SHARED_FOR`] after, a late request with
//! the same (now spent) token gets the same new tokens instead of spending it again. Only
//! identity refusing the token ends the session; a renewal that could not be made (identity
//! down, a rate limit) is not kept, and the next request tries again. This sharing is per web
//! instance: behind several instances, route a browser to one instance (a sticky session) or
//! accept that a rare race signs it out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use bytes::Bytes;
use platform::auth::{JwtVerifier, Role};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::api::types::Tokens;
use crate::api::{Api, ApiError, Caller};
use crate::error::PageError;

pub const REFRESH_COOKIE: &str = "itinera_session";
pub const ACCESS_COOKIE: &str = "itinera_access";
pub const CSRF_COOKIE: &str = "itinera_csrf";
/// How long a refresh token lives at identity (`JWT_REFRESH_TTL_SECS` by default).
const REFRESH_MAX_AGE: i64 = 30 * 24 * 3600;
/// The access cookie ends this long before the token, so that a page never sends one that
/// expires on its way.
const ACCESS_MARGIN_SECS: i64 = 30;
/// How long a renewal's result is kept for late requests with the same refresh token.
const SHARED_FOR: Duration = Duration::from_secs(10);
/// Renewals kept at most; past it, expired ones are forgotten, and a renewal that still finds no
/// room is made unshared.
const MAX_SHARED: usize = 10_000;

/// The signed-in user, from a verified access token.
#[derive(Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

impl User {
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Ops | Role::Admin)
    }
}

/// What a page knows about the browser asking. (No `Debug`: it holds the access token.)
#[derive(Clone)]
pub struct Session {
    pub user: Option<User>,
    token: Option<String>,
    /// The browser's CSRF token, which every form must carry back.
    pub csrf: String,
    /// The browser's address, as the gateway saw it.
    pub address: Option<IpAddr>,
}

impl Session {
    /// How the API is called for this browser.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            token: self.token.as_deref(),
            address: self.address,
        }
    }

    /// The signed-in user, or a redirect to sign in and come back to `here`.
    pub fn user(&self, here: &str) -> Result<&User, PageError> {
        self.user.as_ref().ok_or_else(|| PageError::sign_in(here))
    }

    /// The signed-in user when ops or admin; 403 for anyone else signed in.
    pub fn staff(&self, here: &str) -> Result<&User, PageError> {
        let user = self.user(here)?;
        if user.is_staff() {
            Ok(user)
        } else {
            Err(PageError::forbidden(
                "The admin portal is for operations staff and administrators.",
            ))
        }
    }
}

/// Set on a response by a page that signs a browser in or out; the session layer turns it into
/// cookies (and, on sign-in, a new CSRF token).
#[derive(Clone)]
pub enum SessionChange {
    Start(Tokens),
    End,
}

impl IntoResponseParts for SessionChange {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

#[derive(Clone)]
enum Renewal {
    Renewed(Tokens),
    /// Identity refused the refresh token: the session is over.
    Ended,
    /// Identity could not be asked, or the gateway refused for now (a rate limit): the cookies
    /// stay for the next request.
    Unavailable,
}

/// A renewal in progress or made: `None` until its task has an answer.
type SharedRenewal = watch::Receiver<Option<Renewal>>;

/// Verifies and renews sessions. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Arc<JwtVerifier>,
    api: Api,
    secure: bool,
    renewals: Mutex<HashMap<[u8; 32], (Instant, SharedRenewal)>>,
    /// Addresses whose `X-Forwarded-For` names the browser (the gateway's).
    trusted_proxies: Vec<IpAddr>,
}

impl Sessions {
    pub fn new(
        verifier: Arc<JwtVerifier>,
        api: Api,
        secure: bool,
        trusted_proxies: Vec<IpAddr>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                api,
                secure,
                renewals: Mutex::new(HashMap::new()),
                trusted_proxies,
            }),
        }
    }

    async fn user(&self, token: &str) -> Option<User> {
        let caller = self.inner.verifier.verify(token).await.ok()?;
        Some(User {
            id: caller.user_id,
            name: caller.username,
            role: caller.role,
        })
    }

    /// New tokens for `refresh`, shared with every other request of the same browser renewing
    /// the same one.
    async fn renew(&self, key: [u8; 32], refresh: &str, address: Option<IpAddr>) -> Renewal {
        let mut shared = {
            let mut renewals = self
                .inner
                .renewals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match renewals.get(&key) {
                Some((at, shared)) if at.elapsed() < SHARED_FOR => shared.clone(),
                _ => {
                    if renewals.len() >= MAX_SHARED {
                        renewals.retain(|_, (at, _)| at.elapsed() < SHARED_FOR);
                    }
                    let (answer, shared) = watch::channel(None);
                    if renewals.len() < MAX_SHARED {
                        renewals.insert(key, (Instant::now(), shared.clone()));
                    }
                    // Its own task: the call finishes and its answer is kept even if this
                    // request is abandoned on the way.
                    let (sessions, refresh) = (self.clone(), refresh.to_owned());
                    tokio::spawn(async move {
                        let renewal = sessions.call_refresh(&refresh, address).await;
                        if matches!(renewal, Renewal::Unavailable) {
                            sessions.forget(&key);
                        }
                        let _ = answer.send(Some(renewal));
                    });
                    shared
                }
            }
        };
        match shared.wait_for(Option::is_some).await {
            Ok(renewal) => renewal.clone().unwrap_or(Renewal::Unavailable),
            Err(_) => Renewal::Unavailable,
        }
    }

    fn forget(&self, key: &[u8; 32]) {
        self.inner
            .renewals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    async fn call_refresh(&self, refresh: &str, address: Option<IpAddr>) -> Renewal {
        let caller = Caller {
            token: None,
            address,
        };
        let body = serde_json::json!({ "refreshToken": refresh });
        match self
            .inner
            .api
            .send::<Tokens>(caller, Method::POST, "/api/auth/refresh", &body, None)
            .await
        {
            Ok(tokens) => Renewal::Renewed(tokens),
            // Identity refusing the token (spent, revoked, expired, malformed).
            Err(ApiError { status, .. })
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST =>
            {
                Renewal::Ended
            }
            Err(_) => Renewal::Unavailable,
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64, same_site: &str) -> HeaderValue {
        let secure = if self.inner.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
        ))
        .expect("cookie values are tokens of visible ASCII")
    }

    fn start(&self, tokens: &Tokens) -> [HeaderValue; 2] {
        [
            self.cookie(
                REFRESH_COOKIE,
                &tokens.refresh_token,
                REFRESH_MAX_AGE,
                "Lax",
            ),
            self.cookie(
                ACCESS_COOKIE,
                &tokens.token,
                (tokens.expires_in - ACCESS_MARGIN_SECS).max(1),
                "Lax",
            ),
        ]
    }

    fn end(&self) -> [HeaderValue; 2] {
        [
            self.cookie(REFRESH_COOKIE, "", 0, "Lax"),
            self.cookie(ACCESS_COOKIE, "", 0, "Lax"),
        ]
    }
}

/// What renewals are shared under: the refresh token and the browser's CSRF cookie, so that a
/// late request must come from the same browser to be given the renewed tokens.
fn renewal_key(refresh: &str, csrf: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update((refresh.len() as u64).to_be_bytes())
        .chain_update(refresh.as_bytes())
        .chain_update(csrf.as_bytes())
        .finalize()
        .into()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The browser's address: the last `X-Forwarded-For` entry when the request comes from a
/// trusted proxy (the gateway, which appends the address it saw), else the peer's.
fn client_address(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[IpAddr]) -> Option<IpAddr> {
    match peer {
        Some(peer) if trusted.contains(&peer) => forwarded(headers).or(Some(peer)),
        peer => peer,
    }
}

/// The last `X-Forwarded-For` entry.
fn forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .last()
        .and_then(|last| last.trim().parse().ok())
}

/// A fresh random token (CSRF): two version-4 UUIDs (244 random bits), in hex.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn is_token(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares without stopping at the first difference, so timing does not tell how much of a
/// guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session layer: resolves the [`Session`] of every request and keeps its cookies current.
pub async fn layer(State(sessions): State<Sessions>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let headers = request.headers();
    let address = client_address(headers, peer, &sessions.inner.trusted_proxies);
    let mut set_cookies: Vec<HeaderValue> = Vec::new();
    let csrf = match cookie(headers, CSRF_COOKIE).filter(|t| is_token(t)) {
        Some(token) => token.to_owned(),
        None => {
            let token = random_token();
            set_cookies.push(sessions.cookie(CSRF_COOKIE, &token, REFRESH_MAX_AGE, "Lax"));
            token
        }
    };
    let access = cookie(headers, ACCESS_COOKIE).map(str::to_owned);
    let refresh = cookie(headers, REFRESH_COOKIE).map(str::to_owned);
    let renewal_key = refresh.as_deref().map(|r| renewal_key(r, &csrf));
    let mut user = None;
    let mut token = None;
    if let Some(access) = access
        && let Some(verified) = sessions.user(&access).await
    {
        user = Some(verified);
        token = Some(access);
    }
    if user.is_none()
        && let (Some(refresh), Some(key)) = (refresh, renewal_key)
    {
        match sessions.renew(key, &refresh, address).await {
            Renewal::Renewed(tokens) => {
                if let Some(verified) = sessions.user(&tokens.token).await {
                    user = Some(verified);
                    token = Some(tokens.token.clone());
                }
                set_cookies.extend(sessions.start(&tokens));
            }
            Renewal::Ended => set_cookies.extend(sessions.end()),
            Renewal::Unavailable => {}
        }
    }
    request.extensions_mut().insert(Session {
        user,
        token,
        csrf,
        address,
    });
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<SessionChange>() {
        // A sign-in replaces whatever renewal happened on the way, and the CSRF token: one
        // planted before signing in is worth nothing after.
        Some(SessionChange::Start(tokens)) => {
            set_cookies.clear();
            set_cookies.extend(sessions.start(&tokens));
            set_cookies.push(sessions.cookie(CSRF_COOKIE, &random_token(), REFRESH_MAX_AGE, "Lax"));
        }
        Some(SessionChange::End) => {
            // A renewal kept for late requests would outlive the sign-out.
            if let Some(key) = renewal_key {
                sessions.forget(&key);
            }
            set_cookies.retain(|c| !c.as_bytes().starts_with(REFRESH_COOKIE.as_bytes()));
            set_cookies.retain(|c| !c.as_bytes().starts_with(ACCESS_COOKIE.as_bytes()));
            set_cookies.extend(sessions.end());
        }
        None => {}
    }
    for value in set_cookies {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// The browser's refresh token, for signing out.
pub fn refresh_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, REFRESH_COOKIE)
}

/// A submitted form, read only when it carries the browser's own CSRF token. Forms are
/// `application/x-www-form-urlencoded` with a `csrf` field.
pub struct Form<T>(pub T);

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        let csrf = request
            .extensions()
            .get::<Session>()
            .map(|s| s.csrf.clone())
            .ok_or_else(|| PageError::internal("the session layer did not run"))?;
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| PageError::bad_request("The form could not be read."))?;
        let given: CsrfField = serde_urlencoded::from_bytes(&body)
            .map_err(|_| PageError::bad_request("The form could not be read."))?;
        if !given.csrf.is_some_and(|given| same(&given, &csrf)) {
            return Err(PageError::forbidden(
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        serde_urlencoded::from_bytes(&body)
            .map(Form)
            .map_err(|e| PageError::bad_request(format!("The form is incomplete: {e}.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("itinera_session_old=x; itinera_session=abc; other=1"),
        );
        assert_eq!(cookie(&headers, REFRESH_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, ACCESS_COOKIE), None);
    }

    #[test]
    fn the_address_is_the_last_forwarded_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7"),
        );
        assert_eq!(forwarded(&headers), "198.51.100.7".parse().ok());
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let gateway: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_address(&headers, Some(gateway), &[gateway]),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(
            client_address(&headers, Some(stranger), &[gateway]),
            Some(stranger)
        );
        assert_eq!(
            client_address(&HeaderMap::new(), Some(gateway), &[gateway]),
            Some(gateway)
        );
    }

    #[test]
    fn renewals_are_shared_only_within_one_browser() {
        assert_eq!(renewal_key("r", "a"), renewal_key("r", "a"));
        assert_ne!(renewal_key("r", "a"), renewal_key("r", "b"));
        assert_ne!(renewal_key("r|a", ""), renewal_key("r", "a|"));
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let token = random_token();
        assert!(is_token(&token));
        assert!(same(&token, &token.clone()));
        assert!(!same(&token, &token[..63]));
        assert!(!same(&token, &random_token()));
    }
}
