//! The kinds of message, stored by name in `messages.kind`. An unknown stored
//! name is an error when read, never silently taken for another kind.

crate::text_enum! {
    /// What a message is.
    #[derive(Default)]
    pub enum MessageKind {
        /// Written by a person.
        #[default]
        Text = "text",
        /// Written by the system, e.g. when a subscriber joins or leaves.
        Meta = "meta",
        /// A shipment's tracking changed.
        TrackingUpdate = "tracking_update",
        /// A reminder of a pickup.
        PickupReminder = "pickup_reminder",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for &kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(MessageKind::parse("carrier_pigeon"), None);
        assert!(serde_json::from_str::<MessageKind>("\"carrier_pigeon\"").is_err());
    }
}
