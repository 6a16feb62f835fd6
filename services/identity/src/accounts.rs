//! What identity does with accounts: register, log in (slowed against brute force), rotate and
//! revoke refresh tokens, change profiles and roles.

use std::net::{IpAddr, Ipv6Addr};
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
use crate::store::login_throttles::Scope;
use crate::store::users::User;
use crate::tokens::{IssuedTokens, TokenIssuer, hash_refresh_token, new_refresh_token};

/// How failed password checks slow further attempts. Three counters: one account from one
/// address, one address over every account, and one account over every address. Each lets
/// `free_*` failures through, then makes every further attempt wait, twice as long after each
/// failure. One address adds at most `free_per_account_address` failures to its account's
/// counter, so a flood from one address delays that address alone: the owner, elsewhere, still
/// signs in. Only guesses from many addresses delay the account itself, and then by at most
/// `max_account_delay_ms`.
#[derive(Clone, Debug)]
pub struct LoginPolicy {
    /// A counter with no failure for this long starts again from zero.
    pub window_secs: i64,
    pub free_per_account_address: i32,
    pub free_per_address: i32,
    pub free_per_account: i32,
    /// The first delay; it doubles with each further failure.
    pub first_delay_ms: i64,
    /// The longest delay of an address (for one account or for all).
    pub max_delay_ms: i64,
    /// The longest delay of an account from every address.
    pub max_account_delay_ms: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            free_per_account_address: 5,
            free_per_address: 20,
            free_per_account: 20,
            first_delay_ms: 1000,
            max_delay_ms: 15 * 60 * 1000,
            max_account_delay_ms: 30 * 1000,
        }
    }
}

impl LoginPolicy {
    /// How long the next attempt must wait after `failures` on a counter that lets `free`
    /// through: nothing before `free`, then the first delay, doubling, up to `max_ms`.
    pub fn delay_ms(&self, failures: i32, free: i32, max_ms: i64) -> i64 {
        if failures < free {
            return 0;
        }
        let doublings = (failures - free).min(40) as u32;
        self.first_delay_ms
            .saturating_mul(1_i64 << doublings)
            .min(max_ms)
    }

    fn limits(&self, scope: Scope) -> (i32, i64) {
        match scope {
            Scope::AccountAddress => (self.free_per_account_address, self.max_delay_ms),
            Scope::Address => (self.free_per_address, self.max_delay_ms),
            Scope::Account => (self.free_per_account, self.max_account_delay_ms),
        }
    }
}

/// The counters an attempt was counted on before its password was checked, so that a right
/// password (or a check that never ran) can take it back.
struct CountedAttempt {
    account: String,
    account_address: String,
    address: String,
    on_account: bool,
}

/// The subject of a client address's counter: the address itself, or for IPv6 its /64, the
/// block one subscriber usually holds whole.
pub fn address_subject(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
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

    /// Checks the password and issues tokens. The attempt is counted before the password is
    /// checked, so parallel guesses get no more tries than sequential ones; while a delay is in
    /// force (see [`LoginPolicy`]) the answer is 429 without looking at the password.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<(User, IssuedTokens), IdentityError> {
        // No account has a longer name, so one character past the longest keeps a made-up name
        // distinct while bounding what the throttle stores and indexes.
        let account: String = username
            .trim()
            .to_lowercase()
            .chars()
            .take(Username::MAX + 1)
            .collect();
        let attempt = self.count_attempt(&account, address).await?;
        let found = store::users::find_credentials(&self.db, username.trim()).await?;
        let checked = match &found {
            Some((_, hash)) => verify_password(password, hash).await,
            // A failed login takes as long whether or not the account exists.
            None => match verify_password(password, &DECOY_HASH).await {
                Err(IdentityError::Busy) => Err(IdentityError::Busy),
                _ => Ok(false),
            },
        };
        let valid = match checked {
            Ok(valid) => valid,
            Err(e) => {
                // Never checked (a busy hashing gate answers 503): the attempt does not count.
                self.take_back(&attempt, false).await?;
                return Err(e);
            }
        };
        match (found, valid) {
            (Some((user, _)), true) => {
                self.take_back(&attempt, true).await?;
                let tokens = self.issue(&user, None).await?;
                Ok((user, tokens))
            }
            _ => Err(IdentityError::BadCredentials),
        }
    }

    /// Counts an attempt on `account` from `address` on every counter, unless one of them is
    /// still delaying attempts: then 429 and nothing is counted. The counters are locked for
    /// the count, so concurrent attempts are counted one after another.
    async fn count_attempt(
        &self,
        account: &str,
        address: IpAddr,
    ) -> Result<CountedAttempt, IdentityError> {
        let policy = &self.login_policy;
        let address = address_subject(address);
        // Usernames have no spaces, so the pair cannot be confused with another.
        let account_address = format!("{account} {address}");
        let mut keys = vec![
            (Scope::Account, account.to_owned()),
            (Scope::AccountAddress, account_address.clone()),
            (Scope::Address, address.clone()),
        ];
        keys.sort();
        let mut tx = self.db.begin().await?;
        let counters = store::login_throttles::lock(&mut tx, &keys).await?;
        let wait_ms = counters
            .iter()
            .map(|c| (c.blocked_until - c.now).num_milliseconds())
            .max()
            .unwrap_or(0);
        if wait_ms > 0 {
            tx.rollback().await?;
            tracing::debug!(
                account,
                address,
                wait_ms,
                "password attempt refused while delayed"
            );
            return Err(IdentityError::Throttled {
                retry_after: (wait_ms as u64).div_ceil(1000).max(1),
            });
        }
        let current = |c: &store::login_throttles::Counter| {
            if c.now - c.last_failure_at > chrono::Duration::seconds(policy.window_secs) {
                0
            } else {
                c.failures
            }
        };
        let from_this_address = counters
            .iter()
            .find(|c| c.scope == Scope::AccountAddress.as_str())
            .map_or(0, current);
        let on_account = from_this_address < policy.free_per_account_address;
        for (scope, _) in &keys {
            if *scope == Scope::Account && !on_account {
                continue;
            }
            let Some(counter) = counters.iter().find(|c| c.scope == scope.as_str()) else {
                continue;
            };
            let failures = current(counter).saturating_add(1);
            let (free, max_ms) = policy.limits(*scope);
            if failures == free {
                tracing::warn!(
                    scope = %counter.scope,
                    subject = %counter.subject,
                    failures,
                    "repeated password failures; further attempts are delayed"
                );
            }
            store::login_throttles::set(
                &mut *tx,
                &counter.scope,
                &counter.subject,
                failures,
                policy.delay_ms(failures, free, max_ms),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(CountedAttempt {
            account: account.to_owned(),
            account_address,
            address,
            on_account,
        })
    }

    /// Takes back a counted attempt. A right password also forgets the failures of its account
    /// from its address; those of the address and of the account as a whole stay, being
    /// possibly someone else's.
    async fn take_back(&self, attempt: &CountedAttempt, right: bool) -> Result<(), IdentityError> {
        if right {
            store::login_throttles::clear(
                &self.db,
                Scope::AccountAddress,
                &attempt.account_address,
            )
            .await?;
        } else {
            store::login_throttles::take_back(
                &self.db,
                Scope::AccountAddress,
                &attempt.account_address,
            )
            .await?;
        }
        store::login_throttles::take_back(&self.db, Scope::Address, &attempt.address).await?;
        if attempt.on_account {
            store::login_throttles::take_back(&self.db, Scope::Account, &attempt.account).await?;
        }
        Ok(())
    }

    /// Deletes the counters nothing has happened to for the window.
    pub async fn sweep_login_throttles(&self) -> Result<u64, IdentityError> {
        Ok(store::login_throttles::sweep(&self.db, self.login_policy.window_secs).await?)
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
    /// The current password is checked under the same throttle as a login from `address`: a
    /// stolen access token gives no more guesses than the login form.
    pub async fn change_profile(
        &self,
        user_id: i64,
        change: ProfileChange,
        address: IpAddr,
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
        let user = self.user(user_id).await?;
        let hash = store::users::password_hash(&self.db, user_id)
            .await?
            .ok_or(IdentityError::UserNotFound)?;
        let attempt = self
            .count_attempt(&user.username.to_lowercase(), address)
            .await?;
        match verify_password(current, &hash).await {
            Ok(true) => self.take_back(&attempt, true).await?,
            Ok(false) => return Err(IdentityError::WrongCurrentPassword),
            Err(e) => {
                self.take_back(&attempt, false).await?;
                return Err(e);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_double_and_are_capped() {
        let policy = LoginPolicy::default();
        assert_eq!(policy.delay_ms(4, 5, 900_000), 0);
        assert_eq!(policy.delay_ms(5, 5, 900_000), 1_000);
        assert_eq!(policy.delay_ms(6, 5, 900_000), 2_000);
        assert_eq!(policy.delay_ms(8, 5, 900_000), 8_000);
        assert_eq!(policy.delay_ms(60, 5, 900_000), 900_000);
        assert_eq!(policy.delay_ms(i32::MAX, 5, 30_000), 30_000);
    }

    #[test]
    fn ipv6_addresses_are_counted_by_their_64_block() {
        let subject = |a: &str| address_subject(a.parse().unwrap());
        assert_eq!(subject("203.0.113.9"), "203.0.113.9");
        assert_eq!(subject("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(subject("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            subject("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            subject("2001:db8:1:2::")
        );
        assert_ne!(subject("2001:db8:1:3::1"), subject("2001:db8:1:2::1"));
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
