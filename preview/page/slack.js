// Draws Slack messages (incoming-webhook bodies and Web API bodies) the way Slack's desktop
// client lays them out: the app's name line, the top-level text, then each attachment with its
// colour bar and Block Kit blocks. mrkdwn is rendered as Slack renders it: *bold*, _italic_,
// ~strike~, `code`, ```pre```, > quotes, <url|label> links, <!here> mentions, :emoji: and the
// &lt; &gt; &amp; entities. A block this file does not know is drawn as a visible placeholder
// and reported on the console, so that a preview never silently drops content.
"use strict";

(function () {
  // The emoji the functions use, and the usual ones around them; an unknown shortcode stays
  // as text, as Slack shows a custom emoji it cannot find.
  const EMOJI = {
    white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", no_entry: "⛔", no_entry_sign: "🚫",
    warning: "⚠️", rotating_light: "🚨", fire: "🔥", boom: "💥", rewind: "⏪", fast_forward: "⏩",
    arrows_counterclockwise: "🔄", repeat: "🔁", hourglass: "⌛", hourglass_flowing_sand: "⏳",
    stopwatch: "⏱️", rocket: "🚀", tada: "🎉", wastebasket: "🗑️", information_source: "ℹ️",
    bell: "🔔", no_bell: "🔕", mag: "🔍", bar_chart: "📊", chart_with_upwards_trend: "📈",
    chart_with_downwards_trend: "📉", lock: "🔒", key: "🔑", construction: "🚧", pause_button: "⏸️",
    double_vertical_bar: "⏸️", arrow_forward: "▶️", black_square_for_stop: "⏹️", traffic_light: "🚥",
    vertical_traffic_light: "🚦", large_green_circle: "🟢", large_yellow_circle: "🟡",
    large_orange_circle: "🟠", red_circle: "🔴", large_blue_circle: "🔵", white_circle: "⚪",
    thumbsup: "👍", "+1": "👍", thumbsdown: "👎", eyes: "👀", gear: "⚙️", wrench: "🔧",
    hammer_and_wrench: "🛠️", package: "📦", memo: "📝", link: "🔗", clock3: "🕒", calendar: "📅",
    skull: "💀", ghost: "👻", robot_face: "🤖", bird: "🐦", zap: "⚡", sparkles: "✨",
    heavy_plus_sign: "➕", heavy_minus_sign: "➖", arrow_up: "⬆️", arrow_down: "⬇️",
    arrow_right: "➡️", left_right_arrow: "↔️", twisted_rightwards_arrows: "🔀", new: "🆕",
    sos: "🆘", ok: "🆗", question: "❓", exclamation: "❗", bangbang: "‼️", checkered_flag: "🏁",
    triangular_flag_on_post: "🚩", shield: "🛡️", test_tube: "🧪", scales: "⚖️", loudspeaker: "📢",
  };

  const ENTITIES = { "&lt;": "<", "&gt;": ">", "&amp;": "&" };

  function decode(text) {
    return text.replace(/&(lt|gt|amp);/g, (m) => ENTITIES[m]);
  }

  function html(text) {
    return text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  function emoji(escapedHtml) {
    return escapedHtml.replace(/:([a-z0-9_+-]+):/g, (whole, name) =>
      EMOJI[name] ? `<span class="emoji" title=":${name}:">${EMOJI[name]}</span>` : whole
    );
  }

  // Slack's emphasis: the marker opens after a start, space or punctuation and before a
  // non-space, and closes before an end, space or punctuation.
  const EDGE_BEFORE = "(^|[\\s([{\"'.,;:!?/-])";
  const EDGE_AFTER = "(?=$|[\\s)\\]}\"'.,;:!?/-])";
  function marker(ch, tag) {
    const m = ch.replace(/[*~]/g, "\\$&");
    return [new RegExp(`${EDGE_BEFORE}${m}([^\\s${m}](?:[^${m}\\n]*?[^\\s${m}])?)${m}${EDGE_AFTER}`, "g"), tag];
  }
  const EMPHASIS = [marker("*", "b"), marker("_", "i"), marker("~", "s")];

  function plainRun(raw) {
    let out = html(decode(raw));
    for (const [pattern, tag] of EMPHASIS) {
      out = out.replace(pattern, (_, before, inner) => `${before}<${tag}>${inner}</${tag}>`);
    }
    return emoji(out);
  }

  function angle(inner) {
    const [target, label] = splitOnce(inner, "|");
    if (target.startsWith("!")) {
      const name = target.slice(1).split("^")[0];
      return `<span class="mention">@${html(label ? decode(label) : name)}</span>`;
    }
    if (target.startsWith("@") || target.startsWith("#")) {
      const shown = label ? decode(label) : target.slice(1);
      return `<span class="mention">${target[0]}${html(shown)}</span>`;
    }
    const url = decode(target);
    const text = label ? plainRun(label) : html(url);
    return `<a href="${html(url)}">${text}</a>`;
  }

  function splitOnce(text, sep) {
    const at = text.indexOf(sep);
    return at < 0 ? [text, null] : [text.slice(0, at), text.slice(at + 1)];
  }

  function inline(raw) {
    let out = "";
    const pattern = /`([^`\n]+)`|<([^<>\n]+)>/g;
    let last = 0;
    for (const match of raw.matchAll(pattern)) {
      out += plainRun(raw.slice(last, match.index));
      out += match[1] !== undefined ? `<code>${html(decode(match[1]))}</code>` : angle(match[2]);
      last = match.index + match[0].length;
    }
    return out + plainRun(raw.slice(last));
  }

  // Block level: ```pre``` blocks, then runs of quoted lines, then plain lines.
  function mrkdwn(raw) {
    const parts = raw.split(/```/);
    let out = "";
    parts.forEach((part, index) => {
      if (index % 2 === 1 && index < parts.length - 1) {
        out += `<pre>${html(decode(part.replace(/^\n/, "")))}</pre>`;
      } else {
        out += lines(index % 2 === 1 ? "```" + part : part);
      }
    });
    return out;
  }

  function lines(raw) {
    const out = [];
    let quote = [];
    const flush = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    for (const line of raw.split("\n")) {
      const quoted = line.match(/^(?:>|&gt;) ?(.*)$/);
      if (quoted) {
        quote.push(inline(quoted[1]));
      } else {
        flush();
        out.push(`<span class="line">${inline(line) || "&#8203;"}</span>`);
      }
    }
    flush();
    return out.join("");
  }

  function textObject(text) {
    if (!text) return "";
    if (text.type === "mrkdwn") return mrkdwn(text.text || "");
    if (text.type === "plain_text") {
      const escaped = html(text.text || "");
      return (text.emoji === false ? escaped : emoji(escaped)).replace(/\n/g, "<br>");
    }
    unknown(`text object ${JSON.stringify(text.type)}`);
    return `<span class="unknown">[${html(String(text.type))} text]</span>`;
  }

  function unknown(what) {
    console.warn(`preview: Slack ${what} is not drawn by this preview`);
  }

  function button(element) {
    const style = element.style ? ` ${element.style}` : "";
    return `<span class="button${style}">${textObject(element.text)}</span>`;
  }

  function element(el) {
    switch (el.type) {
      case "button":
        return button(el);
      case "image":
        return `<img class="accessory-image" alt="${html(el.alt_text || "")}" src="${html(el.image_url || "")}">`;
      case "mrkdwn":
      case "plain_text":
        return `<span>${textObject(el)}</span>`;
      default:
        unknown(`element ${JSON.stringify(el.type)}`);
        return `<span class="unknown">[${html(String(el.type))}]</span>`;
    }
  }

  function block(b) {
    switch (b.type) {
      case "header":
        return `<div class="block header">${textObject(b.text)}</div>`;
      case "section": {
        let body = "";
        if (b.text) body += `<div class="section-text">${textObject(b.text)}</div>`;
        if (b.fields && b.fields.length) {
          body += `<div class="fields">${b.fields.map((f) => `<div class="field">${textObject(f)}</div>`).join("")}</div>`;
        }
        const accessory = b.accessory ? `<div class="accessory">${element(b.accessory)}</div>` : "";
        return `<div class="block section"><div class="section-body">${body}</div>${accessory}</div>`;
      }
      case "context":
        return `<div class="block context">${(b.elements || [])
          .map((el) => (el.type === "image" ? `<img class="context-image" alt="${html(el.alt_text || "")}" src="${html(el.image_url || "")}">` : `<span class="context-item">${textObject(el)}</span>`))
          .join("")}</div>`;
      case "actions":
        return `<div class="block actions">${(b.elements || []).map(element).join("")}</div>`;
      case "divider":
        return `<hr class="block divider">`;
      case "image":
        return `<div class="block image">${b.title ? `<div class="image-title">${textObject(b.title)}</div>` : ""}<img alt="${html(b.alt_text || "")}" src="${html(b.image_url || "")}"></div>`;
      default:
        unknown(`block ${JSON.stringify(b.type)}`);
        return `<div class="block unknown">[${html(String(b.type))} block]</div>`;
    }
  }

  function attachment(a) {
    const color = /^#?[0-9a-fA-F]{6}$/.test(a.color || "") ? (a.color.startsWith("#") ? a.color : `#${a.color}`)
      : { good: "#2EB67D", warning: "#ECB22E", danger: "#E01E5A" }[a.color] || "#DDDDDD";
    let inner = "";
    if (a.pretext) inner += `<div class="pretext">${mrkdwn(a.pretext)}</div>`;
    if (a.blocks) inner += a.blocks.map(block).join("");
    if (a.title) inner += `<div class="legacy-title">${inline(a.title)}</div>`;
    if (a.text) inner += `<div class="legacy-text">${mrkdwn(a.text)}</div>`;
    if (a.fields) unknown("legacy attachment fields");
    return `<div class="attachment"><div class="bar" style="background:${color}"></div><div class="attachment-body">${inner}</div></div>`;
  }

  function time(at) {
    if (typeof at !== "number") return "";
    const d = new Date(at);
    return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  }

  // One message as the channel shows it: avatar, name line, text, attachments.
  function message(body, meta, options = {}) {
    const name = body.username || "Flagger";
    const avatar = body.icon_emoji && EMOJI[body.icon_emoji.replace(/:/g, "")]
      ? `<div class="avatar emoji-avatar">${EMOJI[body.icon_emoji.replace(/:/g, "")]}</div>`
      : `<div class="avatar">F</div>`;
    // With blocks only inside attachments, Slack shows the top-level text above them.
    const text = body.text && !body.blocks ? `<div class="text">${mrkdwn(body.text)}</div>` : "";
    const blocks = body.blocks ? body.blocks.map(block).join("") : "";
    const broadcast = options.broadcast ? `<div class="broadcast">Also sent to the channel</div>` : "";
    const label = options.label ? `<div class="thread-label">${html(options.label)}</div>` : "";
    // Slack folds a sender's messages that follow each other within minutes under one name.
    const head = options.compact
      ? ""
      : `<div class="name-line"><span class="name">${html(name)}</span><span class="app">APP</span><span class="time">${time(meta.at)}</span>${options.edited ? '<span class="edited">(edited)</span>' : ""}</div>`;
    return `<div class="message${options.compact ? " compact" : ""}">${label}${options.compact ? '<div class="gutter"></div>' : avatar}<div class="content">
      ${head}
      ${broadcast}${text}${blocks}${(body.attachments || []).map(attachment).join("")}
    </div></div>`;
  }

  // Bot mode: the parent as it stands after this event, and this event's reply in its thread.
  function threadView(record, replies, options) {
    const calls = record.calls || [];
    const update = calls.find((c) => c.method === "chat.update");
    const post = calls.find((c) => c.method === "chat.postMessage");
    if (!update) {
      return `<div class="channel-label">#deployments</div>${message(post.body, record)}`;
    }
    const shown = options.all ? replies : [post.body];
    const earlier = options.all ? 0 : replies.length - 1;
    let out = `<div class="channel-label">Thread · #deployments</div>${message(update.body, record, { edited: true })}`;
    out += `<div class="replies-rule"><span>${replies.length} ${replies.length === 1 ? "reply" : "replies"}</span></div>`;
    if (earlier > 0) out += `<div class="earlier">… ${earlier} earlier ${earlier === 1 ? "reply" : "replies"}</div>`;
    const FOLD_MS = 5 * 60 * 1000;
    out += shown
      .map((reply, i) => {
        const meta = reply.__meta || record;
        const before = i > 0 ? shown[i - 1].__meta || record : null;
        const compact = !!before && !reply.reply_broadcast && typeof meta.at === "number" && meta.at - before.at < FOLD_MS;
        return message(reply, meta, { broadcast: reply.reply_broadcast, compact });
      })
      .join("");
    return out;
  }

  // Renders every record of the page into its own screenshot frame; in bot mode, each
  // thread once more at the end, whole.
  window.renderSlack = function (records, variant) {
    const root = document.getElementById("root");
    const threads = new Map();
    const frame = (seq, inner) => {
      const section = document.createElement("section");
      section.className = "shot";
      section.dataset.seq = seq;
      section.innerHTML = inner;
      root.appendChild(section);
    };
    for (const record of records) {
      if (record.status !== "dry-run") continue;
      if (variant !== "slack-bot") {
        frame(record.seq, message(record.payload, record));
        continue;
      }
      const calls = record.calls || [];
      const post = calls.find((c) => c.method === "chat.postMessage");
      const update = calls.find((c) => c.method === "chat.update");
      let replies = [];
      if (post.answer_ts) {
        threads.set(post.answer_ts, { parent: record.seq, replies: [] });
      } else if (update) {
        const thread = threads.get(update.body.ts);
        if (!thread) throw new Error(`a reply in thread ${update.body.ts}, whose parent was not posted`);
        thread.replies.push(Object.assign({ __meta: record }, post.body));
        thread.last = record;
        replies = thread.replies;
      }
      frame(record.seq, threadView(record, replies, {}));
    }
    for (const thread of threads.values()) {
      if (!thread.replies.length) continue;
      frame(`thread-${String(thread.parent).padStart(2, "0")}`, threadView(thread.last, thread.replies, { all: true }));
      root.lastChild.dataset.replies = thread.replies.length;
    }
  };
})();
