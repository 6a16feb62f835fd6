//! Runs payment and refund jobs. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so
//! several instances share the work and each job has one owner at a time; a worker that dies
//! mid-call leaves its jobs to be claimed again when the lease ends. Every call to the processor
//! carries an idempotency key derived from the booking, so running a job twice charges once.

use std::sync::Arc;
use std::time::Duration;

use contracts::events::PaymentEvent;
use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus};
use platform::service::TaskContext;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinSet;

use crate::processor::{CardProcessor, Charge, ProcessorError};
use crate::store::jobs::{self, ClaimedRefund};
use crate::store::{PaymentRow, payments, refunds, wallet};

/// Most jobs of each kind claimed at once.
const BATCH: i64 = 128;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How long one processor call may take.
    pub processor_timeout: Duration,
    /// Charge attempts before a payment that keeps failing transiently is given up.
    pub max_attempts: i32,
    /// The first retry's delay; it doubles with each attempt.
    pub retry_base: Duration,
    /// How often to look for due jobs when no notification arrives.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            processor_timeout: Duration::from_secs(5),
            max_attempts: 4,
            retry_base: Duration::from_secs(1),
            poll_interval: Duration::from_millis(500),
        }
    }
}

pub struct Worker {
    pub db: PgPool,
    pub processor: Arc<dyn CardProcessor>,
    pub config: WorkerConfig,
}

/// What a charge attempt that did not go through came to, before it is recorded.
enum Attempt {
    Failed(ProcessorError),
    /// Wallet payments are decided in the recording transaction.
    Wallet,
    /// The booking ended before the charge was made.
    Void,
}

struct RefundJob {
    id: i64,
    attempts: i32,
    amount_minor: i64,
    fee_minor: i64,
    payment: PaymentRow,
}

impl Worker {
    /// Charges and refunds what is due until shutdown, woken by new jobs or the poll interval.
    pub async fn run(self, task: TaskContext) {
        let shutdown = task.shutdown;
        let mut listener: Option<PgListener> = None;
        loop {
            task.heartbeat.beat();
            if shutdown.is_cancelled() {
                return;
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
            match self.tick().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "payment jobs failed; retrying");
                    tokio::time::sleep(self.config.poll_interval).await;
                    continue;
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                ok = notified => if !ok { listener = None },
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        jobs::listen(&self.db).await
    }

    /// Runs the due jobs; returns how many there were.
    pub async fn tick(&self) -> Result<usize, sqlx::Error> {
        let payments = self.charge_due().await?;
        let refunds = self.refund_due().await?;
        Ok(payments + refunds)
    }

    fn lease_secs(&self) -> f64 {
        self.config.processor_timeout.as_secs_f64() + 30.0
    }

    fn backoff(&self, attempts: i32) -> f64 {
        let exponent = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
        (self.config.retry_base.as_secs_f64() * f64::from(2u32.pow(exponent))).min(300.0)
    }

    async fn charge_due(&self) -> Result<usize, sqlx::Error> {
        let claimed = jobs::claim_charges(&self.db, BATCH, self.lease_secs()).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let mut calls = JoinSet::new();
        let mut charged = Vec::with_capacity(count);
        let mut attempts = Vec::new();
        for payment in claimed {
            if payment.void_requested {
                attempts.push((payment, Attempt::Void));
            } else if payment.method == PaymentMethod::Wallet {
                attempts.push((payment, Attempt::Wallet));
            } else {
                let processor = self.processor.clone();
                let timeout = self.config.processor_timeout;
                calls.spawn(async move {
                    let token = payment.card_token.clone().unwrap_or_default();
                    let charge = Charge {
                        idempotency_key: &payment.idempotency_key,
                        card_token: &token,
                        amount_minor: payment.amount_minor,
                        currency: payment.currency.trim(),
                    };
                    let result = tokio::time::timeout(timeout, processor.charge(charge))
                        .await
                        .unwrap_or(Err(ProcessorError::Timeout));
                    (payment, result)
                });
            }
        }
        while let Some(done) = calls.join_next().await {
            match done {
                Ok((payment, Ok(reference))) => charged.push((payment, reference)),
                Ok((payment, Err(error))) => attempts.push((payment, Attempt::Failed(error))),
                // A panicked call leaves its job to be claimed again when the lease ends.
                Err(e) => tracing::error!(error = %e, "a processor call panicked"),
            }
        }
        let mut tx = self.db.begin().await?;
        self.record_charged(&mut tx, charged).await?;
        for (payment, attempt) in attempts {
            self.record(&mut tx, payment, attempt).await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Records successful charges, all in two statements: this is the path every paid booking
    /// takes.
    async fn record_charged(
        &self,
        tx: &mut PgConnection,
        charged: Vec<(PaymentRow, String)>,
    ) -> Result<(), sqlx::Error> {
        if charged.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = charged.iter().map(|(p, _)| p.id).collect();
        let attempts: Vec<i32> = charged.iter().map(|(p, _)| p.attempts).collect();
        let references: Vec<String> = charged.into_iter().map(|(_, r)| r).collect();
        // Only jobs still ours (the attempt count is the fencing token) are recorded.
        let done = payments::succeed_many(tx, &ids, &references, &attempts).await?;
        payments::publish_many(tx, PaymentEvent::Succeeded, &done).await?;
        for payment in done.iter().filter(|p| p.void_requested) {
            // The booking ended while the charge was in flight: give it all back.
            refunds::queue(
                tx,
                payment.id,
                payment.amount_minor,
                0,
                "booking ended before it was confirmed",
            )
            .await?;
        }
        tracing::debug!(count = done.len(), "payments succeeded");
        Ok(())
    }

    async fn record(
        &self,
        tx: &mut PgConnection,
        payment: PaymentRow,
        attempt: Attempt,
    ) -> Result<(), sqlx::Error> {
        // Still ours? A job whose lease ran out may have been claimed by another worker; the
        // attempt count is the fencing token.
        let Some(void_requested) =
            jobs::charge_still_ours(tx, payment.id, payment.attempts).await?
        else {
            return Ok(());
        };
        match attempt {
            Attempt::Void => {
                self.finish(tx, &payment, PaymentStatus::Voided, None, None)
                    .await
            }
            Attempt::Wallet if void_requested => {
                self.finish(tx, &payment, PaymentStatus::Voided, None, None)
                    .await
            }
            Attempt::Wallet => {
                let debited = wallet::pay(tx, &payment).await?;
                if debited {
                    self.finish(tx, &payment, PaymentStatus::Succeeded, None, None)
                        .await
                } else {
                    self.finish(
                        tx,
                        &payment,
                        PaymentStatus::Failed,
                        None,
                        Some(PaymentFailure::InsufficientFunds.as_str()),
                    )
                    .await
                }
            }
            Attempt::Failed(ProcessorError::Declined(code)) => {
                self.finish(tx, &payment, PaymentStatus::Failed, None, Some(code))
                    .await
            }
            Attempt::Failed(_) if void_requested => {
                self.finish(tx, &payment, PaymentStatus::Voided, None, None)
                    .await
            }
            Attempt::Failed(error) if payment.attempts >= self.config.max_attempts => {
                tracing::warn!(payment_id = payment.id, attempts = payment.attempts, error = %error, "payment given up");
                self.finish(
                    tx,
                    &payment,
                    PaymentStatus::Failed,
                    None,
                    Some(error.reason()),
                )
                .await
            }
            Attempt::Failed(error) => {
                tracing::info!(payment_id = payment.id, attempts = payment.attempts, error = %error, "payment will be retried");
                jobs::retry_charge(tx, payment.id, self.backoff(payment.attempts)).await
            }
        }
    }

    /// Records the end of a payment and publishes it (a voided payment publishes nothing: the
    /// booking it was for has already ended).
    async fn finish(
        &self,
        tx: &mut PgConnection,
        payment: &PaymentRow,
        status: PaymentStatus,
        reference: Option<&str>,
        failure: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let done = payments::finish(tx, payment.id, status, reference, failure).await?;
        match status {
            PaymentStatus::Succeeded => {
                payments::publish(tx, PaymentEvent::Succeeded, &done, None).await?;
            }
            PaymentStatus::Failed => {
                payments::publish(tx, PaymentEvent::Failed, &done, None).await?
            }
            PaymentStatus::Pending | PaymentStatus::Processing | PaymentStatus::Voided => {}
        }
        tracing::info!(
            payment_id = done.id,
            booking_id = done.booking_id,
            status = status.as_str(),
            reason = failure,
            "payment finished"
        );
        Ok(())
    }

    async fn refund_due(&self) -> Result<usize, sqlx::Error> {
        let claimed = jobs::claim_refunds(&self.db, BATCH, self.lease_secs()).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let ids: Vec<i64> = claimed.iter().map(|c| c.payment_id).collect();
        let payments = payments::find_many(&self.db, &ids).await?;
        let mut calls = JoinSet::new();
        for ClaimedRefund {
            id,
            payment_id,
            attempts,
            amount_minor,
            fee_minor,
        } in claimed
        {
            let Some(payment) = payments.iter().find(|p| p.id == payment_id).cloned() else {
                continue;
            };
            let job = RefundJob {
                id,
                attempts,
                amount_minor,
                fee_minor,
                payment,
            };
            let processor = self.processor.clone();
            let timeout = self.config.processor_timeout;
            calls.spawn(async move {
                let by_card = job.payment.method.by_card() && job.amount_minor > 0;
                let result = match (&job.payment.processor_reference, by_card) {
                    (Some(charge), true) => {
                        let key = format!("refund-{}", job.payment.id);
                        tokio::time::timeout(
                            timeout,
                            processor.refund(charge, job.amount_minor, &key),
                        )
                        .await
                        .unwrap_or(Err(ProcessorError::Timeout))
                        .map(Some)
                    }
                    _ => Ok(None),
                };
                (job, result)
            });
        }
        let mut results = Vec::with_capacity(count);
        while let Some(done) = calls.join_next().await {
            match done {
                Ok(result) => results.push(result),
                Err(e) => tracing::error!(error = %e, "a processor call panicked"),
            }
        }
        let mut tx = self.db.begin().await?;
        for (job, result) in results {
            match result {
                Ok(reference) => self.record_refund(&mut tx, &job, reference).await?,
                Err(error) => {
                    tracing::warn!(refund_id = job.id, error = %error, "refund will be retried");
                    jobs::retry_refund(&mut tx, job.id, job.attempts, self.backoff(job.attempts))
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(count)
    }

    async fn record_refund(
        &self,
        tx: &mut PgConnection,
        job: &RefundJob,
        reference: Option<String>,
    ) -> Result<(), sqlx::Error> {
        let ours = refunds::succeed(tx, job.id, job.attempts, reference.as_deref()).await?;
        if !ours {
            return Ok(());
        }
        let payment = &job.payment;
        if payment.method == PaymentMethod::Wallet && job.amount_minor > 0 {
            wallet::refund(tx, payment, job.amount_minor).await?;
        }
        let refunded = payments::add_refunded(tx, payment.id, job.amount_minor).await?;
        payments::publish(tx, PaymentEvent::Refunded, &refunded, Some(job.fee_minor)).await?;
        tracing::info!(
            payment_id = payment.id,
            amount_minor = job.amount_minor,
            fee_minor = job.fee_minor,
            "refunded"
        );
        Ok(())
    }
}
