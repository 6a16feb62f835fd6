//! What identity does with accounts: register, log in (slowed against brute force), rotate and
//! revoke refresh tokens, change profiles and roles.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use contracts::events::{UserEvent, UserSnapshot};
use contracts::states::UserRole;
use platform::auth::Role;
use platform::events::{Envelope, outbox};
use rand_core::OsRng;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Email, InvalidValue, Password, Username};
use crate::error::IdentityError;
use crate::store;
use crate::store::login_failures::Scope;
use crate::store::users::User;
use crate::tokens::{IssuedTokens, TokenIssuer, hash_refresh_token, new_refresh_token};

/// How failed logins are counted and how long they lock an account or address out.
#[derive(Clone, Debug)]
pub struct LoginPolicy {
    /// Failures are counted within a window of this many seconds.
    pub window_secs: i64,
    /// Failures for one account before it is locked.
    pub account_threshold: i32,
    /// Failures from one client address (over all accounts) before it is locked.
    pub address_threshold: i32,
    /// The first lock lasts this long; each further failure doubles it.
    pub base_lock_secs: i64,
    pub max_lock_secs: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            account_threshold: 5,
            address_threshold: 20,
            base_lock_secs: 30,
            max_lock_secs: 15 * 60,
        }
    }
}

impl LoginPolicy {
    fn lock_seconds(&self, failures: i32, threshold: i32) -> Option<i64> {
        (failures >= threshold).then(|| {
            let doublings = (failures - threshold).min(20) as u32;
            self.base_lock_secs
                .saturating_mul(1_i64 << doublings)
                .min(self.max_lock_secs)
        })
    }
}

/// Everything account operations need.
pub struct Accounts {
    pub db: PgPool,
    pub tokens: TokenIssuer,
    pub login_policy: LoginPolicy,
}

/// A registration request after parsing.
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl Registration {
    /// Parses every field and reports every invalid one at once.
    pub fn parse(username: &str, email: &str, password: &str) -> Result<Self, IdentityError> {
        let username = Username::parse(username);
        let email = Email::parse(email);
        let password = Password::parse(password, username.as_ref().ok().map(Username::as_str));
        match (username, email, password) {
            (Ok(username), Ok(email), Ok(password)) => Ok(Self {
                username,
                email,
                password,
            }),
            (username, email, password) => Err(IdentityError::Invalid(
                [username.err(), email.err(), password.err()]
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
        }
    }
}

/// Changes a user asks for on their own profile.
pub struct ProfileChange {
    pub email: Option<Email>,
    pub new_password: Option<Password>,
    pub current_password: Option<String>,
}

static ARGON2: LazyLock<Argon2<'static>> = LazyLock::new(Argon2::default);

/// A hash of a random password, verified against when the username does not exist so that a
/// failed login takes as long whether or not the account exists.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    ARGON2
        .hash_password(Uuid::new_v4().to_string().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Bounds how many passwords are hashed at once. Each Argon2id hash holds 19 MiB and a core for
/// tens of milliseconds, so a burst of logins must queue, briefly, rather than take the memory
/// and threads of the process; past the wait the caller gets a 503 to retry.
pub struct HashGate {
    slots: tokio::sync::Semaphore,
    wait: Duration,
}

impl HashGate {
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: tokio::sync::Semaphore::new(slots.max(1)),
            wait,
        }
    }

    /// Runs `work` on the blocking pool once a slot is free, or gives up after the wait.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, IdentityError> {
        let slot = tokio::time::timeout(self.wait, self.slots.acquire())
            .await
            .map_err(|_| IdentityError::Busy)?
            .map_err(|_| IdentityError::Busy)?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .context("password hashing task")?;
        drop(slot);
        Ok(result?)
    }
}

/// One gate per process: the memory it protects is the process's, whatever the instances in it.
static HASHING: LazyLock<HashGate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    HashGate::new(cores * 2, Duration::from_secs(2))
});

/// Argon2id with the crate's defaults (19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: &Password) -> Result<String, IdentityError> {
    let password = password.expose().to_owned();
    HASHING
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            ARGON2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
}

async fn verify_password(password: &str, hash: &str) -> Result<bool, IdentityError> {
    let password = password.to_owned();
    let hash = hash.to_owned();
    HASHING
        .run(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
            Ok(ARGON2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
}

impl Accounts {
    pub async fn register(
        &self,
        registration: Registration,
        role: Role,
    ) -> Result<User, IdentityError> {
        let hash = hash_password(&registration.password).await?;
        // The user and its `user.registered` event are stored in one transaction.
        let mut tx = self.db.begin().await?;
        let inserted = store::users::insert(
            &mut *tx,
            &registration.username,
            &registration.email,
            &hash,
            role,
        )
        .await;
        let user = match inserted {
            Ok(user) => user,
            Err(e) if platform::db::is_unique_violation(&e) => {
                return Err(IdentityError::DuplicateUser);
            }
            Err(e) => return Err(e.into()),
        };
        publish(&mut tx, UserEvent::Registered, &user).await?;
        tx.commit().await?;
        tracing::info!(user_id = user.id, username = %user.username, "user registered");
        Ok(user)
    }

    /// Checks the password and issues tokens. Refuses with 429 while the account or the client
    /// address is locked after repeated failures, without looking at the password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<(User, IssuedTokens), IdentityError> {
        let account = username.trim().to_lowercase();
        if let Some(until) =
            store::login_failures::locked_until(&self.db, &account, address).await?
        {
            return Err(IdentityError::Throttled {
                retry_after: seconds_until(until),
            });
        }
        let found = store::users::find_credentials(&self.db, username.trim()).await?;
        let valid = match &found {
            Some((_, hash)) => verify_password(password, hash).await?,
            None => {
                // A busy gate answers 503 for unknown names too, so it tells nothing about them.
                if let Err(IdentityError::Busy) = verify_password(password, &DECOY_HASH).await {
                    return Err(IdentityError::Busy);
                }
                false
            }
        };
        match (found, valid) {
            (Some((user, _)), true) => {
                store::login_failures::clear_account(&self.db, &account).await?;
                let tokens = self.issue(&user, None).await?;
                Ok((user, tokens))
            }
            _ => {
                self.count_failure(&account, address).await?;
                Err(IdentityError::BadCredentials)
            }
        }
    }

    async fn count_failure(&self, account: &str, address: &str) -> Result<(), IdentityError> {
        let policy = &self.login_policy;
        for (scope, subject, threshold) in [
            (Scope::Account, account, policy.account_threshold),
            (Scope::Address, address, policy.address_threshold),
        ] {
            let failures =
                store::login_failures::record_failure(&self.db, scope, subject, policy.window_secs)
                    .await?;
            if let Some(seconds) = policy.lock_seconds(failures, threshold) {
                store::login_failures::lock(&self.db, scope, subject, seconds).await?;
                tracing::warn!(
                    ?scope,
                    subject,
                    failures,
                    lock_secs = seconds,
                    "login locked after repeated failures"
                );
            }
        }
        Ok(())
    }

    /// Issues an access token and a refresh token in `family` (a new family when `None`).
    async fn issue(
        &self,
        user: &User,
        family: Option<(Uuid, &mut sqlx::PgConnection)>,
    ) -> Result<IssuedTokens, IdentityError> {
        let access_token = self.tokens.access_token(user)?;
        let (refresh_token, hash) = new_refresh_token();
        let expires_at = Utc::now()
            + chrono::Duration::from_std(self.tokens.settings().refresh_ttl)
                .unwrap_or(chrono::Duration::days(30));
        match family {
            Some((family, connection)) => {
                store::refresh_tokens::insert(connection, user.id, family, &hash, expires_at)
                    .await?;
            }
            None => {
                store::refresh_tokens::insert(&self.db, user.id, Uuid::now_v7(), &hash, expires_at)
                    .await?
            }
        }
        Ok(IssuedTokens {
            access_token,
            expires_in: self.tokens.settings().access_ttl.as_secs(),
            refresh_token,
        })
    }

    /// Trades a refresh token for a new pair. The old token is spent; presenting a spent token
    /// again revokes its whole family, since only a thief would still hold it.
    pub async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<(User, IssuedTokens), IdentityError> {
        let hash = hash_refresh_token(refresh_token);
        let mut tx = self.db.begin().await?;
        let Some(row) = store::refresh_tokens::find_for_update(&mut *tx, &hash).await? else {
            return Err(IdentityError::InvalidRefreshToken);
        };
        if row.used_at.is_some() && row.revoked_at.is_none() {
            let revoked = store::refresh_tokens::revoke_family(&mut *tx, row.family).await?;
            tx.commit().await?;
            tracing::warn!(
                user_id = row.user_id,
                revoked,
                "spent refresh token presented again; family revoked"
            );
            return Err(IdentityError::InvalidRefreshToken);
        }
        if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let user = store::users::find(&mut *tx, row.user_id)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        store::refresh_tokens::mark_used(&mut *tx, row.id).await?;
        let tokens = self.issue(&user, Some((row.family, &mut tx))).await?;
        tx.commit().await?;
        Ok((user, tokens))
    }

    /// Revokes the refresh token's family. Unknown or already revoked tokens are not an error:
    /// logging out twice is the same as once.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), IdentityError> {
        let hash = hash_refresh_token(refresh_token);
        let mut tx = self.db.begin().await?;
        if let Some(row) = store::refresh_tokens::find_for_update(&mut *tx, &hash).await? {
            store::refresh_tokens::revoke_family(&mut *tx, row.family).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, id: i64) -> Result<User, IdentityError> {
        store::users::find(&self.db, id)
            .await?
            .ok_or(IdentityError::UserNotFound)
    }

    /// Email and password changes need the current password, and end every session of the user
    /// (their refresh tokens are revoked; access tokens run out within their short lifetime).
    pub async fn change_profile(
        &self,
        user_id: i64,
        change: ProfileChange,
    ) -> Result<User, IdentityError> {
        if change.email.is_none() && change.new_password.is_none() {
            return self.user(user_id).await;
        }
        let Some(current) = change.current_password.as_deref() else {
            return Err(IdentityError::Invalid(vec![InvalidValue::new(
                "currentPassword",
                "is required to change the email or password",
            )]));
        };
        let hash = store::users::password_hash(&self.db, user_id)
            .await?
            .ok_or(IdentityError::UserNotFound)?;
        if !verify_password(current, &hash).await? {
            return Err(IdentityError::WrongCurrentPassword);
        }
        let new_hash = match &change.new_password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        let mut tx = self.db.begin().await?;
        let updated = store::users::update_profile(
            &mut *tx,
            user_id,
            change.email.as_ref(),
            new_hash.as_deref(),
        )
        .await;
        let user = match updated {
            Ok(Some(user)) => user,
            Ok(None) => return Err(IdentityError::UserNotFound),
            Err(e) if platform::db::is_unique_violation(&e) => {
                return Err(IdentityError::DuplicateUser);
            }
            Err(e) => return Err(e.into()),
        };
        if change.email.is_some() {
            publish(&mut tx, UserEvent::Updated, &user).await?;
        }
        // New credentials end every session: whoever held a refresh token, say on a stolen
        // device, must sign in again with them.
        let revoked = store::refresh_tokens::revoke_user(&mut *tx, user_id).await?;
        tx.commit().await?;
        tracing::info!(user_id, revoked, "credentials changed; every session ended");
        Ok(user)
    }

    /// Changes a user's role; the last administrator cannot be demoted.
    pub async fn set_role(&self, user_id: i64, role: Role) -> Result<User, IdentityError> {
        let mut tx = self.db.begin().await?;
        let admins = store::users::lock_admins(&mut *tx).await?;
        if role != Role::Admin && admins == [user_id] {
            return Err(IdentityError::LastAdmin);
        }
        let user = store::users::set_role(&mut *tx, user_id, role)
            .await?
            .ok_or(IdentityError::UserNotFound)?;
        publish(&mut tx, UserEvent::Updated, &user).await?;
        tx.commit().await?;
        tracing::info!(user_id, role = %role, "role changed");
        Ok(user)
    }

    /// Creates a user with `role` unless one with that username exists. Returns whether it created one.
    pub async fn ensure_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<bool, IdentityError> {
        let registration = Registration::parse(username, email, password)?;
        if store::users::find_credentials(&self.db, registration.username.as_str())
            .await?
            .is_some()
        {
            return Ok(false);
        }
        match self.register(registration, role).await {
            Ok(_) => Ok(true),
            Err(IdentityError::DuplicateUser) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Adds a user event to the outbox in the caller's transaction.
async fn publish(
    tx: &mut sqlx::PgConnection,
    kind: fn(UserSnapshot) -> UserEvent,
    user: &User,
) -> Result<(), IdentityError> {
    let event = kind(UserSnapshot {
        user_id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        role: user_role(user.role),
        updated_at: user.updated_at,
    });
    let data = event.data().map_err(anyhow::Error::from)?;
    let key = user.id.to_string();
    let envelope = Envelope::new("identity", event.kind(), key.clone(), data);
    outbox::enqueue(tx, UserEvent::TOPIC, &key, &envelope).await?;
    Ok(())
}

/// A role as user events carry it.
fn user_role(role: Role) -> UserRole {
    match role {
        Role::Customer => UserRole::Customer,
        Role::Ops => UserRole::Ops,
        Role::Admin => UserRole::Admin,
    }
}

fn seconds_until(until: chrono::DateTime<Utc>) -> u64 {
    let millis = (until - Utc::now()).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_doubles_from_the_threshold_and_is_capped() {
        let policy = LoginPolicy::default();
        assert_eq!(policy.lock_seconds(4, 5), None);
        assert_eq!(policy.lock_seconds(5, 5), Some(30));
        assert_eq!(policy.lock_seconds(6, 5), Some(60));
        assert_eq!(policy.lock_seconds(50, 5), Some(900));
    }

    #[test]
    fn registration_reports_every_invalid_field() {
        let Err(IdentityError::Invalid(errors)) = Registration::parse("", "nope", "short") else {
            panic!("invalid registration accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }
}

#[cfg(test)]
mod hashing_tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_refuses_with_busy_after_its_wait_and_frees_its_slot() {
        let gate = std::sync::Arc::new(HashGate::new(1, Duration::from_millis(50)));
        let holder = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(|| {
                    std::thread::sleep(Duration::from_millis(400));
                    Ok(1)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = gate.run(|| Ok(2)).await;
        assert!(matches!(refused, Err(IdentityError::Busy)), "{refused:?}");
        assert_eq!(holder.await.unwrap().unwrap(), 1);
        // The slot is free again once the first hash is done.
        assert_eq!(gate.run(|| Ok(3)).await.unwrap(), 3);
    }
}
