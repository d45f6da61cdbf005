//! Secrets out of every text that leaves the function.

/// Replaces each known secret, and the secret parts of secret URLs, with `[redacted]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

/// Shorter fragments would start to match ordinary words.
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            // An upstream error may quote only the path of a webhook URL, or a URL-decoded
            // form; the path segments after the host are the credential.
            if let Ok(url) = url::Url::parse(&secret) {
                if let Some(segments) = url.path_segments() {
                    needles.extend(segments.filter(|s| s.len() >= MIN_SECRET_LEN).map(str::to_owned));
                }
                needles.push(url.path().to_owned());
                if let Some(query) = url.query() {
                    needles.push(query.to_owned());
                }
            }
            needles.push(secret);
        }
        needles.retain(|needle| needle.len() >= MIN_SECRET_LEN);
        // Longest first, so a whole URL is replaced before its parts are looked for.
        needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        needles.dedup();
        Redactor { needles }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), "[redacted]");
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_whole_urls_and_their_secret_paths() {
        let redactor = Redactor::new(["https://hooks.slack.com/services/T000/B000/XXXXsecret".to_owned()]);
        assert_eq!(
            redactor.redact("posting to https://hooks.slack.com/services/T000/B000/XXXXsecret failed"),
            "posting to [redacted] failed"
        );
        assert_eq!(redactor.redact("no such hook /services/T000/B000/XXXXsecret"), "no such hook [redacted]");
        assert_eq!(redactor.redact("token XXXXsecret is revoked"), "token [redacted] is revoked");
    }

    #[test]
    fn removes_plain_tokens_and_leaves_other_text_alone() {
        let redactor = Redactor::new(["hunter2-token".to_owned()]);
        assert_eq!(redactor.redact("got hunter2-token"), "got [redacted]");
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }
}
