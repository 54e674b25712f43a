//! Time formatting shared by logs, state files and listings.

use std::time::SystemTime;

/// RFC 3339 UTC with nanoseconds, as Docker stamps its log lines.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, day, h, mi, s) = civil(secs);
    format!(
        "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:09}Z",
        d.subsec_nanos()
    )
}

/// Go's `time.Time.String()` in UTC (`2024-01-02 03:04:05 +0000 UTC`), as
/// Docker's listings print `CreatedAt`.
pub fn go_time_text(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (y, mo, day, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{day:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// Go's `time.Stamp` (`Jan  2 15:04:05`) in UTC, as syslog's BSD
/// timestamps read.
pub fn syslog_stamp(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (_, mo, day, h, mi, s) = civil(secs);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{month} {day:>2} {h:02}:{mi:02}:{s:02}")
}

/// Go's `time.RFC3339` in UTC: whole seconds, `Z`.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let text = rfc3339_nanos(t);
    format!("{}Z", &text[..19])
}

/// Go's `2006-01-02T15:04:05.999999Z07:00` in UTC: microseconds with
/// trailing zeros (and a bare dot) dropped.
pub fn rfc3339_micros(t: SystemTime) -> String {
    let text = rfc3339_nanos(t);
    let frac = text[20..26].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}Z", &text[..19])
    } else {
        format!("{}.{frac}Z", &text[..19])
    }
}

/// Seconds since the epoch → UTC calendar fields (Howard Hinnant's algorithm).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Parses what [`rfc3339_nanos`] writes (and any `YYYY-MM-DDTHH:MM:SS[.frac]Z`).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").get(..9)?.parse().ok()?
    };
    // Days from civil (inverse of `civil`).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::new(secs, nanos))
}

/// Docker's `units.HumanDuration`: "Less than a second", "5 seconds",
/// "About a minute", "3 hours", "2 weeks", …
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let hours = secs / 3600;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if secs / 60 == 1 => "About a minute".into(),
        _ if secs / 60 < 60 => format!("{} minutes", secs / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_000_000, 5);
        assert_eq!(rfc3339_nanos(t), "2026-11-18T11:06:40.000000005Z");
    }

    #[test]
    fn parse_inverts_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_000_000, 123_456_789);
        assert_eq!(parse_rfc3339(&rfc3339_nanos(t)), Some(t));
        let leap = SystemTime::UNIX_EPOCH + std::time::Duration::new(951_782_400, 0);
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(leap));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn human_durations_read_like_docker() {
        let s = std::time::Duration::from_secs;
        assert_eq!(human_duration(s(0)), "Less than a second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(3 * 3600)), "3 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }
}
