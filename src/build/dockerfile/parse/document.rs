//! The whole file: scanned into logical instructions, each parsed, grouped
//! into stages (with ARGs before the first FROM and the file's warnings).
use super::instruction::{parse_item, Item};
use super::scan::{scan, RawInstruction};
use super::ParseError;
use crate::build::dockerfile::ast::*;

/// Parses `source`; `file` is only used in error messages.
pub fn parse(source: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let error = |line: usize, instruction: Option<&str>, message: String| ParseError {
        file: file.to_string(),
        line,
        instruction: instruction.map(str::to_string),
        message,
    };
    let scanned = scan(source).map_err(|(line, message)| error(line, None, message))?;
    let mut dockerfile = Dockerfile {
        directives: scanned.directives,
        args_before_from: Vec::new(),
        stages: Vec::new(),
        warnings: scanned.warnings,
    };
    let escape = dockerfile.directives.escape;
    if let Some(syntax) = &dockerfile.directives.syntax {
        dockerfile.warnings.push(ParseWarning {
            line: 1,
            message: format!(
                "the syntax directive ({syntax}) is accepted but its frontend image is not used: wharf parses Dockerfiles itself"
            ),
        });
    }
    for raw in scanned.instructions {
        let keyword = raw.keyword.clone();
        // Every message names the instruction: BuildKit's own wording often
        // does ("COPY requires ..."); where it does not, it is prefixed.
        let fail = |message: String| {
            let upper = keyword.to_ascii_uppercase();
            let message =
                if message.starts_with(&upper) || message.starts_with("unknown instruction") {
                    message
                } else {
                    format!("{upper}: {message}")
                };
            error(raw.start_line, Some(&keyword), message)
        };
        let item = parse_item(&raw, escape).map_err(fail)?;
        match item {
            Item::From { image, name } => {
                let index = dockerfile.stages.len();
                if let Some(name) = &name {
                    if dockerfile.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        dockerfile.warnings.push(ParseWarning {
                            line: raw.start_line,
                            message: format!(
                                "Duplicate stage name {name:?}, stage names should be unique"
                            ),
                        });
                    }
                }
                dockerfile.stages.push(Stage {
                    index,
                    name,
                    from: locate(&raw, image),
                    instructions: Vec::new(),
                });
            }
            Item::Instruction(instruction) => match dockerfile.stages.last_mut() {
                Some(stage) => {
                    if let Instruction::Maintainer(_) = instruction {
                        dockerfile.warnings.push(ParseWarning {
                            line: raw.start_line,
                            message: "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=... instead".to_string(),
                        });
                    }
                    stage.instructions.push(locate(&raw, instruction));
                }
                None => match instruction {
                    Instruction::Arg(args) => dockerfile.args_before_from.push(locate(&raw, args)),
                    _ => {
                        return Err(error(
                            raw.start_line,
                            Some(&keyword),
                            format!(
                                "{} is not allowed before the first FROM (only ARG is): no build stage in current context",
                                keyword.to_ascii_uppercase()
                            ),
                        ))
                    }
                },
            },
        }
    }
    if dockerfile.stages.is_empty() && dockerfile.args_before_from.is_empty() {
        return Err(error(
            scanned.last_line.max(1),
            None,
            "file with no instructions".to_string(),
        ));
    }
    if dockerfile.stages.is_empty() {
        return Err(error(
            scanned.last_line.max(1),
            None,
            "the Dockerfile has no FROM instruction (no build stage)".to_string(),
        ));
    }
    Ok(dockerfile)
}

fn locate<T>(raw: &RawInstruction, value: T) -> Located<T> {
    Located {
        line: raw.start_line,
        end_line: raw.end_line,
        text: raw.line.trim().to_string(),
        value,
    }
}
