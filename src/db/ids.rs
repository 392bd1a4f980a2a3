//! Public ids: opaque, type-prefixed strings such as `ctc_4f9Qk2...`.
//!
//! Rows keep a bigint key for joins; the public id is what the API shows.
//! It is unique within an organization, which lets a thread about a resource
//! take the predictable id `thrd_<resource id>`.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of the random part of a generated id (about 95 bits).
const RANDOM_LEN: usize = 16;

/// The kinds of object that have a public id, by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    User,
    ApiKey,
    Contact,
    Thread,
    Subscriber,
    Message,
    Conversation,
    Channel,
    /// The reactions with one emoji on a message. Its ids are derived from
    /// the message id and the emoji (see `messages::ReactionGroup`), not
    /// generated.
    ReactionGroup,
}

impl IdKind {
    const ALL: [IdKind; 10] = [
        IdKind::Organization,
        IdKind::User,
        IdKind::ApiKey,
        IdKind::Contact,
        IdKind::Thread,
        IdKind::Subscriber,
        IdKind::Message,
        IdKind::Conversation,
        IdKind::Channel,
        IdKind::ReactionGroup,
    ];

    /// The prefix before the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org",
            IdKind::User => "usr",
            IdKind::ApiKey => "key",
            IdKind::Contact => "ctc",
            IdKind::Thread => "thrd",
            IdKind::Subscriber => "sub",
            IdKind::Message => "msg",
            IdKind::Conversation => "conv",
            IdKind::Channel => "chan",
            IdKind::ReactionGroup => "rxn",
        }
    }

    /// A new random id of this kind.
    pub fn generate(self) -> String {
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from)
            .collect();
        format!("{}_{random}", self.prefix())
    }

    /// The kind an id claims by its prefix, if it is one of ours.
    pub fn of(id: &str) -> Option<IdKind> {
        let (prefix, rest) = id.split_once('_')?;
        if rest.is_empty() {
            return None;
        }
        IdKind::ALL.into_iter().find(|kind| kind.prefix() == prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_their_kind() {
        for kind in IdKind::ALL {
            let id = kind.generate();
            assert_eq!(IdKind::of(&id), Some(kind));
            assert_eq!(id.len(), kind.prefix().len() + 1 + RANDOM_LEN);
        }
    }

    #[test]
    fn foreign_ids_have_no_kind() {
        assert_eq!(IdKind::of("ctc_"), None);
        assert_eq!(IdKind::of("nope_123"), None);
        assert_eq!(IdKind::of("123"), None);
    }
}
