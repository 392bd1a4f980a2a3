//! Unit tests of the metrics recorder.
//! Each test installs its own recorder, as an Application does.
use super::*;

#[test]
fn requests_and_refusals_render_with_their_labels() {
    let metrics = Metrics::new();
    let mut request = metrics.graphql_request();
    request.set_operation(Operation::Mutation);
    request.finish(&Response::new(axum::body::Body::empty()));
    drop(metrics.graphql_request());
    metrics.refused(Transport::WebSocket, Refused::TooManySubscriptions);
    let live = metrics.ws_subscription();
    let text = metrics.render();
    assert!(
        text.contains(r#"confab_graphql_requests_total{operation="mutation",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"confab_graphql_requests_total{operation="none",outcome="cancelled"} 1"#)
    );
    assert!(text.contains(
        r#"confab_rate_limit_refusals_total{transport="ws",reason="TOO_MANY_SUBSCRIPTIONS"} 1"#
    ));
    assert!(!text.contains(r#"transport="ws",reason="TOO_MANY_CONCURRENT_REQUESTS""#));
    assert!(text.contains("confab_ws_subscriptions 1"));
    assert!(
        text.contains(r#"confab_graphql_request_duration_seconds_count{operation="mutation"} 1"#)
    );
    drop(live);
    assert!(metrics.render().contains("confab_ws_subscriptions 0"));
}

#[test]
fn variants_index_their_handles() {
    for (index, operation) in Operation::ALL.iter().enumerate() {
        assert_eq!(*operation as usize, index);
    }
    for (index, outcome) in Outcome::ALL.iter().enumerate() {
        assert_eq!(*outcome as usize, index);
    }
    for (index, transport) in Transport::ALL.iter().enumerate() {
        assert_eq!(*transport as usize, index);
    }
    for (index, reason) in Refused::ALL.iter().enumerate() {
        assert_eq!(*reason as usize, index);
    }
}

#[test]
fn each_application_has_its_own_values() {
    let (a, b) = (Metrics::new(), Metrics::new());
    a.refused(Transport::Http, Refused::RateLimited);
    assert!(a.render().contains(r#"reason="RATE_LIMITED"} 1"#));
    assert!(b.render().contains(r#"reason="RATE_LIMITED"} 0"#));
}
