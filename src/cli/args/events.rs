//! Flags of `wharf events`.

use clap::Args;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Services (project mode): only their containers' events
    pub services: Vec<String>,
    /// Print each event as one JSON object per line
    #[arg(long)]
    pub json: bool,
    /// `json` (or `{{json .}}`): Docker's JSON event messages
    #[arg(long)]
    pub format: Option<String>,
    /// Show events since this time (RFC 3339, Unix seconds, or a duration ago)
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (RFC 3339, Unix seconds, or a duration ago)
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: container=NAME|ID, service=NAME, event=ACTION, type=, image=, label=K[=V] (repeatable)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}
