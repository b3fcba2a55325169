// Built by `make widget` from static/chatbot/widget/05-rich-text.js: edit that.
// The widget's Markdown subset for the agent console, as window.chatRichText(target, text),
// and its rule for a message's language, as window.chatOtherLanguage(text, chinesePage).
(function () {
  "use strict";
  var serverOrigin = location.origin;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // ---------------------------------------------------------------------------------------
  // Rich text: a small Markdown subset (paragraphs, line breaks, "-" and "1." lists, tables,
  // **bold**, [label](https://…), bare links and e-mail addresses), built as DOM nodes whose text is set
  // with textContent. Nothing is parsed as HTML, so nothing a visitor, an agent or a model
  // writes can run script; links go to http(s), mailto or this server's own paths only.
  // ---------------------------------------------------------------------------------------
  var INLINE_RE =
    /\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[A-Za-z0-9\-._~:/?#@!$&*+,;=%]+)|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;
  var BULLET_RE = /^\s*[-*•]\s+(.*)$/;
  var NUMBERED_RE = /^\s*(\d{1,3})[.)、]\s*(.+)$/;

  // A web address or a path on the chat server, as an href; null for anything else.
  function webHref(url) {
    if (/^https?:\/\/[^\s]+$/i.test(url)) return url;
    if (/^\/(?!\/)[^\s]*$/.test(url)) return serverOrigin + url;
    return null;
  }

  function safeHref(url) {
    if (/^mailto:[^\s@]+@[^\s@]+$/i.test(url)) return url;
    return webHref(url);
  }

  function link(href, text) {
    var a = el("a", null, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }

  function appendInline(parent, text) {
    var last = 0;
    var m;
    INLINE_RE.lastIndex = 0;
    while ((m = INLINE_RE.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] != null) {
        parent.appendChild(el("strong", null, m[1]));
      } else if (m[2] != null) {
        var href = safeHref(m[3]);
        parent.appendChild(href ? link(href, m[2]) : document.createTextNode(m[0]));
      } else if (m[4] != null) {
        var url = m[4].replace(/[.,;:!?]+$/, "");
        parent.appendChild(link(url, url));
        if (url.length < m[4].length) parent.appendChild(document.createTextNode(m[4].slice(url.length)));
      } else {
        parent.appendChild(link("mailto:" + m[5], m[5]));
      }
      last = INLINE_RE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // A Markdown table: a header row, a "|---|" line, then rows; help-centre articles have them
  // (opening hours, shipping rates) and answers quoting them read as rows of pipes.
  var TABLE_ROW_RE = /^\s*\|.*\|\s*$/;
  var TABLE_RULE_RE = /^\s*\|(\s*:?-{2,}:?\s*\|)+\s*$/;

  function tableCells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(function (cell) {
      return cell.trim();
    });
  }

  function table(rows) {
    var wrap = el("div", "table-wrap");
    var t = wrap.appendChild(el("table"));
    var head = t.appendChild(el("thead")).appendChild(el("tr"));
    tableCells(rows[0]).forEach(function (cell) {
      appendInline(head.appendChild(el("th")), cell);
    });
    var body = t.appendChild(el("tbody"));
    rows.slice(2).forEach(function (row) {
      var tr = body.appendChild(el("tr"));
      tableCells(row).forEach(function (cell) {
        appendInline(tr.appendChild(el("td")), cell);
      });
    });
    return wrap;
  }

  function renderRich(target, text) {
    while (target.firstChild) target.removeChild(target.firstChild);
    target.classList.add("rich");
    var para = null;
    var list = null;
    var lines = String(text).split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (TABLE_ROW_RE.test(line) && i + 1 < lines.length && TABLE_RULE_RE.test(lines[i + 1])) {
        var end = i + 2;
        while (end < lines.length && TABLE_ROW_RE.test(lines[end])) end++;
        target.appendChild(table(lines.slice(i, end)));
        i = end - 1;
        para = list = null;
        continue;
      }
      var bullet = BULLET_RE.exec(line);
      var numbered = bullet ? null : NUMBERED_RE.exec(line);
      if (bullet || numbered) {
        var kind = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = el(kind);
          if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
          target.appendChild(list);
        }
        var item = el("li");
        appendInline(item, bullet ? bullet[1] : numbered[2]);
        list.appendChild(item);
        para = null;
        continue;
      }
      list = null;
      if (!line.trim()) {
        para = null;
        continue;
      }
      if (para) para.appendChild(el("br"));
      else para = target.appendChild(el("p"));
      appendInline(para, line);
    }
  }

  // A message's language where it differs from the page's ("zh-Hans" or "en"), else null: an
  // English answer in the Chinese widget was read with a Chinese voice, and a Chinese visitor's
  // words in an English console with an English one (an accessibility walk).
  function otherLanguage(text, chinesePage) {
    var chinese = /[\u3400-\u9fff]/.test(text);
    if (chinese && !chinesePage) return "zh-Hans";
    if (!chinese && /[A-Za-z]/.test(text) && chinesePage) return "en";
    return null;
  }

  window.chatRichText = renderRich;
  window.chatOtherLanguage = otherLanguage;
})();
