//! Text shaping shared by the renderers.

/// Cuts `text` to at most `max_chars` characters, at a character boundary, ending in `…` when
/// anything was cut (the ellipsis counts towards the limit).
pub fn truncate(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => text.into(),
        Some(_) if max_chars == 0 => "".into(),
        Some(_) => {
            let (end, _) = text
                .char_indices()
                .nth(max_chars - 1)
                .unwrap_or((text.len(), ' '));
            format!("{}…", &text[..end]).into()
        }
    }
}

/// Cuts `text` to at most `max_bytes` bytes of UTF-8, at a character boundary, ending in `…`
/// when anything was cut.
pub fn truncate_bytes(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return text.into();
    }
    let budget = max_bytes.saturating_sub('…'.len_utf8());
    let mut end = budget.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// Replaces `&`, `<` and `>` with their HTML entities: what Slack's mrkdwn and a Teams
/// connector's HTML subset both need so that event text cannot open a link, a mention or a tag.
pub fn escape_entities(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// [`truncate`] for text already escaped with [`escape_entities`]: a cut that would leave half
/// an entity (`&l…`) moves back to before it.
pub fn truncate_escaped(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    let cut = truncate(text, max_chars);
    let Some(kept) = cut.strip_suffix('…') else {
        return cut;
    };
    match kept.rfind('&') {
        Some(at) if !kept[at..].contains(';') => format!("{}…", &kept[..at]).into(),
        _ => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three_entities_and_nothing_else() {
        assert_eq!(
            escape_entities("<!here> & <a|b> é"),
            "&lt;!here&gt; &amp; &lt;a|b&gt; é"
        );
    }

    #[test]
    fn never_cuts_an_entity_in_half() {
        let escaped = escape_entities(&"<".repeat(10));
        let cut = truncate_escaped(&escaped, 7);
        assert_eq!(cut, "&lt;…");
        assert_eq!(truncate_escaped("a &amp; b", 20), "a &amp; b");
    }

    #[test]
    fn leaves_short_text_alone() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate_bytes("abc", 3), "abc");
    }

    #[test]
    fn cuts_at_a_character_boundary_with_a_visible_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("🚀🚀🚀", 2), "🚀…");
        assert_eq!(truncate_bytes("ééé", 5), "é…");
        assert_eq!(truncate_bytes("abcdef", 4), "a…");
    }

    #[test]
    fn never_exceeds_the_limit() {
        for limit in 0..12 {
            assert!(truncate("héllo wörld 🚀 again", limit).chars().count() <= limit);
            assert!(truncate_bytes("héllo wörld 🚀 again", limit + 3).len() <= limit + 3);
        }
    }
}
