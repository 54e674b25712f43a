//! The parsed Dockerfile: stages of located instructions.
//!
//! Words that the builder substitutes (`$VAR`, `${VAR:-x}`) are kept exactly
//! as written; the executor expands them at build time with the stage's
//! ARG/ENV values through [`super::expand`], which knows per instruction
//! which words are expanded. Flags whose values need expansion before they
//! can be typed (`RUN --mount=...`) are kept raw here and typed there.

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG` instructions before the first `FROM`: they are only in scope
    /// for `FROM` lines (and for stages that redeclare them without value).
    pub args_before_from: Vec<Located<Vec<ArgDecl>>>,
    pub stages: Vec<Stage>,
    /// Things accepted but worth telling the user (`# syntax=` ignored,
    /// empty continuation lines, `MAINTAINER` deprecated).
    pub warnings: Vec<ParseWarning>,
}

/// A note about the file that does not stop the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning {
    pub line: usize,
    pub message: String,
}

impl Dockerfile {
    /// The stage a `--from=`/`--target`/`FROM` word names: a stage name
    /// (case-insensitive) or a decimal index.
    pub fn stage(&self, name_or_index: &str) -> Option<&Stage> {
        let lower = name_or_index.to_ascii_lowercase();
        if let Some(stage) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(stage);
        }
        name_or_index
            .parse::<usize>()
            .ok()
            .and_then(|i| self.stages.get(i))
    }
}

/// Parser directives from the top of the file (`# escape=`, `# syntax=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    /// `# syntax=` is recorded; its frontend image is not used.
    pub syntax: Option<String>,
    /// `# check=` (BuildKit build checks) is recorded and otherwise ignored.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// One `FROM` and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages (what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lowercased as BuildKit does.
    pub name: Option<String>,
    pub from: Located<FromImage>,
    pub instructions: Vec<Located<Instruction>>,
}

/// The `FROM` line's image and platform, both unsubstituted words
/// (they are expanded with the global ARGs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromImage {
    pub image: String,
    pub platform: Option<String>,
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// 1-based line of its last line (continuations and heredocs included).
    pub end_line: usize,
    /// The instruction as one logical line, as BuildKit shows it in progress
    /// output: continuation escapes and comment lines removed, the pieces
    /// concatenated, surrounding whitespace trimmed (heredoc bodies not included).
    pub text: String,
    pub value: T,
}

/// Shell form (a string for `SHELL ... -c`) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// The command line as written after the flags, continuations removed.
    Shell(String),
    /// The JSON array's strings.
    Exec(Vec<String>),
}

/// A heredoc body (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes (`EOF`), which is also the file
    /// name for `COPY <<EOF /dest`.
    pub name: String,
    /// The body, each line ending in `\n`, leading tabs already removed for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion.
    pub expand: bool,
    /// `<<-EOF`: leading tabs were stripped from `content`.
    pub strip_tabs: bool,
    /// `3<<EOF` in RUN: the file descriptor the body is sent to.
    pub fd: Option<u32>,
}

/// `RUN [--mount=...] [--network=...] [--security=...] <command>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandForm,
    /// Heredocs of the command line, in order. With a shell-form command that
    /// is only `<<EOF`, the first body is the script to run.
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<MountSpec>,
    pub network: RunNetwork,
    pub security: RunSecurity,
}

/// One `--mount=` value as written; [`super::expand`] types it after
/// substitution (BuildKit expands mount options at build time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// The CSV value after `--mount=`.
    pub raw: String,
    /// `from=` (a stage name, index or image) is known at parse time because
    /// it may not use variables: the stage graph needs it.
    pub from: Option<String>,
}

/// A `--mount` after substitution and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountKind,
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub readonly: bool,
    /// tmpfs `size=` in bytes.
    pub size: Option<u64>,
    /// `id=` (cache id or secret id).
    pub id: Option<String>,
    pub sharing: Option<CacheSharing>,
    /// secret/ssh `required`.
    pub required: bool,
    /// secret `env=`: expose the secret as this environment variable.
    pub env: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunNetwork {
    #[default]
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunSecurity {
    #[default]
    Sandbox,
    Insecure,
}

/// `COPY` and `ADD` (ADD-only flags stay `None`/false on COPY; COPY-only
/// ones on ADD: the parser refuses flags the instruction does not have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyArgs {
    /// Source words (paths, globs, URLs for ADD), heredoc sources excluded.
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /dest`), in order.
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    /// `--from=` (COPY only): a stage name, index or image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only); `None` when not given.
    pub keep_git_dir: Option<bool>,
    /// `--unpack` (ADD only); `None` when not given.
    pub unpack: Option<bool>,
    /// Written as a JSON array (`COPY ["a", "b"]`).
    pub json: bool,
}

/// One `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// Unsubstituted default value.
    pub default: Option<String>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd(HealthcheckCmd),
}

/// Durations are in nanoseconds (as the image config stores them);
/// `None` = not given (the runtime default applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckCmd {
    pub command: CommandForm,
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u32>,
}

/// Every instruction after the first `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Copy(CopyArgs),
    Add(CopyArgs),
    Workdir(String),
    /// `ENV k=v ...` or legacy `ENV k v`: unsubstituted keys and values.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Label(Vec<(String, String)>),
    /// Port words (`80`, `53/udp`, `$PORT`), unsubstituted.
    Expose(Vec<String>),
    User(String),
    /// Paths (JSON array or whitespace-separated words).
    Volume(Vec<String>),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Healthcheck(Healthcheck),
    /// The JSON array of `SHELL`.
    Shell(Vec<String>),
    StopSignal(String),
    /// The trigger as written after `ONBUILD` (heredoc bodies appended, as
    /// BuildKit stores it) and its parsed form.
    Onbuild {
        expression: String,
        instruction: Box<Instruction>,
    },
    /// Deprecated; sets the image's `author`.
    Maintainer(String),
}

impl Instruction {
    /// The instruction's keyword, upper case (`RUN`, `COPY`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Onbuild { .. } => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}
