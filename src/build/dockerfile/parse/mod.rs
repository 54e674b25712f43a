//! Dockerfile text → [`Dockerfile`], with BuildKit's syntax and its error
//! wording (`Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)`).
//!
//! Two phases, as BuildKit has them: lines → logical instructions (directives,
//! continuations, comments, heredoc bodies), then each instruction → its typed
//! form (flags, arguments, checks).

mod document;
mod flags;
mod instruction;
mod scan;
mod words;

/// A Dockerfile that cannot be parsed, printed as `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The name the user knows the file by (`Dockerfile`, `app/Dockerfile.dev`).
    pub file: String,
    /// 1-based line of the offending instruction (or of the problem itself).
    pub line: usize,
    /// The instruction keyword as written, when the error is about one.
    pub instruction: Option<String>,
    pub message: String,
}

pub use document::parse;
pub(crate) use instruction::csv_fields;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::ast::*;

    fn parse_ok(text: &str) -> Dockerfile {
        parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// The instructions of the only stage of `FROM base` + `body`.
    fn instructions(body: &str) -> Vec<Instruction> {
        let dockerfile = parse_ok(&format!("FROM base\n{body}"));
        assert_eq!(dockerfile.stages.len(), 1);
        dockerfile.stages[0]
            .instructions
            .iter()
            .map(|l| l.value.clone())
            .collect()
    }

    fn one(body: &str) -> Instruction {
        let mut all = instructions(body);
        assert_eq!(all.len(), 1, "{body:?} gave {all:?}");
        all.remove(0)
    }

    fn error(text: &str) -> ParseError {
        match parse(text, "Dockerfile") {
            Ok(d) => panic!("{text:?} should not parse, got {d:?}"),
            Err(e) => e,
        }
    }

    fn run(body: &str) -> Run {
        match one(body) {
            Instruction::Run(run) => run,
            other => panic!("not a RUN: {other:?}"),
        }
    }

    fn copy(body: &str) -> CopyArgs {
        match one(body) {
            Instruction::Copy(c) | Instruction::Add(c) => c,
            other => panic!("not a COPY/ADD: {other:?}"),
        }
    }

    fn shell(text: &str) -> CommandForm {
        CommandForm::Shell(text.to_string())
    }

    fn exec(words: &[&str]) -> CommandForm {
        CommandForm::Exec(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn stages_names_and_lines() {
        let d = parse_ok(
            "# comment\nARG BASE=debian\nFROM --platform=$BUILDPLATFORM $BASE AS Build\nRUN make\n\nfrom scratch\ncopy --from=build /out /\n",
        );
        assert_eq!(d.args_before_from.len(), 1);
        assert_eq!(
            d.args_before_from[0].value,
            vec![ArgDecl {
                name: "BASE".into(),
                default: Some("debian".into())
            }]
        );
        assert_eq!(d.stages.len(), 2);
        let build = &d.stages[0];
        assert_eq!((build.index, build.name.as_deref()), (0, Some("build")));
        assert_eq!(build.from.line, 3);
        assert_eq!(
            build.from.value,
            FromImage {
                image: "$BASE".into(),
                platform: Some("$BUILDPLATFORM".into())
            }
        );
        assert_eq!(build.instructions[0].line, 4);
        assert_eq!(d.stages[1].name, None);
        assert_eq!(d.stages[1].from.value.image, "scratch");
        assert_eq!(d.stages[1].instructions[0].line, 7);
        assert_eq!(d.stage("BUILD").map(|s| s.index), Some(0));
        assert_eq!(d.stage("1").map(|s| s.index), Some(1));
        assert!(d.stage("2").is_none());
        let d = parse_ok("FROM a AS x\nFROM b AS X\n");
        assert!(d
            .warnings
            .iter()
            .any(|w| w.line == 2 && w.message.contains("Duplicate stage name \"x\"")));
    }

    #[test]
    fn continuations_comments_and_text() {
        let d = parse_ok(
            "FROM a\nRUN echo hello \\\n  # a comment inside\n    world \\\n\n  done\nRUN x\n",
        );
        let run = &d.stages[0].instructions[0];
        assert_eq!((run.line, run.end_line), (2, 6));
        assert_eq!(run.text, "RUN echo hello     world   done");
        assert_eq!(d.stages[0].instructions[1].line, 7);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].message.contains("empty continuation line"));
        // A continuation at the end of the file ends the instruction.
        assert_eq!(
            run_of(&parse_ok("FROM a\nRUN echo a \\")).command,
            shell("echo a")
        );
        // An escaped escape at the end of a line is no continuation.
        let all = instructions("ENV A=a\\\\\nENV B=b\n");
        assert_eq!(all.len(), 2);
        // Windows line endings.
        assert_eq!(
            instructions("RUN a \\\r\n  b\r\nUSER x\r\n"),
            vec![
                Instruction::Run(Run {
                    command: shell("a   b"),
                    heredocs: vec![],
                    mounts: vec![],
                    network: RunNetwork::Default,
                    security: RunSecurity::Sandbox
                }),
                Instruction::User("x".into())
            ]
        );
    }

    fn run_of(d: &Dockerfile) -> Run {
        match &d.stages[0].instructions[0].value {
            Instruction::Run(r) => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn directives() {
        let d = parse_ok(
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n",
        );
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert!(d
            .warnings
            .iter()
            .any(|w| w.message.contains("syntax directive")));
        assert_eq!(run_of(&d).command, shell("dir c:\\   && echo"));
        // Directives only count before anything else, even a blank line.
        let d = parse_ok("\n# escape=`\nFROM a\nRUN a \\\n b\n");
        assert_eq!(d.directives.escape, '\\');
        // ... or a comment that is not a directive.
        let d = parse_ok("# hello\n# escape=`\nFROM a\n");
        assert_eq!(d.directives.escape, '\\');
        // Case and blanks around `=` do not matter.
        let d = parse_ok("#  ESCAPE = `\nFROM a\n");
        assert_eq!(d.directives.escape, '`');
        let e = error("# escape=x\nFROM a\n");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("invalid escape token 'x'"), "{e}");
        let e = error("# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "only one escape parser directive can be used")
        );
        // A byte order mark is ignored.
        assert_eq!(
            parse_ok("\u{feff}# escape=`\nFROM a\n").directives.escape,
            '`'
        );
    }

    #[test]
    fn run_forms_and_flags() {
        assert_eq!(run("RUN apt-get update").command, shell("apt-get update"));
        assert_eq!(
            run(r#"RUN ["echo", "a b"]"#).command,
            exec(&["echo", "a b"])
        );
        // Not valid JSON: shell form, as written.
        assert_eq!(run("RUN [\"echo\", 'a']").command, shell("[\"echo\", 'a']"));
        let r = run("RUN --network=none --security=insecure --mount=type=cache,target=/root/.cache --mount=type=bind,from=build,source=/out,target=/in make");
        assert_eq!(r.network, RunNetwork::None);
        assert_eq!(r.security, RunSecurity::Insecure);
        assert_eq!(r.mounts.len(), 2);
        assert_eq!(r.mounts[0].raw, "type=cache,target=/root/.cache");
        assert_eq!(r.mounts[0].from, None);
        assert_eq!(r.mounts[1].from.as_deref(), Some("build"));
        assert_eq!(r.command, shell("make"));
        assert_eq!(run("RUN --network=host x").network, RunNetwork::Host);
        // Quotes around a flag value are removed.
        assert_eq!(
            run("RUN --mount=\"type=tmpfs,target=/t\" x").mounts[0].raw,
            "type=tmpfs,target=/t"
        );
        // `--` ends the flags.
        assert_eq!(run("RUN -- --not-a-flag").command, shell("--not-a-flag"));
    }

    #[test]
    fn heredocs() {
        let r = run("RUN <<EOF\necho hello\n  echo $HOME\nEOF\n");
        assert_eq!(r.command, shell("<<EOF"));
        assert_eq!(
            r.heredocs,
            vec![Heredoc {
                name: "EOF".into(),
                content: "echo hello\n  echo $HOME\n".into(),
                expand: true,
                strip_tabs: false,
                fd: None
            }]
        );
        let r = run("RUN <<-'END' 3<<\"two\" cat\n\tfirst $X\n\tEND\nsecond\ntwo\n");
        assert_eq!(r.heredocs.len(), 2);
        assert_eq!(r.heredocs[0].name, "END");
        assert_eq!(r.heredocs[0].content, "first $X\n");
        assert!(r.heredocs[0].strip_tabs && !r.heredocs[0].expand);
        assert_eq!(r.heredocs[1].name, "two");
        assert_eq!(r.heredocs[1].fd, Some(3));
        assert!(!r.heredocs[1].expand);
        // Quoting part of the word disables expansion; an escaped quote does not.
        assert!(!run("RUN <<eo'f'\nx\neof\n").heredocs[0].expand);
        let r = run("RUN <<eo\\'f\nx\neo'f\n");
        assert_eq!(r.heredocs[0].name, "eo'f");
        assert!(r.heredocs[0].expand);
        // Blanks after << and a redirect after the word.
        assert_eq!(run("RUN <<  EOF  > foo\nEOF\n").heredocs[0].name, "EOF");
        // A quoted << is no heredoc.
        assert!(run("RUN echo \"<<NO\"").heredocs.is_empty());
        // Bodies keep comment lines and are followed by the next instruction.
        let all = instructions(
            "RUN --mount=type=cache,target=/c <<SCRIPT\n# not a comment\nSCRIPT\nUSER me\n",
        );
        match &all[0] {
            Instruction::Run(r) => assert_eq!(r.heredocs[0].content, "# not a comment\n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(all[1], Instruction::User("me".into()));
        // Heredoc lines count for the instruction's end line.
        let d = parse_ok("FROM a\nRUN <<EOF\na\nb\nEOF\nUSER x\n");
        assert_eq!(d.stages[0].instructions[0].end_line, 5);
        assert_eq!(d.stages[0].instructions[1].line, 6);
        let e = error("FROM a\nRUN <<EOF\necho\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated heredoc"), "{e}");
        // JSON form and other instructions take no heredoc.
        assert!(run("RUN [\"cat\", \"<<EOF\"]").heredocs.is_empty());
        let e = error("FROM a\nUSER <<X\nX\n");
        assert!(e.message.contains("unknown instruction: X"), "{e}");
    }

    #[test]
    fn copy_and_add() {
        let c = copy("COPY --from=build --chown=app:app --chmod=644 --link --exclude=*.md --exclude=tmp a b/ /dest/");
        assert_eq!(c.sources, vec!["a", "b/"]);
        assert_eq!(c.dest, "/dest/");
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("app:app"));
        assert_eq!(c.chmod.as_deref(), Some("644"));
        assert!(c.link && !c.parents && !c.json);
        assert_eq!(c.exclude, vec!["*.md", "tmp"]);
        let c = copy("COPY [\"a b\", \"c\", \"/d e/\"]");
        assert_eq!(
            (c.sources, c.dest, c.json),
            (
                vec!["a b".to_string(), "c".to_string()],
                "/d e/".to_string(),
                true
            )
        );
        let c = copy("COPY --parents --link=false src/*.go /app/");
        assert!(c.parents && !c.link);
        let c = copy(
            "ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tar.gz /opt/",
        );
        assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
        assert_eq!((c.keep_git_dir, c.unpack), (Some(true), Some(false)));
        let c = copy("COPY <<one <<-two /dest/\nfirst\none\n\tsecond $X\ntwo\n");
        assert!(c.sources.is_empty());
        assert_eq!(c.heredocs.len(), 2);
        assert_eq!(
            (c.heredocs[0].name.as_str(), c.heredocs[0].content.as_str()),
            ("one", "first\n")
        );
        assert_eq!(c.heredocs[1].content, "second $X\n");
        assert_eq!(c.dest, "/dest/");
        let c = copy("COPY local <<EOF /dest/\nx\nEOF\n");
        assert_eq!(c.sources, vec!["local"]);
        assert_eq!(c.heredocs.len(), 1);
    }

    #[test]
    fn metadata_instructions() {
        assert_eq!(
            one("WORKDIR /app dir"),
            Instruction::Workdir("/app dir".into())
        );
        assert_eq!(one("USER 1000:1000"), Instruction::User("1000:1000".into()));
        assert_eq!(
            one("STOPSIGNAL SIGKILL"),
            Instruction::StopSignal("SIGKILL".into())
        );
        assert_eq!(
            one("MAINTAINER Me <me@x>"),
            Instruction::Maintainer("Me <me@x>".into())
        );
        assert_eq!(
            one("EXPOSE 80 443/tcp $P"),
            Instruction::Expose(vec!["80".into(), "443/tcp".into(), "$P".into()])
        );
        assert_eq!(
            one("VOLUME /a /b"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            one("VOLUME [\"/a b\"]"),
            Instruction::Volume(vec!["/a b".into()])
        );
        assert_eq!(
            one("CMD [\"run\", \"-x\"]"),
            Instruction::Cmd(exec(&["run", "-x"]))
        );
        assert_eq!(one("CMD echo $HOME"), Instruction::Cmd(shell("echo $HOME")));
        assert_eq!(
            one("ENTRYPOINT [\"/bin/app\"]"),
            Instruction::Entrypoint(exec(&["/bin/app"]))
        );
        assert_eq!(
            one("SHELL [\"/bin/bash\", \"-c\"]"),
            Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert_eq!(
            one("ARG A B=2 C=\"x y\""),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "A".into(),
                    default: None
                },
                ArgDecl {
                    name: "B".into(),
                    default: Some("2".into())
                },
                ArgDecl {
                    name: "C".into(),
                    default: Some("\"x y\"".into())
                },
            ])
        );
        let d = parse_ok("FROM a\nMAINTAINER me\n");
        assert!(d
            .warnings
            .iter()
            .any(|w| w.line == 2 && w.message.contains("deprecated")));
    }

    #[test]
    fn env_and_label_forms() {
        assert_eq!(
            one("ENV A=1 B=\"two words\" C=x\\ y"),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "x\\ y".into()),
            ])
        );
        // The legacy form: the value is the rest of the line.
        assert_eq!(
            one("ENV PATH /usr/local/bin:$PATH  more"),
            Instruction::Env(vec![("PATH".into(), "/usr/local/bin:$PATH  more".into())])
        );
        assert_eq!(
            one("LABEL version=1 \"com.x.desc\"=\"a b\""),
            Instruction::Label(vec![
                ("version".into(), "1".into()),
                ("\"com.x.desc\"".into(), "\"a b\"".into()),
            ])
        );
        assert_eq!(
            one("LABEL maintainer me@x"),
            Instruction::Label(vec![("maintainer".into(), "me@x".into())])
        );
    }

    #[test]
    fn healthcheck() {
        assert_eq!(
            one("HEALTHCHECK NONE"),
            Instruction::Healthcheck(Healthcheck::None)
        );
        assert_eq!(
            one("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://localhost/"),
            Instruction::Healthcheck(Healthcheck::Cmd(HealthcheckCmd {
                command: shell("curl -f http://localhost/"),
                interval: Some(5_000_000_000),
                timeout: Some(90_000_000_000),
                start_period: Some(500_000_000),
                start_interval: Some(1_500_000_000),
                retries: Some(3),
            }))
        );
        assert_eq!(
            one("HEALTHCHECK cmd [\"check\"]"),
            Instruction::Healthcheck(Healthcheck::Cmd(HealthcheckCmd {
                command: exec(&["check"]),
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            }))
        );
    }

    #[test]
    fn onbuild() {
        match one("ONBUILD RUN echo $X") {
            Instruction::Onbuild {
                expression,
                instruction,
            } => {
                assert_eq!(expression, "RUN echo $X");
                assert_eq!(
                    *instruction,
                    Instruction::Run(Run {
                        command: shell("echo $X"),
                        heredocs: vec![],
                        mounts: vec![],
                        network: RunNetwork::Default,
                        security: RunSecurity::Sandbox,
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        match one("ONBUILD RUN <<-EOF\n\techo\n\tEOF\n") {
            Instruction::Onbuild { expression, .. } => {
                assert_eq!(expression, "RUN <<-EOF\n\techo\nEOF")
            }
            other => panic!("{other:?}"),
        }
        match one("onbuild COPY <<EOF /x\nhi\nEOF\n") {
            Instruction::Onbuild {
                expression,
                instruction,
            } => {
                assert_eq!(expression, "COPY <<EOF /x\nhi\nEOF");
                assert!(
                    matches!(*instruction, Instruction::Copy(ref c) if c.heredocs[0].content == "hi\n")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Bad input: (Dockerfile, line, message fragment).
    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "FROM a\nRUNN x\n",
                2,
                "unknown instruction: RUNN (did you mean RUN?)",
            ),
            (
                "FROM a\ncopyy a b\n",
                2,
                "unknown instruction: copyy (did you mean copy?)",
            ),
            ("FROM a\nBOGUS x\n", 2, "unknown instruction: BOGUS"),
            ("", 1, "file with no instructions"),
            ("# only a comment\n\n", 2, "file with no instructions"),
            ("ARG A\n", 1, "no FROM"),
            (
                "RUN x\nFROM a\n",
                1,
                "RUN is not allowed before the first FROM",
            ),
            ("FROM\n", 1, "FROM requires either one or three arguments"),
            (
                "FROM a b\n",
                1,
                "FROM requires either one or three arguments",
            ),
            (
                "FROM a AS 1st\n",
                1,
                "invalid name for build stage: \"1st\"",
            ),
            ("FROM a AS b$c\n", 1, "invalid name for build stage"),
            (
                "FROM --platfrom=x a\n",
                1,
                "unknown flag: --platfrom (did you mean platform?)",
            ),
            (
                "FROM a\nCOPY --fro=x a b\n",
                2,
                "unknown flag: --fro (did you mean from?)",
            ),
            ("FROM a\nADD --from=x a b\n", 2, "unknown flag: --from"),
            (
                "FROM a\nCOPY --checksum=x a b\n",
                2,
                "unknown flag: --checksum",
            ),
            (
                "FROM a\nCOPY a\n",
                2,
                "COPY requires at least two arguments",
            ),
            (
                "FROM a\nCOPY a <<EOF\nx\nEOF\n",
                2,
                "COPY cannot accept a heredoc as a destination",
            ),
            (
                "FROM a\nCOPY --link=maybe a b\n",
                2,
                "expecting boolean value for flag --link, not: maybe",
            ),
            (
                "FROM a\nCOPY --link= a b\n",
                2,
                "missing a value on flag: --link",
            ),
            (
                "FROM a\nCOPY --chown a b\n",
                2,
                "missing a value on flag: --chown",
            ),
            (
                "FROM a\nCOPY --chown=a --chown=b a b\n",
                2,
                "duplicate flag specified: --chown",
            ),
            (
                "FROM a\nRUN --network=bridge x\n",
                2,
                "invalid network mode \"bridge\"",
            ),
            (
                "FROM a\nRUN --security=x y\n",
                2,
                "security \"x\" is not valid",
            ),
            (
                "FROM a\nRUN --mount=from=$X,target=/t y\n",
                2,
                "'from' doesn't support variable expansion",
            ),
            ("FROM a\nRUN\n", 2, "RUN requires at least one argument"),
            (
                "FROM a\nRUN [\"a\", 1]\n",
                2,
                "arrays must be comprised of strings only",
            ),
            ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
            ("FROM a\nENV A\n", 2, "ENV must have two arguments"),
            ("FROM a\nENV A=1 B\n", 2, "can't find = in \"B\""),
            ("FROM a\nENV =1\n", 2, "ENV names can not be blank"),
            ("FROM a\nLABEL\n", 2, "LABEL requires at least one argument"),
            ("FROM a\nARG\n", 2, "ARG requires at least one argument"),
            ("FROM a\nARG =x\n", 2, "ARG names can not be blank"),
            (
                "FROM a\nWORKDIR\n",
                2,
                "WORKDIR requires exactly one argument",
            ),
            ("FROM a\nUSER\n", 2, "USER requires exactly one argument"),
            (
                "FROM a\nEXPOSE\n",
                2,
                "EXPOSE requires at least one argument",
            ),
            (
                "FROM a\nVOLUME\n",
                2,
                "VOLUME requires at least one argument",
            ),
            (
                "FROM a\nVOLUME [\"\"]\n",
                2,
                "VOLUME specified can not be an empty string",
            ),
            (
                "FROM a\nSHELL /bin/sh -c\n",
                2,
                "SHELL requires the arguments to be in JSON form",
            ),
            (
                "FROM a\nSHELL []\n",
                2,
                "SHELL requires at least one argument",
            ),
            (
                "FROM a\nHEALTHCHECK\n",
                2,
                "HEALTHCHECK requires at least one argument",
            ),
            (
                "FROM a\nHEALTHCHECK NONE x\n",
                2,
                "HEALTHCHECK NONE takes no arguments",
            ),
            (
                "FROM a\nHEALTHCHECK CMD\n",
                2,
                "Missing command after HEALTHCHECK CMD",
            ),
            (
                "FROM a\nHEALTHCHECK CONNECT x\n",
                2,
                "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)",
            ),
            (
                "FROM a\nHEALTHCHECK --interval=1us CMD x\n",
                2,
                "Interval \"interval\" cannot be less than 1ms",
            ),
            ("FROM a\nHEALTHCHECK --timeout=5 CMD x\n", 2, "missing unit"),
            (
                "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
                2,
                "--retries cannot be negative (-1)",
            ),
            (
                "FROM a\nHEALTHCHECK --intervall=1s CMD x\n",
                2,
                "unknown flag: --intervall (did you mean interval?)",
            ),
            (
                "FROM a\nONBUILD ONBUILD RUN x\n",
                2,
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ),
            (
                "FROM a\nONBUILD FROM b\n",
                2,
                "FROM isn't allowed as an ONBUILD trigger",
            ),
            (
                "FROM a\nONBUILD maintainer me\n",
                2,
                "MAINTAINER isn't allowed as an ONBUILD trigger",
            ),
            (
                "FROM a\nONBUILD\n",
                2,
                "ONBUILD requires at least one argument",
            ),
            ("FROM a\nONBUILD RUNN x\n", 2, "unknown instruction: RUNN"),
            (
                "FROM a\nSTOPSIGNAL\n",
                2,
                "STOPSIGNAL requires exactly one argument",
            ),
            (
                "FROM a\nRUN --device=nvidia.com/gpu=all x\n",
                2,
                "not supported",
            ),
            (
                "FROM a\nRUN echo \\\n\n  x\nRUNN\n",
                5,
                "unknown instruction: RUNN",
            ),
        ];
        for (text, line, fragment) in cases {
            let e = error(text);
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(
                e.message.contains(fragment),
                "{text:?}: {e} (expected {fragment:?})"
            );
            assert!(
                e.to_string().starts_with(&format!("Dockerfile:{line}: ")),
                "{e}"
            );
        }
        let e = error("FROM a\ncopy --fro=x a b\n");
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: COPY: unknown flag: --fro (did you mean from?)"
        );
        let e = error("FROM a\nCOPY a\n");
        assert!(
            e.to_string()
                .starts_with("Dockerfile:2: COPY requires at least two arguments"),
            "{e}"
        );
        let e = error("FROM a\nRUNN x\n");
        assert_eq!(e.instruction.as_deref(), Some("RUNN"));
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"
        );
    }
}
