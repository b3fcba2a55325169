/*
 * The console's inbox (docs/console.md, "Inbox"): search with filters and saved views, labels
 * on the open conversation, the team's canned replies (a library, `/shortcut` in the reply box,
 * variables filled in), and links to the printable transcript. Talks JSON over HTTP to
 * /console/inbox/ (CSRF token in X-CSRFToken); hooks into console.js through window.__console.
 * Server text is only ever set with textContent.
 */
(function () {
  "use strict";

  var C = window.__console;
  var $ = function (id) {
    return document.getElementById(id);
  };
  var base = document.body.getAttribute("data-inbox-url"); // /console/inbox/
  var csrf = document.body.getAttribute("data-csrf");
  // {{name}} or {{name|what to write when unknown}}
  var VARIABLE = /\{\{\s*([\w.]+)\s*(?:\|([^{}]*))?\}\}/g;
  var LEFTOVER = /\{\{[^{}]*\}\}/;
  var inbox = { labels: [], agents: [], views: [], replies: [], text: {} };
  var labelsShown = []; // the open conversation's labels

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function T(key) {
    return inbox.text[key] || key;
  }

  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRFToken": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // A request that never got an answer (the network, a restart) fails as an error answer
    // does: it was an unhandled rejection, and a labels read was not asked again (a walk).
    return fetch(base + path, init).then(
      function (r) {
        return r.json().then(
          function (data) {
            return { ok: r.ok, data: data };
          },
          function () {
            return { ok: false, data: { error: "http_" + r.status } };
          }
        );
      },
      function () {
        return { ok: false, data: { error: "network" } };
      }
    );
  }

  function load() {
    return api("GET", "").then(function (res) {
      if (!res.ok) return;
      inbox.labels = res.data.labels;
      inbox.agents = res.data.agents;
      inbox.views = res.data.views;
      inbox.replies = res.data.replies;
      inbox.teams = res.data.teams || [];
      fillSelect($("reply-team"), inbox.teams);
      inbox.text = res.data.text || {};
      fillSelect($("filter-agent"), inbox.agents);
      fillSelect($("filter-label"), inbox.labels);
      renderViews();
      renderReplies();
      renderLabels();
    });
  }

  function fillSelect(select, rows) {
    while (select.options.length > 1) select.remove(1);
    rows.forEach(function (r) {
      var o = el("option", null, r.name);
      o.value = r.id;
      select.appendChild(o);
    });
  }

  // -----------------------------------------------------------------------------------------
  // Search with filters, saved views
  // -----------------------------------------------------------------------------------------
  function currentFilters() {
    return {
      query: $("search").value.trim(),
      status: $("filter-status").value,
      agent: $("filter-agent").value,
      label: $("filter-label").value,
      date_from: $("filter-from").value,
      date_to: $("filter-to").value,
    };
  }

  function applyFilters(f) {
    $("search").value = f.query || "";
    $("filter-status").value = f.status || "";
    $("filter-agent").value = f.agent != null ? String(f.agent) : "";
    $("filter-label").value = f.label != null ? String(f.label) : "";
    $("filter-from").value = f.date_from || "";
    $("filter-to").value = f.date_to || "";
  }

  function search() {
    var f = currentFilters();
    var q = Object.keys(f)
      .filter(function (k) {
        return f[k];
      })
      .map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(f[k]);
      })
      .join("&");
    var asked = ++labelsAsked; // the results carry labels: as new as a label read sent now
    api("GET", "search/?" + q).then(function (res) {
      if (!res.ok) return C.notice(T("searchFailed"));
      res.data.items.forEach(function (item) {
        item.labelsAsked = asked;
      });
      C.searchResults(res.data.items);
    });
  }

  $("search-form").addEventListener("submit", function (e) {
    e.preventDefault();
    search();
  });

  $("view-save").addEventListener("click", function () {
    var name = window.prompt(T("viewName"));
    if (!name) return;
    api("POST", "views/", { name: name, filters: currentFilters() }).then(function (res) {
      if (!res.ok) return C.notice(T("viewFailed"));
      inbox.views = inbox.views
        .filter(function (v) {
          return v.name !== res.data.name;
        })
        .concat([res.data])
        .sort(function (a, b) {
          return a.name.localeCompare(b.name);
        });
      renderViews();
    });
  });

  function renderViews() {
    var list = $("saved-views");
    list.textContent = "";
    inbox.views.forEach(function (v) {
      var li = el("li");
      var open = el("button", "view", v.name);
      open.type = "button";
      open.addEventListener("click", function () {
        applyFilters(v.filters);
        search();
      });
      var del = el("button", "view-delete", "×");
      del.type = "button";
      del.title = T("deleteView");
      del.setAttribute("aria-label", T("deleteView") + " " + v.name);
      del.addEventListener("click", function () {
        api("DELETE", "views/" + v.id + "/").then(function (res) {
          if (!res.ok) return;
          inbox.views = inbox.views.filter(function (o) {
            return o.id !== v.id;
          });
          renderViews();
        });
      });
      li.appendChild(open);
      li.appendChild(del);
      list.appendChild(li);
    });
  }

  // Labels and the matched text on list items (called by console.js for each item). Items
  // that come over the socket have no labels: they are read in one request per list render
  // and kept LABELS_FRESH_MS (an agent's own changes update them at once).
  var LABELS_FRESH_MS = 30000;
  var labelCache = {}; // public id -> { labels, at, asked }
  // Label requests are numbered: a reply never overwrites what the reply to a later request
  // showed (an agent's add answered before the list's or the pane's read that went out first).
  var labelsAsked = 0;
  var wanted = {};
  var labelsTimer = null;

  C.hooks.item = function (button, item) {
    if (item.match) button.appendChild(el("span", "match", "“" + item.match + "”"));
    // The list is drawn again on every queue change, with the labels its search found: an
    // agent's change answered since is newer.
    var asked = item.labelsAsked || 0;
    if (item.labels && !overtaken(item.conversation, asked)) {
      labelCache[item.conversation] = { labels: item.labels, at: Date.now(), asked: asked };
    }
    var box = el("span", "labels");
    box.setAttribute("data-labels-for", item.conversation);
    button.appendChild(box);
    var known = labelCache[item.conversation];
    renderChips(box, known ? known.labels : []);
    if (!known || Date.now() - known.at > LABELS_FRESH_MS) {
      wanted[item.conversation] = true;
      clearTimeout(labelsTimer);
      labelsTimer = setTimeout(readLabels, 50);
    }
  };

  function renderChips(box, labels) {
    box.textContent = "";
    labels.forEach(function (l) {
      box.appendChild(chip(l));
    });
    box.hidden = !labels.length;
  }

  function overtaken(id, asked) {
    var known = labelCache[id];
    return !!known && known.asked > asked;
  }

  function showListLabels(id, labels, asked) {
    labelCache[id] = { labels: labels, at: Date.now(), asked: asked };
    document.querySelectorAll("#list [data-labels-for]").forEach(function (box) {
      if (box.getAttribute("data-labels-for") === id) renderChips(box, labels);
    });
  }

  function readLabels() {
    var ids = Object.keys(wanted).slice(0, 300);
    wanted = {};
    if (!ids.length) return;
    var q = ids
      .map(function (id) {
        return "conversation=" + encodeURIComponent(id);
      })
      .join("&");
    var asked = ++labelsAsked;
    api("GET", "labels/?" + q).then(function (res) {
      if (!res.ok) return;
      ids.forEach(function (id) {
        if (!overtaken(id, asked)) showListLabels(id, res.data.labels[id] || [], asked);
      });
    });
  }

  // -----------------------------------------------------------------------------------------
  // Labels on the open conversation
  // -----------------------------------------------------------------------------------------
  function chip(label, onRemove) {
    var c = el("span", "label-chip", label.name);
    c.style.backgroundColor = label.color;
    c.setAttribute("data-label", label.id);
    if (onRemove) {
      var x = el("button", null, "×");
      x.type = "button";
      x.setAttribute("aria-label", T("removeLabel") + " " + label.name);
      x.addEventListener("click", onRemove);
      c.appendChild(x);
    }
    return c;
  }

  function current() {
    return C.state().current;
  }

  function labelsPath() {
    return "conversations/" + encodeURIComponent(current().conversation) + "/labels/";
  }

  function renderLabels() {
    var box = $("conv-label-list");
    box.textContent = "";
    labelsShown.forEach(function (l) {
      box.appendChild(
        chip(l, function () {
          labelsRequest("DELETE", labelsPath() + l.id + "/");
        })
      );
    });
    var shown = labelsShown.map(function (l) {
      return l.id;
    });
    fillSelect(
      $("label-add"),
      inbox.labels.filter(function (l) {
        return shown.indexOf(l.id) < 0;
      })
    );
    $("label-add").hidden = !inbox.labels.length;
  }

  // The open conversation's labels: read, added or removed; the reply shows them everywhere.
  // A read that fails is asked again, quietly: after a restart its proxy error page read "The
  // label was not changed." to an agent who had changed nothing (a walk).
  var LABELS_READ_RETRY_MS = 3000;
  function labelsRequest(method, path, body, retries) {
    var asked = ++labelsAsked;
    api(method, path, body).then(function (res) {
      if (!res.ok && method === "GET") {
        if ((retries || 0) < 3) {
          setTimeout(function () {
            if (asked === labelsAsked && current() && path === labelsPath()) labelsRequest(method, path, body, (retries || 0) + 1);
          }, LABELS_READ_RETRY_MS);
        }
        return;
      }
      if (!res.ok) return C.notice(T("labelFailed"));
      var id = res.data.conversation;
      if (overtaken(id, asked)) return;
      showListLabels(id, res.data.labels, asked);
      if (current() && id === current().conversation) {
        labelsShown = res.data.labels;
        renderLabels();
      }
    });
  }

  $("label-add").addEventListener("change", function () {
    var id = Number($("label-add").value);
    $("label-add").value = "";
    if (id && current()) labelsRequest("POST", labelsPath(), { label: id });
  });

  C.hooks.transcript = function (t) {
    labelsShown = [];
    renderLabels();
    $("transcript-link").href = "/console/conversations/" + encodeURIComponent(t.conversation) + "/transcript/";
    labelsRequest("GET", labelsPath());
    readVisitor(t.conversation);
    hideShortcuts();
  };

  // -----------------------------------------------------------------------------------------
  // The visitor beside the chat: page, referrer, browser, local time, the site's attributes,
  // past conversations of the same browser or verified user. Everything is text (textContent), links only http(s).
  // -----------------------------------------------------------------------------------------
  function fact(dl, term, value, href) {
    if (!value) return;
    dl.appendChild(el("dt", null, term));
    var dd = el("dd");
    if (href && /^https?:\/\//i.test(href)) {
      var a = el("a", null, value);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      dd.appendChild(a);
    } else dd.textContent = value;
    dl.appendChild(dd);
  }

  function renderVisitor(v) {
    var facts = $("visitor-facts");
    var attrs = $("visitor-attributes");
    var past = $("visitor-past");
    facts.textContent = attrs.textContent = past.textContent = "";
    // An empty list says so through CSS (`dl:empty::before`): a <dl> holds only dt/dd pairs.
    facts.setAttribute("data-empty", T("unknownVisitor"));
    attrs.setAttribute("data-empty", T("none"));
    if (!v || !v.known) return;
    // Only what the site's signature vouched for reaches here (chatbot.security.identity).
    if (v.identity && v.identity.verified) {
      fact(facts, T("verifiedUser"), v.identity.user_id);
      fact(facts, T("name"), v.identity.name);
      fact(facts, T("email"), v.identity.email);
    }
    fact(facts, T("page"), v.page_url, v.page_url);
    fact(facts, T("referrer"), v.referrer, v.referrer);
    fact(facts, T("browser"), [v.browser, v.os].filter(Boolean).join(" · "));
    fact(facts, T("device"), v.device ? T(v.device) : "");
    if (v.local_time) {
      fact(facts, T("localTime"), v.local_time.time + " (" + v.time_zone + ", " + v.local_time.utc_offset + ")");
    }
    var keys = Object.keys(v.attributes || {});
    keys.forEach(function (k) {
      fact(attrs, k, String(v.attributes[k]));
    });
    if (!v.past.length) past.appendChild(el("li", null, T("none")));
    v.past.forEach(function (p) {
      var li = el("li");
      var a = el("a", null, p.conversation);
      a.href = "/console/#" + encodeURIComponent(p.conversation);
      a.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return; // a new tab: the #id opens it there
        e.preventDefault();
        C.open(p.conversation);
      });
      li.appendChild(a);
      li.appendChild(document.createTextNode(" · " + new Date(p.created).toLocaleString() + " · " + p.status));
      past.appendChild(li);
    });
  }

  function readVisitor(id) {
    renderVisitor(null);
    api("GET", "conversations/" + encodeURIComponent(id) + "/visitor/").then(function (res) {
      if (res.ok && current() && current().conversation === id) renderVisitor(res.data);
    });
  }

  // -----------------------------------------------------------------------------------------
  // Canned replies: `/shortcut` in the reply box, variables filled in, and the library
  // -----------------------------------------------------------------------------------------
  function fill(text) {
    var c = current() || {};
    var me = C.state().me || {};
    var values = {
      "visitor.name": c.visitor_name || (c.visitor && c.visitor.name) || "",
      "visitor.email": c.email || "",
      // What visitors call the agent (never a login name: an account without a name is "").
      "agent.name": me.visitor_name || "",
    };
    return text
      .replace(VARIABLE, function (all, name, fallback) {
        if (values[name]) return values[name];
        return fallback != null ? fallback.trim() : ""; // never the raw {{…}}
      })
      .replace(/[ \t]+([,.!?;:，。！？])/g, "$1")
      .replace(/[ \t]{2,}/g, " ")
      .trim();
  }

  // The "/word" just before the caret, if any: [start, word].
  function slashWord() {
    var box = $("reply");
    var upto = box.value.slice(0, box.selectionStart);
    // Any letters, as the server takes them (Python's \w): "/订单" as well as "/refund".
    var m = /(^|\s)\/([\p{L}\p{N}_-]*)$/u.exec(upto);
    return m ? [upto.length - m[2].length - 1, m[2]] : null;
  }

  // Replies for the open conversation's language (or any), one per shortcut: the one written
  // for its language before the one for any; then the conversation's team's before everyone's,
  // everyone's before another of the agent's teams'.
  function replyRank(r, teamId) {
    var team = r.team == null ? 1 : r.team === teamId ? 2 : 0;
    return (r.locale ? 3 : 0) + team;
  }

  function matchingReplies(prefix) {
    prefix = prefix.toLowerCase();
    var conversation = current() || {};
    var locale = conversation.locale || "";
    var teamId = conversation.team ? conversation.team.id : null;
    var byShortcut = {};
    inbox.replies.forEach(function (r) {
      if (r.shortcut.toLowerCase().indexOf(prefix) !== 0) return;
      if (r.locale && r.locale !== locale) return;
      var had = byShortcut[r.shortcut];
      if (!had || replyRank(r, teamId) > replyRank(had, teamId)) byShortcut[r.shortcut] = r;
    });
    return Object.keys(byShortcut)
      .sort()
      .map(function (k) {
        return byShortcut[k];
      });
  }

  function expand(reply, at) {
    var box = $("reply");
    var end = box.selectionStart;
    var text = fill(reply.text);
    C.announce(T("inserted").replace("{text}", text));
    box.value = box.value.slice(0, at) + text + box.value.slice(end);
    var caret = at + text.length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true })); // typing indicator as usual
    hideShortcuts();
    box.focus();
  }

  var offered = []; // the replies the list under the reply box shows
  var active = 0; // the one Tab or Enter takes (arrow keys move it)
  var moved = false;

  function hideShortcuts() {
    $("canned-offers").hidden = true;
    $("canned-offers").textContent = "";
    offered = [];
    $("reply").removeAttribute("aria-activedescendant");
    $("reply").removeAttribute("aria-controls");
  }

  // The reply box points a screen reader at the marked offer, and the offers and each move
  // are said (they appeared and moved in silence: an accessibility walk).
  function markActive(say) {
    var buttons = $("canned-offers").querySelectorAll("button.shortcut");
    buttons.forEach(function (b, i) {
      b.classList.toggle("active", i === active);
      b.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    if (!buttons.length) return;
    $("reply").setAttribute("aria-controls", "canned-offers");
    $("reply").setAttribute("aria-activedescendant", buttons[active].id);
    if (say) C.announce(say + " " + buttons[active].textContent);
  }

  function showShortcuts() {
    var found = slashWord();
    var list = $("canned-offers");
    list.textContent = "";
    var items = found ? matchingReplies(found[1]).slice(0, 8) : [];
    var before = offered.length;
    offered = items;
    active = 0;
    moved = false;
    items.forEach(function (r) {
      var li = el("li");
      li.setAttribute("role", "presentation");
      var b = el("button", "shortcut");
      b.type = "button";
      b.setAttribute("data-shortcut", r.shortcut);
      b.setAttribute("role", "option");
      b.id = "canned-offer-" + list.children.length;
      b.appendChild(el("b", null, "/" + r.shortcut + " "));
      b.appendChild(el("span", null, r.title));
      b.addEventListener("mousedown", function (e) {
        e.preventDefault(); // keep the caret in the reply box
        var now = slashWord();
        if (now) expand(r, now[0]);
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    list.hidden = !items.length;
    if (!items.length) hideShortcuts();
    markActive(items.length && items.length !== before ? T("offers").replace("{n}", items.length) : "");
  }

  // A "/" starts a shortcut: the replies are fetched again if they are older than
  // REPLIES_FRESH_MS, so one a teammate saved since the console opened is offered too (a walk
  // typed "/hel", was offered nothing, and sent "/hel" to the visitor).
  var REPLIES_FRESH_MS = 15000;
  var repliesAt = Date.now();
  function refreshReplies() {
    if (Date.now() - repliesAt < REPLIES_FRESH_MS) return;
    repliesAt = Date.now();
    api("GET", "replies/").then(function (res) {
      if (!res.ok) return;
      inbox.replies = res.data.replies;
      renderReplies();
      if (slashWord()) showShortcuts();
    });
  }

  $("reply").addEventListener("input", function () {
    var found = slashWord();
    if (found && !found[1]) refreshReplies();
    showShortcuts();
  });
  $("reply").addEventListener("blur", function () {
    setTimeout(hideShortcuts, 150);
  });

  // Capture phase on the document: runs before console.js's own Enter and submit handlers.
  document.addEventListener(
    "keydown",
    function (e) {
      if (e.target.id !== "reply" || e.isComposing) return;
      var found = slashWord();
      if (found && offered.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        e.stopImmediatePropagation();
        active = (active + (e.key === "ArrowDown" ? 1 : offered.length - 1)) % offered.length;
        moved = true;
        return markActive(" ");
      }
      // Tab or Enter takes the marked reply ("/" alone only once an arrow key chose one);
      // a space takes the reply whose whole shortcut was typed.
      var pick = null;
      if (found && (e.key === "Tab" || e.key === "Enter") && (found[1] || moved)) pick = offered[active];
      if (found && found[1] && e.key === " ")
        pick = matchingReplies(found[1]).filter(function (r) {
          return r.shortcut.toLowerCase() === found[1].toLowerCase();
        })[0];
      if (pick) {
        e.preventDefault();
        e.stopImmediatePropagation();
        expand(pick, found[0]);
        return;
      }
      if (e.key === "Escape") hideShortcuts();
      if (e.key === "Enter" && !e.shiftKey && LEFTOVER.test($("reply").value)) {
        e.preventDefault();
        e.stopImmediatePropagation();
        C.notice(T("unfilled"));
      }
    },
    true
  );
  document.addEventListener(
    "submit",
    function (e) {
      if (e.target.id === "composer" && LEFTOVER.test($("reply").value)) {
        e.preventDefault();
        e.stopImmediatePropagation();
        C.notice(T("unfilled"));
      }
    },
    true
  );

  // The library.
  function renderReplies() {
    var list = $("replies-list");
    list.textContent = "";
    if (!inbox.replies.length) list.appendChild(el("li", "none", T("noReplies")));
    inbox.replies.forEach(function (r) {
      var li = el("li", "canned-reply");
      li.setAttribute("data-shortcut", r.shortcut);
      li.setAttribute("data-locale", r.locale);
      li.setAttribute("data-team", r.team == null ? "" : r.team);
      var tags = (r.locale ? " [" + r.locale + "]" : "") + (r.team_name ? " [" + r.team_name + "]" : "");
      li.appendChild(el("b", null, "/" + r.shortcut + tags + " — " + r.title));
      li.appendChild(el("div", "text", r.text));
      var edit = el("button", "edit", T("edit"));
      edit.type = "button";
      edit.setAttribute("aria-label", T("edit") + " /" + r.shortcut);
      edit.addEventListener("click", function () {
        editReply(r);
      });
      var del = el("button", "delete", T("delete"));
      del.type = "button";
      del.setAttribute("aria-label", T("delete") + " /" + r.shortcut);
      del.addEventListener("click", function () {
        if (!window.confirm(T("confirmDelete").replace("{shortcut}", "/" + r.shortcut))) return;
        api("DELETE", "replies/" + r.id + "/").then(function (res) {
          if (!res.ok) return;
          inbox.replies = inbox.replies.filter(function (o) {
            return o.id !== r.id;
          });
          renderReplies();
        });
      });
      li.appendChild(edit);
      li.appendChild(del);
      list.appendChild(li);
    });
  }

  function editReply(r) {
    $("reply-id").value = r ? r.id : "";
    $("reply-shortcut").value = r ? r.shortcut : "";
    $("reply-locale").value = r ? r.locale : "";
    $("reply-team").value = r && r.team != null ? String(r.team) : "";
    $("reply-title").value = r ? r.title : "";
    $("reply-text").value = r ? r.text : "";
    replyError("");
    $("reply-shortcut").focus();
  }

  function replyError(text) {
    $("reply-error").textContent = text;
    $("reply-error").hidden = !text;
  }

  $("replies-open").addEventListener("click", function () {
    editReply(null);
    $("replies").showModal();
  });
  $("replies-close").addEventListener("click", function () {
    $("replies").close();
  });
  $("reply-new").addEventListener("click", function () {
    editReply(null);
  });
  $("reply-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = $("reply-id").value;
    var body = {
      shortcut: $("reply-shortcut").value,
      locale: $("reply-locale").value,
      team: $("reply-team").value,
      title: $("reply-title").value,
      text: $("reply-text").value,
    };
    api("POST", "replies/" + (id ? id + "/" : ""), body).then(function (res) {
      if (!res.ok) {
        var d = res.data;
        if (d.error === "unknown_variables") replyError(T("unknownVariables") + " " + d.variables.join(", "));
        else if (d.error === "shortcut_taken") replyError(T("shortcutTaken"));
        else replyError(T("invalid"));
        return;
      }
      inbox.replies = inbox.replies
        .filter(function (o) {
          return o.id !== res.data.id;
        })
        .concat([res.data])
        .sort(function (a, b) {
          return (
            a.shortcut.localeCompare(b.shortcut) ||
            a.locale.localeCompare(b.locale) ||
            a.team_name.localeCompare(b.team_name)
          );
        });
      renderReplies();
      editReply(null);
    });
  });

  load();
})();
