//! The transport between the outbox relay and consumers.
//!
//! [`MemoryBus`] serves `itinera up`, where every service shares one process. It keeps Kafka's
//! semantics where they matter: consumer groups (each group receives every event once, spread over
//! its members by key, so one key's events stay in order), and publication that completes only once
//! every group has stored the event's effect and acknowledged it, so the relay never marks an event
//! sent that a crash could still lose.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::Message;

/// A future returned by [`EventBus::publish`].
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BusError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("consumers did not acknowledge within {0:?}")]
    Timeout(Duration),
}

/// One delivered event. Call [`Delivery::ack`] once its effect is stored; dropping it without an
/// ack leaves the event to be delivered again.
pub struct Delivery {
    pub message: Message,
    ack: Option<oneshot::Sender<()>>,
}

impl Delivery {
    pub fn new(message: Message, ack: oneshot::Sender<()>) -> Self {
        Self {
            message,
            ack: Some(ack),
        }
    }

    pub fn ack(mut self) {
        if let Some(ack) = self.ack.take() {
            let _ = ack.send(());
        }
    }
}

/// What a consumer reads from.
pub struct Subscription {
    pub group: String,
    pub receiver: mpsc::Receiver<Delivery>,
}

/// Publishes messages and hands out subscriptions.
pub trait EventBus: Send + Sync + 'static {
    /// Delivers the messages in order; resolves once the bus holds them durably (for the memory
    /// bus: once every subscribed group has acknowledged them).
    fn publish<'a>(&'a self, messages: &'a [Message]) -> PublishFuture<'a>;

    /// A subscription for `group` to `topics`. Members of one group share the events.
    fn subscribe(&self, group: &str, topics: &[&str]) -> Subscription;

    /// Records an event a consumer gave up on, with the error, where the transport keeps dead
    /// letters (Kafka: a dead-letter topic). Consumers also keep them in their `dead_letters` table.
    fn dead_letter<'a>(&'a self, _message: &'a Message, _error: &'a str) -> PublishFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

struct Member {
    group: String,
    sender: mpsc::Sender<Delivery>,
}

/// topic → group → members.
type Topics = HashMap<String, HashMap<String, Vec<Arc<Member>>>>;

/// The in-process bus.
pub struct MemoryBus {
    /// topic → group → members. A group stays known after its last member leaves, and events for
    /// it are then refused (left in the outbox) until a member is back, as Kafka would keep them.
    topics: RwLock<Topics>,
    ack_timeout: Duration,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl MemoryBus {
    pub fn new(ack_timeout: Duration) -> Self {
        Self {
            topics: RwLock::new(HashMap::new()),
            ack_timeout,
        }
    }

    /// The member of each group subscribed to `topic` that receives `key`.
    fn recipients(&self, topic: &str, key: &str) -> Result<Vec<Arc<Member>>, BusError> {
        let topics = self
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(groups) = topics.get(topic) else {
            return Ok(Vec::new());
        };
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish() as usize;
        groups
            .iter()
            .map(|(group, members)| {
                let live: Vec<&Arc<Member>> =
                    members.iter().filter(|m| !m.sender.is_closed()).collect();
                if live.is_empty() {
                    Err(BusError::Unavailable(format!(
                        "no consumer of group {group} is running"
                    )))
                } else {
                    Ok(live[hash % live.len()].clone())
                }
            })
            .collect()
    }
}

impl EventBus for MemoryBus {
    fn publish<'a>(&'a self, messages: &'a [Message]) -> PublishFuture<'a> {
        Box::pin(async move {
            let mut acks = Vec::new();
            for message in messages {
                for member in self.recipients(&message.topic, &message.key)? {
                    let (ack, acked) = oneshot::channel();
                    member
                        .sender
                        .send(Delivery::new(message.clone(), ack))
                        .await
                        .map_err(|_| {
                            BusError::Unavailable(format!(
                                "a consumer of group {} stopped",
                                member.group
                            ))
                        })?;
                    acks.push(acked);
                }
            }
            let all_acked = async {
                for acked in acks {
                    acked.await.map_err(|_| {
                        BusError::Unavailable("a consumer stopped before acknowledging".into())
                    })?;
                }
                Ok(())
            };
            tokio::time::timeout(self.ack_timeout, all_acked)
                .await
                .map_err(|_| BusError::Timeout(self.ack_timeout))?
        })
    }

    fn subscribe(&self, group: &str, topics: &[&str]) -> Subscription {
        let (sender, receiver) = mpsc::channel(1024);
        let member = Arc::new(Member {
            group: group.to_owned(),
            sender,
        });
        let mut map = self
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for topic in topics {
            let members = map
                .entry((*topic).to_owned())
                .or_default()
                .entry(group.to_owned())
                .or_default();
            members.retain(|m| !m.sender.is_closed());
            members.push(member.clone());
        }
        Subscription {
            group: group.to_owned(),
            receiver,
        }
    }
}

/// The bus of a service running on its own without a broker: it refuses every publication, so the
/// relay keeps events in the outbox (nothing is lost) until the service runs with a transport.
pub struct Disconnected;

impl EventBus for Disconnected {
    fn publish<'a>(&'a self, _messages: &'a [Message]) -> PublishFuture<'a> {
        Box::pin(async {
            Err(BusError::Unavailable(
                "no event transport: events stay in the outbox until the service runs with one"
                    .into(),
            ))
        })
    }

    fn subscribe(&self, group: &str, _topics: &[&str]) -> Subscription {
        // Nothing will ever arrive; the sender is dropped at once, which ends the consumer.
        let (_, receiver) = mpsc::channel(1);
        Subscription {
            group: group.to_owned(),
            receiver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;

    fn message(topic: &str, key: &str, n: i64) -> Message {
        Message {
            topic: topic.into(),
            key: key.into(),
            envelope: Envelope::new("test", "thing.happened", key, serde_json::json!({ "n": n })),
        }
    }

    #[tokio::test]
    async fn every_group_gets_every_event_in_order_and_publish_waits_for_acks() {
        let bus = Arc::new(MemoryBus::default());
        let mut a = bus.subscribe("a", &["t"]);
        let mut b = bus.subscribe("b", &["t"]);
        let messages: Vec<_> = (0..5).map(|n| message("t", "k", n)).collect();
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move { bus.publish(&messages).await })
        };
        for subscription in [&mut a, &mut b] {
            for n in 0..5 {
                let delivery = subscription.receiver.recv().await.unwrap();
                assert_eq!(delivery.message.envelope.data["n"], n);
                delivery.ack();
            }
        }
        publisher
            .await
            .unwrap()
            .expect("published once all groups acknowledged");
    }

    #[tokio::test]
    async fn members_of_one_group_share_events_by_key() {
        let bus = MemoryBus::default();
        let first = bus.subscribe("g", &["t"]);
        let second = bus.subscribe("g", &["t"]);
        let consumer = |mut s: Subscription| {
            tokio::spawn(async move {
                let mut keys = Vec::new();
                while let Some(d) = s.receiver.recv().await {
                    keys.push(d.message.key.clone());
                    d.ack();
                }
                keys
            })
        };
        let (tx1, tx2) = (consumer(first), consumer(second));
        let messages: Vec<_> = (0..40)
            .map(|n| message("t", &format!("key{}", n % 8), n))
            .collect();
        bus.publish(&messages).await.unwrap();
        drop(bus);
        let (keys1, keys2) = (tx1.await.unwrap(), tx2.await.unwrap());
        assert_eq!(keys1.len() + keys2.len(), 40, "each event once");
        assert!(
            keys1.iter().all(|k| !keys2.contains(k)),
            "one key, one member"
        );
    }

    #[tokio::test]
    async fn an_unacknowledged_publication_fails_so_the_relay_retries() {
        let bus = MemoryBus::new(Duration::from_millis(100));
        let mut s = bus.subscribe("g", &["t"]);
        let dropper = tokio::spawn(async move {
            let delivery = s.receiver.recv().await.unwrap();
            drop(delivery);
        });
        assert!(bus.publish(&[message("t", "k", 1)]).await.is_err());
        dropper.await.unwrap();
    }
}
