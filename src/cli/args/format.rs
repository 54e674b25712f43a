//! `--format` of the listing verbs (`ps`, `images`, `ls`, `stats`, `system df`,
//! `volume ls`, `network ls`, `events`).

use std::convert::Infallible;
use std::str::FromStr;

/// Docker's reading of `--format`: `table` (the default columns), `json`
/// (one object per row), or a Go template (`table {{.ID}}\t{{.Status}}`
/// for a table with a header row, `{{.Names}}` for one line per row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
    Template(String),
}

impl FromStr for ListFormat {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<ListFormat, Infallible> {
        Ok(match s.trim() {
            "" | "table" => ListFormat::Table,
            "json" => ListFormat::Json,
            _ => ListFormat::Template(s.to_string()),
        })
    }
}
