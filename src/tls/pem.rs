//! Just enough PEM for keys, CSRs and certificates from other programs: blocks are found
//! line by line (text around them is ignored, CRLF is accepted), bodies are strict base64.

use base64::Engine as _;

/// Whether `text` matches `-+(BEGIN|END) [A-Z ]+-+` somewhere: the test by which the
/// Python charm tells PEM text from base64 of it.
pub fn looks_like_pem(text: &str) -> bool {
    let b = text.as_bytes();
    for (i, _) in text.match_indices('-') {
        let rest = &b[i + 1..];
        let after = if rest.starts_with(b"BEGIN ") {
            &rest[6..]
        } else if rest.starts_with(b"END ") {
            &rest[4..]
        } else {
            continue;
        };
        let name = after
            .iter()
            .take_while(|c| c.is_ascii_uppercase() || **c == b' ')
            .count();
        if name > 0 && after.get(name) == Some(&b'-') {
            return true;
        }
    }
    false
}

/// Base64 with white space anywhere and with or without padding (how operators paste it).
pub fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact).ok()
}

/// One `-----BEGIN <label>-----` block.
#[derive(Clone, PartialEq, Eq)]
pub struct Block<'a> {
    pub label: &'a str,
    lines: Vec<&'a str>,
    /// Whether the matching END line was found.
    complete: bool,
}

impl std::fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may be a key: never shown.
        write!(f, "Block({}, {} lines)", self.label, self.lines.len())
    }
}

impl Block<'_> {
    /// Whether the block has RFC 1421 headers (`Name: value` lines), which OpenSSL's legacy
    /// encrypted keys use.
    pub fn has_headers(&self) -> bool {
        self.lines.iter().any(|l| l.contains(':'))
    }

    /// The DER bytes, or `None` if the block is unterminated, has headers or its body is
    /// not base64.
    pub fn decode(&self) -> Option<Vec<u8>> {
        if !self.complete || self.has_headers() {
            return None;
        }
        let body: String = self.lines.concat();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?;
        (!der.is_empty()).then_some(der)
    }
}

/// Every block in `text`, in order. A BEGIN without its END yields an incomplete block.
pub fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut open: Option<Block<'_>> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = marker(line, "BEGIN") {
            if let Some(unterminated) = open.take() {
                out.push(unterminated);
            }
            open = Some(Block {
                label,
                lines: Vec::new(),
                complete: false,
            });
        } else if let Some(label) = marker(line, "END") {
            if let Some(mut block) = open.take() {
                block.complete = block.label == label;
                out.push(block);
            }
        } else if let Some(block) = open.as_mut() {
            if !line.is_empty() {
                block.lines.push(line);
            }
        }
    }
    out.extend(open);
    out
}

/// The label of a `-----<word> <label>-----` line. A label is upper-case letters, digits and
/// spaces: anything else (a body run into the marker line) is not a marker, so that no
/// body text is ever taken for a label (labels are named in errors).
fn marker<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let inner = line.strip_prefix("-----")?.strip_suffix("-----")?;
    let label = inner.strip_prefix(word)?.strip_prefix(' ')?;
    let ok = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
    ok.then_some(label)
}

/// PEM text whose line breaks became spaces (`juju run` reads parameter values as YAML, and
/// a multi-line plain scalar folds into one line) put back on lines: each marker on a line
/// of its own, each word of the body on its own line. Text with line breaks is returned as
/// it is.
pub fn unfold(text: &str) -> String {
    let text = text.trim();
    if text.contains('\n') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut words = text.split(' ').filter(|w| !w.is_empty()).peekable();
    while let Some(word) = words.next() {
        if word.starts_with("-----BEGIN") || word.starts_with("-----END") {
            // The marker goes on to the word that ends it (`PRIVATE`, `KEY-----`).
            let mut line = word.to_string();
            while !(line.ends_with("-----") && line.len() > 5) {
                match words.next() {
                    Some(w) => {
                        line.push(' ');
                        line.push_str(w);
                    }
                    None => break,
                }
            }
            out.push_str(&line);
        } else {
            out.push_str(word);
        }
        out.push('\n');
    }
    out
}

/// `der` as PEM with 64-column lines and LF endings, without a final newline: the
/// "stripped" form the tls-certificates libraries put in relation data.
pub fn encode_stripped(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pem_test_matches_begin_and_end_lines_as_the_python_charm_does() {
        assert!(looks_like_pem("-----BEGIN PRIVATE KEY-----\nabc"));
        assert!(looks_like_pem("x -END RSA PRIVATE KEY- y"));
        assert!(!looks_like_pem("LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"));
        assert!(!looks_like_pem("-----BEGIN private key-----"));
        assert!(!looks_like_pem("-----BEGIN -----"));
        assert!(!looks_like_pem("BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn blocks_are_found_among_other_text_and_unterminated_ones_do_not_decode() {
        let der = vec![1u8, 2, 3, 250, 251, 252];
        let one = encode_stripped("CERTIFICATE", &der);
        let text = format!(
            "Bag Attributes\r\n{}\r\ntrailer\n{one}\n",
            one.replace('\n', "\r\n")
        );
        let found = blocks(&text);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|b| b.label == "CERTIFICATE"));
        assert_eq!(found[0].decode(), Some(der.clone()));
        assert_eq!(found[1].decode(), Some(der));
        let cut = "-----BEGIN CERTIFICATE-----\nAQID\n";
        let found = blocks(cut);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].decode(), None);
        let mismatched = "-----BEGIN CERTIFICATE-----\nAQID\n-----END PRIVATE KEY-----\n";
        assert_eq!(blocks(mismatched)[0].decode(), None);
    }

    #[test]
    fn stripped_pem_has_64_column_lines_and_no_final_newline() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode_stripped("CERTIFICATE REQUEST", &der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        assert!(pem.ends_with("\n-----END CERTIFICATE REQUEST-----"));
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(pem.lines().nth(1).unwrap().len(), 64);
        assert_eq!(blocks(&pem)[0].decode(), Some(der));
    }

    #[test]
    fn a_body_run_into_a_marker_line_is_no_label_and_folded_pem_is_unfolded() {
        let der: Vec<u8> = (0..=200).collect();
        let pem = encode_stripped("PRIVATE KEY", &der);
        let folded = pem.replace('\n', " ");
        // As one line, the text is no block at all: nothing of the body is a label.
        assert!(blocks(&folded).is_empty(), "{:?}", blocks(&folded));
        let unfolded = unfold(&format!("  {folded} "));
        let found = blocks(&unfolded);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "PRIVATE KEY");
        assert_eq!(found[0].decode(), Some(der));
        assert_eq!(unfold(&pem), pem);
        assert_eq!(
            marker("-----BEGIN RSA PRIVATE KEY-----", "BEGIN"),
            Some("RSA PRIVATE KEY")
        );
        assert_eq!(marker("-----BEGIN X-----Y-----", "BEGIN"), None);
    }

    #[test]
    fn lenient_base64_takes_line_breaks_and_missing_padding() {
        assert_eq!(decode_base64_lenient("aGVs\nbG8").unwrap(), b"hello");
        assert_eq!(decode_base64_lenient(" aGVsbG8= ").unwrap(), b"hello");
        assert_eq!(decode_base64_lenient("not base64!"), None);
    }
}
