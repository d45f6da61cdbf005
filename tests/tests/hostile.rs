//! The hostile-input corpus: what anyone on the internet can send to a public Function URL.
//!
//! One named row per case, run through every function's real handler against a local stand-in
//! for the destination. A request that is not a good event gets its status and a JSON error
//! body, and nothing reaches the destination. A good event with nasty text is forwarded, and
//! the text arrives inert: the exact rendering is asserted for each destination's markup.
//!
//! `HOSTILE_CASE=name cargo test -p flagger-relay-tests --test hostile` runs one case only.

use std::collections::HashMap;

use flagger_relay_tests::Call;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-hostile-0123456789";
const WITH_TOKEN: &str = "token=tok-hostile-0123456789";
const KIB: usize = 1024;
/// `contract::MAX_BODY_BYTES`, written out: the limit is part of the contract under test.
const LIMIT: usize = 256 * KIB;

/// One request and what it must lead to.
struct Case {
    name: &'static str,
    method: &'static str,
    query: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    base64: bool,
    expect: Expect,
}

enum Expect {
    /// This status, a JSON body whose `error` starts with this text, nothing forwarded.
    Refused(u16, &'static str),
    /// Forwarded once, within every limit, with any hostile text inert.
    Forwarded,
    /// Forwarded, with the event message rendered exactly so in each destination's markup.
    Rendered(Inert),
    /// Forwarded, and the whole payload passes a case-specific check.
    Checked(fn(Destination, &Value) -> Result<(), String>),
}

/// The event message as each destination must show it.
struct Inert {
    /// Slack section mrkdwn: a block quote of the message with `& < >` as entities.
    slack: String,
    /// Teams Adaptive Card TextBlock: markdown-escaped.
    adaptive: String,
    /// Teams MessageCard section text, markdown off: `& < >` as entities.
    message_card: String,
}

impl Case {
    fn post(name: &'static str, body: impl Into<Vec<u8>>, expect: Expect) -> Self {
        Case {
            name,
            method: "POST",
            query: WITH_TOKEN.to_owned(),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("user-agent", "Go-http-client/1.1".to_owned()),
            ],
            body: body.into(),
            base64: false,
            expect,
        }
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value.into()));
        self
    }

    fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(existing, _)| *existing != name);
        self
    }

    fn base64(mut self) -> Self {
        self.base64 = true;
        self
    }

    fn call(&self) -> Call<'_> {
        let mut call = Call::post(&self.body)
            .method(self.method)
            .query(&self.query);
        call.headers = self
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        if self.base64 { call.base64() } else { call }
    }
}

/// A well-formed Flagger event with `message` as its event message.
fn event(message: &str) -> Vec<u8> {
    event_with(|e| e["metadata"]["eventMessage"] = json!(message))
}

fn event_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event = json!({
        "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
        "metadata": {"cluster": "prod-eu", "eventMessage": "Advance podinfo.test canary weight 10", "eventType": "Normal", "timestamp": "1721556000123"}
    });
    change(&mut event);
    event.to_string().into_bytes()
}

/// A valid event padded with trailing whitespace (valid JSON) to exactly `size` bytes.
fn padded_to(size: usize) -> Vec<u8> {
    let mut body = event("padded");
    body.resize(size, b' ');
    body
}

/// A valid event whose message makes the body exactly `size` bytes.
fn message_sized(size: usize) -> Vec<u8> {
    let empty = event("").len();
    event(&"x".repeat(size - empty))
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

fn inert(slack: &str, adaptive: &str, message_card: &str) -> Expect {
    Expect::Rendered(Inert {
        slack: slack.to_owned(),
        adaptive: adaptive.to_owned(),
        message_card: message_card.to_owned(),
    })
}

/// Reproducible bytes that are not UTF-8 (a xorshift stream with every fourth byte ≥ 0x80).
fn binary(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let byte = state.to_le_bytes()[0];
            if i % 4 == 0 { byte | 0x80 } else { byte }
        })
        .collect()
}

const BAD_JSON: &str = "request body is not valid JSON";
const NOT_OBJECT: &str = "request body is not a JSON object";
const EMPTY: &str = "request body is empty";
const NOT_UTF8: &str = "request body is not valid UTF-8";
const UNAUTHORIZED: &str = "unauthorized";
const NOT_POST: &str = "method ";
const TOO_LARGE: &str = "request body is ";
const NOT_JSON_TYPE: &str = "content-type ";

#[rustfmt::skip]
fn corpus() -> Vec<Case> {
    use Expect::{Checked, Forwarded, Refused};
    let advance = event("Advance podinfo.test canary weight 10");
    let mut cases = vec![
        // Not JSON, or not an object.
        Case::post("truncated_json_mid_string", &br#"{"name":"podin"#[..], Refused(400, BAD_JSON)),
        Case::post("truncated_json_after_colon", &br#"{"name":"#[..], Refused(400, BAD_JSON)),
        Case::post("truncated_json_last_brace_missing", &advance[..advance.len() - 1], Refused(400, BAD_JSON)),
        Case::post("truncated_json_half_the_event", &advance[..advance.len() / 2], Refused(400, BAD_JSON)),
        Case::post("empty_body", "", Refused(400, EMPTY)),
        Case::post("whitespace_only_body", " \n\t\r ", Refused(400, EMPTY)),
        Case::post("json_array", "[1,2]", Refused(400, NOT_OBJECT)),
        Case::post("json_string", r#""podinfo""#, Refused(400, NOT_OBJECT)),
        Case::post("json_number", "42", Refused(400, NOT_OBJECT)),
        Case::post("json_null", "null", Refused(400, NOT_OBJECT)),
        Case::post("json_true", "true", Refused(400, NOT_OBJECT)),
        Case::post("trailing_garbage", [&advance[..], &b" trailing"[..]].concat(), Refused(400, BAD_JSON)),
        Case::post("two_concatenated_events", [&advance[..], &advance[..]].concat(), Refused(400, BAD_JSON)),
        Case::post("json_with_comments", r#"{/* hi */"name":"a","namespace":"b"}"#, Refused(400, BAD_JSON)),
        Case::post("single_quoted_json", "{'name':'a','namespace':'b'}", Refused(400, BAD_JSON)),
        Case::post("trailing_comma", r#"{"name":"a","namespace":"b",}"#, Refused(400, BAD_JSON)),
        Case::post("nan_literal", r#"{"name":NaN,"namespace":"b"}"#, Refused(400, BAD_JSON)),
        Case::post("form_encoded_body", "name=podinfo&namespace=test", Refused(400, BAD_JSON)),
        Case::post("utf8_byte_order_mark", [&b"\xef\xbb\xbf"[..], &advance[..]].concat(), Refused(400, BAD_JSON)),
        Case::post("lone_surrogate_escape", r#"{"name":"a\ud800","namespace":"b"}"#, Refused(400, BAD_JSON)),
        Case::post("duplicate_name_key", r#"{"name":"a","name":"b","namespace":"c"}"#, Refused(400, "duplicate field `name`")),
        // Wrong types, field by field.
        Case::post("name_is_a_number", r#"{"name":5,"namespace":"b"}"#, Refused(400, "field `name`: invalid type: integer `5`")),
        Case::post("name_is_an_array", r#"{"name":["a"],"namespace":"b"}"#, Refused(400, "field `name`: invalid type: sequence")),
        Case::post("name_is_an_object", r#"{"name":{"a":1},"namespace":"b"}"#, Refused(400, "field `name`: invalid type: map")),
        Case::post("name_is_a_boolean", r#"{"name":true,"namespace":"b"}"#, Refused(400, "field `name`: invalid type: boolean")),
        Case::post("name_is_null", r#"{"name":null,"namespace":"b"}"#, Refused(400, "missing required field `name`")),
        Case::post("name_is_empty", r#"{"name":"","namespace":"b"}"#, Refused(400, "missing required field `name`")),
        Case::post("namespace_is_a_number", r#"{"name":"a","namespace":1.5}"#, Refused(400, "field `namespace`: invalid type: floating point")),
        Case::post("namespace_missing", r#"{"name":"a","metadata":{}}"#, Refused(400, "missing required field `namespace`")),
        Case::post("phase_is_a_number", r#"{"name":"a","namespace":"b","phase":3}"#, Refused(400, "field `phase`: invalid type: integer")),
        Case::post("phase_is_an_object", r#"{"name":"a","namespace":"b","phase":{}}"#, Refused(400, "field `phase`: invalid type: map")),
        Case::post("checksum_is_an_array", r#"{"name":"a","namespace":"b","checksum":[]}"#, Refused(400, "field `checksum`: invalid type: sequence")),
        Case::post("metadata_is_a_string", r#"{"name":"a","namespace":"b","metadata":"x"}"#, Refused(400, "field `metadata`: invalid type: string")),
        Case::post("metadata_is_an_array", r#"{"name":"a","namespace":"b","metadata":[]}"#, Refused(400, "field `metadata`: invalid type: sequence")),
        Case::post("metadata_value_is_a_number", r#"{"name":"a","namespace":"b","metadata":{"retries":3}}"#, Refused(400, "field `metadata.retries`: invalid type: integer")),
        Case::post("metadata_value_is_null", r#"{"name":"a","namespace":"b","metadata":{"x":null}}"#, Refused(400, "field `metadata.x`: invalid type: null")),
        Case::post("metadata_value_is_an_object", r#"{"name":"a","namespace":"b","metadata":{"x":{"y":"z"}}}"#, Refused(400, "field `metadata.x`: invalid type: map")),
        Case::post("event_message_is_a_number", r#"{"name":"a","namespace":"b","metadata":{"eventMessage":7}}"#, Refused(400, "field `metadata.eventMessage`: invalid type: integer")),
        Case::post("event_type_is_a_boolean", r#"{"name":"a","namespace":"b","metadata":{"eventType":false}}"#, Refused(400, "field `metadata.eventType`: invalid type: boolean")),
        Case::post("timestamp_is_a_json_number", r#"{"name":"a","namespace":"b","metadata":{"timestamp":1721556000123}}"#, Refused(400, "field `metadata.timestamp`: invalid type: integer")),
        Case::post("timestamp_is_words", r#"{"name":"a","namespace":"b","metadata":{"timestamp":"yesterday"}}"#, Refused(400, "field `metadata.timestamp` is not a number of milliseconds")),
        Case::post("timestamp_overflows_i64", r#"{"name":"a","namespace":"b","metadata":{"timestamp":"99999999999999999999"}}"#, Refused(400, "field `metadata.timestamp` is not a number of milliseconds")),
        Case::post("timestamp_of_200000_characters", event_with(|e| e["metadata"]["timestamp"] = json!("9".repeat(200_000))), Refused(400, "field `metadata.timestamp` is not a number of milliseconds")),
        Case::post("metadata_is_a_200000_character_string", format!(r#"{{"name":"a","namespace":"b","metadata":"{}"}}"#, "m".repeat(200_000)), Refused(400, "field `metadata`: invalid type: string")),
        // Deep nesting: serde_json stops at 128 levels where it builds values, and skips what it
        // ignores without recursing, so no depth reaches the stack.
        Case::post("nested_10000_arrays", nested(10_000, "[", "]"), Refused(400, NOT_OBJECT)),
        Case::post("nested_10000_objects_in_an_unknown_field", format!(r#"{{"name":"a","namespace":"b","metadata":{{"eventMessage":"deep"}},"extra":{}}}"#, nested(10_000, r#"{"x":"#, "}").replace(r#""x":}"#, r#""x":1}"#) ), Forwarded),
        Case::post("nested_10000_arrays_in_metadata", format!(r#"{{"name":"a","namespace":"b","metadata":{{"x":{}}}}}"#, nested(10_000, "[", "]") ), Refused(400, "field `metadata.x`: invalid type: sequence")),
        Case::post("nested_10000_unclosed", "[".repeat(10_000), Refused(400, BAD_JSON)),
        // Bytes that are not text.
        Case::post("invalid_utf8", &b"{\"name\":\"\xff\xfe\",\"namespace\":\"b\"}"[..], Refused(400, NOT_UTF8)).base64(),
        Case::post("overlong_utf8_slash", &b"{\"name\":\"\xc0\xaf\",\"namespace\":\"b\"}"[..], Refused(400, NOT_UTF8)).base64(),
        Case::post("utf16_event", advance.iter().flat_map(|b| [0, *b]).collect::<Vec<u8>>(), Refused(400, BAD_JSON)).base64(),
        Case::post("raw_nul_inside_a_string", &b"{\"name\":\"a\x00b\",\"namespace\":\"b\"}"[..], Refused(400, BAD_JSON)).base64(),
        Case::post("raw_nul_before_the_event", [&b"\x00"[..], &advance[..]].concat(), Refused(400, BAD_JSON)).base64(),
        // base64 bodies (Function URLs encode anything that is not text) with garbage inside.
        Case::post("base64_random_binary", binary(4096), Refused(400, NOT_UTF8)).base64(),
        Case::post("base64_garbage_text", "%%% definitely not json %%%", Refused(400, BAD_JSON)).base64(),
        Case::post("base64_of_base64_event", "eyJuYW1lIjoiYSIsIm5hbWVzcGFjZSI6ImIifQ==", Refused(400, BAD_JSON)).base64(),
        Case::post("base64_empty", "", Refused(400, EMPTY)).base64(),
        Case::post("base64_gzip_magic", &b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"[..], Refused(400, NOT_UTF8)).base64(),
        // Size.
        Case::post("body_257_kib", padded_to(257 * KIB), Refused(413, TOO_LARGE)),
        Case::post("body_one_byte_over_the_limit", padded_to(LIMIT + 1), Refused(413, TOO_LARGE)),
        Case::post("body_257_kib_base64", padded_to(257 * KIB), Refused(413, TOO_LARGE)).base64(),
        Case::post("body_2_mib_of_garbage", binary(2 * 1024 * KIB), Refused(413, TOO_LARGE)).base64(),
        // Method.
        Case::post("get", "", Refused(405, NOT_POST)).method("GET"),
        Case::post("put_with_an_event", advance.clone(), Refused(405, NOT_POST)).method("PUT"),
        Case::post("delete", "", Refused(405, NOT_POST)).method("DELETE"),
        Case::post("patch_with_an_event", advance.clone(), Refused(405, NOT_POST)).method("PATCH"),
        Case::post("head", "", Refused(405, NOT_POST)).method("HEAD"),
        Case::post("options_preflight", "", Refused(405, NOT_POST)).method("OPTIONS"),
        // Content type.
        Case::post("text_plain", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "text/plain"),
        Case::post("form_urlencoded", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "application/x-www-form-urlencoded"),
        Case::post("multipart", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "multipart/form-data; boundary=x"),
        Case::post("application_xml", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "application/xml"),
        Case::post("text_json", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "text/json"),
        Case::post("application_jsonp", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", "application/jsonp"),
        Case::post("empty_content_type", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", ""),
        Case::post("huge_content_type", advance.clone(), Refused(415, NOT_JSON_TYPE)).header("content-type", format!("text/{}", "x".repeat(8000))),
        Case::post("uppercase_json_content_type", advance.clone(), Forwarded).header("content-type", "APPLICATION/JSON; charset=UTF-8"),
        Case::post("vendor_json_content_type", advance.clone(), Forwarded).header("content-type", "application/vnd.flagger+json"),
        Case::post("no_content_type", advance.clone(), Forwarded).without_header("content-type"),
        // Token.
        Case::post("missing_token", advance.clone(), Refused(401, UNAUTHORIZED)).query(""),
        Case::post("wrong_token", advance.clone(), Refused(401, UNAUTHORIZED)).query("token=tok-guess"),
        Case::post("empty_token", advance.clone(), Refused(401, UNAUTHORIZED)).query("token="),
        Case::post("token_prefix", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token={}", &TOKEN[..TOKEN.len() - 1])),
        Case::post("token_with_a_suffix", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token={TOKEN}0")),
        Case::post("token_in_upper_case", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token={}", TOKEN.to_uppercase())),
        Case::post("token_under_another_name", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("access_token={TOKEN}")),
        Case::post("token_as_basic_auth", advance.clone(), Refused(401, UNAUTHORIZED)).query("").header("authorization", format!("Basic {TOKEN}")),
        Case::post("token_as_bare_authorization", advance.clone(), Refused(401, UNAUTHORIZED)).query("").header("authorization", TOKEN),
        Case::post("duplicated_token_right_and_wrong", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token={TOKEN}&token=wrong")),
        Case::post("duplicated_token_wrong_then_right", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token=wrong&token={TOKEN}")),
        Case::post("duplicated_token_comma_joined", advance.clone(), Refused(401, UNAUTHORIZED)).query(format!("token={TOKEN},{TOKEN}")),
        Case::post("duplicated_token_both_right", advance.clone(), Forwarded).query(format!("token={TOKEN}&token={TOKEN}")),
        Case::post("token_in_both_places_right", advance.clone(), Forwarded).header("authorization", format!("Bearer {TOKEN}")),
        Case::post("token_in_both_places_header_wrong", advance.clone(), Refused(401, UNAUTHORIZED)).header("authorization", "Bearer wrong"),
        Case::post("token_in_both_places_query_wrong", advance.clone(), Refused(401, UNAUTHORIZED)).query("token=wrong").header("authorization", format!("Bearer {TOKEN}")),
        Case::post("token_as_bearer_only", advance.clone(), Forwarded).query("").header("authorization", format!("Bearer {TOKEN}")),
        Case::post("token_checked_before_the_body", "not json at all", Refused(401, UNAUTHORIZED)).query(""),
        Case::post("token_checked_before_the_content_type", advance.clone(), Refused(401, UNAUTHORIZED)).query("").header("content-type", "text/plain"),
        // Valid events that are big.
        Case::post("body_255_kib_message", message_sized(255 * KIB), Forwarded),
        Case::post("body_255_kib_whitespace_padding", padded_to(255 * KIB), Forwarded),
        Case::post("body_exactly_at_the_limit", message_sized(LIMIT), Forwarded),
        Case::post("message_100000_characters", event(&"x".repeat(100_000)), Forwarded),
        Case::post("message_100000_two_byte_characters", event(&"é".repeat(100_000)), Forwarded),
        Case::post("message_60000_emoji", event(&"🚀".repeat(60_000)), Forwarded),
        Case::post(
            "metadata_10000_keys",
            event_with(|e| {
                for i in 0..10_000 {
                    e["metadata"][format!("key-{i:05}")] = json!("<!here>");
                }
            }),
            Checked(many_keys_are_bounded),
        ),
        Case::post("metadata_200000_character_value", event_with(|e| e["metadata"]["note"] = json!("<".repeat(200_000))), Forwarded),
        Case::post("metadata_key_of_100000_characters", event_with(|e| e["metadata"]["k".repeat(100_000)] = json!("v")), Forwarded),
        Case::post("name_of_100000_characters", event_with(|e| e["name"] = json!("n".repeat(100_000))), Forwarded),
        Case::post("unknown_top_level_fields_ignored", event_with(|e| e["extra"] = json!({"deep": [1, [2, [3]]], "more": null})), Forwarded),
        Case::post("gating_hook_payload_without_message", r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f","metadata":{"approver":"<!channel>"}}"#, Forwarded),
        Case::post("base64_valid_event", advance.clone(), Forwarded).base64(),
        // Valid events with hostile text: forwarded, and inert.
        Case::post("slack_channel_mention", event("deploy <!channel> now"), inert(">deploy &lt;!channel&gt; now", r"deploy \<!channel> now", "deploy &lt;!channel&gt; now")),
        Case::post("slack_here_mention", event("<!here> look"), inert(">&lt;!here&gt; look", r"\<!here> look", "&lt;!here&gt; look")),
        Case::post("slack_everyone_mention", event("<!everyone>"), inert(">&lt;!everyone&gt;", r"\<!everyone>", "&lt;!everyone&gt;")),
        Case::post("go_escaped_channel_mention", r#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"\u003c!channel\u003e \u0026 co"}}"#, inert(">&lt;!channel&gt; &amp; co", r"\<!channel> & co", "&lt;!channel&gt; &amp; co")),
        Case::post("bare_at_here_and_at_channel", event("@here @channel please"), Expect::Checked(no_link_names)),
        Case::post("slack_link_with_label", event("<https://evil.example|click here>"), inert(">&lt;https://evil.example|click here&gt;", r"\<https://evil.example|click here>", "&lt;https://evil.example|click here&gt;")),
        Case::post("slack_user_channel_and_group_mentions", event("<@U0123ABC> <#C0123|general> <!subteam^S0123>"), inert(">&lt;@U0123ABC&gt; &lt;#C0123|general&gt; &lt;!subteam^S0123&gt;", "<@U0123ABC> <#C0123|general> \\<!subteam^S0123>", "&lt;@U0123ABC&gt; &lt;#C0123|general&gt; &lt;!subteam^S0123&gt;")),
        Case::post("pre_escaped_entities", event("&lt;!channel&gt;"), inert(">&amp;lt;!channel&amp;gt;", r"\&lt;!channel\&gt;", "&amp;lt;!channel&amp;gt;")),
        Case::post("numeric_entities", event("&#60;!channel&#62;"), inert(">&amp;#60;!channel&amp;#62;", r"\&#60;!channel\&#62;", "&amp;#60;!channel&amp;#62;")),
        Case::post("backslash_before_mention", event(r"\<!channel\>"), inert(r">\&lt;!channel\&gt;", r"\\\<!channel\\>", r"\&lt;!channel\&gt;")),
        Case::post("newline_breaks_out_of_the_quote", event("first\n<!channel> second\n\nthird"), inert(">first\n>&lt;!channel&gt; second\n>\n>third", "first\n\n\\<!channel> second\n\n\n\nthird", "first\n&lt;!channel&gt; second\n\nthird")),
        Case::post("markdown_javascript_link", event("[x](javascript:alert(1))"), inert(">[x](javascript:alert(1))", r"\[x\](javascript:alert(1))", "[x](javascript:alert(1))")),
        Case::post("markdown_tracking_image", event("![t](https://evil.example/p.png)"), inert(">![t](https://evil.example/p.png)", r"!\[t\](https://evil.example/p.png)", "![t](https://evil.example/p.png)")),
        Case::post("html_javascript_anchor", event(r#"<a href="javascript:alert(1)">x</a>"#), inert(r#">&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;"#, r#"\<a href="javascript:alert(1)">x\</a>"#, r#"&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;"#)),
        Case::post("html_script_and_img", event("<script>alert(1)</script><img src=x onerror=alert(1)>"), inert(">&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;", r"\<script>alert(1)\</script>\<img src=x onerror=alert(1)>", "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")),
        Case::post("teams_at_mention", event("<at>Everyone</at>"), inert(">&lt;at&gt;Everyone&lt;/at&gt;", r"\<at>Everyone\</at>", "&lt;at&gt;Everyone&lt;/at&gt;")),
        Case::post("adaptive_card_date_function", event("{{DATE(2017-02-14T06:08:39Z, SHORT)}}"), inert(">{{DATE(2017-02-14T06:08:39Z, SHORT)}}", r"{\{DATE(2017-02-14T06:08:39Z, SHORT)}}", "{{DATE(2017-02-14T06:08:39Z, SHORT)}}")),
        Case::post("markdown_heading_and_emphasis", event("# Big\n**bold** _it_ ~~s~~ `c`"), inert("># Big\n>**bold** _it_ ~~s~~ `c`", "\\# Big\n\n\\*\\*bold\\*\\* \\_it\\_ \\~\\~s\\~\\~ \\`c\\`", "# Big\n**bold** _it_ ~~s~~ `c`")),
        Case::post("emoji_and_zwj_sequences", event("🚀 deploy 👩‍👩‍👧‍👦 ok :rotating_light:"), inert(">🚀 deploy 👩‍👩‍👧‍👦 ok :rotating_light:", r"🚀 deploy 👩‍👩‍👧‍👦 ok :rotating\_light:", "🚀 deploy 👩‍👩‍👧‍👦 ok :rotating_light:")),
        Case::post("right_to_left_text_and_override", event("\u{202E}txt.exe\u{202C} مرحبا שלום"), inert(">\u{202E}txt.exe\u{202C} مرحبا שלום", "\u{202E}txt.exe\u{202C} مرحبا שלום", "\u{202E}txt.exe\u{202C} مرحبا שלום")),
        Case::post("escaped_nul_and_control_characters", event("a\u{0}b\u{7}c\u{1b}[31md"), inert(">a\u{0}b\u{7}c\u{1b}[31md", "a\u{0}b\u{7}c\u{1b}\\[31md", "a\u{0}b\u{7}c\u{1b}[31md")),
        Case::post("combining_characters", event("Z̴̡a̷l̸g̵o̶"), inert(">Z̴̡a̷l̸g̵o̶", "Z̴̡a̷l̸g̵o̶", "Z̴̡a̷l̸g̵o̶")),
        Case::post(
            "mention_in_name_and_namespace",
            event_with(|e| {
                e["name"] = json!("<!channel>");
                e["namespace"] = json!("<https://evil.example|x>");
            }),
            Checked(mention_in_name_is_inert),
        ),
        Case::post(
            "mention_in_phase_checksum_and_metadata",
            event_with(|e| {
                e["phase"] = json!("<!here>");
                e["checksum"] = json!("`<!channel>`");
                e["metadata"]["<!here>"] = json!("<https://evil.example|x>");
            }),
            Checked(mention_in_facts_is_inert),
        ),
    ];
    cases.sort_by_key(|case| case.name);
    cases
}

/// Where a case is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Slack,
    TeamsAdaptive,
    TeamsMessageCard,
    /// Nothing can be forwarded: the answer carries the payload that would be published.
    SnsDryRun,
}

struct Answer {
    status: u16,
    body: Value,
    /// What reached the destination (for SNS, what would have been published).
    forwarded: Vec<Value>,
}

impl Destination {
    async fn answer(self, case: &Case) -> Answer {
        // A dry run sends nothing, so SNS needs no stand-in.
        let server = match self {
            Destination::SnsDryRun => None,
            _ => Some(MockServer::start().await),
        };
        let (status, reply) = match self {
            Destination::TeamsAdaptive => (202, ""),
            Destination::TeamsMessageCard => (200, "1"),
            _ => (200, "ok"),
        };
        let mut url = String::new();
        if let Some(server) = &server {
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_string(reply))
                .mount(server)
                .await;
            url = format!("{}/services/T0HOSTILE/B0HOSTILE/hostilehook", server.uri());
        }
        let mut env: HashMap<&str, &str> = [("RELAY_TOKEN", TOKEN), ("CHATTER", "forward")].into();
        let response: Response<Body> = match self {
            Destination::Slack => {
                env.insert("SLACK_WEBHOOK_URL", &url);
                let relay =
                    flagger_relay_slack::relay_from_env(&env).expect("valid Slack configuration");
                relay.handle(case.call().request()).await
            }
            Destination::TeamsAdaptive | Destination::TeamsMessageCard => {
                env.insert("TEAMS_WEBHOOK_URL", &url);
                if self == Destination::TeamsMessageCard {
                    env.insert("TEAMS_CARD_FORMAT", "messagecard");
                }
                let relay =
                    flagger_relay_teams::relay_from_env(&env).expect("valid Teams configuration");
                relay.handle(case.call().request()).await
            }
            Destination::SnsDryRun => {
                env.insert("DRY_RUN", "1");
                let sdk = aws_config::SdkConfig::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new("us-east-1"))
                    .build();
                let relay = flagger_relay_sns::relay_with_sdk_config(&env, &sdk)
                    .expect("valid SNS configuration");
                relay.handle(case.call().request()).await
            }
        };
        let status = response.status().as_u16();
        let text = match response.body() {
            Body::Text(text) => text.clone(),
            Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "not JSON": text }));
        let forwarded: Vec<Value> = match &server {
            Some(server) => server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .map(|request| {
                    serde_json::from_slice(&request.body).unwrap_or_else(|_| json!("<not JSON>"))
                })
                .collect(),
            None if body["status"] == "dry-run" => vec![body["payload"].clone()],
            None => Vec::new(),
        };
        Answer {
            status,
            body,
            forwarded,
        }
    }

    /// The event message as rendered; SNS carries it as data, not markup.
    fn message(self, payload: &Value) -> Option<&str> {
        match self {
            Destination::Slack => payload["attachments"][0]["blocks"][0]["text"]["text"].as_str(),
            Destination::TeamsAdaptive => {
                payload["attachments"][0]["content"]["body"][1]["text"].as_str()
            }
            Destination::TeamsMessageCard => payload["sections"][0]["text"].as_str(),
            Destination::SnsDryRun => None,
        }
    }
}

/// The checks every case gets; `Err` says what is wrong.
async fn check(destination: Destination, case: &Case) -> Result<(), String> {
    let answer = destination.answer(case).await;
    let Answer {
        status,
        body,
        forwarded,
    } = &answer;
    match &case.expect {
        Expect::Refused(expected, error) => {
            let shown = body["error"]
                .as_str()
                .ok_or_else(|| format!("no `error` in the JSON body: {body}"))?;
            if (*status, shown.starts_with(error)) != (*expected, true) {
                return Err(format!(
                    "answered {status} {shown:?}; expected {expected} {error:?}…"
                ));
            }
            if !forwarded.is_empty() {
                return Err(format!("{} request(s) forwarded", forwarded.len()));
            }
            Ok(())
        }
        Expect::Forwarded | Expect::Rendered(_) | Expect::Checked(_) => {
            let expected_status = if destination == Destination::SnsDryRun {
                "dry-run"
            } else {
                "delivered"
            };
            if (*status, body["status"].as_str()) != (200, Some(expected_status)) {
                return Err(format!("answered {status} {body}"));
            }
            let [payload] = &forwarded[..] else {
                return Err(format!(
                    "{} request(s) forwarded instead of one",
                    forwarded.len()
                ));
            };
            within_limits(destination, payload)?;
            match &case.expect {
                Expect::Rendered(inert) => rendered_inert(destination, payload, inert),
                Expect::Checked(check) => check(destination, payload),
                _ => Ok(()),
            }
        }
    }
}

fn rendered_inert(destination: Destination, payload: &Value, inert: &Inert) -> Result<(), String> {
    let expected = match destination {
        Destination::Slack => &inert.slack,
        Destination::TeamsAdaptive => &inert.adaptive,
        Destination::TeamsMessageCard => &inert.message_card,
        // SNS carries the event as data, never as markup: the text arrives as sent.
        Destination::SnsDryRun => return Ok(()),
    };
    match destination.message(payload) {
        Some(message) if message == expected => Ok(()),
        other => Err(format!(
            "message rendered as {other:?}; expected {expected:?}"
        )),
    }
}

/// Each destination's limits, and for the chat destinations no live markup from the event.
fn within_limits(destination: Destination, payload: &Value) -> Result<(), String> {
    let bytes = payload.to_string().len();
    let chars = |value: &Value| value.as_str().map_or(0, |s| s.chars().count());
    match destination {
        Destination::Slack => {
            // The title's blocks, then the attachment's.
            let blocks: Vec<&Value> = payload["blocks"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    payload["attachments"][0]["blocks"]
                        .as_array()
                        .ok_or("no blocks")?,
                )
                .collect();
            let text = payload["text"].as_str().ok_or("no top-level text")?;
            let mut problems = Vec::new();
            if text.is_empty() || text.chars().count() > 40_000 {
                problems.push(format!(
                    "top-level text of {} characters",
                    text.chars().count()
                ));
            }
            if blocks.len() > 50 {
                problems.push(format!("{} blocks", blocks.len()));
            }
            for block in &blocks {
                match block["type"].as_str() {
                    Some("header") if chars(&block["text"]["text"]) > 150 => {
                        problems.push("header over 150".into())
                    }
                    Some("section") if chars(&block["text"]["text"]) > 3000 => {
                        problems.push("section over 3,000".into())
                    }
                    Some("context") => {
                        let elements = block["elements"].as_array().map_or(&[][..], Vec::as_slice);
                        if elements.len() > 10 || elements.iter().any(|e| chars(&e["text"]) > 3000)
                        {
                            problems.push("context over its limits".into());
                        }
                    }
                    _ => {}
                }
            }
            // In mrkdwn, `<` opens a mention or a link; the renderer writes none of its own.
            let mut mrkdwn = vec![text];
            for block in &blocks {
                mrkdwn.extend(
                    block["text"]["text"]
                        .as_str()
                        .filter(|_| block["text"]["type"] == "mrkdwn"),
                );
                for element in block["elements"].as_array().map_or(&[][..], Vec::as_slice) {
                    mrkdwn.extend(element["text"].as_str());
                }
            }
            if let Some(live) = mrkdwn
                .iter()
                .find(|text| text.contains('<') || (text.contains('>') && !text.starts_with('>')))
            {
                problems.push(format!(
                    "live markup in mrkdwn: {:?}",
                    flagger_relay_core::text::truncate(live, 80)
                ));
            }
            if payload.get("link_names").is_some() || payload.get("parse").is_some() {
                problems.push("asks Slack to parse names".into());
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        }
        Destination::TeamsAdaptive | Destination::TeamsMessageCard if bytes > 28_000 => {
            Err(format!("{bytes} bytes, over Teams' 28 KB"))
        }
        Destination::TeamsAdaptive => {
            let card = &payload["attachments"][0]["content"];
            if card["version"] != "1.4" {
                return Err(format!("card version {}", card["version"]));
            }
            let mut texts: Vec<&str> = Vec::new();
            collect_strings(&card["body"], &mut texts);
            match texts.iter().find(|text| live_markdown(text)) {
                Some(live) => Err(format!(
                    "live markup in card text: {:?}",
                    flagger_relay_core::text::truncate(live, 80)
                )),
                None => Ok(()),
            }
        }
        Destination::TeamsMessageCard => {
            let mut texts: Vec<&str> = Vec::new();
            collect_strings(&payload["sections"], &mut texts);
            match texts.iter().find(|text| text.contains('<')) {
                Some(live) => Err(format!(
                    "`<` in MessageCard text: {:?}",
                    flagger_relay_core::text::truncate(live, 80)
                )),
                None if payload["sections"][0]["markdown"] != false => {
                    Err("MessageCard markdown is on".into())
                }
                None => Ok(()),
            }
        }
        Destination::SnsDryRun => {
            let subject = payload["Subject"].as_str().ok_or("no Subject")?;
            let message = serde_json::to_string(&payload["Message"]).map_err(|e| e.to_string())?;
            if subject.chars().count() >= 100
                || subject.chars().any(char::is_control)
                || subject.is_empty()
            {
                Err(format!("Subject SNS would refuse: {subject:?}"))
            } else if message.len() > 262_144 {
                Err(format!("Message of {} bytes", message.len()))
            } else {
                Ok(())
            }
        }
    }
}

fn collect_strings<'v>(value: &'v Value, into: &mut Vec<&'v str>) {
    match value {
        Value::String(text) => into.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}

/// Markup CommonMark would act on, not made literal by a backslash (itself not escaped): a `<`
/// that could open a tag or an autolink (before a letter, `/`, `!` or `?`), an `&` that could
/// open an entity (before a letter, a digit or `#`).
fn live_markdown(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut backslashes = 0;
    for (at, c) in chars.iter().enumerate() {
        let next = chars.get(at + 1).copied().unwrap_or(' ');
        let live = match c {
            '<' => next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?'),
            '&' => next.is_ascii_alphanumeric() || next == '#',
            _ => false,
        };
        if live && backslashes % 2 == 0 {
            return true;
        }
        backslashes = if *c == '\\' { backslashes + 1 } else { 0 };
    }
    false
}

fn no_link_names(destination: Destination, payload: &Value) -> Result<(), String> {
    // Slack turns a bare `@here` into a mention only when the message sets `link_names`,
    // which the relay never does, so the text can stay as written.
    let expected = match destination {
        Destination::Slack => ">@here @channel please",
        Destination::SnsDryRun => return Ok(()),
        _ => "@here @channel please",
    };
    match destination.message(payload) {
        Some(message) if message == expected => Ok(()),
        other => Err(format!("rendered as {other:?}")),
    }
}

fn mention_in_name_is_inert(destination: Destination, payload: &Value) -> Result<(), String> {
    let title = match destination {
        Destination::Slack => payload["text"].as_str(),
        Destination::TeamsAdaptive => {
            payload["attachments"][0]["content"]["body"][0]["items"][1]["text"].as_str()
        }
        Destination::TeamsMessageCard => payload["sections"][0]["activityTitle"].as_str(),
        Destination::SnsDryRun => return Ok(()),
    };
    let expected = match destination {
        Destination::TeamsAdaptive => r"\<!channel>.\<https://evil.example|x>: ",
        _ => "&lt;!channel&gt;.&lt;https://evil.example|x&gt;: ",
    };
    match title {
        Some(title) if title.starts_with(expected) => Ok(()),
        other => Err(format!("title rendered as {other:?}")),
    }
}

fn mention_in_facts_is_inert(destination: Destination, payload: &Value) -> Result<(), String> {
    let text = payload.to_string();
    let expected: &[&str] = match destination {
        Destination::Slack => &[
            "*Phase* &lt;!here&gt;",
            "*Revision* ``&lt;!channel&gt;``",
            "*&lt;!here&gt;* &lt;https://evil.example|x&gt;",
        ],
        Destination::TeamsAdaptive => &[
            r#""title":"\\<!here>","value":"\\<https://evil.example|x>""#,
            r#""value":"\\`\\<!channel>\\`""#,
        ],
        Destination::TeamsMessageCard => &[
            r#""name":"&lt;!here&gt;","value":"&lt;https://evil.example|x&gt;""#,
            r#""value":"`&lt;!channel&gt;`""#,
        ],
        Destination::SnsDryRun => &[],
    };
    match expected.iter().find(|fact| !text.contains(**fact)) {
        Some(missing) => Err(format!(
            "{missing:?} not in {}",
            flagger_relay_core::text::truncate(&text, 2000)
        )),
        None => Ok(()),
    }
}

fn many_keys_are_bounded(destination: Destination, payload: &Value) -> Result<(), String> {
    let text = payload.to_string();
    let shown = text.matches("key-").count();
    match destination {
        Destination::Slack if shown == 0 || shown >= 10_000 => Err(format!("{shown} keys shown")),
        Destination::TeamsAdaptive | Destination::TeamsMessageCard
            if !text.contains("more metadata keys not shown") =>
        {
            Err("does not say that keys were left out".into())
        }
        _ => Ok(()),
    }
}

async fn run_corpus(destination: Destination) {
    let mut failures = Vec::new();
    let only = std::env::var("HOSTILE_CASE").ok();
    for case in corpus() {
        if only.as_deref().is_some_and(|only| only != case.name) {
            continue;
        }
        if let Err(problem) = check(destination, &case).await {
            failures.push(format!("  {}: {problem}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{destination:?}: {} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A refusal names the problem; it has no reason to quote the whole offending value back, into
/// the caller's answer and the function's log line. Two errors do: `EventError::Timestamp`
/// holds the raw timestamp, and serde's `invalid type: string "…"` the raw string.
#[tokio::test]
async fn refusals_quote_at_most_a_few_hundred_characters_of_the_body() {
    let env: HashMap<&str, &str> = [("RELAY_TOKEN", TOKEN), ("DRY_RUN", "1")].into();
    let relay = flagger_relay_slack::relay_from_env(&env).expect("valid configuration");
    let mut long = Vec::new();
    for case in corpus() {
        if let Expect::Refused(..) = case.expect {
            let response = relay.handle(case.call().request()).await;
            let error = match response.body() {
                Body::Text(text) => text.chars().count(),
                _ => 0,
            };
            if error > 500 {
                long.push(format!("{}: {error} characters", case.name));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_corpus_has_at_least_60_uniquely_named_cases() {
    let cases = corpus();
    let mut names: Vec<&str> = cases.iter().map(|case| case.name).collect();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let refused = cases
        .iter()
        .filter(|case| matches!(case.expect, Expect::Refused(..)))
        .count();
    let inert = cases
        .iter()
        .filter(|case| matches!(case.expect, Expect::Rendered(_) | Expect::Checked(_)))
        .count();
    assert!(
        refused >= 40 && inert >= 20,
        "{refused} refused, {inert} nasty-but-valid"
    );
}

#[tokio::test]
async fn slack_answers_every_hostile_request_as_specified() {
    run_corpus(Destination::Slack).await;
}

#[tokio::test]
async fn teams_workflows_answers_every_hostile_request_as_specified() {
    run_corpus(Destination::TeamsAdaptive).await;
}

#[tokio::test]
async fn teams_connector_answers_every_hostile_request_as_specified() {
    run_corpus(Destination::TeamsMessageCard).await;
}

#[tokio::test]
async fn sns_answers_every_hostile_request_as_specified() {
    run_corpus(Destination::SnsDryRun).await;
}
