//! The outbox: messages waiting for the broker, in a bounded buffer with a drop policy.
//!
//! While the broker is away (or slower than the box), messages wait here; the publisher hands
//! them to the MQTT client only while it is connected and the client takes them. The buffer
//! never grows past its capacity, so an outage of any length costs a fixed amount of memory.
//! What gives when it is full:
//!
//! 1. A retained message replaces the queued one on the same topic (the broker would keep only
//!    the newest anyway): nothing is lost, so nothing is counted.
//! 2. Otherwise, the oldest *count* goes first: counts are sent every second and the next one
//!    says more than an old one.
//! 3. A buffer full of alerts and status (no count left to drop) turns a new count away, and
//!    loses its oldest message only for a new alert or status.
//!
//! Every message dropped in 2 and 3 is counted ([`Outbox::dropped`]); `status.mqtt.dropped`
//! shows it.

use std::collections::VecDeque;

/// How a message is treated when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A periodic count: dropped first, oldest first.
    Count,
    /// An alert, a status, discovery: kept while counts can go instead.
    Keep,
}

/// One message for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub kind: Kind,
}

impl Message {
    pub fn count(topic: String, payload: Vec<u8>) -> Self {
        Self {
            topic,
            payload,
            retain: false,
            kind: Kind::Count,
        }
    }

    pub fn event(topic: String, payload: Vec<u8>) -> Self {
        Self {
            topic,
            payload,
            retain: false,
            kind: Kind::Keep,
        }
    }

    pub fn retained(topic: String, payload: Vec<u8>) -> Self {
        Self {
            topic,
            payload,
            retain: true,
            kind: Kind::Keep,
        }
    }
}

/// The bounded buffer (see the module docs).
#[derive(Debug)]
pub struct Outbox {
    items: VecDeque<Message>,
    capacity: usize,
    dropped: u64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Queues `m` last, making room by the policy when full.
    pub fn push(&mut self, m: Message) {
        if m.retain {
            self.items.retain(|q| !(q.retain && q.topic == m.topic));
        }
        if self.items.len() >= self.capacity {
            self.dropped += 1;
            match self.items.iter().position(|q| q.kind == Kind::Count) {
                Some(oldest_count) => {
                    self.items.remove(oldest_count);
                }
                // Nothing but alerts and status queued: a count is the one to go.
                None if m.kind == Kind::Count => return,
                None => {
                    self.items.pop_front();
                }
            }
        }
        self.items.push_back(m);
    }

    /// Puts back, first and in their order, messages the client held when the link broke
    /// (older than anything queued), then makes room by the policy.
    pub fn requeue(&mut self, older: Vec<Message>) {
        for m in older.into_iter().rev() {
            if m.retain && self.items.iter().any(|q| q.retain && q.topic == m.topic) {
                continue; // a newer one of the same retained topic is queued
            }
            self.items.push_front(m);
        }
        while self.items.len() > self.capacity {
            self.dropped += 1;
            match self.items.iter().position(|q| q.kind == Kind::Count) {
                Some(oldest_count) => self.items.remove(oldest_count),
                None => self.items.pop_front(),
            };
        }
    }

    /// The oldest message, to hand to the client.
    pub fn pop(&mut self) -> Option<Message> {
        self.items.pop_front()
    }

    /// Puts back a message the client could not take yet (it stays first).
    pub fn unpop(&mut self, m: Message) {
        self.items.push_front(m);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Messages dropped for room since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: u32) -> Message {
        Message::count("c".into(), n.to_string().into_bytes())
    }

    fn alert(n: u32) -> Message {
        Message::event("a".into(), n.to_string().into_bytes())
    }

    fn drain(o: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| o.pop())
            .map(|m| format!("{}{}", m.topic, String::from_utf8(m.payload).unwrap()))
            .collect()
    }

    #[test]
    fn counts_go_first_oldest_first_and_alerts_stay() {
        let mut o = Outbox::new(4);
        o.push(count(1));
        o.push(alert(1));
        o.push(count(2));
        o.push(count(3));
        o.push(count(4)); // full: count 1 goes
        o.push(alert(2)); // full: count 2 goes
        assert_eq!(o.dropped(), 2);
        assert_eq!(drain(&mut o), ["a1", "c3", "c4", "a2"]);
    }

    #[test]
    fn a_buffer_of_alerts_alone_loses_its_oldest() {
        let mut o = Outbox::new(2);
        o.push(alert(1));
        o.push(alert(2));
        o.push(alert(3));
        o.push(count(9)); // no count to drop: the new count is turned away
        assert_eq!(o.dropped(), 2);
        assert_eq!(drain(&mut o), ["a2", "a3"]);
    }

    #[test]
    fn a_retained_message_replaces_its_topic_without_a_loss() {
        let mut o = Outbox::new(3);
        o.push(Message::retained("status".into(), b"live".to_vec()));
        o.push(count(1));
        o.push(Message::retained("status".into(), b"stalled".to_vec()));
        o.push(Message::retained("availability".into(), b"online".to_vec()));
        assert_eq!(o.dropped(), 0);
        assert_eq!(drain(&mut o), ["c1", "statusstalled", "availabilityonline"]);
    }

    #[test]
    fn a_long_outage_costs_a_fixed_amount_and_every_loss_is_counted() {
        let mut o = Outbox::new(10);
        for n in 0..1000 {
            o.push(count(n));
            if n % 100 == 0 {
                o.push(alert(n));
            }
        }
        assert_eq!(o.len(), 10);
        // 1010 pushed, 10 kept: every alert (10) and the newest counts.
        assert_eq!(o.dropped(), 1000);
        let kept = drain(&mut o);
        assert!(kept.iter().all(|m| m.starts_with('a')), "{kept:?}");
        let mut o = Outbox::new(3);
        o.push(count(1));
        let first = o.pop().unwrap();
        o.push(count(2));
        o.unpop(first);
        assert_eq!(drain(&mut o), ["c1", "c2"]);
    }

    #[test]
    fn what_the_client_gave_back_goes_first_within_the_bound() {
        let mut o = Outbox::new(3);
        o.push(count(3));
        o.push(Message::retained("s".into(), b"new".to_vec()));
        o.requeue(vec![
            count(1),
            alert(1),
            Message::retained("s".into(), b"old".to_vec()),
            count(2),
        ]);
        // The old retained status is superseded; counts 1 and 2 overflow, oldest first.
        assert_eq!(o.dropped(), 2);
        assert_eq!(drain(&mut o), ["a1", "c3", "snew"]);
    }
}
