//! Kubernetes names from compose names.
//!
//! Compose allows `[a-zA-Z0-9._-]` in service, volume, network, config and
//! secret names; Kubernetes wants DNS-1123 labels (`[a-z0-9-]`, starting and
//! ending with an alphanumeric, at most 63 characters; a Service name must
//! also start with a letter). Names are converted by one fixed rule so the
//! output is stable, and every change is reported by the caller.

/// Longest DNS-1123 label.
pub const MAX_LABEL: usize = 63;

/// The DNS-1035 label for `name` (valid as a Service name, and so as any
/// other object name): lower-case, `_` and `.` become `-`, other characters
/// are dropped, leading and trailing `-` trimmed, an `x-` prefix when it
/// would not start with a letter, cut at 63 characters. `None` when nothing
/// usable is left.
pub fn dns_label(name: &str) -> Option<String> {
    let mut out: String = name
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | '.' => Some('-'),
            _ => None,
        })
        .collect();
    out = out.trim_matches('-').to_string();
    if out.is_empty() {
        return None;
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out = format!("x-{out}");
    }
    if out.len() > MAX_LABEL {
        out.truncate(MAX_LABEL);
        out = out.trim_end_matches('-').to_string();
    }
    Some(out)
}

/// Whether `name` is already a DNS-1035 label (no conversion needed).
pub fn is_dns_label(name: &str) -> bool {
    dns_label(name).as_deref() == Some(name)
}

/// `base-suffix`, kept within 63 characters by shortening `base`.
pub fn with_suffix(base: &str, suffix: &str) -> String {
    let room = MAX_LABEL.saturating_sub(suffix.len() + 1);
    let mut head = base.to_string();
    if head.len() > room {
        head.truncate(room);
        head = head.trim_end_matches('-').to_string();
    }
    format!("{head}-{suffix}")
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending alphanumeric. Project names already fit; this keeps odd ones valid.
pub fn label_value(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(MAX_LABEL)
        .collect();
    kept.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Whether `key` is a valid label or annotation key: an optional DNS
/// subdomain prefix and `/`, then a name of at most 63 characters.
pub fn is_qualified_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= MAX_LABEL
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_names_become_dns_labels() {
        assert_eq!(dns_label("web").as_deref(), Some("web"));
        assert_eq!(dns_label("my_app").as_deref(), Some("my-app"));
        assert_eq!(dns_label("My.App").as_deref(), Some("my-app"));
        assert_eq!(dns_label("_db_").as_deref(), Some("db"));
        assert_eq!(dns_label("1web").as_deref(), Some("x-1web"));
        assert_eq!(dns_label("___"), None);
        let long = "a".repeat(80);
        assert_eq!(dns_label(&long).map(|s| s.len()), Some(63));
        assert!(is_dns_label("db"));
        assert!(!is_dns_label("my_app"));
    }

    #[test]
    fn suffixes_keep_names_within_63_characters() {
        assert_eq!(with_suffix("web", "published"), "web-published");
        let long = "a".repeat(63);
        let name = with_suffix(&long, "published");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-published"));
    }

    #[test]
    fn qualified_keys() {
        assert!(is_qualified_key("com.example.team"));
        assert!(is_qualified_key("example.com/team"));
        assert!(!is_qualified_key("Example.com/team"));
        assert!(!is_qualified_key("has space"));
        assert!(!is_qualified_key("a/b/c"));
        assert!(!is_qualified_key(""));
        assert_eq!(label_value("-my_project-"), "my_project");
    }
}
