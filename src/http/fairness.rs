//! Per-token fairness: a request rate (a token bucket, by `governor`) and a
//! cap on operations running at once, so that one tenant's burst cannot take
//! the capacity every other tenant shares.

use foldhash::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::auth::Actor;

/// The limits, from the config.
#[derive(Clone, Copy, Debug)]
pub struct FairnessLimits {
    /// Sustained requests per second per token.
    pub rate_per_second: u32,
    /// Requests a token may make at once above its rate.
    pub burst: u32,
    /// Operations a token may have running at once.
    pub concurrency: usize,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate; the next request is allowed after this long.
    RateLimited { retry_after: Duration },
    /// The token already has its maximum of operations running.
    TooManyConcurrent,
}

impl Refusal {
    /// Seconds for a `Retry-After` header (at least one).
    pub fn retry_after_seconds(self) -> u64 {
        match self {
            Refusal::RateLimited { retry_after } => {
                retry_after.as_secs_f64().ceil().max(1.0) as u64
            }
            Refusal::TooManyConcurrent => 1,
        }
    }

    /// Stable reason, for `extensions.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::RateLimited { .. } => "RATE_LIMITED",
            Refusal::TooManyConcurrent => "TOO_MANY_CONCURRENT_REQUESTS",
        }
    }
}

/// Admits or refuses each token's requests.
pub struct Fairness {
    limits: FairnessLimits,
    rate: DefaultKeyedRateLimiter<Actor>,
    running: Arc<Mutex<HashMap<Actor, usize>>>,
}

/// Tokens whose rate state is kept before idle ones are forgotten.
const RATE_KEYS_KEPT: usize = 10_000;

impl Fairness {
    /// Fairness with these limits (zeroes are raised to one).
    pub fn new(limits: FairnessLimits) -> Fairness {
        let rate = NonZeroU32::new(limits.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(rate);
        Fairness {
            limits,
            rate: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            running: Arc::default(),
        }
    }

    /// Counts one request of `actor` against its rate only (a WebSocket
    /// subscription: long-lived, so not counted as running).
    pub fn check_rate(&self, actor: Actor) -> Result<(), Refusal> {
        if self.rate.len() > RATE_KEYS_KEPT {
            self.rate.retain_recent();
        }
        self.rate
            .check_key(&actor)
            .map_err(|not_until| Refusal::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// Admits one operation of `actor`: within its rate and its concurrency
    /// cap. The permit counts as running until dropped.
    pub fn admit(&self, actor: Actor) -> Result<Permit, Refusal> {
        self.check_rate(actor)?;
        let mut running = lock(&self.running);
        let count = running.entry(actor).or_insert(0);
        if *count >= self.limits.concurrency.max(1) {
            return Err(Refusal::TooManyConcurrent);
        }
        *count += 1;
        Ok(Permit {
            actor,
            running: self.running.clone(),
        })
    }
}

/// One running operation; dropping it frees the slot.
pub struct Permit {
    actor: Actor,
    running: Arc<Mutex<HashMap<Actor, usize>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if let Some(count) = running.get_mut(&self.actor) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.actor);
            }
        }
    }
}

fn lock(running: &Mutex<HashMap<Actor, usize>>) -> MutexGuard<'_, HashMap<Actor, usize>> {
    running
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ids::{ApiKeyId, UserId};

    fn fairness(rate: u32, burst: u32, concurrency: usize) -> Fairness {
        Fairness::new(FairnessLimits {
            rate_per_second: rate,
            burst,
            concurrency,
        })
    }

    #[test]
    fn concurrency_is_per_token_and_freed_on_drop() {
        let fairness = fairness(1000, 1000, 2);
        let a = Actor::ApiKey(ApiKeyId(1));
        let first = fairness.admit(a);
        let second = fairness.admit(a);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(fairness.admit(a).err(), Some(Refusal::TooManyConcurrent));
        assert!(
            fairness.admit(Actor::ApiKey(ApiKeyId(2))).is_ok(),
            "another token is not affected"
        );
        drop(first);
        assert!(fairness.admit(a).is_ok());
    }

    #[test]
    fn rate_refuses_beyond_the_burst_with_a_wait() {
        let fairness = fairness(1, 3, 100);
        let a = Actor::User(UserId(7));
        for _ in 0..3 {
            assert!(fairness.check_rate(a).is_ok());
        }
        match fairness.check_rate(a) {
            Err(refusal @ Refusal::RateLimited { .. }) => {
                assert_eq!(refusal.retry_after_seconds(), 1)
            }
            other => panic!("expected a rate refusal, got {other:?}"),
        }
        assert!(fairness.check_rate(Actor::User(UserId(8))).is_ok());
    }
}
