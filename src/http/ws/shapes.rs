//! Shared subscriptions: operations of the same shape (document, operation,
//! variables and viewer) run once, and every socket gets the same bytes.
//!
//! A thousand widgets following one thread with one token then cost one
//! execution of each event, not a thousand. A shape lives while a socket
//! follows it. A subscription that replays (`after` a cursor) is its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{Request, ServerError, Value};
use futures_util::stream::{AbortHandle, Abortable, BoxStream};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use super::super::response::coded_error;
use crate::domain::auth::Viewer;
use crate::graphql::errors::sanitize_errors;
use crate::telemetry::{Live, Metrics};

/// Results a shape keeps for the sockets that have not sent them yet. A
/// socket further behind is told so and its operation ended: it resumes
/// with `after` its last cursor.
const BACKLOG: usize = 32;

/// One result of an operation, ready for any socket.
#[derive(Clone, Debug)]
pub enum Frame {
    /// A response's JSON: the payload of `next`.
    Next(Arc<str>),
    /// The operation could not run, or stopped: the `error` message.
    Error(Arc<[ServerError]>),
}

impl Frame {
    /// A response, sanitised and serialised once for every socket.
    pub fn of(mut response: async_graphql::Response) -> Frame {
        sanitize_errors(&mut response.errors);
        // A document that failed validation produces no data: that is an
        // `error` message, which also ends the operation.
        let request_error = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        if request_error {
            return Frame::Error(response.errors.into());
        }
        // Through `serde_json::Value`, whose objects sort their keys:
        // async-graphql builds each object in the order its fields finished,
        // which differs from one event to the next.
        match serde_json::to_value(&response).map(|value| value.to_string()) {
            Ok(json) => Frame::Next(json.into()),
            Err(error) => {
                tracing::error!(%error, "a subscription result could not be serialised");
                Frame::Error(vec![coded_error("internal error", "INTERNAL_SERVER_ERROR")].into())
            }
        }
    }
}

/// What makes two operations the same: who asks, and exactly what.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShapeKey {
    viewer: Viewer,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl ShapeKey {
    /// The shape of a parsed, checked subscription, or `None` when it must
    /// run alone: a replay (`after` a cursor), a document whose root is not
    /// plain fields, or anything but a subscription.
    pub fn of(viewer: Viewer, request: &mut Request) -> Option<ShapeKey> {
        let variables = request.variables.clone();
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let (_, operation) = document.operations.iter().find(|(name, _)| {
            operation_name.is_none() || name.map(|n| n.as_str()) == operation_name.as_deref()
        })?;
        if operation.node.ty != OperationType::Subscription {
            return None;
        }
        for item in &operation.node.selection_set.node.items {
            let Selection::Field(field) = &item.node else {
                return None;
            };
            // An `after` that is given and not null replays from a cursor.
            let replays = field.node.arguments.iter().any(|(name, value)| {
                name.node.as_str() == "after"
                    && value
                        .node
                        .clone()
                        .into_const_with(|variable| {
                            Ok::<_, ()>(variables.get(&variable).cloned().unwrap_or(Value::Null))
                        })
                        .map_or(true, |value| value != Value::Null)
            });
            if replays {
                return None;
            }
        }
        Some(ShapeKey {
            viewer,
            variables: serde_json::to_string(&variables).ok()?,
            query: request.query.clone(),
            operation_name,
        })
    }
}

type Registry = Mutex<HashMap<ShapeKey, Weak<Shape>>>;

/// The running shapes of this server.
pub struct Shapes {
    running: Arc<Registry>,
    metrics: Metrics,
}

/// One running operation and the sockets' view of its results.
struct Shape {
    key: ShapeKey,
    registry: Weak<Registry>,
    results: broadcast::Sender<Option<Frame>>,
    execution: AbortHandle,
    _live: Live,
}

impl Drop for Shape {
    /// The last socket left: stop executing, and forget the shape unless a
    /// new one took its place.
    fn drop(&mut self) {
        self.execution.abort();
        if let Some(registry) = self.registry.upgrade() {
            let mut running = lock(&registry);
            if running
                .get(&self.key)
                .is_some_and(|s| s.strong_count() == 0)
            {
                running.remove(&self.key);
            }
        }
    }
}

fn lock(registry: &Registry) -> std::sync::MutexGuard<'_, HashMap<ShapeKey, Weak<Shape>>> {
    registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shapes {
    /// No shapes yet; executions are counted in `metrics`.
    pub fn new(metrics: Metrics) -> Shapes {
        Shapes {
            running: Arc::default(),
            metrics,
        }
    }

    /// The results of an operation: with a shape `key`, shared with every
    /// socket of that shape (see `join`); without, run by `execute` for
    /// this socket alone.
    pub fn run<S>(
        &self,
        key: Option<ShapeKey>,
        execute: impl FnOnce() -> S,
    ) -> BoxStream<'static, Frame>
    where
        S: Stream<Item = async_graphql::Response> + Send + 'static,
    {
        let Some(key) = key else {
            let metrics = self.metrics.clone();
            return execute()
                .map(move |response| {
                    metrics.ws_result_executed();
                    Frame::of(response)
                })
                .boxed();
        };
        self.join(key, execute)
    }

    /// The results of shape `key`: joins it while it runs, else starts it
    /// with `execute`.
    fn join<S>(&self, key: ShapeKey, execute: impl FnOnce() -> S) -> BoxStream<'static, Frame>
    where
        S: Stream<Item = async_graphql::Response> + Send + 'static,
    {
        let mut running = lock(&self.running);
        if let Some(shape) = running.get(&key).and_then(Weak::upgrade) {
            // Subscribed under the lock: before the shape can end (it leaves
            // the registry, under the lock, before its last result or error).
            let results = shape.results.subscribe();
            return follow(shape, results);
        }
        let (results, receiver) = broadcast::channel(BACKLOG);
        let (execution, registration) = AbortHandle::new_pair();
        let shape = Arc::new(Shape {
            key: key.clone(),
            registry: Arc::downgrade(&self.running),
            results: results.clone(),
            execution,
            _live: self.metrics.ws_shared_execution(),
        });
        running.insert(key.clone(), Arc::downgrade(&shape));
        let registry = Arc::downgrade(&self.running);
        let own = Arc::downgrade(&shape);
        let responses = execute();
        let metrics = self.metrics.clone();
        // Leaves the registry before the last result goes out, so that a
        // socket either joined in time for it or starts afresh (never
        // upgrade `own` here: its drop could need this lock).
        let retire = move || {
            if let Some(registry) = registry.upgrade() {
                let mut running = lock(&registry);
                if running.get(&key).is_some_and(|s| s.ptr_eq(&own)) {
                    running.remove(&key);
                }
            }
        };
        let run = async move {
            futures_util::pin_mut!(responses);
            let mut last = None;
            while let Some(response) = responses.next().await {
                metrics.ws_result_executed();
                let frame = Frame::of(response);
                if matches!(frame, Frame::Error(_)) {
                    last = Some(frame);
                    break;
                }
                // No socket may be listening at this instant; that is fine.
                let _ = results.send(Some(frame));
            }
            retire();
            if let Some(error) = last {
                let _ = results.send(Some(error));
            }
            let _ = results.send(None);
        };
        tokio::spawn(Abortable::new(run, registration));
        follow(shape, receiver)
    }
}

/// One socket's results of `shape`, until it ends (or the socket falls
/// more than `BACKLOG` behind).
fn follow(
    shape: Arc<Shape>,
    results: broadcast::Receiver<Option<Frame>>,
) -> BoxStream<'static, Frame> {
    futures_util::stream::unfold(Some((shape, results)), |state| async move {
        let (shape, mut results) = state?;
        match results.recv().await {
            Ok(Some(frame)) => Some((frame, Some((shape, results)))),
            Ok(None) | Err(RecvError::Closed) => None,
            Err(RecvError::Lagged(_)) => {
                let message = format!(
                    "this subscription fell more than {BACKLOG} results behind; \
                     subscribe again with `after` the last cursor received"
                );
                let error = coded_error(&message, "SUBSCRIPTION_LAGGED");
                Some((Frame::Error(vec![error].into()), None))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ids::{ApiKeyId, OrganizationId};
    use crate::domain::auth::Actor;

    fn key(query: &str, variables: serde_json::Value) -> Option<ShapeKey> {
        let viewer = Viewer {
            organization_id: OrganizationId(1),
            actor: Actor::ApiKey(ApiKeyId(1)),
        };
        let mut request =
            Request::new(query).variables(async_graphql::Variables::from_json(variables));
        ShapeKey::of(viewer, &mut request)
    }

    #[test]
    fn live_subscriptions_share_and_replays_run_alone() {
        let by_variable = "subscription($id: ID!, $after: String) { threadEvents(threadId: $id, after: $after) { kind } }";
        let live = key(by_variable, serde_json::json!({ "id": "thrd_1" }));
        assert!(live.is_some());
        // A null `after` is live too; but a missing variable and a null one
        // are told apart (an argument's default applies to the first only).
        let null_after = key(
            by_variable,
            serde_json::json!({ "id": "thrd_1", "after": null }),
        );
        assert!(null_after.is_some());
        assert_ne!(live, null_after);
        assert_ne!(
            live,
            key(by_variable, serde_json::json!({ "id": "thrd_2" }))
        );
        // Whether each subscription has a shape (shares) or runs alone.
        let replay = serde_json::json!({ "id": "thrd_1", "after": "ZTE6Mw" });
        for (query, variables, shares) in [
            (by_variable, replay, false),
            (
                "subscription { inboxEvents(after: null) { kind } }",
                serde_json::json!({}),
                true,
            ),
            (
                r#"subscription { inboxEvents(after: "ZTE6Mw") { kind } }"#,
                serde_json::json!({}),
                false,
            ),
            (
                "subscription { ...F } fragment F on Subscription { inboxEvents { kind } }",
                serde_json::json!({}),
                false,
            ),
            (
                "{ viewer { organization { id } } }",
                serde_json::json!({}),
                false,
            ),
        ] {
            assert_eq!(key(query, variables).is_some(), shares, "{query}");
        }
    }

    fn any_key() -> ShapeKey {
        key(
            "subscription { inboxEvents { kind } }",
            serde_json::json!({}),
        )
        .unwrap_or_else(|| panic!("a live subscription has a shape"))
    }

    /// `n` results, ready at once, numbered in their data.
    fn results(n: usize) -> impl Stream<Item = async_graphql::Response> + Send + 'static {
        futures_util::stream::iter((0..n).map(|i| {
            async_graphql::Response::new(
                async_graphql::Value::from_json(serde_json::json!({ "n": i })).unwrap_or_default(),
            )
        }))
    }

    /// Lets the spawned executions run.
    async fn settle() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    fn texts(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Next(json) => json.to_string(),
                Frame::Error(errors) => format!("error {:?}", errors[0].extensions),
            })
            .collect()
    }

    #[tokio::test]
    async fn joiners_share_one_execution_and_a_new_one_starts_after_it_ends() {
        let shapes = Shapes::new(Metrics::new());
        let started = std::sync::atomic::AtomicUsize::new(0);
        let execute = || {
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Waits for both sockets before its three results.
            futures_util::stream::once(tokio::time::sleep(std::time::Duration::from_millis(50)))
                .flat_map(|()| results(3))
        };
        let first = shapes.join(any_key(), execute);
        let second = shapes.join(any_key(), execute);
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1);
        let (first, second): (Vec<Frame>, Vec<Frame>) =
            tokio::join!(first.collect(), second.collect());
        assert_eq!(
            texts(&first),
            [
                r#"{"data":{"n":0}}"#,
                r#"{"data":{"n":1}}"#,
                r#"{"data":{"n":2}}"#
            ]
        );
        assert_eq!(texts(&first), texts(&second));
        // Ended and forgotten: the next socket starts it again.
        let third: Vec<Frame> = shapes.join(any_key(), execute).collect().await;
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(third.len(), 3);
        assert!(lock(&shapes.running).is_empty());
    }

    #[tokio::test]
    async fn a_socket_too_far_behind_is_told_and_ended() {
        let shapes = Shapes::new(Metrics::new());
        let behind = shapes.join(any_key(), || results(BACKLOG + 10));
        settle().await;
        let frames: Vec<Frame> = behind.collect().await;
        assert_eq!(frames.len(), 1, "{:?}", texts(&frames));
        assert!(
            texts(&frames)[0].contains("SUBSCRIPTION_LAGGED"),
            "{:?}",
            texts(&frames)
        );
    }

    #[tokio::test]
    async fn the_execution_stops_when_the_last_socket_leaves() {
        let shapes = Shapes::new(Metrics::new());
        let produced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = produced.clone();
        let endless = move || {
            futures_util::stream::repeat(()).then(move |()| {
                let counter = counter.clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async_graphql::Response::new(Value::Null)
                }
            })
        };
        let socket = shapes.join(any_key(), endless);
        settle().await;
        assert!(produced.load(std::sync::atomic::Ordering::SeqCst) > 0);
        assert_eq!(lock(&shapes.running).len(), 1);
        drop(socket);
        assert!(lock(&shapes.running).is_empty());
        settle().await;
        let stopped_at = produced.load(std::sync::atomic::Ordering::SeqCst);
        settle().await;
        assert_eq!(
            produced.load(std::sync::atomic::Ordering::SeqCst),
            stopped_at
        );
    }

    #[tokio::test]
    async fn an_operation_that_cannot_run_tells_every_socket_and_ends() {
        let shapes = Shapes::new(Metrics::new());
        let invalid = || {
            futures_util::stream::iter([async_graphql::Response::from_errors(vec![
                ServerError::new("unknown field", None),
            ])])
        };
        let first = shapes.join(any_key(), invalid);
        let second = shapes.join(any_key(), invalid);
        let (first, second): (Vec<Frame>, Vec<Frame>) =
            tokio::join!(first.collect(), second.collect());
        for frames in [first, second] {
            assert!(
                matches!(frames.as_slice(), [Frame::Error(errors)] if errors[0].message == "unknown field"),
                "{:?}",
                texts(&frames)
            );
        }
        assert!(lock(&shapes.running).is_empty());
    }
}
