//! The Dockerfile frontend: parse (BuildKit syntax) into [`ast`], and expand
//! words with [`shell`]'s substitution when the executor builds.

pub mod ast;
pub mod expand;
mod parse;
pub mod shell;

pub use ast::*;
pub use expand::{expand_from, expand_instruction, exposed_ports, resolve_mount, ExpandError};
pub(crate) use parse::csv_fields;
pub use parse::{parse, ParseError};
pub use shell::{
    referenced_variables, substitute, substitute_heredoc, substitute_words, SubstError,
};

#[cfg(test)]
mod tests {
    const SAMPLES: &[&str] = &[
        "ARG BASE=debian\nFROM --platform=$BUILDPLATFORM ${BASE} AS build\nRUN --mount=type=cache,target=/root/.cache <<EOF\nset -e\nmake\nEOF\nCOPY --from=build --chown=1:1 <<A /dest\nhello ${NAME:-x}\nA\nFROM scratch\nCOPY --from=build /out /\nHEALTHCHECK --interval=5s CMD [\"true\"]\nONBUILD RUN echo\n",
        "# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\nENV A=1 B=\"2 3\" C='4'\nLABEL x=\"${A#1}\" y=${B%%3}\nEXPOSE ${P:-80}/tcp\n",
        "FROM a AS one\nRUN --mount=type=bind,from=one,target=/x,rw x\nCOPY [\"a\", \"b\"]\nWORKDIR ${W/x/y}\nUSER ${U:?}\n",
    ];

    /// Every prefix and every one-character deletion of realistic files is
    /// parsed, expanded and planned without a panic (the fuzz target's
    /// pipeline, deterministically).
    #[test]
    fn damaged_dockerfiles_give_errors_not_panics() {
        let mut inputs = Vec::new();
        for sample in SAMPLES {
            let boundaries: Vec<usize> = sample.char_indices().map(|(i, _)| i).collect();
            for (n, &i) in boundaries.iter().enumerate() {
                inputs.push(sample[..i].to_string());
                let next = boundaries.get(n + 1).copied().unwrap_or(sample.len());
                inputs.push(format!("{}{}", &sample[..i], &sample[next..]));
            }
        }
        let parsed = inputs
            .iter()
            .filter(|input| crate::build::frontend_pipeline(input))
            .count();
        // Many damaged inputs still parse, so expansion and planning ran on them too.
        assert!(parsed > inputs.len() / 4, "{parsed} of {}", inputs.len());
    }
}
