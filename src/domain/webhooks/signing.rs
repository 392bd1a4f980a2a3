//! Webhook signing: the secret, the header names, and the HMAC-SHA256 of
//! `timestamp.body` that lets a receiver check a delivery came from us.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2_hmac::Sha256;

/// The Unix time (seconds) the delivery was signed at.
pub const TIMESTAMP_HEADER: &str = "confab-timestamp";
/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>`.
pub const SIGNATURE_HEADER: &str = "confab-signature";
/// The event's cursor: the same on every retry and redelivery of an event.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The event kind, e.g. `MESSAGE_ADDED`.
pub const EVENT_HEADER: &str = "confab-event";
/// The delivery's id (`whd_…`); a redelivery has a new one.
pub const DELIVERY_HEADER: &str = "confab-delivery";

/// Random characters after the `whsec_` prefix (about 238 bits).
const SECRET_RANDOM_LEN: usize = 40;

/// A new signing secret, `whsec_…`.
pub fn generate_secret() -> String {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_RANDOM_LEN)
        .map(char::from)
        .collect();
    format!("whsec_{random}")
}

/// The signature header's value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // Computed independently:
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test`.
        let signature = sign("whsec_test", 1_700_000_000, "{}");
        assert_eq!(
            signature,
            "v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        assert_ne!(signature, sign("whsec_other", 1_700_000_000, "{}"));
        assert_ne!(signature, sign("whsec_test", 1_700_000_001, "{}"));
        assert!(generate_secret().starts_with("whsec_"));
    }
}
