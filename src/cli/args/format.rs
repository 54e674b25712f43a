//! `--format` of the listing verbs (`ps`, `images`, `ls`, `stats`, `system df`).

use clap::ValueEnum;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}
