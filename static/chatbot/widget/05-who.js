
  // Who wrote a message, said the way visitors are owed it: answers are labelled as AI and by
  // where they came from; agents by their name, with their photo (a path on the chat server,
  // set in the admin) or, without one or when the host page's policy blocks it, their initials.
  function initials(name) {
    var words = String(name).trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    if (/[\u3400-\u9fff]/.test(words[0])) return Array.from(words[0])[0];
    return words
      .slice(0, 2)
      .map(function (w) {
        return Array.from(w)[0].toUpperCase();
      })
      .join("");
  }

  function isSuggestion(citations) {
    return citations.every(function (c) {
      return c && c.suggested === true;
    });
  }

  function sourceLabel(message) {
    if (message.source === "faq") return T.fromFaq;
    if (message.source === "fallback" || message.source === "small_talk") return T.automatic;
    if (message.source === "llm" || message.source === "cache") {
      if (message.automatic === true) return T.automatic; // our own copy, not the model's words
      var cited = Array.isArray(message.citations) && message.citations.length;
      if (cited && isSuggestion(message.citations)) return T.automatic; // no answer was given
      return cited ? T.fromHelpCentre : T.aiGenerated;
    }
    return "";
  }

  function setWho(row, message) {
    var who = row.querySelector(".who");
    if (!who) return;
    while (who.firstChild) who.removeChild(who.firstChild);
    if (message.role === "agent") {
      var name = message.author && typeof message.author.name === "string" && message.author.name;
      var avatar = el("span", "avatar");
      avatar.setAttribute("data-initials", initials(name || T.agent));
      avatar.setAttribute("aria-hidden", "true");
      var photo = message.author && message.author.avatar;
      if (typeof photo === "string" && /^\/(?!\/)\S*$/.test(photo)) {
        var img = el("img", "avatar");
        img.alt = "";
        img.addEventListener("error", function () {
          if (img.parentNode) img.parentNode.replaceChild(avatar, img);
        });
        img.src = serverOrigin + photo;
        who.appendChild(img);
      } else who.appendChild(avatar);
      who.appendChild(document.createTextNode(name || T.agent));
      return;
    }
    who.appendChild(document.createTextNode(roleLabel(message.role)));
    var label = message.role === "bot" ? sourceLabel(message) : "";
    if (label) who.appendChild(el("span", "label", "· " + label));
  }

  function setTime(row, iso) {
    var old = row.querySelector(":scope > time");
    if (old) old.parentNode.removeChild(old);
    var when = iso ? new Date(iso) : null;
    if (!when || isNaN(when.getTime())) return;
    var t = el("time", null, when.toLocaleTimeString(locale === "zh-hans" ? "zh-CN" : undefined, { hour: "2-digit", minute: "2-digit" }));
    t.setAttribute("datetime", when.toISOString());
    t.title = when.toLocaleString(locale === "zh-hans" ? "zh-CN" : undefined);
    var bubble = row.querySelector(":scope > .bubble");
    row.insertBefore(t, bubble ? bubble.nextSibling : null);
  }

  var host = document.createElement("chatbot-widget");
  host.setAttribute("data-chatbot-widget", "");
  var root = host.attachShadow({ mode: "open" });
  // A constructed stylesheet, not a <style> element: a host page whose Content-Security-Policy
  // has no 'unsafe-inline' for styles blocks the element but not the sheet.
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS_TEXT);
    root.adoptedStyleSheets = [sheet];
  } else {
    var styleEl = document.createElement("style");
    styleEl.textContent = CSS_TEXT;
    root.appendChild(styleEl);
  }

  var wrap = el("div", "wrap");
  wrap.setAttribute("lang", locale === "zh-hans" ? "zh-Hans" : "en");
  // Both of the widget's languages run left to right, on a dir="rtl" page too (`all: initial`
  // on the host does not reset direction, which is inherited from the page).
  wrap.setAttribute("dir", "ltr");
  root.appendChild(wrap);

  var panelId = "cbw-panel";
  var panel = el("section", "panel");
  panel.id = panelId;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-modal", "false");
  panel.setAttribute("aria-labelledby", "cbw-title");

  var header = el("div", "header");
  var titles = el("div", "titles");
  var h2 = el("h2", null, title);
  h2.id = "cbw-title";
  var sub = el("p", "sub", T.subtitle);
  titles.appendChild(h2);
  titles.appendChild(sub);
  var closeBtn = button("icon-btn close", T.close);
  closeBtn.appendChild(svg("close"));
  var transcriptBtn = button("icon-btn transcript", T.transcriptOpen);
  transcriptBtn.title = T.transcriptOpen;
  transcriptBtn.appendChild(svg("mail"));
  if (logoUrl) {
    var logo = el("img", "logo");
    logo.alt = "";
    // No broken-image icon where the page's policy (img-src) or a wrong address stops it.
    logo.addEventListener("error", function () {
      if (logo.parentNode) logo.parentNode.removeChild(logo);
    });
    logo.src = /^\//.test(logoUrl) ? serverOrigin + logoUrl : logoUrl;
    header.appendChild(logo);
  }
  header.appendChild(titles);
  header.appendChild(transcriptBtn);
  header.appendChild(closeBtn);

  var conn = el("div", "conn");
  conn.setAttribute("role", "status");
  conn.setAttribute("aria-live", "polite");

  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", T.messages);
  log.tabIndex = 0;

  var composer = el("form", "composer");
  composer.setAttribute("novalidate", "");
  var box = el("div", "box");
  var input = el("textarea");
  input.rows = 1;
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.inputLabel);
  input.setAttribute("enterkeyhint", "send");
  var sendBtn = button("send", T.send);
  sendBtn.type = "submit";
  sendBtn.appendChild(svg("send"));
  sendBtn.disabled = true;
  // Files go over HTTP (docs/widget.md, "Attachments"): the paperclip opens the file picker.
  var attachBtn = button("attach", T.attach);
  attachBtn.title = T.attach;
  attachBtn.appendChild(svg("clip"));
  var fileInput = el("input");
  fileInput.type = "file";
  fileInput.accept = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain";
  fileInput.hidden = true;
  fileInput.tabIndex = -1;
  box.appendChild(attachBtn);
  box.appendChild(fileInput);
  box.appendChild(input);
  box.appendChild(sendBtn);
  var counter = el("div", "counter");
  counter.setAttribute("aria-live", "polite");
  counter.id = "cbw-counter";
  input.setAttribute("aria-describedby", "cbw-counter");
  // Asking for a person works from the very first message on.
  var handoffBar = el("div", "handoff-bar");
  var handoffBtn = button("handoff-btn", null, T.talkToPerson);
  handoffBar.appendChild(handoffBtn);
  composer.appendChild(handoffBar);
  composer.appendChild(box);
  composer.appendChild(counter);

  panel.appendChild(header);
  panel.appendChild(conn);
  panel.appendChild(log);
  panel.appendChild(composer);

  // A launcher with words of its own is named by them (what a voice user says to press it);
  // aria-expanded tells open from closed.
  function launcherLabel(open) {
    return launcherText || (open ? T.launcherClose : T.launcherOpen);
  }
  var launcher = button("launcher", launcherLabel(false));
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", panelId);
  launcher.appendChild(svg("chat"));
  var closeIcon = svg("close");
  closeIcon.classList.add("ic-close");
  launcher.firstChild.classList.add("ic-chat");
  launcher.appendChild(closeIcon);
  var badge = el("span", "badge");
  badge.setAttribute("aria-hidden", "true");
  launcher.appendChild(badge);
  if (launcherText) {
    launcher.classList.add("with-text");
    launcher.insertBefore(el("span", "launcher-text", launcherText), badge);
  }
  if (onLeft) wrap.classList.add("left");

  wrap.appendChild(panel);
  wrap.appendChild(launcher);

  // Readable text on the accent colour.
  function pickOnAccent() {
    var probe = el("span");
    probe.style.color = accent;
    wrap.appendChild(probe);
    var m = getComputedStyle(probe).color.match(/[\d.]+/g);
    wrap.removeChild(probe);
    if (!m || m.length < 3) return;
    var lum = [0, 1, 2].map(function (i) {
      var c = Number(m[i]) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    if (L > 0.45) wrap.style.setProperty("--on-accent", "#111827");
  }

