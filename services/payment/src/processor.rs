//! The card processor behind one interface, and the simulated processor used in development and
//! tests. The simulated processor decides what happens from well-known test card numbers, keeps
//! its own ledger (as a real processor does on its side) and honours idempotency keys, so a retried
//! charge never charges twice.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::PgPool;

use crate::domain::cards::CardNumber;

pub type ProcessorFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProcessorError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The issuer said no; retrying cannot help. The code is `card_declined` or
    /// `insufficient_funds`.
    #[error("declined: {0}")]
    Declined(&'static str),
    /// No answer within the deadline. The charge may or may not have happened; a retry with the
    /// same idempotency key finds out.
    #[error("the processor did not answer in time")]
    Timeout,
    /// The processor failed; worth retrying later.
    #[error("processor error: {0}")]
    Unavailable(String),
}

impl ProcessorError {
    /// The failure reason recorded on a payment that gives up because of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            ProcessorError::Declined(code) => code,
            ProcessorError::Timeout => "processor_timeout",
            ProcessorError::Unavailable(_) => "processor_error",
        }
    }
}

pub struct Charge<'a> {
    /// The same key always means the same charge.
    pub idempotency_key: &'a str,
    /// The processor's token for the card.
    pub card_token: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// A card processor. Implementations must treat the idempotency key as the identity of a charge or
/// refund: the same key twice returns the first result.
pub trait CardProcessor: Send + Sync + 'static {
    /// Turns a card into the processor's token; the number goes no further.
    fn tokenize(&self, card: &CardNumber) -> String;

    /// The token to charge when a customer pays by card without a saved one (the seed API sends
    /// no card details). Only a sandbox has one.
    fn sandbox_token(&self) -> Option<&str>;

    /// Charges the card; returns the processor's charge reference.
    fn charge<'a>(&'a self, charge: Charge<'a>) -> ProcessorFuture<'a, String>;

    /// The reference of the charge made under `idempotency_key`, or `None` when the processor
    /// made none: how a caller whose charge went unanswered learns whether it happened.
    fn find_charge<'a>(&'a self, idempotency_key: &'a str) -> ProcessorFuture<'a, Option<String>>;

    /// Refunds part or all of a charge; returns the processor's refund reference.
    fn refund<'a>(
        &'a self,
        charge_reference: &'a str,
        amount_minor: i64,
        idempotency_key: &'a str,
    ) -> ProcessorFuture<'a, String>;
}

/// What the simulated processor does with a card, from its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestCard {
    Approve,
    Decline,
    InsufficientFunds,
    Timeout,
    Error,
}

impl TestCard {
    /// The well-known numbers; any other valid number is approved.
    pub const DECLINE: &str = "4000000000000002";
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    pub const TIMEOUT: &str = "4000000000000341";
    pub const ERROR: &str = "4000000000000119";

    pub fn of(card: &CardNumber) -> Self {
        match card.digits() {
            Self::DECLINE => Self::Decline,
            Self::INSUFFICIENT_FUNDS => Self::InsufficientFunds,
            Self::TIMEOUT => Self::Timeout,
            Self::ERROR => Self::Error,
            _ => Self::Approve,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Decline => "decline",
            Self::InsufficientFunds => "insufficient",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        let tag = token.strip_prefix("sim_")?.split('_').next()?;
        [
            Self::Approve,
            Self::Decline,
            Self::InsufficientFunds,
            Self::Timeout,
            Self::Error,
        ]
        .into_iter()
        .find(|card| card.tag() == tag)
    }
}

/// The built-in processor for development and tests. Its ledger lives in the payment database
/// (`simulated_charges`, `simulated_refunds`), standing in for the processor's own systems.
pub struct SimulatedProcessor {
    pub db: PgPool,
}

impl SimulatedProcessor {
    /// The processor, with its ledger's tables created in `db` if they do not exist yet
    /// (`simulated/charges.sql`, `simulated/refunds.sql`). The processor owns them, not the payment service's migrations;
    /// the first migration, released before, also creates them and stays unchanged so that
    /// databases migrated with it keep validating.
    pub async fn install(db: &PgPool) -> Result<Self, sqlx::Error> {
        let mut tx = db.begin().await?;
        // Instances starting together must not race on the DDL.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(platform::db::locks::SIMULATED_PROCESSOR_LEDGER)
            .execute(&mut *tx)
            .await?;
        for table in LEDGER_TABLES {
            sqlx::query(table).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Self { db: db.clone() })
    }
}

/// The simulated processor's ledger, one statement a table (`simulated/`).
const LEDGER_TABLES: [&str; 2] = [
    include_str!("../simulated/charges.sql"),
    include_str!("../simulated/refunds.sql"),
];

const SANDBOX_TOKEN: &str = "sim_approve_sandbox";

fn new_reference(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn unavailable(error: sqlx::Error) -> ProcessorError {
    ProcessorError::Unavailable(error.to_string())
}

impl CardProcessor for SimulatedProcessor {
    fn tokenize(&self, card: &CardNumber) -> String {
        format!(
            "sim_{}_{}_{}",
            TestCard::of(card).tag(),
            card.last4(),
            uuid::Uuid::new_v4().simple()
        )
    }

    fn sandbox_token(&self) -> Option<&str> {
        Some(SANDBOX_TOKEN)
    }

    fn charge<'a>(&'a self, charge: Charge<'a>) -> ProcessorFuture<'a, String> {
        Box::pin(async move {
            match TestCard::from_token(charge.card_token) {
                Some(TestCard::Approve) => {}
                Some(TestCard::Decline) => return Err(ProcessorError::Declined("card_declined")),
                Some(TestCard::InsufficientFunds) => {
                    return Err(ProcessorError::Declined("insufficient_funds"));
                }
                Some(TestCard::Timeout) => {
                    // Never answers in time: the caller's deadline ends the call.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return Err(ProcessorError::Timeout);
                }
                Some(TestCard::Error) => {
                    return Err(ProcessorError::Unavailable(
                        "the simulated processor failed".into(),
                    ));
                }
                None => return Err(ProcessorError::Declined("card_declined")),
            }
            let inserted: Option<String> = sqlx::query_scalar(
                "INSERT INTO simulated_charges (id, idempotency_key, card_token, amount_minor, currency) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(new_reference("ch"))
            .bind(charge.idempotency_key)
            .bind(charge.card_token)
            .bind(charge.amount_minor)
            .bind(charge.currency)
            .fetch_optional(&self.db)
            .await
            .map_err(unavailable)?;
            match inserted {
                Some(id) => Ok(id),
                None => sqlx::query_scalar(
                    "SELECT id FROM simulated_charges WHERE idempotency_key = $1",
                )
                .bind(charge.idempotency_key)
                .fetch_one(&self.db)
                .await
                .map_err(unavailable),
            }
        })
    }

    fn find_charge<'a>(&'a self, idempotency_key: &'a str) -> ProcessorFuture<'a, Option<String>> {
        Box::pin(async move {
            sqlx::query_scalar("SELECT id FROM simulated_charges WHERE idempotency_key = $1")
                .bind(idempotency_key)
                .fetch_optional(&self.db)
                .await
                .map_err(unavailable)
        })
    }

    fn refund<'a>(
        &'a self,
        charge_reference: &'a str,
        amount_minor: i64,
        idempotency_key: &'a str,
    ) -> ProcessorFuture<'a, String> {
        Box::pin(async move {
            let mut tx = self.db.begin().await.map_err(unavailable)?;
            let inserted: Option<String> = sqlx::query_scalar(
                "INSERT INTO simulated_refunds (id, idempotency_key, charge_id, amount_minor) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(new_reference("re"))
            .bind(idempotency_key)
            .bind(charge_reference)
            .bind(amount_minor)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
            let Some(id) = inserted else {
                return sqlx::query_scalar(
                    "SELECT id FROM simulated_refunds WHERE idempotency_key = $1",
                )
                .bind(idempotency_key)
                .fetch_one(&self.db)
                .await
                .map_err(unavailable);
            };
            let updated = sqlx::query(
                "UPDATE simulated_charges SET refunded_minor = refunded_minor + $2 \
                 WHERE id = $1 AND refunded_minor + $2 <= amount_minor",
            )
            .bind(charge_reference)
            .bind(amount_minor)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if updated.rows_affected() != 1 {
                return Err(ProcessorError::Declined("refund_exceeds_charge"));
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_test_behaviour_but_not_the_number() {
        for (number, behaviour) in [
            ("4242424242424242", TestCard::Approve),
            (TestCard::DECLINE, TestCard::Decline),
            (TestCard::INSUFFICIENT_FUNDS, TestCard::InsufficientFunds),
            (TestCard::TIMEOUT, TestCard::Timeout),
            (TestCard::ERROR, TestCard::Error),
        ] {
            let card = CardNumber::parse(number).unwrap();
            assert_eq!(TestCard::of(&card), behaviour);
            let token = format!("sim_{}_{}_x", behaviour.tag(), card.last4());
            assert_eq!(TestCard::from_token(&token), Some(behaviour));
            assert!(!token.contains(&number[..12]));
        }
        assert_eq!(TestCard::from_token(SANDBOX_TOKEN), Some(TestCard::Approve));
        assert_eq!(TestCard::from_token("tok_other"), None);
    }
}
