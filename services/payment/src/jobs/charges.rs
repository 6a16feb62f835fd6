//! Runs payment and refund jobs. Jobs are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so
//! several instances share the work and each job has one owner at a time; a worker that dies
//! mid-call leaves its jobs to be claimed again when the lease ends. Every call to the processor
//! carries an idempotency key derived from the booking, so running a job twice charges once.
//!
//! Each job is recorded as soon as its processor call ends, and new jobs are claimed while others
//! are still in flight: one call that takes the processor's whole timeout holds up only itself.
//! A charge whose outcome is unknown (it timed out, failed, or its worker died) is looked up at
//! the processor by its idempotency key before it is charged again, voided or given up.

use std::sync::Arc;
use std::time::Duration;

use contracts::events::PaymentEvent;
use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus};
use platform::service::TaskContext;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::task::{JoinError, JoinSet};

use crate::domain::refunds::Refund;
use crate::processor::{CardProcessor, Charge, ProcessorError};
use crate::store::jobs::{self, ClaimedRefund};
use crate::store::payments::RefundMade;
use crate::store::{PaymentRow, payments, refunds, wallet};

/// Most jobs in flight at once, charges and refunds together.
const IN_FLIGHT: usize = 128;

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

/// What a charge job came to, before it is recorded.
enum Outcome {
    /// The processor holds a charge under the payment's key: made now, or found.
    Charged(String),
    /// The issuer said no.
    Declined(&'static str),
    /// Wallet payments are decided in the recording transaction.
    Wallet,
    /// The booking ended, and the processor holds no charge for it.
    Void,
    /// Every charge attempt failed, and the processor holds no charge.
    GivenUp,
    /// The processor did not answer (or failed): whether it charged is unknown until it is asked.
    Unknown(ProcessorError),
}

/// A finished job, to be recorded.
enum Done {
    Charge(PaymentRow, Outcome),
    Refund(RefundJob, Result<Option<String>, ProcessorError>),
}

struct RefundJob {
    id: i64,
    for_booking_id: i64,
    attempts: i32,
    amount_minor: i64,
    fee_minor: i64,
    payment: PaymentRow,
}

impl RefundJob {
    /// The processor's key for this refund: one per payment and booking refunded, the same on
    /// every retry (`refund-<payment>` for the payment's own booking, as before there were trips).
    fn idempotency_key(&self) -> String {
        if self.for_booking_id == self.payment.booking_id {
            format!("refund-{}", self.payment.id)
        } else {
            format!("refund-{}-{}", self.payment.id, self.for_booking_id)
        }
    }
}

/// One processor call under the deadline.
async fn call<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, ProcessorError>>,
) -> Result<T, ProcessorError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(ProcessorError::Timeout))
}

/// The jobs that have finished, without waiting for the others.
fn finished(in_flight: &mut JoinSet<Done>) -> Vec<Result<Done, JoinError>> {
    std::iter::from_fn(|| in_flight.try_join_next()).collect()
}

impl Worker {
    /// Charges and refunds what is due until shutdown, woken by new jobs, finished calls or the
    /// poll interval; at shutdown, records the calls still in flight (each has its deadline).
    pub async fn run(self, task: TaskContext) {
        let shutdown = task.shutdown;
        let mut listener: Option<PgListener> = None;
        let mut in_flight = JoinSet::new();
        loop {
            task.heartbeat.beat();
            if shutdown.is_cancelled() {
                break;
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
            let started = match self.start_due(&mut in_flight).await {
                Ok(started) => started,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming payment jobs failed; retrying");
                    0
                }
            };
            self.record_or_log(finished(&mut in_flight)).await;
            if started > 0 {
                continue;
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(first) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let mut done = vec![first];
                    done.extend(finished(&mut in_flight));
                    self.record_or_log(done).await;
                }
                ok = notified => if !ok { listener = None },
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        while let Some(first) = in_flight.join_next().await {
            let mut done = vec![first];
            done.extend(finished(&mut in_flight));
            self.record_or_log(done).await;
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        jobs::listen(&self.db).await
    }

    /// Runs the jobs due now, recording each as it finishes; returns how many there were.
    pub async fn tick(&self) -> Result<usize, sqlx::Error> {
        let mut in_flight = JoinSet::new();
        let count = self.start_due(&mut in_flight).await?;
        while let Some(first) = in_flight.join_next().await {
            let mut done = vec![first];
            done.extend(finished(&mut in_flight));
            self.record(done).await?;
        }
        Ok(count)
    }

    /// A job's lease: a charge may look its key up and then charge, each under the deadline.
    fn lease_secs(&self) -> f64 {
        self.config.processor_timeout.as_secs_f64() * 2.0 + 30.0
    }

    fn backoff(&self, attempts: i32) -> f64 {
        let exponent = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
        (self.config.retry_base.as_secs_f64() * f64::from(2u32.pow(exponent))).min(300.0)
    }

    /// Claims due charges and refunds, as many as there is room for in flight, and starts them;
    /// returns how many it started.
    async fn start_due(&self, in_flight: &mut JoinSet<Done>) -> Result<usize, sqlx::Error> {
        let charges = self.start_charges(in_flight).await?;
        let refunds = self.start_refunds(in_flight).await?;
        Ok(charges + refunds)
    }

    fn room(in_flight: &JoinSet<Done>) -> i64 {
        i64::try_from(IN_FLIGHT.saturating_sub(in_flight.len())).unwrap_or(0)
    }

    async fn start_charges(&self, in_flight: &mut JoinSet<Done>) -> Result<usize, sqlx::Error> {
        let room = Self::room(in_flight);
        if room == 0 {
            return Ok(0);
        }
        let claimed = jobs::claim_charges(&self.db, room, self.lease_secs()).await?;
        let count = claimed.len();
        for payment in claimed {
            let processor = self.processor.clone();
            let config = self.config.clone();
            in_flight.spawn(async move {
                let outcome = if payment.method == PaymentMethod::Wallet {
                    if payment.void_requested {
                        Outcome::Void
                    } else {
                        Outcome::Wallet
                    }
                } else {
                    settle(processor.as_ref(), &payment, &config).await
                };
                Done::Charge(payment, outcome)
            });
        }
        Ok(count)
    }

    async fn start_refunds(&self, in_flight: &mut JoinSet<Done>) -> Result<usize, sqlx::Error> {
        let room = Self::room(in_flight);
        if room == 0 {
            return Ok(0);
        }
        let claimed = jobs::claim_refunds(&self.db, room, self.lease_secs()).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let ids: Vec<i64> = claimed.iter().map(|c| c.payment_id).collect();
        let payments = payments::find_many(&self.db, &ids).await?;
        for ClaimedRefund {
            id,
            payment_id,
            for_booking_id,
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
                for_booking_id,
                attempts,
                amount_minor,
                fee_minor,
                payment,
            };
            let processor = self.processor.clone();
            let timeout = self.config.processor_timeout;
            in_flight.spawn(async move {
                let by_card = job.payment.method.by_card() && job.amount_minor > 0;
                let result = match (&job.payment.processor_reference, by_card) {
                    (Some(charge), true) => {
                        let key = job.idempotency_key();
                        call(timeout, processor.refund(charge, job.amount_minor, &key))
                            .await
                            .map(Some)
                    }
                    _ => Ok(None),
                };
                Done::Refund(job, result)
            });
        }
        Ok(count)
    }

    async fn record_or_log(&self, done: Vec<Result<Done, JoinError>>) {
        if done.is_empty() {
            return;
        }
        // Jobs not recorded stay leased to this worker and are claimed again (and looked up at
        // the processor) when the lease ends.
        if let Err(e) = self.record(done).await {
            tracing::warn!(error = %e, "recording payment jobs failed; they will be retried");
        }
    }

    /// Records finished jobs in one transaction.
    async fn record(&self, done: Vec<Result<Done, JoinError>>) -> Result<(), sqlx::Error> {
        let mut charged = Vec::new();
        let mut rest = Vec::new();
        for done in done {
            match done {
                Ok(Done::Charge(payment, Outcome::Charged(reference))) => {
                    charged.push((payment, reference));
                }
                Ok(other) => rest.push(other),
                // A panicked call leaves its job to be claimed again when the lease ends.
                Err(e) => tracing::error!(error = %e, "a processor call panicked"),
            }
        }
        let mut tx = self.db.begin().await?;
        // Payments before their refunds, in id order: the order in which queueing a refund takes
        // them (a refund is queued under its payment's lock), so the two never wait crosswise.
        let mut payments: Vec<i64> = charged
            .iter()
            .map(|(payment, _)| payment.id)
            .chain(rest.iter().map(|done| match done {
                Done::Charge(payment, _) => payment.id,
                Done::Refund(job, _) => job.payment.id,
            }))
            .collect();
        payments.sort_unstable();
        payments.dedup();
        payments::lock_many(&mut tx, &payments).await?;
        self.record_charged(&mut tx, charged).await?;
        for done in rest {
            match done {
                Done::Charge(payment, outcome) => {
                    self.record_charge(&mut tx, payment, outcome).await?;
                }
                Done::Refund(job, Ok(reference)) => {
                    self.record_refund(&mut tx, &job, reference).await?;
                }
                Done::Refund(job, Err(error)) => {
                    tracing::warn!(refund_id = job.id, error = %error, "refund will be retried");
                    jobs::retry_refund(&mut tx, job.id, job.attempts, self.backoff(job.attempts))
                        .await?;
                }
            }
        }
        tx.commit().await
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
                payment.booking_id,
                Refund::full(payment.amount_minor),
                "booking ended before it was confirmed",
            )
            .await?;
        }
        tracing::debug!(count = done.len(), "payments succeeded");
        Ok(())
    }

    async fn record_charge(
        &self,
        tx: &mut PgConnection,
        payment: PaymentRow,
        outcome: Outcome,
    ) -> Result<(), sqlx::Error> {
        // Still ours? A job whose lease ran out may have been claimed by another worker; the
        // attempt count is the fencing token.
        let Some(void_requested) =
            jobs::charge_still_ours(tx, payment.id, payment.attempts).await?
        else {
            return Ok(());
        };
        match outcome {
            Outcome::Charged(reference) => {
                // `record` sends charges to `record_charged` in bulk; one arriving here is
                // recorded the same way.
                self.record_charged(tx, vec![(payment, reference)]).await
            }
            Outcome::Void => {
                self.finish(tx, &payment, PaymentStatus::Voided, None, None)
                    .await
            }
            Outcome::Wallet if void_requested => {
                self.finish(tx, &payment, PaymentStatus::Voided, None, None)
                    .await
            }
            Outcome::Wallet => {
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
            Outcome::Declined(code) => {
                self.finish(tx, &payment, PaymentStatus::Failed, None, Some(code))
                    .await
            }
            Outcome::GivenUp => {
                let reason = payment
                    .failure_reason
                    .unwrap_or(PaymentFailure::ProcessorTimeout);
                tracing::warn!(
                    payment_id = payment.id,
                    attempts = payment.attempts,
                    reason = reason.as_str(),
                    "payment given up; the processor holds no charge"
                );
                self.finish(
                    tx,
                    &payment,
                    PaymentStatus::Failed,
                    None,
                    Some(reason.as_str()),
                )
                .await
            }
            // Retried, first by asking the processor for the charge under the payment's key;
            // a void asked for meanwhile waits for that answer too.
            Outcome::Unknown(error) => {
                tracing::info!(payment_id = payment.id, attempts = payment.attempts, error = %error, "payment outcome unknown; it will be looked up and retried");
                jobs::retry_charge(
                    tx,
                    payment.id,
                    self.backoff(payment.attempts),
                    error.reason(),
                )
                .await
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
        let made = RefundMade {
            fee_minor: job.fee_minor,
            for_booking_id: job.for_booking_id,
        };
        payments::publish(tx, PaymentEvent::Refunded, &refunded, Some(made)).await?;
        tracing::info!(
            payment_id = payment.id,
            for_booking_id = job.for_booking_id,
            amount_minor = job.amount_minor,
            fee_minor = job.fee_minor,
            "refunded"
        );
        Ok(())
    }
}

/// Settles one card charge job at the processor. An earlier attempt may have charged without the
/// answer arriving, so a job tried before is first looked up by its idempotency key; what is
/// found there is the charge. Only when the processor holds none is the job voided, given up or
/// charged (again).
async fn settle(
    processor: &dyn CardProcessor,
    payment: &PaymentRow,
    config: &WorkerConfig,
) -> Outcome {
    let timeout = config.processor_timeout;
    if payment.attempts > 1 {
        match call(timeout, processor.find_charge(&payment.idempotency_key)).await {
            Ok(Some(reference)) => return Outcome::Charged(reference),
            Ok(None) => {}
            // Never charge, void or give up blind: ask again later.
            Err(error) => return Outcome::Unknown(error),
        }
    }
    if payment.void_requested {
        return Outcome::Void;
    }
    if payment.attempts > config.max_attempts {
        return Outcome::GivenUp;
    }
    let token = payment.card_token.clone().unwrap_or_default();
    let charge = Charge {
        idempotency_key: &payment.idempotency_key,
        card_token: &token,
        amount_minor: payment.amount_minor,
        currency: payment.currency.trim(),
    };
    match call(timeout, processor.charge(charge)).await {
        Ok(reference) => Outcome::Charged(reference),
        Err(ProcessorError::Declined(code)) => Outcome::Declined(code),
        Err(error) => Outcome::Unknown(error),
    }
}
