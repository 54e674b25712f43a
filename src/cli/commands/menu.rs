//! `up --menu`: Compose's navigation menu beside the attached logs — a
//! line at the bottom naming the keys, `w` to turn the watch on or off,
//! `d` to detach (the containers run on), Ctrl-C to stop as ever. The
//! Docker Desktop entries (`v`, `o`, `l`) have no counterpart here.

use crate::supervise::pty::RawMode;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::sync::mpsc::{channel, Receiver};

/// Whether the menu is on: with `--menu` (or COMPOSE_MENU true when the
/// flag is not given) and a terminal on both ends. Compose turns it on by
/// default in a terminal; wharf waits to be asked, so a plain `up` keeps
/// its terminal as it was.
pub fn wanted(flag: Option<bool>) -> bool {
    let asked = flag.unwrap_or_else(|| crate::cli::resolve::env_true("COMPOSE_MENU"));
    asked && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// What a key asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Key {
    ToggleWatch,
    Detach,
    Interrupt,
}

/// The keyboard (our terminal in key mode until dropped) and the line.
pub struct Menu {
    keys: Receiver<u8>,
    _mode: RawMode,
    pub watching: bool,
    shown: bool,
}

impl Menu {
    pub fn start(watching: bool) -> Menu {
        let mode = RawMode::keys();
        let (tx, keys) = channel();
        // Left to die with the process, as pty::pump_input's reader.
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while let Ok(1) = std::io::stdin().lock().read(&mut b) {
                if tx.send(b[0]).is_err() {
                    break;
                }
            }
        });
        Menu {
            keys,
            _mode: mode,
            watching,
            shown: false,
        }
    }

    /// The keys typed since the last call that mean something.
    pub fn keys(&self) -> Vec<Key> {
        self.keys.try_iter().filter_map(key_of).collect()
    }

    /// Takes the menu line away before other output.
    pub fn hide(&mut self) {
        if self.shown {
            print!("\r\x1b[2K");
            let _ = std::io::stdout().flush();
            self.shown = false;
        }
    }

    /// Shows the menu line (without a newline) under the output.
    pub fn show(&mut self) {
        if !self.shown {
            print!("{}", text(self.watching));
            let _ = std::io::stdout().flush();
            self.shown = true;
        }
    }
}

impl Drop for Menu {
    fn drop(&mut self) {
        self.hide();
    }
}

fn key_of(b: u8) -> Option<Key> {
    match b {
        b'w' => Some(Key::ToggleWatch),
        b'd' => Some(Key::Detach),
        0x03 => Some(Key::Interrupt),
        _ => None,
    }
}

/// Compose's menu line: each key bold black on white, its words faint,
/// three spaces apart.
fn text(watching: bool) -> String {
    let item = |k: &str, words: &str| {
        format!("\x1b[1;38;2;0;0;0;48;2;255;255;255m{k}\x1b[0m\x1b[2m {words}\x1b[0m")
    };
    let watch = if watching {
        "Disable Watch"
    } else {
        "Enable Watch"
    };
    format!("{}   {}", item("w", watch), item("d", "Detach"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_names_the_keys_as_compose_does() {
        let strip = |s: String| {
            let mut out = String::new();
            let mut esc = false;
            for c in s.chars() {
                match (esc, c) {
                    (false, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (false, c) => out.push(c),
                    _ => {}
                }
            }
            out
        };
        assert_eq!(strip(text(false)), "w Enable Watch   d Detach");
        assert_eq!(strip(text(true)), "w Disable Watch   d Detach");
        assert_eq!(key_of(b'd'), Some(Key::Detach));
        assert_eq!(key_of(b'w'), Some(Key::ToggleWatch));
        assert_eq!(key_of(3), Some(Key::Interrupt));
        assert_eq!(key_of(b'x'), None);
    }
}
