//! Access-token verification, shared by the gateway and every service.
//!
//! Tokens are EdDSA-signed JWTs issued by identity, whose public keys are published as a JWKS. Each
//! verifier keeps the keys it has seen by `kid` and asks its [`KeySource`] again when a token names
//! a key it does not know (at most once a second) and every few seconds (`JWT_JWKS_REFRESH_SECS`),
//! so a rotated key is picked up, and a revoked one refused, without a restart. No service trusts an identity header a client could set: the
//! caller is whoever the bearer token says, after its signature is checked here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtSettings;
use crate::error::Problem;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    /// Operations staff: flight status, schedules.
    Ops,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Customer, Role::Ops, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Ops => "ops",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of an Itinera access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a decimal string (JWT subjects are strings).
    pub sub: String,
    pub name: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// When the token the caller presented expires: a connection opened with it (a WebSocket, an
    /// event stream) ends then.
    pub expires_at: DateTime<Utc>,
}

impl Caller {
    /// Ops and admins may act on other users' objects where the API allows staff to.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Ops | Role::Admin)
    }

    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "This action needs the role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }

    /// Refuses with 403 unless the caller is `user_id` or staff.
    pub fn require_self_or_staff(&self, user_id: i64) -> Result<(), Problem> {
        if self.user_id == user_id || self.is_staff() {
            Ok(())
        } else {
            Err(Problem::forbidden("You may only access your own resources"))
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("Missing bearer token")]
    Missing,
    #[error("Malformed Authorization header; expected `Bearer <token>`")]
    MalformedHeader,
    #[error("The access token has expired")]
    Expired,
    #[error("The access token is invalid")]
    Invalid,
    #[error("The token's signing keys cannot be fetched right now")]
    KeysUnavailable,
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::KeysUnavailable => {
                Problem::service_unavailable(error.to_string()).with_retry_after(1)
            }
            other => Problem::new(StatusCode::UNAUTHORIZED, other.to_string())
                .with_type("unauthenticated"),
        }
    }
}

/// A future returned by a [`KeySource`].
pub type KeysFuture<'a> = Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + 'a>>;

/// Where a verifier gets the public signing keys.
pub trait KeySource: Send + Sync + 'static {
    fn fetch(&self) -> KeysFuture<'_>;
}

/// Keys published by identity at `/.well-known/jwks.json`.
pub struct RemoteJwks {
    url: String,
    client: reqwest::Client,
}

impl RemoteJwks {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl KeySource for RemoteJwks {
    fn fetch(&self) -> KeysFuture<'_> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{} answered {}", self.url, response.status()));
            }
            response.json::<JwkSet>().await.map_err(|e| e.to_string())
        })
    }
}

/// How often a verifier may go back to its key source for an unknown `kid`: a burst of tokens
/// with made-up kids costs at most one fetch a second, whatever its size.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// Keys that were in the key set and left it (revoked, or retired long ago): their tokens are
    /// refused at once, without going back to the source. Only real kids get here, so the set
    /// grows with rotations, not with what clients send.
    removed: std::collections::HashSet<String>,
    fetched_at: Option<Instant>,
}

impl KeyCache {
    fn fresh(&self, max_age: Duration) -> bool {
        self.fetched_at.is_some_and(|t| t.elapsed() < max_age)
    }
}

/// Most removed kids remembered; the set starts again past it.
const MAX_REMOVED: usize = 1_000;

/// Most verified tokens remembered; past it, expired ones are forgotten, then all.
const MAX_VERIFIED: usize = 50_000;

/// A token already verified: who it names, until when, and the key that signed it.
struct VerifiedToken {
    caller: Caller,
    expires: i64,
    kid: String,
}

/// The keys a verifier knows, and the tokens it has verified with them. Shared with the task
/// that refreshes them in the background.
struct KeyStore {
    cache: RwLock<KeyCache>,
    refresh: tokio::sync::Mutex<()>,
    source: Box<dyn KeySource>,
    /// Tokens already verified: a client sends the same token with every request until it
    /// expires, and checking a signature again costs far more than a lookup. Keyed by the whole
    /// token, so no other token can match; each entry is dropped as soon as its key leaves the
    /// key set.
    verified: std::sync::Mutex<HashMap<String, VerifiedToken>>,
}

/// Verifies access tokens against the keys of a [`KeySource`].
///
/// The keys are fetched again every `jwks_refresh` (in the background, by a task that ends with
/// the verifier), so a key identity revokes stops verifying within about that interval, and the
/// tokens it signed are forgotten by the cache of verified tokens. Should the source be
/// unreachable, the keys already known stay in use: an identity outage does not log everyone
/// out, though it delays a revocation until identity answers again.
pub struct JwtVerifier {
    validation: Validation,
    /// The longest lifetime (`exp - iat`, seconds) an access token may have: the configured
    /// access-token lifetime plus a minute. A stolen signing key, or a bug in the issuer, cannot
    /// mint tokens that live for days.
    max_lifetime: i64,
    /// Past this age the keys are not trusted without a fetch: the background refresh keeps them
    /// younger, so this only matters if it cannot run.
    max_key_age: Duration,
    keys: Arc<KeyStore>,
}

impl JwtVerifier {
    pub fn new(settings: &JwtSettings, source: impl KeySource) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let refresh_every = settings.jwks_refresh.max(MIN_REFRESH_INTERVAL);
        let keys = Arc::new(KeyStore {
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                removed: std::collections::HashSet::new(),
                fetched_at: None,
            }),
            refresh: tokio::sync::Mutex::new(()),
            source: Box::new(source),
            verified: std::sync::Mutex::new(HashMap::new()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(refresh_in_background(Arc::downgrade(&keys), refresh_every));
        }
        Self {
            validation,
            max_lifetime: i64::try_from(settings.access_ttl.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_add(60),
            max_key_age: refresh_every * 3,
            keys,
        }
    }

    /// Fetches the keys now, for an issuer that has just revoked one of its own.
    pub async fn refresh_keys(&self) -> Result<(), AuthError> {
        let _one_at_a_time = self.keys.refresh.lock().await;
        self.keys.load_keys().await
    }

    /// A verifier for the JWKS at `settings.jwks_url`.
    pub fn remote(settings: &JwtSettings) -> Self {
        Self::new(settings, RemoteJwks::new(settings.jwks_url.clone()))
    }

    /// Checks signature, issuer, audience and expiry, and returns the caller. A token verified
    /// before is looked up instead, until it expires or its key leaves the key set.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = chrono::Utc::now().timestamp();
        if let Some(caller) = self.already_verified(token, now) {
            return Ok(caller);
        }
        let (caller, expires, kid) = self.verify_signature(token).await?;
        let mut verified = self.keys.lock_verified();
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, entry| entry.expires > now);
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(
            token.to_owned(),
            VerifiedToken {
                caller: caller.clone(),
                expires,
                kid,
            },
        );
        Ok(caller)
    }

    /// The caller of a token verified before, while it is unexpired, its key is still known,
    /// and the keys are fresh. (The key is checked here too, not only when the keys are
    /// refreshed: a verification that began before a refresh may store its token after it.)
    fn already_verified(&self, token: &str, now: i64) -> Option<Caller> {
        let cache = self.keys.read_cache();
        if !cache.fresh(self.max_key_age) {
            return None;
        }
        let verified = self.keys.lock_verified();
        let entry = verified.get(token)?;
        (entry.expires > now && cache.keys.contains_key(&entry.kid)).then(|| entry.caller.clone())
    }

    async fn verify_signature(&self, token: &str) -> Result<(Caller, i64, String), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = match self.cached_key(&kid) {
            Some(Ok(key)) => key,
            Some(Err(removed)) => return Err(removed),
            None => self.keys.fetch_key(&kid).await?,
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            }
        })?;
        let claims = data.claims;
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime {
            return Err(AuthError::Invalid);
        }
        let user_id = claims.sub.parse::<i64>().map_err(|_| AuthError::Invalid)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(AuthError::Invalid)?;
        Ok((
            Caller {
                user_id,
                username: claims.name,
                role: claims.role,
                expires_at,
            },
            claims.exp,
            kid,
        ))
    }

    /// The key named `kid` if the keys are fresh; an error if it is a key that left the key set;
    /// `None` when the source must be asked.
    fn cached_key(&self, kid: &str) -> Option<Result<DecodingKey, AuthError>> {
        let cache = self.keys.read_cache();
        if !cache.fresh(self.max_key_age) {
            return None;
        }
        match cache.keys.get(kid) {
            Some(key) => Some(Ok(key.clone())),
            None if cache.removed.contains(kid) => Some(Err(AuthError::Invalid)),
            None => None,
        }
    }
}

/// Fetches the keys every `every` while the verifier lives. A verifier that has never been asked
/// to verify a token has nothing to refresh and fetches nothing.
async fn refresh_in_background(keys: std::sync::Weak<KeyStore>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(keys) = keys.upgrade() else {
            return;
        };
        keys.refresh_if_older_than(every / 2).await;
    }
}

impl KeyStore {
    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, KeyCache> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, VerifiedToken>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fetched_at(&self) -> Option<Instant> {
        self.read_cache().fetched_at
    }

    /// The scheduled refresh; skipped when the keys were never needed or were just fetched for an
    /// unknown kid.
    async fn refresh_if_older_than(&self, age: Duration) {
        let _one_at_a_time = self.refresh.lock().await;
        if self.fetched_at().is_some_and(|t| t.elapsed() >= age) {
            // A failure is logged by `load_keys`, and the keys already known stay in use.
            let _ = self.load_keys().await;
        }
    }

    /// Goes back to the key source for a key it does not have. Fetches are serialised and at least
    /// [`MIN_REFRESH_INTERVAL`] apart; callers that waited while another fetch ran use its result,
    /// so a burst of tokens with made-up kids costs one fetch, not one each.
    async fn fetch_key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let asked_at = Instant::now();
        let _one_at_a_time = self.refresh.lock().await;
        let fetched_meanwhile = self.fetched_at().is_some_and(|t| t >= asked_at);
        if !fetched_meanwhile {
            if let Some(last) = self.fetched_at() {
                let since = last.elapsed();
                if since < MIN_REFRESH_INTERVAL {
                    tokio::time::sleep(MIN_REFRESH_INTERVAL - since).await;
                }
            }
            self.load_keys().await?;
        }
        self.read_cache()
            .keys
            .get(kid)
            .cloned()
            .ok_or(AuthError::Invalid)
    }

    /// Fetches the keys now, and forgets the verified tokens whose key is gone. Keeps the keys it
    /// had if the source cannot be reached.
    async fn load_keys(&self) -> Result<(), AuthError> {
        match self.source.fetch().await {
            Ok(set) => {
                let keys: HashMap<String, DecodingKey> = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
                    })
                    .collect();
                let mut cache = self
                    .cache
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let gone: Vec<String> = cache
                    .keys
                    .keys()
                    .filter(|kid| !keys.contains_key(*kid))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    tracing::info!(kids = ?gone, "signing keys left the key set; their tokens are refused");
                    self.lock_verified()
                        .retain(|_, entry| keys.contains_key(&entry.kid));
                    if cache.removed.len() + gone.len() > MAX_REMOVED {
                        cache.removed.clear();
                    }
                    cache.removed.extend(gone);
                }
                cache.removed.retain(|kid| !keys.contains_key(kid));
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch token signing keys");
                let mut cache = self
                    .cache
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.keys.is_empty() {
                    Err(AuthError::KeysUnavailable)
                } else {
                    // Keep using the keys already known; try again after the minimum interval.
                    cache.fetched_at = Some(Instant::now());
                    Ok(())
                }
            }
        }
    }
}

/// The bearer token of a request, if it has an Authorization header.
pub fn bearer_token(parts: &Parts) -> Result<&str, AuthError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token.trim())
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<JwtVerifier>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<JwtVerifier>::from_ref(state);
        let token = bearer_token(parts)?;
        Ok(verifier.verify(token).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, OctetKeyPairParameters,
        OctetKeyPairType,
    };
    use jsonwebtoken::{EncodingKey, Header};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct TestKeys {
        keys: Mutex<Vec<(String, SigningKey)>>,
        fetches: AtomicUsize,
    }

    struct Shared(Arc<TestKeys>);

    impl KeySource for Shared {
        fn fetch(&self) -> KeysFuture<'_> {
            self.0.fetches.fetch_add(1, Ordering::SeqCst);
            let keys = self.0.keys.lock().unwrap().clone();
            Box::pin(async move {
                Ok(JwkSet {
                    keys: keys
                        .iter()
                        .map(|(kid, key)| Jwk {
                            common: CommonParameters {
                                key_id: Some(kid.clone()),
                                ..Default::default()
                            },
                            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                                key_type: OctetKeyPairType::OctetKeyPair,
                                curve: EllipticCurve::Ed25519,
                                x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                            }),
                        })
                        .collect(),
                })
            })
        }
    }

    fn settings() -> JwtSettings {
        JwtSettings {
            issuer: "itinera".into(),
            audience: "itinera".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            jwks_url: "http://unused".into(),
            jwks_refresh: Duration::from_secs(1),
        }
    }

    fn sign(kid: &str, key: &SigningKey, exp_offset: i64, role: Role) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "42".into(),
            name: "alice".into(),
            role,
            iss: "itinera".into(),
            aud: "itinera".into(),
            iat: now,
            exp: now + exp_offset,
            jti: "t".into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        let der = key.to_pkcs8_der().unwrap();
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[tokio::test]
    async fn verifies_and_picks_up_rotated_keys_on_unknown_kid() {
        let shared = Arc::new(TestKeys {
            keys: Mutex::new(vec![("k1".into(), key(1))]),
            fetches: AtomicUsize::new(0),
        });
        let verifier = JwtVerifier::new(&settings(), Shared(shared.clone()));
        let caller = verifier
            .verify(&sign("k1", &key(1), 60, Role::Ops))
            .await
            .unwrap();
        assert_eq!(
            (caller.user_id, caller.username.as_str(), caller.role),
            (42, "alice", Role::Ops)
        );
        let lifetime = caller.expires_at - Utc::now();
        assert!(
            (50..=60).contains(&lifetime.num_seconds()),
            "expires in {lifetime}"
        );

        // A key published right after the last fetch is still found.
        shared.keys.lock().unwrap().push(("k2".into(), key(2)));
        assert!(
            verifier
                .verify(&sign("k2", &key(2), 60, Role::Customer))
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&sign("k1", &key(1), 60, Role::Customer))
                .await
                .is_ok()
        );
        assert_eq!(shared.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn rejects_tokens_that_live_longer_than_access_tokens_may() {
        let shared = Arc::new(TestKeys {
            keys: Mutex::new(vec![("k1".into(), key(1))]),
            fetches: AtomicUsize::new(0),
        });
        let verifier = JwtVerifier::new(&settings(), Shared(shared));
        // The configured lifetime (900 s) plus the minute of slack is accepted...
        assert!(
            verifier
                .verify(&sign("k1", &key(1), 960, Role::Customer))
                .await
                .is_ok()
        );
        // ...a properly signed token meant to live a day is not.
        assert_eq!(
            verifier
                .verify(&sign("k1", &key(1), 24 * 3600, Role::Admin))
                .await,
            Err(AuthError::Invalid)
        );
    }

    #[tokio::test]
    async fn rejects_expired_tampered_and_foreign_tokens() {
        let shared = Arc::new(TestKeys {
            keys: Mutex::new(vec![("k1".into(), key(1))]),
            fetches: AtomicUsize::new(0),
        });
        let verifier = JwtVerifier::new(&settings(), Shared(shared.clone()));
        assert_eq!(
            verifier
                .verify(&sign("k1", &key(1), -60, Role::Customer))
                .await,
            Err(AuthError::Expired)
        );
        // Signed by a key that is not published under that kid.
        assert_eq!(
            verifier
                .verify(&sign("k1", &key(9), 60, Role::Customer))
                .await,
            Err(AuthError::Invalid)
        );
        // Payload changed after signing.
        let token = sign("k1", &key(1), 60, Role::Customer);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("customer", "admin"));
        assert_eq!(
            verifier.verify(&parts.join(".")).await,
            Err(AuthError::Invalid)
        );
        assert_eq!(verifier.verify("not-a-jwt").await, Err(AuthError::Invalid));
        // A burst of tokens with unknown kids costs one fetch, not one each.
        let verifier = Arc::new(verifier);
        let before = shared.fetches.load(Ordering::SeqCst);
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let verifier = verifier.clone();
            let token = sign("nope", &key(1), 60, Role::Customer);
            burst.spawn(async move { verifier.verify(&token).await });
        }
        while let Some(result) = burst.join_next().await {
            assert_eq!(result.unwrap(), Err(AuthError::Invalid));
        }
        assert!(shared.fetches.load(Ordering::SeqCst) - before <= 2);
    }

    #[tokio::test]
    async fn a_key_that_leaves_the_key_set_is_refused_within_the_refresh_interval() {
        let shared = Arc::new(TestKeys {
            keys: Mutex::new(vec![("k1".into(), key(1)), ("k2".into(), key(2))]),
            fetches: AtomicUsize::new(0),
        });
        let verifier = JwtVerifier::new(&settings(), Shared(shared.clone()));
        let revoked = sign("k1", &key(1), 60, Role::Admin);
        let kept = sign("k2", &key(2), 60, Role::Customer);
        for token in [&revoked, &kept] {
            assert!(verifier.verify(token).await.is_ok());
        }
        // Verified once, so now answered from the cache of verified tokens.
        assert!(verifier.verify(&revoked).await.is_ok());

        shared.keys.lock().unwrap().retain(|(kid, _)| kid != "k1");
        let started = Instant::now();
        while verifier.verify(&revoked).await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "a removed key still verifies after the refresh interval"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Refused at once from now on, without going back to the source each time.
        let fetches = shared.fetches.load(Ordering::SeqCst);
        let refused_at = Instant::now();
        assert_eq!(verifier.verify(&revoked).await, Err(AuthError::Invalid));
        assert!(refused_at.elapsed() < Duration::from_millis(100));
        assert_eq!(shared.fetches.load(Ordering::SeqCst), fetches);
        assert!(verifier.verify(&kept).await.is_ok());
        let verified = verifier.keys.lock_verified();
        assert!(verified.values().all(|entry| entry.kid == "k2"));
        assert!(!verified.contains_key(&revoked));
    }

    #[tokio::test]
    async fn the_background_refresh_ends_with_the_verifier_and_waits_for_first_use() {
        let shared = Arc::new(TestKeys {
            keys: Mutex::new(vec![("k1".into(), key(1))]),
            fetches: AtomicUsize::new(0),
        });
        let verifier = JwtVerifier::new(&settings(), Shared(shared.clone()));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(shared.fetches.load(Ordering::SeqCst), 0, "never used");
        verifier
            .verify(&sign("k1", &key(1), 60, Role::Customer))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let used = shared.fetches.load(Ordering::SeqCst);
        assert!(used >= 2, "refreshed in the background: {used}");
        drop(verifier);
        tokio::time::sleep(Duration::from_millis(2200)).await;
        assert_eq!(shared.fetches.load(Ordering::SeqCst), used, "dropped");
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
