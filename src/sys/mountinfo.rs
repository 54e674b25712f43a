//! /proc/self/mountinfo helpers.

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash) in a path field.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points in a mountinfo text (the fifth field), unescaped.
pub fn mount_points(mountinfo: &str) -> impl Iterator<Item = std::path::PathBuf> + '_ {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| std::path::PathBuf::from(unescape(m)))
}

/// Whether anything is mounted at `dir` or below it in this process's
/// mount namespace.
pub fn has_mount_under(dir: &std::path::Path) -> std::io::Result<bool> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let found = mount_points(&text).any(|m| m.starts_with(dir));
    Ok(found)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_points_are_the_fifth_field() {
        let text = "36 35 98:0 /mnt1 /mnt\\040a rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /proc rw - proc proc rw\n";
        let points: Vec<_> = super::mount_points(text).collect();
        assert_eq!(
            points,
            vec![
                std::path::PathBuf::from("/mnt a"),
                std::path::PathBuf::from("/proc")
            ]
        );
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(super::unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}
