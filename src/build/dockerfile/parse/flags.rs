//! Builder flags (`--from=…`, BuildKit's BFlags) and "did you mean"
//! suggestions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagKind {
    Bool,
    String,
    Strings,
}

/// Parsed builder flags (BuildKit's BFlags, with its error wording).
pub(super) struct Flags {
    values: Vec<(String, Vec<String>)>,
}

impl Flags {
    pub(super) fn parse(words: &[String], spec: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut values: Vec<(String, Vec<String>)> = Vec::new();
        for word in words {
            if word == "--" {
                break;
            }
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {word}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some((_, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let mut message = format!("unknown flag: --{name}");
                let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
                if let Some(s) = suggest(name, &names, true) {
                    message.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(message);
            };
            let seen = values.iter().position(|(n, _)| n == name);
            if seen.is_some() && *kind != FlagKind::Strings {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match kind {
                FlagKind::Bool => match value.map(str::to_ascii_lowercase).as_deref() {
                    Some("") => return Err(format!("missing a value on flag: --{name}")),
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                },
                FlagKind::String | FlagKind::Strings => match value {
                    Some(value) => value.to_string(),
                    None => return Err(format!("missing a value on flag: --{name}")),
                },
            };
            match seen {
                Some(i) => values[i].1.push(value),
                None => values.push((name.to_string(), vec![value])),
            }
        }
        Ok(Flags { values })
    }

    pub(super) fn strings(&self, name: &str) -> &[String] {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.strings(name).last().cloned()
    }

    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// The closest of `options` within edit distance 2 (BuildKit's suggestions).
pub(super) fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let normalize = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_ascii_lowercase()
        }
    };
    let value_n = normalize(value);
    let mut best: Option<(usize, &str)> = None;
    for option in options {
        let option_n = normalize(option);
        if option_n == value_n {
            return None;
        }
        let distance = levenshtein(&value_n, &option_n);
        if distance < 3 && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, option));
        }
    }
    best.map(|(_, option)| {
        if !case_sensitive && value == value.to_ascii_lowercase() {
            option.to_ascii_lowercase()
        } else {
            option.to_string()
        }
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
