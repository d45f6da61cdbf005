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
            // An upstream error may quote only part of a webhook URL. Its credentials are the
            // path segments that look like ids or keys (Slack's `T…/B…/<key>`, a connector's
            // GUIDs) and the query values (a Workflows `sig=`); plain words such as
            // `workflows` or `invoke` are not secrets and stay readable.
            if let Ok(url) = url::Url::parse(&secret) {
                if let Some(segments) = url.path_segments() {
                    needles.extend(segments.filter(|s| looks_like_a_key(s)).map(str::to_owned));
                }
                needles.push(url.path().to_owned());
                if let Some(query) = url.query() {
                    needles.push(query.to_owned());
                }
                needles.extend(url.query_pairs().map(|(_, value)| value.into_owned()));
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
        if self.needles.is_empty() {
            return text.to_owned();
        }
        let mut text = text.to_owned();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), "[redacted]");
            }
        }
        text
    }
}

fn looks_like_a_key(segment: &str) -> bool {
    segment.len() >= 16 || segment.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_whole_urls_and_their_secret_paths() {
        let redactor = Redactor::new([
            "https://hooks.slack.com/services/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"
                .to_owned(),
        ]);
        assert_eq!(
            redactor.redact("posting to https://hooks.slack.com/services/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 failed"),
            "posting to [redacted] failed"
        );
        assert_eq!(
            redactor.redact("no such hook /services/T0001ABCD/B0002EFGH/q7Xk2mN9pL4sR8tV1wY3zA5c"),
            "no such hook [redacted]"
        );
        assert_eq!(
            redactor.redact("key q7Xk2mN9pL4sR8tV1wY3zA5c is revoked"),
            "key [redacted] is revoked"
        );
        assert_eq!(redactor.redact("team T0001ABCD"), "team [redacted]");
    }

    #[test]
    fn removes_a_workflows_signature_but_keeps_plain_words() {
        let url = "https://prod-01.westeurope.logic.azure.com/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke?api-version=2016-06-01&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let redactor = Redactor::new([url.to_owned()]);
        assert_eq!(
            redactor.redact("sig AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 expired for workflows trigger manual invoke"),
            "sig [redacted] expired for workflows trigger manual invoke"
        );
    }

    #[test]
    fn removes_plain_tokens_and_leaves_other_text_alone() {
        let redactor = Redactor::new(["hunter2-token".to_owned()]);
        assert_eq!(redactor.redact("got hunter2-token"), "got [redacted]");
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }
}
