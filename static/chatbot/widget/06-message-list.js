  // ---------------------------------------------------------------------------------------
  // Message list: rows are kept in order of a sort key (message id; an answer being written
  // sits at its question's id + 0.5; messages not yet acknowledged go last).
  // ---------------------------------------------------------------------------------------
  var rendered = new Set(); // message ids on screen
  var personLineId = 0; // the newest agent or system message on screen
  var visitorRows = new Map(); // client_id -> {row, text, id, state}
  var visitorById = new Map(); // message id -> client_id
  var replies = new Map(); // reply_to -> reply state
  var systemIds = []; // the system lines shown ("open again", "joined"), by message id
  var welcomeShown = false;
  var isOpen = false;

  function markLanguage(node, text) {
    var lang = otherLanguage(text, wrap.getAttribute("lang") === "zh-Hans");
    if (lang) node.setAttribute("lang", lang);
    else node.removeAttribute("lang");
  }

  // A message while the panel is closed: the badge for the eye, and the launcher's name for a
  // screen reader ("Open chat, New message"; the badge itself is aria-hidden).
  function markUnread() {
    wrap.classList.add("unread");
    launcher.setAttribute("aria-label", launcherLabel(false) + ", " + T.unread);
    saveView({ unread: true });
  }
  // Replies newer than anything a tab of this site had shown when this page loaded: sent while
  // no tab was open, they came with the history, and the launcher stayed plain (a walk). The
  // badge lights once the history is in, as for a reply while the panel is closed.
  var seenAtBoot = store.lastSeenId;
  var missedWhileAway = false;

  function arrived(id, kind) {
    if (ready) {
      if (!isOpen) markUnread();
    } else if (kind !== "visitor" && seenAtBoot > 0 && typeof id === "number" && id > seenAtBoot) {
      missedWhileAway = true;
    }
  }

  var team = null; // hello's team: opening hours, agents online, reply time
  var teamAsked = 0; // when the team was last sent or asked for (Date.now())
  var newestAgentId = 0; // the newest agent message shown, for read receipts
  var readSent = 0;

  // Where the reply to question `replyTo` sits: under its question, not below a question asked
  // while it was written, but below a system line stored between the two (a closed
  // conversation's "open again" is stored with the question, before the answer).
  function replyKey(replyTo, messageId) {
    var key = replyTo + 0.5;
    systemIds.forEach(function (id) {
      if (id > replyTo && (typeof messageId !== "number" || id < messageId)) key = Math.max(key, id + 0.5);
    });
    return key;
  }

  function sortKeyOf(row) {
    var k = row.getAttribute("data-key");
    return k == null ? Infinity : Number(k);
  }

  function place(row, key) {
    if (key == null || key === Infinity) row.removeAttribute("data-key");
    else row.setAttribute("data-key", String(key));
    var k = sortKeyOf(row);
    var stick = nearBottom();
    if (row.parentNode === log) log.removeChild(row);
    var children = log.children;
    var before = null;
    for (var i = children.length - 1; i >= 0; i--) {
      var ck = sortKeyOf(children[i]);
      if (ck <= k) break;
      before = children[i];
    }
    log.insertBefore(row, before);
    if (stick) scrollToBottom();
    else if (!before && !row.classList.contains("visitor")) showNewBelow();
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
  }

  // The list shrinks when a phone's keyboard opens (or the window is resized): a reader who was
  // at the newest message stays there, instead of it sliding under the text box.
  var atBottom = true;
  log.addEventListener("scroll", function () {
    atBottom = nearBottom();
    if (atBottom) newBelow.hidden = true;
  });

  // A message that arrives while the reader is up among older ones: a cue to it, not a jump
  // that loses their place (they used to miss the agent's reply below).
  var newBelow = button("new-below", null, T.newBelow);
  newBelow.hidden = true;
  panel.appendChild(newBelow);
  newBelow.addEventListener("click", function () {
    scrollToBottom();
    newBelow.hidden = true;
  });

  function showNewBelow() {
    newBelow.style.bottom = panel.clientHeight - (log.offsetTop + log.offsetHeight) + 10 + "px";
    newBelow.hidden = false;
  }
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(function () {
      if (atBottom) scrollToBottom();
    }).observe(log);
  }

  function markSeen(id) {
    if (typeof id !== "number") return;
    rendered.add(id);
    if (id > store.lastSeenId) {
      store.lastSeenId = id;
      saveStore();
    }
  }

  function maxRenderedId() {
    var max = 0;
    rendered.forEach(function (id) {
      if (id > max) max = id;
    });
    return max;
  }

  function roleLabel(role) {
    if (role === "agent") return T.agent;
    if (role === "bot") return T.assistant;
    if (role === "visitor") return T.you;
    return T.system;
  }

  function makeRow(role) {
    var row = el("div", "row " + role);
    if (role !== "system" && role !== "notice") {
      var who = el("div", "who", roleLabel(role));
      if (role === "visitor") who.className = "sr";
      row.appendChild(who);
    }
    var bubble = el("div", "bubble");
    row.appendChild(bubble);
    return row;
  }

  function showWelcome() {
    if (welcomeShown) return;
    welcomeShown = true;
    var row = makeRow("bot");
    row.classList.add("welcome");
    row.querySelector(".bubble").textContent = welcomeText;
    place(row, 0);
    showSuggestions();
  }

  // --- proactive greeting and suggested questions (the page's rule, docs/widget.md) --------
  var greeting = null;
  var suggestRow = null;
  var teaser = null;

  function fetchGreeting() {
    if (store.conversation || typeof fetch !== "function") return;
    var url = new URL("/widget/greeting", serverOrigin);
    url.searchParams.set("path", location.pathname);
    url.searchParams.set("locale", locale);
    fetch(url.toString(), { credentials: "omit" })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (g) {
        if (!g || typeof g !== "object") return;
        greeting = g;
        showSuggestions();
        if (typeof g.greeting === "string" && g.greeting) {
          setTimeout(showTeaser, Math.max(0, Number(g.delay_s) || 0) * 1000);
        }
      })
      .catch(function () {}); // a page that blocks it (CSP) simply gets no greeting
  }

  function greetedKey() {
    return "chatbot:greeted:" + serverOrigin + location.pathname;
  }

  function showTeaser() {
    if (teaser || isOpen || store.conversation) return;
    try {
      if (sessionStorage.getItem(greetedKey())) return;
      sessionStorage.setItem(greetedKey(), "1");
    } catch (e) {
      /* storage blocked: show it anyway */
    }
    teaser = el("div", "teaser");
    teaser.setAttribute("role", "status");
    teaser.appendChild(el("span", null, greeting.greeting));
    var x = button("x", T.dismiss, "×");
    x.addEventListener("click", function (e) {
      e.stopPropagation();
      dropTeaser();
    });
    teaser.appendChild(x);
    teaser.addEventListener("click", function () {
      dropTeaser();
      setOpen(true);
    });
    wrap.insertBefore(teaser, launcher);
  }

  function dropTeaser() {
    if (teaser && teaser.parentNode) teaser.parentNode.removeChild(teaser);
  }

  function showSuggestions() {
    if (suggestRow || !welcomeShown || store.conversation || visitorRows.size) return;
    var items = greeting && Array.isArray(greeting.suggestions) ? greeting.suggestions : [];
    items = items.filter(function (q) {
      return typeof q === "string" && q.trim();
    });
    if (!items.length) return;
    suggestRow = questionButtons(items, T.suggested);
    suggestRow.classList.add("row");
    place(suggestRow, 0.5);
  }

  // Questions to ask with one click (the greeting's suggestions, "Did you mean" offers).
  function questionButtons(questions, label) {
    var list = el("ul", "suggest");
    list.setAttribute("aria-label", label);
    questions.forEach(function (q) {
      var li = el("li");
      var b = button(null, null, q);
      b.addEventListener("click", function () {
        sendVisitor(newClientId(), q);
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    return list;
  }

  function dropSuggestions() {
    if (suggestRow && suggestRow.parentNode) suggestRow.parentNode.removeChild(suggestRow);
  }

  function clearLog() {
    while (log.firstChild) log.removeChild(log.firstChild);
    rendered.clear();
    personLineId = 0;
    visitorById.clear();
    replies.forEach(function (r) {
      clearReplyTimers(r);
    });
    replies.clear();
    systemIds = [];
    var keep = [];
    visitorRows.forEach(function (v, cid) {
      if (v.state !== "sent") keep.push([cid, v]);
    });
    visitorRows.clear();
    welcomeShown = false;
    showWelcome();
    keep.forEach(function (pair) {
      var v = pair[1];
      v.id = null;
      visitorRows.set(pair[0], v);
      place(v.row, Infinity);
    });
  }

  // --- visitor messages -------------------------------------------------------------------
  function renderVisitor(clientId, text, state) {
    var v = visitorRows.get(clientId);
    if (v) return v;
    var row = makeRow("visitor");
    row.querySelector(".bubble").textContent = text;
    markLanguage(row.querySelector(".bubble"), text);
    var meta = el("div", "meta");
    row.appendChild(meta);
    v = { row: row, text: text, id: null, state: state, meta: meta, clientId: clientId };
    visitorRows.set(clientId, v);
    setVisitorState(v, state);
    place(row, Infinity);
    return v;
  }

  // `final`: the server refused it for what it is (a file type or size it does not take):
  // sending it again cannot help, so no Retry (a walk was offered one for a refused file).
  function setVisitorState(v, state, errorText, final) {
    v.state = state;
    v.row.classList.toggle("pending", state === "pending");
    v.row.classList.toggle("failed", state === "failed");
    var meta = v.meta;
    while (meta.firstChild) meta.removeChild(meta.firstChild);
    if (state === "pending") {
      meta.appendChild(el("span", null, T.sending));
    } else if (state === "failed") {
      // Stays where it was written: not the last row under every later message.
      if (v.row.parentNode === log && sortKeyOf(v.row) === Infinity) place(v.row, newestKey() + 0.01);
      meta.appendChild(el("span", null, errorText || T.notSent));
      if (final) return;
      var r = button("retry", T.retryLabel, T.retry);
      r.addEventListener("click", function () {
        retryVisitor(v.clientId);
      });
      meta.appendChild(r);
    }
  }

  function addPending(clientId, text) {
    for (var i = 0; i < store.pending.length; i++) if (store.pending[i].client_id === clientId) return;
    store.pending.push({ client_id: clientId, text: text });
    saveStore();
  }

  function removePending(clientId) {
    var before = store.pending.length;
    store.pending = store.pending.filter(function (p) {
      return p.client_id !== clientId;
    });
    if (store.pending.length !== before) saveStore();
  }

  function visitorStored(clientId, messageId, text) {
    // The server holds this message (ack, or seen in a replay).
    var v = visitorRows.get(clientId);
    if (!v) v = renderVisitor(clientId, text, "sent");
    v.id = messageId;
    visitorById.set(messageId, clientId);
    setVisitorState(v, "sent");
    removePending(clientId);
    markSeen(messageId);
    place(v.row, messageId);
    return v;
  }

  function sendVisitor(clientId, text) {
    dropSuggestions();
    var v = renderVisitor(clientId, text, "pending");
    if (siteRefused) return setVisitorState(v, "failed", T.siteRefused);
    setVisitorState(v, "pending");
    addPending(clientId, text);
    if (ready) {
      followPage();
      sendFrame({ type: "message", client_id: clientId, text: text });
    } else ensureConnected();
  }

  function retryVisitor(clientId) {
    var v = visitorRows.get(clientId);
    if (!v) return;
    if (uploads.has(clientId)) {
      uploadFile(clientId, uploads.get(clientId));
      return;
    }
    if (v.id != null) {
      var r = replies.get(v.id);
      if (r && r.done) return;
      if (r) clearReplyError(r);
      startThinking(v.id);
      // Stored already: asked again, and still shown as sent (it went back to "Sending…", a
      // network walk). Without a socket, the next one's resume has it answered.
      if (ready) sendFrame({ type: "message", client_id: clientId, text: v.text });
      else ensureConnected();
      return;
    }
    sendVisitor(clientId, v.text);
  }

  // --- answers ----------------------------------------------------------------------------
  function getReply(replyTo) {
    var r = replies.get(replyTo);
    if (!r) {
      r = {
        replyTo: replyTo,
        chars: [], // answer so far, in code points (offsets are in characters)
        held: new Map(), // offset -> text received ahead of a gap
        row: null,
        statusText: "",
        statusEl: null,
        gotToken: false,
        done: false,
        messageId: null,
        statusTimer: null,
        slowTimer: null,
        statusDue: false,
      };
      replies.set(replyTo, r);
    }
    return r;
  }

  function clearReplyTimers(r) {
    clearTimeout(r.statusTimer);
    clearTimeout(r.slowTimer);
    r.statusTimer = r.slowTimer = null;
  }

  function clearReplyError(r) {
    // Back to "thinking" (a retry): drop the error, show the dots again if nothing came yet.
    clearReplyTimers(r);
    if (!r.row) return;
    var err = r.row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    var dots = r.row.classList.contains("typing") && r.row.querySelector(".bubble");
    if (dots) dots.style.display = "";
    if (r.statusEl) r.statusEl.textContent = "";
    r.statusDue = false;
  }

  function ensureTypingRow(r) {
    if (r.row) return r.row;
    var row = el("div", "row typing");
    row.appendChild(el("div", "who", T.assistant));
    var b = el("div", "bubble");
    b.setAttribute("role", "img");
    b.setAttribute("aria-label", T.typing);
    b.appendChild(el("span", "dot"));
    b.appendChild(el("span", "dot"));
    b.appendChild(el("span", "dot"));
    row.appendChild(b);
    r.statusEl = el("div", "status-text");
    row.appendChild(r.statusEl);
    r.row = row;
    place(row, replyKey(r.replyTo, r.messageId));
    return row;
  }

  function startThinking(replyTo) {
    var r = getReply(replyTo);
    if (r.done) return;
    ensureTypingRow(r);
    armSlowTimer(r);
    if (!r.statusTimer && !r.gotToken) {
      r.statusTimer = setTimeout(function () {
        r.statusDue = true;
        showStatus(r);
      }, STATUS_DELAY_MS);
    }
  }

  function armSlowTimer(r) {
    clearTimeout(r.slowTimer);
    r.slowTimer = setTimeout(function () {
      onSlow(r);
    }, SLOW_ANSWER_MS);
  }

  function showStatus(r) {
    if (!r.statusEl || r.gotToken || r.done || !r.statusDue) return;
    r.statusEl.textContent = r.statusText || T.thinking;
  }

  function replyError(r, text) {
    clearReplyTimers(r);
    ensureTypingRow(r);
    var row = r.row;
    var old = row.querySelector(".err");
    if (old) old.parentNode.removeChild(old);
    if (r.statusEl) r.statusEl.textContent = "";
    var err = el("div", "err");
    err.setAttribute("role", "alert");
    err.appendChild(el("span", null, text));
    var clientId = visitorById.get(r.replyTo);
    if (clientId) {
      var btn = button("retry", T.retryLabel, T.retry);
      btn.addEventListener("click", function () {
        retryVisitor(clientId);
      });
      err.appendChild(btn);
    }
    row.appendChild(err);
    if (!r.gotToken) {
      var dots = row.querySelector(".bubble");
      if (dots && row.classList.contains("typing")) dots.style.display = "none";
    }
    if (nearBottom()) scrollToBottom();
  }

  function onSlow(r) {
    if (r.done) return;
    replyError(r, T.slow);
  }

  function becomeBubble(r) {
    // Turns the typing row into the bot's answer bubble.
    var row = r.row;
    if (!row || !row.classList.contains("typing")) {
      if (!row) {
        row = makeRow("bot");
        r.row = row;
        place(row, replyKey(r.replyTo, r.messageId));
      }
      return row;
    }
    var fresh = makeRow("bot");
    row.parentNode.replaceChild(fresh, row);
    fresh.setAttribute("data-key", String(replyKey(r.replyTo, r.messageId)));
    r.row = fresh;
    r.statusEl = null;
    return fresh;
  }

  function applyToken(replyTo, offset, text) {
    if (typeof replyTo !== "number" || typeof offset !== "number" || typeof text !== "string") return;
    var r = getReply(replyTo);
    if (r.done) return;
    var piece = Array.from(text);
    var len = r.chars.length;
    if (offset + piece.length <= len) return;
    if (offset > len) {
      var prev = r.held.get(offset);
      if (!prev || Array.from(prev).length < piece.length) r.held.set(offset, text);
      return;
    }
    appendChars(r, piece.slice(len - offset));
    drainHeld(r);
    var stick = nearBottom();
    r.gotToken = true;
    clearTimeout(r.statusTimer);
    armSlowTimer(r);
    var row = becomeBubble(r);
    var err = row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    row.setAttribute("aria-busy", "true");
    renderRich(row.querySelector(".bubble"), r.chars.join(""));
    if (stick) scrollToBottom();
  }

  function restartReply(replyTo, text) {
    // The server writing this answer stopped and another starts it over: what came of it is
    // dropped, and the visitor is told rather than left with a bubble that never completes.
    if (typeof replyTo !== "number") return;
    var r = getReply(replyTo);
    if (r.done) return;
    r.chars = [];
    r.held.clear();
    r.gotToken = false;
    if (r.row && !r.row.classList.contains("typing")) {
      if (r.row.parentNode) r.row.parentNode.removeChild(r.row);
      r.row = null;
    }
    clearReplyError(r);
    if (typeof text === "string" && text) r.statusText = text;
    startThinking(replyTo);
    r.statusDue = true;
    showStatus(r);
  }

  function appendChars(r, chars) {
    for (var i = 0; i < chars.length; i++) r.chars.push(chars[i]);
  }

  function drainHeld(r) {
    var progressed = true;
    while (progressed && r.held.size) {
      progressed = false;
      r.held.forEach(function (text, offset) {
        if (progressed) return;
        var piece = Array.from(text);
        var len = r.chars.length;
        if (offset + piece.length <= len) {
          r.held.delete(offset);
          progressed = true;
        } else if (offset <= len) {
          appendChars(r, piece.slice(len - offset));
          r.held.delete(offset);
          progressed = true;
        }
      });
    }
  }

  function finishReply(replyTo, message) {
    var r = getReply(replyTo);
    clearReplyTimers(r);
    r.held.clear();
    if (r.done && r.messageId === message.id) return;
    r.done = true;
    r.messageId = message.id;
    // Read before the final text, sources and buttons make the row taller than "near" allows.
    var stick = nearBottom();
    var row = becomeBubble(r);
    var err = row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    row.className = "row " + (message.role === "agent" ? "agent" : "bot");
    row.removeAttribute("aria-busy");
    setWho(row, message);
    renderRich(row.querySelector(".bubble"), String(message.text || ""));
    markLanguage(row.querySelector(".bubble"), String(message.text || ""));
    setTime(row, message.created);
    r.chars = Array.from(String(message.text || ""));
    addCitations(row, message.citations);
    addRelated(row, message.related);
    if (message.role === "bot" && message.source !== "small_talk") {
      addFeedback(row, message.id, replyTo);
    }
    if (message.role === "bot") offerUnder(row, message, replyTo);
    markSeen(message.id);
    // Under its question, where it streamed: not below a question asked while it was written.
    place(row, replyKey(replyTo, message.id));
    if (stick) scrollToBottom();
    arrived(message.id, "bot");
  }

  // The help-centre sources an answer cites, as links under it (http(s) and same-site paths only).
  // Suggested articles (the answer was not given) come with the excerpt nearest the question.
  function addCitations(row, citations) {
    var old = row.querySelector(".cites");
    if (old) old.parentNode.removeChild(old);
    if (!Array.isArray(citations) || !citations.length) return;
    var suggested = isSuggestion(citations);
    var box = el("div", suggested ? "cites suggested" : "cites");
    box.appendChild(document.createTextNode((suggested ? T.suggestedArticles : T.sources) + T.colon));
    citations.forEach(function (c) {
      if (!c || typeof c.title !== "string") return;
      var label = "[" + String(c.number) + "] " + c.title + (c.heading ? " — " + c.heading : "");
      var url = typeof c.url === "string" ? c.url : "";
      var href = webHref(url);
      var item = href ? link(href, label) : el("span", null, label);
      if (href) item.rel = "noopener noreferrer"; // a citation is our own source: followable
      if (suggested && typeof c.excerpt === "string" && c.excerpt) {
        var entry = el("div", "suggestion");
        entry.appendChild(item);
        entry.appendChild(el("span", "excerpt", c.excerpt));
        item = entry;
      }
      box.appendChild(item);
    });
    var fb = row.querySelector(".fb");
    row.insertBefore(box, fb || null);
  }

  // FAQs near a question the bot had no answer for ("Did you mean"): a click asks that question,
  // which the FAQ store then answers as written.
  function addRelated(row, related) {
    var old = row.querySelector(".related");
    if (old) old.parentNode.removeChild(old);
    if (!Array.isArray(related)) return;
    var questions = related
      .filter(function (r) {
        return r && typeof r.question === "string" && r.question.trim();
      })
      .map(function (r) {
        return r.question;
      });
    if (!questions.length) return;
    var box = el("div", "related");
    box.appendChild(el("span", "label", T.didYouMean + T.colon));
    box.appendChild(questionButtons(questions, T.didYouMean));
    var fb = row.querySelector(".fb");
    row.insertBefore(box, fb || null);
  }

  // Thumbs on answers; a reply to "hi" or "thanks" is not one (nor counted as one).
  function addFeedback(row, messageId, replyTo) {
    if (row.querySelector(".fb")) return;
    var fb = el("div", "fb");
    var up = button(null, T.helpful);
    up.appendChild(svg("up"));
    up.setAttribute("aria-pressed", "false");
    var down = button(null, T.notHelpful);
    down.appendChild(svg("down"));
    down.setAttribute("aria-pressed", "false");
    var thanks = el("span", "thanks");
    thanks.setAttribute("aria-live", "polite");
    function give(value, btn, other) {
      if (btn.getAttribute("aria-pressed") === "true") return;
      btn.setAttribute("aria-pressed", "true");
      other.setAttribute("aria-pressed", "false");
      sendFrame({ type: "feedback", message_id: messageId, value: value });
      thanks.textContent = T.thanks;
      if (value === "down" && typeof replyTo === "number") {
        askAfterThumbsDown(row, messageId, replyTo);
      } else dropAsk(row);
    }
    up.addEventListener("click", function () {
      give("up", up, down);
    });
    down.addEventListener("click", function () {
      give("down", down, up);
    });
    fb.appendChild(up);
    fb.appendChild(down);
    fb.appendChild(thanks);
    row.appendChild(fb);
  }

  // A thumbs-down asks what the visitor wants instead of queueing them for a person
  // (docs/protocol.md, `retry`).
  function askAfterThumbsDown(row, messageId, replyTo) {
    if (convStatus !== "bot") return;
    var lone = row.querySelector(".fb-ask.latest"); // the whole question replaces it
    if (lone) lone.parentNode.removeChild(lone);
    if (row.querySelector(".fb-ask")) return;
    var ask = el("div", "fb-ask");
    ask.setAttribute("role", "group");
    ask.setAttribute("aria-label", T.downAsk);
    ask.appendChild(el("p", null, T.downAsk));
    var again = button("link-btn", null, T.tryAgain);
    again.addEventListener("click", function () {
      dropAsk(row);
      retryAnswer(messageId, replyTo);
    });
    var person = button("link-btn", null, T.talkToPerson);
    person.addEventListener("click", function () {
      dropAsk(row);
      requestHandoff("negative_feedback");
    });
    ask.appendChild(again);
    ask.appendChild(person);
    row.appendChild(ask);
    // Under the fold on a phone it went unseen (a walk): brought into view, the list otherwise
    // left where the visitor had it.
    if (ask.scrollIntoView) ask.scrollIntoView({ block: "nearest" });
  }

  // An answer that broke off says "please ask again", and one that found nothing asks "Would
  // you like to talk to a person?": one button does it, while it is the newest answer (a later
  // one takes the offer away), instead of retyping or finding the small button above the box.
  function offerUnder(row, message, replyTo) {
    dropLatestOffers();
    if (convStatus !== "bot" || row.querySelector(".fb-ask")) return;
    if (message.cut_off === true && typeof replyTo === "number") {
      offerOne(row, T.tryAgain, function () {
        retryAnswer(message.id, replyTo);
      });
    } else if (message.offers_person === true) {
      offerOne(row, T.talkToPerson, function () {
        requestHandoff();
      });
    }
  }

  function offerOne(row, label, action) {
    var ask = el("div", "fb-ask latest");
    var b = button("link-btn", null, label);
    b.addEventListener("click", function () {
      dropAsk(row);
      action();
    });
    ask.appendChild(b);
    row.appendChild(ask);
  }

  function dropLatestOffers() {
    Array.prototype.forEach.call(log.querySelectorAll(".fb-ask.latest"), function (offer) {
      offer.parentNode.removeChild(offer);
    });
  }

  function dropAsk(row) {
    var ask = row.querySelector(".fb-ask");
    if (ask) ask.parentNode.removeChild(ask);
  }

  function retryAnswer(messageId, replyTo) {
    // The question again as a visitor message of its own; the server answers it past the FAQ
    // and cache answers. Not kept for a resend: a lost retry is one click to repeat.
    if (!ready) return ensureConnected();
    var asked = visitorRows.get(visitorById.get(replyTo));
    var clientId = newClientId();
    renderVisitor(clientId, asked ? asked.text : "", "pending");
    sendFrame({ type: "retry", client_id: clientId, message_id: messageId });
    scrollToBottom();
  }

  // --- attachments (docs/widget.md, "Attachments") ---------------------------------------
  var fileIds = new Set(); // visitor messages that carry a file: the bot never answers them
  var uploads = new Map(); // client id -> the File, for a retry

  function fileUrl(path) {
    // Only this server's signed attachment paths become links or images.
    return typeof path === "string" && /^\/attachments\/[A-Za-z0-9_:.\-]+\/$/.test(path) ? serverOrigin + path : null;
  }

  function sizeText(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " B";
  }

  function renderAttachment(bubble, a) {
    while (bubble.firstChild) bubble.removeChild(bubble.firstChild);
    bubble.classList.add("has-file");
    var name = String(a.name || "");
    var href = fileUrl(a.url);
    var thumb = fileUrl(a.thumbnail_url);
    if (a.image && href && thumb) {
      var pic = link(href, null);
      pic.className = "thumb";
      pic.setAttribute("aria-label", fmt(T.attachmentImage, { name: name }));
      var img = el("img");
      img.src = thumb;
      img.alt = name;
      img.loading = "lazy";
      img.addEventListener("load", function () {
        if (nearBottom()) scrollToBottom();
      });
      pic.appendChild(img);
      bubble.appendChild(pic);
      return;
    }
    var item = href ? link(href, null) : el("span");
    item.className = "file";
    if (href) item.setAttribute("download", name);
    item.appendChild(svg("file"));
    item.appendChild(el("span", null, name));
    if (typeof a.size === "number") item.appendChild(el("small", null, sizeText(a.size)));
    bubble.appendChild(item);
  }

  function showFilePending(v, file) {
    var bubble = v.row.querySelector(".bubble");
    renderAttachment(bubble, { name: file.name, size: file.size });
  }

  function uploadFile(clientId, file) {
    dropSuggestions();
    var v = renderVisitor(clientId, file.name, "pending");
    uploads.set(clientId, file);
    showFilePending(v, file);
    setVisitorState(v, "pending");
    var progress = v.meta.firstChild;
    if (progress) progress.textContent = fmt(T.uploading, { pct: 0 });
    scrollToBottom();
    var form = new FormData();
    form.append("conversation", store.conversation);
    form.append("token", store.token);
    form.append("client_id", clientId);
    if (identity) {
      Object.keys(identity).forEach(function (k) {
        if (identity[k]) form.append(k, identity[k]);
      });
    }
    form.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", serverOrigin + "/chat/attachments/?locale=" + encodeURIComponent(locale));
    xhr.withCredentials = false; // the conversation token is the credential, never cookies
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && v.state === "pending" && progress) {
        progress.textContent = fmt(T.uploading, { pct: Math.floor((100 * e.loaded) / e.total) });
      }
    });
    xhr.onload = function () {
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.message) {
        uploads.delete(clientId);
        renderMessage(body.message);
        return;
      }
      var refused = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408 && xhr.status !== 429;
      if (refused) uploads.delete(clientId);
      // A proxy's own 413 (nginx's page, not our JSON) still says why.
      var why = xhr.status === 413 ? T.fileTooLarge : T.uploadFailed;
      setVisitorState(v, "failed", (body && typeof body.text === "string" && body.text) || why, refused);
    };
    xhr.onerror = function () {
      setVisitorState(v, "failed", T.uploadFailed);
    };
    xhr.send(form);
  }

  attachBtn.addEventListener("click", function () {
    if (!store.conversation) {
      ensureConnected();
      return;
    }
    fileInput.click();
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) uploadFile(newClientId(), file);
  });

  // --- stored messages (replay, agents, the system, other tabs) ---------------------------
  function renderMessage(m) {
    if (!m || typeof m.id !== "number") return;
    var role = m.role;
    if (role !== "visitor" && role !== "bot") personLineId = Math.max(personLineId, m.id);
    if (role === "visitor") {
      if (rendered.has(m.id)) return;
      var cid = typeof m.client_id === "string" && m.client_id ? m.client_id : "srv-" + m.id;
      var v = visitorStored(cid, m.id, String(m.text || ""));
      if (m.attachment) {
        fileIds.add(m.id);
        renderAttachment(v.row.querySelector(".bubble"), m.attachment);
      } else {
        v.row.querySelector(".bubble").textContent = String(m.text || "");
        markLanguage(v.row.querySelector(".bubble"), String(m.text || ""));
      }
      setTime(v.row, m.created);
      return;
    }
    if ((role === "bot" || role === "agent") && typeof m.reply_to === "number") {
      var r = replies.get(m.reply_to);
      if (r && r.done && r.messageId === m.id) return;
      if (!rendered.has(m.id) || r) {
        finishReply(m.reply_to, m);
        return;
      }
    }
    if (rendered.has(m.id)) return;
    var kind = role === "bot" || role === "agent" ? role : "system";
    var row = makeRow(kind);
    markLanguage(row.querySelector(".bubble"), String(m.text || ""));
    if (kind === "system") {
      row.querySelector(".bubble").textContent = String(m.text || "");
    } else {
      setWho(row, m);
      if (m.attachment) renderAttachment(row.querySelector(".bubble"), m.attachment);
      else renderRich(row.querySelector(".bubble"), String(m.text || ""));
      setTime(row, m.created);
    }
    if (kind === "bot") {
      addCitations(row, m.citations);
      addRelated(row, m.related);
    }
    if (kind === "bot" && m.source !== "small_talk") addFeedback(row, m.id, m.reply_to);
    if (kind === "bot") offerUnder(row, m, m.reply_to);
    markSeen(m.id);
    place(row, m.id);
    if (kind === "system") placeRepliesAfter(m.id);
    arrived(m.id, kind);
    if (kind === "agent") {
      newestAgentId = Math.max(newestAgentId, m.id);
      reportRead();
    }
  }

  // A system line stored before an answer that is already on screen goes above it.
  function placeRepliesAfter(systemId) {
    systemIds.push(systemId);
    replies.forEach(function (r) {
      if (r.row && r.row.parentNode === log && r.replyTo < systemId) {
        place(r.row, replyKey(r.replyTo, r.messageId));
      }
    });
  }

  // Tells the agent their messages were seen: only with the panel open on a visible page.
  function reportRead() {
    if (!ready || !isOpen || document.hidden || newestAgentId <= readSent) return;
    readSent = newestAgentId;
    sendFrame({ type: "read", up_to: newestAgentId });
  }

  // A notice of something that just happened (`happened`: a person joined, the assistant is
  // back) stays where it happened, above what is said after it; any other is the conversation's
  // state (in the queue, closed) and stays last.
  function showNotice(text, action, happened) {
    var row = makeRow("notice");
    row.querySelector(".bubble").textContent = text;
    row.setAttribute("role", "status");
    if (action) row.appendChild(action);
    place(row, happened ? newestKey() + 0.01 : Infinity);
    return row;
  }

  function newestKey() {
    var newest = 0;
    for (var i = 0; i < log.children.length; i++) {
      var k = sortKeyOf(log.children[i]);
      if (k !== Infinity && k > newest) newest = k;
    }
    return newest;
  }

