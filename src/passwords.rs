//! Password generation: 32 letters and digits from the operating system's CSPRNG.

use rand::distr::{Alphanumeric, Distribution};
use rand::rngs::{OsRng, StdRng};
use rand::{SeedableRng, TryRngCore};

/// Length of generated passwords.
pub const LENGTH: usize = 32;

/// The operating system could not seed the password generator.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate a password: the operating system's random source failed")]
pub struct RandomError(#[source] rand::rand_core::OsError);

/// A new random password: [`LENGTH`] symbols drawn uniformly from `A-Z`, `a-z` and `0-9`
/// by a ChaCha generator seeded from the operating system (`getrandom(2)`).
///
/// # Errors
/// When the operating system cannot provide random bytes.
pub fn generate() -> Result<String, RandomError> {
    let mut seed = <StdRng as SeedableRng>::Seed::default();
    OsRng.try_fill_bytes(&mut seed).map_err(RandomError)?;
    let mut rng = StdRng::from_seed(seed);
    Ok(Alphanumeric
        .sample_iter(&mut rng)
        .take(LENGTH)
        .map(char::from)
        .collect())
}

/// Whether an operator-given password can be used: it ends up inside a quoted JAAS value
/// and a `key=value` config line, so quotes, backslashes, white space and control
/// characters are refused.
pub fn acceptable(password: &str) -> bool {
    !password.is_empty()
        && password.len() <= 256
        && password
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_32_letters_and_digits_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn given_passwords_with_quotes_or_spaces_are_refused() {
        assert!(acceptable("Abc123-_.!"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("quote\"d"));
        assert!(!acceptable("back\\slash"));
        assert!(!acceptable("line\nbreak"));
    }
}
