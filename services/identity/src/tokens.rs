//! Access tokens (EdDSA JWTs) and refresh tokens (opaque, stored hashed), and the ring of signing
//! keys they depend on.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{Claims, KeySource, KeysFuture};
use platform::config::JwtSettings;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::store;
use crate::store::users::User;

/// The key that signs new tokens.
struct ActiveKey {
    kid: String,
    encoding: EncodingKey,
}

struct RingState {
    active: Arc<ActiveKey>,
    jwks: Arc<JwkSet>,
}

/// The signing keys, as stored in the identity database. The newest unretired key signs; keys
/// retired by a rotation stay published until the tokens they signed have expired; a revoked key
/// leaves at once.
pub struct KeyRing {
    db: PgPool,
    state: RwLock<RingState>,
    /// How long a retired key stays in the JWKS: the access-token lifetime plus a margin for
    /// instances that have not yet reloaded the ring.
    grace: Duration,
    /// How often each instance re-reads the ring (another instance may have rotated it or revoked
    /// a key): the verifiers' refresh interval, so that no instance goes on signing with, or
    /// publishing, a revoked key for longer than a verifier goes on accepting it.
    reload_every: Duration,
}

/// The outcome of revoking a key.
pub struct Revocation {
    pub revoked_at: chrono::DateTime<chrono::Utc>,
    /// The key that signs from now on.
    pub signing_kid: String,
}

impl KeyRing {
    /// Loads the ring, generating the first key if there is none.
    pub async fn load_or_create(
        db: PgPool,
        access_ttl: Duration,
        reload_every: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let grace = access_ttl + (reload_every * 2).max(Duration::from_secs(60));
        let mut tx = db.begin().await?;
        store::keys::lock_table(&mut *tx).await?;
        let rows = store::keys::published(&mut *tx, grace.as_secs() as i64).await?;
        if !rows.iter().any(|k| k.retired_at.is_none()) {
            let kid = create_key(&mut tx).await?;
            tracing::info!(kid, "generated the first token signing key");
        }
        tx.commit().await?;
        let state = read_state(&db, grace).await?;
        Ok(Arc::new(Self {
            db,
            state: RwLock::new(state),
            grace,
            reload_every,
        }))
    }

    pub fn reload_every(&self) -> Duration {
        self.reload_every
    }

    /// Re-reads the ring from the database.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let state = read_state(&self.db, self.grace).await?;
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
        Ok(())
    }

    /// Generates a new signing key and retires the others; they stay published for the grace
    /// period so that tokens they signed stay valid until they expire. Returns the new kid.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let mut tx = self.db.begin().await?;
        store::keys::lock_table(&mut *tx).await?;
        let kid = create_key(&mut tx).await?;
        store::keys::retire_all_but(&mut *tx, &kid).await?;
        tx.commit().await?;
        self.reload().await?;
        tracing::info!(kid, "rotated the token signing key");
        Ok(kid)
    }

    /// Revokes `kid` at once: it leaves the JWKS and never signs again. Revoking the key that signs
    /// now rotates a new one in first, in the same transaction, so that tokens can still be
    /// issued. Revoking a revoked key changes nothing. `None`: no such key.
    pub async fn revoke(&self, kid: &str) -> anyhow::Result<Option<Revocation>> {
        let mut tx = self.db.begin().await?;
        store::keys::lock_table(&mut *tx).await?;
        let Some((signing, revoked_at)) = store::keys::state(&mut *tx, kid).await? else {
            return Ok(None);
        };
        let revoked_at = match revoked_at {
            Some(at) => at,
            None => {
                if signing {
                    let new_kid = create_key(&mut tx).await?;
                    store::keys::retire_all_but(&mut *tx, &new_kid).await?;
                    tracing::info!(
                        kid = new_kid,
                        "rotated the token signing key to revoke the old one"
                    );
                }
                store::keys::revoke(&mut *tx, kid).await?
            }
        };
        tx.commit().await?;
        self.reload().await?;
        Ok(Some(Revocation {
            revoked_at,
            signing_kid: self.active().kid.clone(),
        }))
    }

    pub fn jwks(&self) -> Arc<JwkSet> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks
            .clone()
    }

    fn active(&self) -> Arc<ActiveKey> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .active
            .clone()
    }
}

async fn create_key(tx: &mut sqlx::PgConnection) -> anyhow::Result<String> {
    let signing = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let public = signing.verifying_key().to_bytes();
    let der = signing
        .to_pkcs8_der()
        .context("encoding a new signing key")?;
    let kid = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d"),
        &URL_SAFE_NO_PAD.encode(Sha256::digest(public))[..12]
    );
    store::keys::insert(&mut *tx, &kid, der.as_bytes(), &public).await?;
    Ok(kid)
}

async fn read_state(db: &PgPool, grace: Duration) -> anyhow::Result<RingState> {
    let rows = store::keys::published(db, grace.as_secs() as i64).await?;
    let active_row = rows
        .iter()
        .find(|k| k.retired_at.is_none())
        .context("no unretired signing key in the database")?;
    let active = Arc::new(ActiveKey {
        kid: active_row.kid.clone(),
        encoding: EncodingKey::from_ed_der(&active_row.private_key),
    });
    let keys = rows
        .iter()
        .map(|row| public_jwk(&row.kid, &row.public_key))
        .collect();
    Ok(RingState {
        active,
        jwks: Arc::new(JwkSet { keys }),
    })
}

fn public_jwk(kid: &str, public_key: &[u8]) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.to_owned()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(public_key),
        }),
    }
}

/// Identity verifies its own tokens from the ring it signs with, without an HTTP round trip.
pub struct LocalKeys(pub Arc<KeyRing>);

impl KeySource for LocalKeys {
    fn fetch(&self) -> KeysFuture<'_> {
        Box::pin(async move {
            self.0.reload().await.map_err(|e| format!("{e:#}"))?;
            Ok((*self.0.jwks()).clone())
        })
    }
}

/// A freshly issued pair of tokens.
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// Mints access tokens for users.
pub struct TokenIssuer {
    ring: Arc<KeyRing>,
    settings: JwtSettings,
}

impl TokenIssuer {
    pub fn new(ring: Arc<KeyRing>, settings: JwtSettings) -> Self {
        Self { ring, settings }
    }

    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// A signed access token for `user`, valid for the configured lifetime.
    pub fn access_token(&self, user: &User) -> anyhow::Result<String> {
        let key = self.ring.active();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.id.to_string(),
            name: user.username.clone(),
            role: user.role,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            iat: now,
            exp: now + self.settings.access_ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).context("signing an access token")
    }
}

/// A new opaque refresh token and the hash under which it is stored.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
