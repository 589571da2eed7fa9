//! Password generation: 32 letters and digits from the operating system's CSPRNG.

/// Length of generated passwords.
pub const LENGTH: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new random password.
///
/// # Errors
/// When the operating system cannot provide random bytes.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(LENGTH);
    // 62 symbols: reject bytes >= 248 (= 4 * 62) so every symbol is equally likely.
    while out.len() < LENGTH {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf)?;
        for b in buf {
            if b < 248 && out.len() < LENGTH {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
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
