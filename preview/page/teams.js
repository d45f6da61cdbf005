// Draws Teams messages with Microsoft's own Adaptive Card renderer (the `adaptivecards`
// package) under a host config close to Teams' light and dark themes, inside a frame like a
// Teams channel post from the Workflows app. The card is parsed at the version Teams renders
// for Workflows posts (1.4); a parse warning or error is reported on the console, which fails
// the preview check.
"use strict";

(function () {
  const FONT = "'Segoe UI', 'Segoe UI Web (West European)', Selawik, 'Open Sans', -apple-system, BlinkMacSystemFont, Roboto, 'Helvetica Neue', sans-serif";
  const MONO = "Consolas, Menlo, 'DejaVu Sans Mono', monospace";

  // Teams' palette (Fluent 2 as Teams uses it): text, the brand purple, and the status colours
  // for text and for the tinted container backgrounds.
  const THEMES = {
    light: {
      card: "#FFFFFF",
      emphasis: "#F5F5F5",
      accentBg: "#E8EBFA",
      goodBg: "#F1FAF1",
      warningBg: "#FFF9F5",
      attentionBg: "#FDF3F4",
      text: "#242424",
      subtle: "#616161",
      accent: "#5B5FC7",
      good: "#0E700E",
      warning: "#BC4B09",
      attention: "#C50F1F",
      separator: "#E0E0E0",
    },
    dark: {
      card: "#292929",
      emphasis: "#1F1F1F",
      accentBg: "#2F2F4A",
      goodBg: "#052505",
      warningBg: "#411200",
      attentionBg: "#3F1011",
      text: "#FFFFFF",
      subtle: "#ADADAD",
      accent: "#7F85F5",
      good: "#54B054",
      warning: "#FAA06B",
      attention: "#DC626D",
      separator: "#3D3D3D",
    },
  };

  function foreground(t) {
    const pair = (color, subtle) => ({ default: color, subtle });
    return {
      default: pair(t.text, t.subtle),
      dark: pair("#242424", "#616161"),
      light: pair("#FFFFFF", "#D6D6D6"),
      accent: pair(t.accent, t.accent),
      good: pair(t.good, t.good),
      warning: pair(t.warning, t.warning),
      attention: pair(t.attention, t.attention),
    };
  }

  function hostConfig(theme) {
    const t = THEMES[theme];
    const style = (backgroundColor) => ({ backgroundColor, foregroundColors: foreground(t) });
    return {
      supportsInteractivity: true,
      spacing: { small: 4, default: 8, medium: 16, large: 24, extraLarge: 32, padding: 16 },
      separator: { lineThickness: 1, lineColor: t.separator },
      fontTypes: {
        default: {
          fontFamily: FONT,
          fontSizes: { small: 12, default: 14, medium: 16, large: 20, extraLarge: 24 },
          fontWeights: { lighter: 300, default: 400, bolder: 600 },
        },
        monospace: {
          fontFamily: MONO,
          fontSizes: { small: 12, default: 14, medium: 16, large: 20, extraLarge: 24 },
          fontWeights: { lighter: 300, default: 400, bolder: 600 },
        },
      },
      lineHeights: { small: 16, default: 20, medium: 22, large: 28, extraLarge: 32 },
      containerStyles: {
        default: style(t.card),
        emphasis: style(t.emphasis),
        accent: style(t.accentBg),
        good: style(t.goodBg),
        attention: style(t.attentionBg),
        warning: style(t.warningBg),
      },
      imageSizes: { small: 32, medium: 52, large: 100 },
      actions: {
        maxActions: 6, spacing: "default", buttonSpacing: 8, showCard: { actionMode: "inline", inlineTopMargin: 16 },
        actionsOrientation: "horizontal", actionAlignment: "left",
      },
      factSet: {
        title: { color: "default", size: "default", isSubtle: false, weight: "bolder", wrap: true, maxWidth: 150 },
        value: { color: "default", size: "default", isSubtle: false, weight: "default", wrap: true },
        spacing: 8,
      },
    };
  }

  // Teams' markdown in TextBlocks and facts: emphasis, lists, links and backslash escapes;
  // no headings, images, tables, code blocks or raw HTML.
  const md = window.markdownit({ html: false, linkify: false, breaks: false }).disable([
    "table", "heading", "lheading", "image", "fence", "code", "hr", "html_block", "html_inline",
  ]);

  window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) {
    result.outputHtml = md.render(text);
    result.didProcess = true;
  };

  function time(at) {
    if (typeof at !== "number") return "";
    const d = new Date(at);
    return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  }

  function cardOf(payload) {
    const attachment = (payload.attachments || []).find(
      (a) => a.contentType === "application/vnd.microsoft.card.adaptive"
    );
    if (!attachment) throw new Error("no Adaptive Card attachment in the Workflows message");
    return attachment.content;
  }

  function render(payload, theme) {
    const json = cardOf(payload);
    const card = new window.AdaptiveCards.AdaptiveCard();
    card.hostConfig = new window.AdaptiveCards.HostConfig(hostConfig(theme));
    const context = new window.AdaptiveCards.SerializationContext(window.AdaptiveCards.Versions.v1_4);
    card.parse(json, context);
    for (let i = 0; i < context.eventCount; i++) {
      const event = context.getEventAt(i);
      const kind = window.AdaptiveCards.ValidationEvent[event.event] || event.event;
      console.error(`Adaptive Card 1.4 ${kind}: ${event.message}`);
    }
    for (const event of card.validateProperties().validationEvents) {
      console.error(`Adaptive Card validation: ${event.message}`);
    }
    const element = card.render();
    if (!element) throw new Error("the Adaptive Card renderer drew nothing");
    return { element, full: json.msteams && json.msteams.width === "Full" };
  }

  window.renderTeams = function (records, theme) {
    document.body.classList.add(theme);
    const root = document.getElementById("root");
    for (const record of records) {
      if (record.status !== "dry-run") continue;
      const { element, full } = render(record.payload, theme);
      const frame = document.createElement("section");
      frame.className = "shot";
      frame.dataset.seq = record.seq;
      frame.innerHTML = `<div class="post"><div class="avatar" aria-hidden="true"><span></span></div>
        <div class="content"><div class="name-line"><span class="name">Workflows</span><span class="time">${time(record.at)}</span></div>
        <div class="card${full ? " full" : ""}"></div></div></div>`;
      frame.querySelector(".card").appendChild(element);
      root.appendChild(frame);
    }
  };
})();
