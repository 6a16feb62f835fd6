//! The Kafka transport: an idempotent producer for the relay, and consumer groups whose offsets are
//! committed only after the consumer has stored the event's effect and acknowledged it.
//!
//! Works with Apache Kafka (KRaft) and other Kafka-protocol brokers; the tests run it against a
//! local tansu broker (`scripts/kafka.sh`).

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use super::bus::{BusError, Delivery, EventBus, PublishFuture, Subscription};
use super::{Envelope, Message};

/// Deliveries a consumer may hold unacknowledged at once.
const MAX_IN_FLIGHT: usize = 256;

/// Commits the offset after `offset`: everything up to it has been handled.
fn commit(consumer: &StreamConsumer, topic: &str, partition: i32, offset: i64, group: &str) {
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(topic, partition, Offset::Offset(offset + 1))
        .is_ok()
        && let Err(e) = consumer.commit(&list, CommitMode::Async)
    {
        tracing::warn!(group, error = %e, "offset commit failed; events may be redelivered");
    }
}

/// Where events that cannot be processed end up, with the error in a header.
pub const DEAD_LETTER_TOPIC: &str = "itinera.dead-letters";

/// Settings of the Kafka transport.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    pub brokers: Vec<String>,
    /// Identifies this service's clients in the broker's logs.
    pub client_id: String,
    pub partitions: i32,
    /// Consumer group session timeout; lower in tests so that joins are quick.
    pub session_timeout: Duration,
    /// Put before every topic and group name, so that several platforms can share a broker.
    pub prefix: String,
    /// TLS and SASL towards the brokers.
    pub security: crate::config::KafkaSecurity,
}

/// A client configuration for the brokers, with the security settings every client needs.
fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", settings.brokers.join(","));
    for (key, value) in settings.security.properties() {
        config.set(key, value);
    }
    config
}

pub struct KafkaBus {
    settings: KafkaSettings,
    /// Replaced when librdkafka reports a fatal error (an idempotent producer cannot recover from
    /// one, for example after the broker lost its state).
    producer: std::sync::RwLock<FutureProducer>,
}

fn producer(settings: &KafkaSettings) -> Result<FutureProducer, BusError> {
    client_config(settings)
        .set("client.id", &settings.client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("socket.nagle.disable", "true")
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(unavailable)
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

impl KafkaBus {
    /// Connects a producer and makes sure the topics exist. A subscription's consumer runs until
    /// the subscription is dropped.
    pub async fn connect(settings: KafkaSettings, topics: &[&str]) -> Result<Self, BusError> {
        let bus = Self {
            producer: std::sync::RwLock::new(producer(&settings)?),
            settings,
        };
        let mut all: Vec<String> = topics.iter().map(|t| bus.name(t)).collect();
        all.push(bus.name(DEAD_LETTER_TOPIC));
        bus.ensure_topics(&all.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;
        bus.wait_for_metadata(&all).await;
        Ok(bus)
    }

    /// Waits (up to ten seconds) until the broker lists every topic, so that consumers do not
    /// subscribe to a topic the broker has created but not yet published in its metadata.
    async fn wait_for_metadata(&self, topics: &[String]) {
        for _ in 0..50 {
            let producer = self.current_producer();
            let listed = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_secs(2))
                    .map(|metadata| {
                        metadata
                            .topics()
                            .iter()
                            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                            .map(|t| t.name().to_owned())
                            .collect::<std::collections::HashSet<_>>()
                    })
                    .unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            if topics.iter().all(|t| listed.contains(t)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(
            ?topics,
            "the broker does not list every topic yet; consumers will retry"
        );
    }

    fn current_producer(&self) -> FutureProducer {
        self.producer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After a failed publication: replaces a producer that hit a fatal error, and recreates the
    /// batch's topics (a broker that lost its state has lost them too). The relay then retries.
    async fn recover(&self, messages: &[Message], failure: String) -> BusError {
        let fatal = self.current_producer().client().fatal_error();
        // A producer the broker has fenced off (its identity was lost or superseded, for example
        // across a broker outage) never recovers by retrying; a new one gets a new identity.
        let fenced = [
            "Fenced",
            "ProducerId",
            "ProducerEpoch",
            "OutOfOrderSequence",
        ]
        .iter()
        .any(|marker| failure.contains(marker));
        if fatal.is_some() || fenced {
            tracing::warn!(?fatal, %failure, "Kafka producer cannot recover; creating a new one");
            if let Ok(fresh) = producer(&self.settings) {
                *self
                    .producer
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
            }
        }
        let mut topics: Vec<String> = messages.iter().map(|m| self.name(&m.topic)).collect();
        topics.dedup();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = self.ensure_topics(&names).await {
            tracing::debug!(error = %e, "cannot recreate topics yet");
        }
        unavailable(failure)
    }

    /// The broker-side name of a topic or group.
    fn name(&self, topic: &str) -> String {
        format!("{}{topic}", self.settings.prefix)
    }

    /// Creates topics that do not exist yet.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let admin: AdminClient<DefaultClientContext> = client_config(&self.settings)
            .create()
            .map_err(unavailable)?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|topic| NewTopic::new(topic, self.settings.partitions, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin
            .create_topics(&new, &options)
            .await
            .map_err(unavailable)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(unavailable(format!("creating topic {topic}: {code}")));
                }
            }
        }
        Ok(())
    }

    fn consumer(&self, group: &str) -> Result<StreamConsumer, KafkaError> {
        client_config(&self.settings)
            .set("client.id", &self.settings.client_id)
            .set("group.id", self.name(group))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // Brokers answer a fetch as soon as there is data; cap the wait when there is none,
            // so that a quiet topic's next event is not held back by up to half a second.
            .set("fetch.wait.max.ms", "20")
            .set("socket.nagle.disable", "true")
            .set("topic.metadata.refresh.interval.ms", "10000")
            .set(
                "session.timeout.ms",
                self.settings.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (self.settings.session_timeout.as_millis() / 4)
                    .max(100)
                    .to_string(),
            )
            .create()
    }

    /// Sends a message that could not be processed to the dead-letter topic.
    async fn send_dead_letter(
        producer: &FutureProducer,
        dead_letters: &str,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        error: &str,
    ) {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "itinera-error",
                value: Some(error),
            })
            .insert(Header {
                key: "itinera-topic",
                value: Some(topic),
            });
        let mut record = FutureRecord::to(dead_letters)
            .payload(payload)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Err((e, _)) = producer.send(record, Duration::from_secs(10)).await {
            tracing::error!(error = %e, "cannot write to the dead-letter topic");
        }
    }
}

impl EventBus for KafkaBus {
    fn publish<'a>(&'a self, messages: &'a [Message]) -> PublishFuture<'a> {
        Box::pin(async move {
            let payloads = messages
                .iter()
                .map(|m| serde_json::to_vec(&m.envelope))
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let producer = self.current_producer();
            // Enqueued in order; the idempotent producer keeps that order per partition.
            let mut pending = Vec::with_capacity(messages.len());
            for (message, payload) in messages.iter().zip(&payloads) {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "ce_type",
                        value: Some(message.envelope.kind.as_str()),
                    })
                    .insert(Header {
                        key: "ce_id",
                        value: Some(message.envelope.id.to_string().as_str()),
                    });
                let topic = self.name(&message.topic);
                let record = FutureRecord::to(&topic)
                    .key(&message.key)
                    .payload(payload)
                    .headers(headers);
                match producer.send_result(record) {
                    Ok(delivery) => pending.push(delivery),
                    Err((e, _)) => return Err(self.recover(messages, e.to_string()).await),
                }
            }
            for delivery in pending {
                let failure = match delivery.await {
                    Ok(Ok(_)) => continue,
                    Ok(Err((e, _))) => e.to_string(),
                    Err(_) => "the producer was closed".to_owned(),
                };
                return Err(self.recover(messages, failure).await);
            }
            Ok(())
        })
    }

    fn subscribe(&self, group: &str, topics: &[&str]) -> Subscription {
        let (sender, receiver) = mpsc::channel(256);
        let consumer = self.consumer(group);
        let topics: Vec<String> = topics.iter().map(|t| self.name(t)).collect();
        let prefix = self.settings.prefix.clone();
        let dead_letters = self.name(DEAD_LETTER_TOPIC);
        let producer = self.current_producer();
        let group_name = group.to_owned();
        tokio::spawn(async move {
            let consumer = match consumer {
                Ok(consumer) => consumer,
                Err(e) => {
                    tracing::error!(group = %group_name, error = %e, "cannot create a Kafka consumer");
                    return;
                }
            };
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            if let Err(e) = consumer.subscribe(&names) {
                tracing::error!(group = %group_name, error = %e, "cannot subscribe");
                return;
            }
            // Deliveries awaiting their acknowledgement, in the order received. Several are in
            // flight at once (so a consumer can apply a burst in one transaction); offsets are
            // committed strictly in order, each once everything before it is acknowledged.
            let mut pending: VecDeque<(String, i32, i64, oneshot::Receiver<()>)> = VecDeque::new();
            loop {
                let room = pending.len() < MAX_IN_FLIGHT;
                let front_acked = async {
                    match pending.front_mut() {
                        Some(entry) => (&mut entry.3).await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    // The subscriber let go of its subscription (it stopped): so does the loop.
                    // Its owner decides when that is, so consumers stop in the host's order.
                    () = sender.closed() => return,
                    acked = front_acked => {
                        if !acked {
                            // The consumer stopped without acknowledging: the offset stays, and
                            // the group's next member receives the event again.
                            return;
                        }
                        if let Some((topic, partition, offset, _)) = pending.pop_front() {
                            commit(&consumer, &topic, partition, offset, &group_name);
                        }
                    }
                    received = consumer.recv(), if room => {
                        let record = match received {
                            Ok(record) => record,
                            Err(e) => {
                                tracing::warn!(group = %group_name, error = %e, "Kafka receive failed; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        };
                        let position = (record.topic().to_owned(), record.partition(), record.offset());
                        let payload = record.payload().unwrap_or_default();
                        let (ack, acked) = oneshot::channel();
                        match serde_json::from_slice::<Envelope>(payload) {
                            Ok(envelope) => {
                                let key = record.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                                let topic = record.topic().strip_prefix(prefix.as_str()).unwrap_or(record.topic()).to_owned();
                                let message = Message { topic, key, envelope };
                                if sender.send(Delivery::new(message, ack)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let error = format!("not a CloudEvents envelope: {e}");
                                tracing::error!(group = %group_name, topic = record.topic(), %error, "dead-lettering a malformed message");
                                Self::send_dead_letter(&producer, &dead_letters, record.topic(), record.key(), payload, &error).await;
                                let _ = ack.send(());
                            }
                        }
                        pending.push_back((position.0, position.1, position.2, acked));
                    }
                }
            }
        });
        Subscription {
            group: group.to_owned(),
            receiver,
        }
    }

    fn dead_letter<'a>(&'a self, message: &'a Message, error: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            let payload = serde_json::to_vec(&message.envelope).map_err(unavailable)?;
            Self::send_dead_letter(
                &self.current_producer(),
                &self.name(DEAD_LETTER_TOPIC),
                &message.topic,
                Some(message.key.as_bytes()),
                &payload,
                error,
            )
            .await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, KafkaSecurity, RunMode, Settings};

    fn settings(security: KafkaSecurity) -> KafkaSettings {
        KafkaSettings {
            brokers: vec!["127.0.0.1:1".into()],
            client_id: "test".into(),
            partitions: 1,
            session_timeout: Duration::from_secs(6),
            prefix: String::new(),
            security,
        }
    }

    /// librdkafka refuses properties it was built without (TLS needs OpenSSL), so creating a
    /// client with them shows that they reach it and that it can honour them.
    #[test]
    fn tls_and_sasl_settings_reach_librdkafka() {
        let source = ConfigSource::from_pairs([
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("KAFKA_SASL_USERNAME", "itinera"),
            ("KAFKA_SASL_PASSWORD", "secret"),
        ]);
        let security = Settings::load(&source, contracts::services::BOOKING, RunMode::Single)
            .unwrap()
            .kafka_security;
        let config = client_config(&settings(security));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert!(producer(&settings(KafkaSecurity::default())).is_ok());
        let created: Result<FutureProducer, _> = config.create();
        assert!(created.is_ok(), "{:?}", created.err());

        let unknown = KafkaSecurity {
            protocol: Some("ssl".into()),
            ssl_ca_location: Some("/nonexistent/ca.pem".into()),
            ..KafkaSecurity::default()
        };
        let refused: Result<FutureProducer, _> = client_config(&settings(unknown)).create();
        assert!(refused.is_err(), "a CA file that does not exist is refused");
    }
}
