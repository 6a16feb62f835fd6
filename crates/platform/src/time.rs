//! Time is stored and computed in UTC; local times appear only at the edges.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Parses an IANA time-zone name such as `Europe/Paris`.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone like Europe/Paris"))
}

/// `2024-10-01 10:00` in the given zone, as seed 002's API writes times.
pub fn local_minutes(at: DateTime<Utc>, zone: &str) -> String {
    match time_zone(zone) {
        Ok(tz) => at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => at.format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// RFC 3339 with the zone's offset, e.g. `2024-10-01T10:00:00+02:00`.
pub fn local_rfc3339(at: DateTime<Utc>, zone: &str) -> String {
    match time_zone(zone) {
        Ok(tz) => at.with_timezone(&tz).to_rfc3339(),
        Err(_) => at.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn local_times_follow_the_zone_and_its_daylight_saving() {
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        assert_eq!(local_minutes(summer, "Europe/Paris"), "2026-07-01 10:00");
        assert_eq!(local_minutes(winter, "Europe/Paris"), "2026-12-01 09:00");
        assert_eq!(
            local_rfc3339(winter, "America/New_York"),
            "2026-12-01T03:00:00-05:00"
        );
        assert!(time_zone("Mars/Olympus").is_err());
    }
}
