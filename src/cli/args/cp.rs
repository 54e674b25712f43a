//! Flags of `wharf cp`.

use clap::Args;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// SRC: a host path, CONTAINER:PATH, SERVICE:PATH, or `-` (a tar on stdin)
    pub src: String,
    /// DEST: a host path, CONTAINER:PATH, SERVICE:PATH, or `-` (a tar on stdout)
    pub dest: String,
    /// Archive mode: keep the uid/gid of what is copied into a container
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow a symlink given as SRC
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Do not print the "Successfully copied" line
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Which replica of a service (default: the first when copying out, every one when copying in)
    #[arg(long)]
    pub index: Option<u32>,
}

/// One side of a copy as the user wrote it.
#[derive(Debug, PartialEq, Eq)]
pub enum CpEnd<'a> {
    Local(&'a str),
    /// `-`: a tar stream on standard input or output.
    Stream,
    Remote {
        target: &'a str,
        path: &'a str,
    },
}

impl<'a> CpEnd<'a> {
    /// Docker's split: a path that starts with `/` or `.` is local, whatever
    /// colons it holds; else `NAME:PATH` names a container (or service).
    pub fn parse(arg: &'a str) -> CpEnd<'a> {
        if arg == "-" {
            return CpEnd::Stream;
        }
        if arg.starts_with('/') || arg.starts_with('.') {
            return CpEnd::Local(arg);
        }
        match arg.split_once(':') {
            Some((target, path)) if !target.is_empty() => CpEnd::Remote { target, path },
            _ => CpEnd::Local(arg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CpEnd;

    #[test]
    fn ends_split_as_docker_does() {
        assert_eq!(CpEnd::parse("-"), CpEnd::Stream);
        assert_eq!(CpEnd::parse("/a:b"), CpEnd::Local("/a:b"));
        assert_eq!(CpEnd::parse("./a:b"), CpEnd::Local("./a:b"));
        assert_eq!(CpEnd::parse("plain"), CpEnd::Local("plain"));
        assert_eq!(
            CpEnd::parse("web:/etc/x"),
            CpEnd::Remote {
                target: "web",
                path: "/etc/x"
            }
        );
        assert_eq!(CpEnd::parse(":x"), CpEnd::Local(":x"));
    }
}
