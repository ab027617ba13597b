//! `edge-gateway hash-password`: read a password twice and print its argon2id
//! hash for `[[opcua.user]] password_hash`. From a terminal it prompts without
//! echo; otherwise it takes the first two lines of its input, for scripts.

use std::io::{self, BufRead, Write};

use crate::opcua::password::{self, HashError};

/// Where the two copies of the password come from.
#[derive(Debug)]
pub enum Input<R> {
    /// Prompt on the controlling terminal, without echo.
    Terminal,
    /// The first two lines of a reader (stdin when it is not a terminal).
    Lines(R),
}

/// Why no hash was printed.
#[derive(Debug, thiserror::Error)]
pub enum HashPasswordError {
    /// The password could not be read.
    #[error("reading the password: {0}")]
    Read(io::Error),
    /// The two copies differ.
    #[error("the two passwords differ")]
    Mismatch,
    /// The password is empty.
    #[error("empty password")]
    Empty,
    /// argon2 refused.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The hash could not be printed.
    #[error("writing the hash: {0}")]
    Write(io::Error),
}

fn read_twice<R: BufRead>(input: Input<R>) -> io::Result<(String, String)> {
    match input {
        Input::Terminal => Ok((
            rpassword::prompt_password("Password: ")?,
            rpassword::prompt_password("Again: ")?,
        )),
        Input::Lines(reader) => {
            let mut lines = reader.lines();
            let mut next = || lines.next().transpose().map(Option::unwrap_or_default);
            Ok((next()?, next()?))
        }
    }
}

/// Read the password twice from `input`, and write its hash and a newline to `out`.
pub fn hash_password<R: BufRead>(
    input: Input<R>,
    out: &mut impl Write,
) -> Result<(), HashPasswordError> {
    let (first, second) = read_twice(input).map_err(HashPasswordError::Read)?;
    if first != second {
        return Err(HashPasswordError::Mismatch);
    }
    if first.is_empty() {
        return Err(HashPasswordError::Empty);
    }
    let hash = password::hash_password(&first)?;
    writeln!(out, "{hash}").map_err(HashPasswordError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stdin: &str) -> Result<String, HashPasswordError> {
        let mut out = Vec::new();
        hash_password(Input::Lines(stdin.as_bytes()), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn two_equal_lines_give_a_hash_that_verifies() {
        let out = run("correct horse\ncorrect horse\n").unwrap();
        assert!(out.ends_with('\n'));
        assert!(password::verify_password(out.trim_end(), "correct horse"));
    }

    #[test]
    fn differing_empty_and_missing_passwords_are_refused() {
        assert!(matches!(run("a\nb\n"), Err(HashPasswordError::Mismatch)));
        assert!(matches!(run("\n\n"), Err(HashPasswordError::Empty)));
        assert!(matches!(run(""), Err(HashPasswordError::Empty)));
        assert!(matches!(run("a\n"), Err(HashPasswordError::Mismatch)));
    }
}
