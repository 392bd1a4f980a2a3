//! Golden documents: one stored event per kind (tests/data/events) that must
//! keep decoding, whatever the rows and snapshots become.

use serde_json::{Value, json};

use super::*;
use crate::db::ids::{OrganizationId, UserId};
use crate::domain::events::model::{self, EventKind};

/// A golden document per stored kind, and one for a conversation message.
const GOLDEN: [(&str, &str); 16] = [
    (
        "message_added",
        include_str!("../../../tests/data/events/message_added.json"),
    ),
    (
        "message_added",
        include_str!("../../../tests/data/events/message_added_conversation.json"),
    ),
    (
        "message_edited",
        include_str!("../../../tests/data/events/message_edited.json"),
    ),
    (
        "message_deleted",
        include_str!("../../../tests/data/events/message_deleted.json"),
    ),
    (
        "reaction_added",
        include_str!("../../../tests/data/events/reaction_added.json"),
    ),
    (
        "reaction_removed",
        include_str!("../../../tests/data/events/reaction_removed.json"),
    ),
    (
        "thread_created",
        include_str!("../../../tests/data/events/thread_created.json"),
    ),
    (
        "thread_updated",
        include_str!("../../../tests/data/events/thread_updated.json"),
    ),
    (
        "thread_deleted",
        include_str!("../../../tests/data/events/thread_deleted.json"),
    ),
    (
        "subscriber_joined",
        include_str!("../../../tests/data/events/subscriber_joined.json"),
    ),
    (
        "subscriber_left",
        include_str!("../../../tests/data/events/subscriber_left.json"),
    ),
    (
        "read_receipt",
        include_str!("../../../tests/data/events/read_receipt.json"),
    ),
    (
        "conversation_created",
        include_str!("../../../tests/data/events/conversation_created.json"),
    ),
    (
        "conversation_updated",
        include_str!("../../../tests/data/events/conversation_updated.json"),
    ),
    (
        "conversation_deleted",
        include_str!("../../../tests/data/events/conversation_deleted.json"),
    ),
    (
        "message_published",
        include_str!("../../../tests/data/events/message_published.json"),
    ),
];

fn decode_golden(document: &str) -> model::Event {
    let document: Value = serde_json::from_str(document).expect("golden JSON");
    let kind = document["kind"].as_str().expect("kind");
    let sequence = document["sequence"].as_i64().expect("sequence");
    model::decode_stored(
        crate::db::ids::OrganizationId(1),
        sequence,
        kind,
        document["payload"].clone(),
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_golden_event_decodes() {
    for (kind, document) in GOLDEN {
        let event = decode_golden(document);
        assert_eq!(event.kind.as_str(), kind);
        // Payloads written before versions existed are version 1.
        assert_eq!(event.payload.version, 1, "{kind}");
        // What each kind's subscribers are shown is there.
        let payload = &event.payload;
        match event.kind {
            EventKind::MessageAdded | EventKind::MessageEdited => {
                let message = payload.message.clone().expect("message");
                assert!(!message.body.is_empty(), "{kind}");
                let _: crate::domain::messages::Message = message.into();
            }
            EventKind::MessagePublished => {
                let message = payload.message.clone().expect("message");
                assert_eq!(message.channel_position, Some(1));
                assert_eq!(payload.channel_public_id.as_deref(), Some("chan_01J00"));
            }
            EventKind::MessageDeleted => {
                assert_eq!(payload.message_public_id.as_deref(), Some("msg_01HZX"));
            }
            EventKind::ReactionAdded | EventKind::ReactionRemoved => {
                assert_eq!(payload.emoji.as_deref(), Some("👍"));
                assert!(payload.message.is_some() && payload.subscriber.is_some());
            }
            EventKind::ThreadCreated | EventKind::ThreadUpdated => {
                let thread: crate::domain::threads::Thread =
                    payload.thread.clone().expect("thread").into();
                assert_eq!(thread.public_id, "thrd_order-1001");
            }
            EventKind::ThreadDeleted => {
                assert_eq!(payload.thread_public_id.as_deref(), Some("thrd_order-1001"));
            }
            EventKind::SubscriberJoined | EventKind::SubscriberLeft | EventKind::ReadReceipt => {
                let subscriber: crate::domain::threads::Subscriber =
                    payload.subscriber.clone().expect("subscriber").into();
                assert_eq!(subscriber.user_id, Some(UserId(2)));
            }
            EventKind::ConversationCreated | EventKind::ConversationUpdated => {
                let conversation: crate::domain::conversations::Conversation =
                    payload.conversation.clone().expect("conversation").into();
                assert_eq!(conversation.public_id, "conv_01HZZ");
            }
            EventKind::ConversationDeleted => {
                assert_eq!(
                    payload.conversation_public_id.as_deref(),
                    Some("conv_01HZZ")
                );
            }
            EventKind::Typing => unreachable!("typing is never stored"),
        }
    }
}

#[test]
fn the_golden_typing_event_decodes() {
    let (event, follows) =
        model::parse_ephemeral(include_str!("../../../tests/data/events/typing.json"))
            .expect("typing decodes");
    // Sent before ephemeral events said which stored ones they follow: none.
    assert_eq!(follows, 0);
    assert_eq!(event.kind, EventKind::Typing);
    assert_eq!(event.payload.is_typing, Some(true));
    assert!(event.payload.subscriber.is_some());
}

#[test]
fn payloads_survive_a_round_trip() {
    for (_, document) in GOLDEN {
        let event = decode_golden(document);
        let encoded = event.payload.encode().expect("encode");
        assert_eq!(encoded["version"], json!(PAYLOAD_VERSION));
        let decoded = EventPayload::decode(encoded).expect("decode");
        assert_eq!(decoded, event.payload);
    }
}

#[test]
fn unknown_fields_and_missing_optional_fields_still_decode() {
    let payload = json!({
        "version": 1,
        "thread_public_id": "thrd_1",
        "a_field_from_the_future": {"nested": true},
        "message": {
            "id": 1,
            "organization_id": 1,
            "public_id": "msg_1",
            "kind": "text",
            "created_at": "2026-11-20T10:00:00Z",
            "a_column_from_the_future": 3
        },
        "subscriber": {
            "id": 2,
            "organization_id": 1,
            "public_id": "sub_1",
            "thread_id": 1,
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z"
        }
    });
    let event =
        model::decode_stored(OrganizationId(1), 5, "message_added", payload).expect("decodes");
    let message = event.payload.message.expect("message");
    assert_eq!(message.body, "");
    assert!(message.media_urls.is_empty());
    assert_eq!(message.thread_id, None);
    let subscriber = event.payload.subscriber.expect("subscriber");
    assert_eq!(subscriber.unread_count, 0);
    assert!(!subscriber.is_archived);
    assert_eq!(event.payload.emoji, None);
    // A bare object is a (legacy) payload with nothing in it.
    let empty = EventPayload::decode(json!({})).expect("empty decodes");
    assert_eq!(empty, EventPayload::default());
}

#[test]
fn a_payload_that_does_not_decode_is_an_error_naming_the_event() {
    let broken = json!({"message": {"id": "not a number"}});
    let error =
        model::decode_stored(OrganizationId(1), 77, "message_added", broken).expect_err("fails");
    assert_eq!(error.sequence, 77);
    assert_eq!(error.kind, "message_added");
    assert!(error.to_string().contains("77"));
    let unknown =
        model::decode_stored(OrganizationId(1), 78, "something_new", json!({})).expect_err("fails");
    assert_eq!(unknown.kind, "something_new");
}
