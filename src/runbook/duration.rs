//! Human durations as runbooks write them: `30s`, `10m`, `1h30m`, `4 hours`,
//! and estimate ranges such as `2-4 hours` or `6h-8h`.

use std::time::Duration;

use super::model::Estimate;

/// A duration such as `30s`, `10m`, `2h`, `1h30m` or `1.5 hours`; `None`
/// when it is not one (every number needs a unit).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let parts = parse_parts(text)?;
    parts.iter().try_fold(Duration::ZERO, |total, &(amount, unit)| {
        total.checked_add(Duration::try_from_secs_f64(amount * unit? as f64).ok()?)
    })
}

/// An estimate: one duration (`45m`, `4 hours`) or a range (`2-4 hours`,
/// `6h-8h`, `1h30m to 2h`) whose lower end may borrow the upper end's unit.
pub fn parse_estimate(text: &str) -> Result<Estimate, String> {
    let shape = || {
        format!("estimate \"{text}\" is not a duration or a range like \"2-4 hours\", \"6h-8h\" or \"45m\"")
    };
    let (low, high) = match split_range(text) {
        Some((low, high)) => (low, Some(high)),
        None => (text, None),
    };
    let max = match high {
        Some(high) => parse_duration(high).ok_or_else(shape)?,
        None => parse_duration(low).ok_or_else(shape)?,
    };
    let min = match (high, parse_duration(low)) {
        (None, _) => max,
        (Some(_), Some(min)) => min,
        // `2-4 hours`: a bare lower number takes the upper end's last unit.
        (Some(high), None) => {
            let amount: f64 = low.trim().parse().map_err(|_| shape())?;
            let unit = parse_parts(high)
                .and_then(|p| p.last().and_then(|&(_, u)| u))
                .ok_or_else(shape)?;
            Duration::try_from_secs_f64(amount * unit as f64).map_err(|_| shape())?
        }
    };
    if min > max {
        return Err(format!(
            "estimate \"{text}\" starts above where it ends; write the smaller duration first"
        ));
    }
    Ok(Estimate { min, max })
}

/// A duration the way runbooks write it: `1h30m`, `45m`, `30s`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// An estimate as `2h-4h`, or `45m` when both ends agree.
pub fn format_estimate(estimate: &Estimate) -> String {
    if estimate.min == estimate.max {
        format_duration(estimate.max)
    } else {
        format!(
            "{}-{}",
            format_duration(estimate.min),
            format_duration(estimate.max)
        )
    }
}

fn split_range(text: &str) -> Option<(&str, &str)> {
    if let Some(i) = text.find(['-', '\u{2013}', '\u{2014}']) {
        let dash_len = text[i..].chars().next().map_or(1, char::len_utf8);
        return Some((&text[..i], &text[i + dash_len..]));
    }
    text.find(" to ").map(|i| (&text[..i], &text[i + 4..]))
}

/// `1h 30m` -> [(1, Some(3600)), (30, Some(60))]; a trailing bare number
/// has no unit. `None` when the text is not numbers and units.
fn parse_parts(text: &str) -> Option<Vec<(f64, Option<u64>)>> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let amount: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        if unit.is_empty() {
            if !rest.is_empty() {
                return None;
            }
            parts.push((amount, None));
        } else {
            parts.push((amount, Some(unit_seconds(unit)?)));
        }
    }
    (!parts.is_empty()).then_some(parts)
}

fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn range(text: &str) -> (u64, u64) {
        let e = parse_estimate(text).unwrap();
        (e.min.as_secs(), e.max.as_secs())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5 hours"), Some(Duration::from_secs(5400)));
        for bad in ["", "10", "10x", "m", "1h 30", "-5m", "1..2h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn estimates() {
        assert_eq!(range("2-4 hours"), (2 * H, 4 * H));
        assert_eq!(range("6h-8h"), (6 * H, 8 * H));
        assert_eq!(range("45m"), (2700, 2700));
        assert_eq!(range("1h30m"), (5400, 5400));
        assert_eq!(range("4 hours"), (4 * H, 4 * H));
        assert_eq!(range("30m to 1h"), (1800, H));
        assert_eq!(range("2\u{2013}3 hours"), (2 * H, 3 * H));
        assert!(parse_estimate("soon").is_err());
        assert!(parse_estimate("2-").is_err());
        assert!(parse_estimate("5-4h").unwrap_err().contains("smaller"));
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_estimate(&parse_estimate("2-4 hours").unwrap()), "2h-4h");
    }
}
