//! Helpers shared by the integration tests that build logs by hand.

use glassbox_recommend::Interaction;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// `user` bought `item` at the start of `day`, in the basket `user-day`.
pub fn buy(user: &str, item: &str, day: i64) -> Interaction {
    Interaction {
        user: user.into(),
        item: item.into(),
        time: day * DAY,
        basket: format!("{user}-{day}"),
    }
}
