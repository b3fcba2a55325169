  // ---------------------------------------------------------------------------------------
  // Connection
  // ---------------------------------------------------------------------------------------
  var ws = null;
  var connected = false; // hello received on the current socket
  var ready = false; // resumed received: safe to send messages
  var attempts = 0;
  var reconnectTimer = null;
  var everConnected = false;
  var convStatus = "bot";
  var convAgent = ""; // the agent's name while one has the conversation
  var queueWaitS = null; // this visitor's own wait while queued (the queue notice's figure)
  var statusNotice = null;
  var limitedNotice = null; // "too many chats from your network", shown once
  var limitedWaitMs = 0; // the server's retry_after for the next reconnect
  var originChecked = false; // asked once whether this site may open the socket at all
  var siteRefused = false; // it may not (CHAT_ALLOWED_ORIGINS): no more reconnecting
  var pageSent = ""; // the page the server was last told the visitor is on
  var livenessTimer = null; // runs while a frame that asks for an answer waits for one
  var lastHeard = 0; // when the current socket last sent a frame
  var stableTimer = null; // resets the backoff once a connection has lasted STABLE_MS

  // A single-page app changes the address without loading a page (history.pushState): before a
  // message, the agents are told where the visitor is now.
  function followPage() {
    var page = location.href.slice(0, 1000);
    if (page === pageSent) return;
    if (sendFrame({ type: "context", attributes: siteAttributes, page: page })) pageSent = page;
  }

  function wsUrl() {
    var u = new URL("/ws/chat/", serverOrigin);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (store.conversation) {
      u.searchParams.set("conversation", store.conversation);
      u.searchParams.set("token", store.token);
    }
    u.searchParams.set("locale", locale);
    u.searchParams.set("visitor", store.visitor);
    pageSent = location.href.slice(0, 1000);
    u.searchParams.set("page", pageSent);
    if (document.referrer) u.searchParams.set("referrer", document.referrer.slice(0, 1000));
    try {
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz) u.searchParams.set("tz", tz);
    } catch (e) {
      /* no Intl: no time zone */
    }
    if (Object.keys(siteAttributes).length) {
      u.searchParams.set("attributes", JSON.stringify(siteAttributes));
    }
    if (identity) {
      Object.keys(identity).forEach(function (k) {
        if (identity[k]) u.searchParams.set(k, identity[k]);
      });
    }
    return u.toString();
  }

  function setConn(text) {
    conn.textContent = text || "";
    conn.classList.toggle("show", !!text);
  }

  function ensureConnected() {
    if (ws || reconnectTimer || siteRefused) return;
    connect();
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (ws) return;
    if (!everConnected) setConn(T.connecting);
    var sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    expectAnswer(); // its hello
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      heard();
      var frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      var hadHello = connected;
      stopWatching();
      ws = null;
      connected = false;
      ready = false;
      if (ev.code === FORBIDDEN_CLOSE_CODE) {
        startOver();
        return;
      }
      if (!hadHello && !everConnected && !originChecked) {
        checkOrigin();
        return;
      }
      scheduleReconnect();
    };
    sock.onerror = function () {
      /* onclose follows and reconnects */
    };
  }

  // A handshake the server refused for this site's origin is only "connection failed" to a
  // script, the same as a server that is down: ask over HTTP once, and if this site is not
  // allowed, say so (to the visitor, and to the site owner in the console) instead of
  // reconnecting for ever.
  function checkOrigin() {
    originChecked = true;
    // The chat server's own pages are always allowed; a browser sends no Origin header with a
    // same-origin GET, so the page names itself in the query too.
    if (typeof fetch !== "function" || location.origin === serverOrigin) return scheduleReconnect();
    var url = new URL("/widget/origin", serverOrigin);
    url.searchParams.set("origin", location.origin);
    fetch(url.toString(), { credentials: "omit", cache: "no-store" })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (o) {
        if (o && o.allowed === false) refuseSite(String(o.origin || location.origin));
        else scheduleReconnect();
      })
      .catch(function () {
        // The violation event comes after the rejection: wait for it before deciding.
        setTimeout(function () {
          if (checkBlockedByPolicy) tellCheckBlocked();
          else originChecked = false; // the server is down: ask again after the next failure
          scheduleReconnect();
        }, 50);
      });
  }

  // A page whose Content-Security-Policy lets the socket through but not the HTTP check cannot
  // tell a refused site from a server that is down: the widget asked again on every attempt,
  // each blocked, and the developer read nothing of ours in the console (an integrator's walk).
  var checkBlockedByPolicy = false;
  document.addEventListener("securitypolicyviolation", function (e) {
    if (String(e.blockedURI || "").indexOf(serverOrigin) === 0) checkBlockedByPolicy = true;
  });

  function tellCheckBlocked() {
    if (window.console && console.error) {
      console.error(
        "Chat widget: the chat server " + serverOrigin + " refused this page's connection or is " +
          "down, and this page's Content-Security-Policy blocks asking which (connect-src needs " +
          serverOrigin + " as well as its ws(s) address). If the server does not accept this site (" +
          location.origin + "), add it to CHAT_ALLOWED_ORIGINS (README, \"Embedding the widget\")."
      );
    }
  }

  function refuseSite(origin) {
    siteRefused = true;
    setConn(T.siteRefused);
    input.disabled = true;
    attachBtn.disabled = true;
    updateComposer();
    visitorRows.forEach(function (v) {
      if (v.state === "pending") setVisitorState(v, "failed", T.siteRefused);
    });
    if (window.console && console.error) {
      console.error(
        origin === "null"
          ? "Chat widget: this page has no origin of its own (a sandboxed iframe without allow-same-origin, " +
              "or a file: or data: URL), so no chat server can accept it. Load the widget on a page served " +
              "over http(s), or give the iframe allow-same-origin."
          : "Chat widget: the chat server " + serverOrigin + " does not accept this site (" + origin +
              "). Add it to CHAT_ALLOWED_ORIGINS in the server's settings (README, \"Embedding the widget\")."
      );
    }
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    setConn(navigator.onLine === false ? T.offline : T.reconnecting);
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempts));
    var delay = Math.max(base / 2 + Math.random() * (base / 2), limitedWaitMs); // jitter
    limitedWaitMs = 0;
    attempts++;
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function startOver(conversationId) {
    // forbidden: our stored conversation is gone or not ours; start a new one. With an id: a
    // verified visitor opens another of theirs (the server knows them; no token needed).
    clearConversation();
    if (conversationId) {
      store.conversation = conversationId;
      saveStore();
    }
    showAnotherConversation();
  }

  // The log emptied and a socket of its own for the conversation now in `store`.
  function showAnotherConversation() {
    clearLog();
    ratingRow = null;
    leftMessage = false;
    leftShown = false;
    noticesShown = false;
    attempts = 0;
    dropSocket();
    if (!siteRefused) connect();
  }

  // One conversation per browser: when another tab of it opens one (its first message, "Start a
  // new conversation", a past conversation), this tab shows that one too. Before, a tab loaded
  // before the first message started a second conversation on its own first message and wrote
  // it over the first, which the other tab then lost on its next load.
  window.addEventListener("storage", function (ev) {
    if (ev.key !== STORAGE_KEY || !ev.newValue) return;
    var other;
    try {
      other = JSON.parse(ev.newValue);
    } catch (e) {
      return;
    }
    if (!other || typeof other.conversation !== "string" || !other.conversation) return;
    if (other.conversation === store.conversation) return;
    if (typeof other.visitor === "string" && /^[\w-]{16,64}$/.test(other.visitor)) store.visitor = other.visitor;
    followConversation(other.conversation, typeof other.token === "string" ? other.token : "");
  });

  function followConversation(conversationId, token) {
    store.conversation = conversationId;
    store.token = token;
    store.lastSeenId = 0;
    showAnotherConversation();
  }

  // --- a socket that died without closing ---------------------------------------------------
  // The browser learns of it only when TCP gives up, minutes later: a network walk's message sat
  // at "Sending…" for 80 s with nothing said. Any frame from the server shows the socket lives.
  function expectAnswer() {
    if (!livenessTimer) livenessTimer = setTimeout(socketWentQuiet, LIVENESS_MS);
  }

  function heard() {
    lastHeard = Date.now();
    clearTimeout(livenessTimer);
    livenessTimer = null;
  }

  function stopWatching() {
    clearTimeout(livenessTimer);
    livenessTimer = null;
    clearTimeout(stableTimer);
    stableTimer = null;
  }

  // A new socket resumes where this one stopped and sends the unsent messages again (same
  // client ids: never answered twice).
  function socketWentQuiet() {
    livenessTimer = null;
    if (!ws) return;
    dropSocket();
    scheduleReconnect();
  }

  function pingIfQuiet() {
    if (!ready || livenessTimer || document.hidden) return;
    if (!isOpen && convStatus !== "queued" && convStatus !== "agent") return;
    if (Date.now() - lastHeard >= PING_IDLE_MS) sendFrame({ type: "ping" });
  }
  setInterval(pingIfQuiet, 5000);

  // Lets the current socket go without a reconnect from its onclose, which sees that it is no
  // longer the current one.
  function dropSocket() {
    var old = ws;
    stopWatching();
    ws = null;
    connected = ready = false;
    if (!old) return;
    try {
      old.close();
    } catch (e) {
      /* already closed */
    }
  }

  // Frames the server answers at once (`ack`, `resumed`, `pong`); the others may get nothing.
  var ANSWERED_FRAMES = ["message", "resume", "retry", "ping"];

  function sendFrame(frame) {
    if (!ws || ws.readyState !== 1) return false;
    frame.v = PROTOCOL_VERSION;
    try {
      ws.send(JSON.stringify(frame));
      if (ANSWERED_FRAMES.indexOf(frame.type) >= 0) expectAnswer();
      return true;
    } catch (e) {
      return false;
    }
  }

  function handleFrame(f) {
    switch (f.type) {
      case "hello":
        onHello(f);
        break;
      case "resumed":
        onResumed();
        break;
      case "ack":
        onAck(f);
        break;
      case "status":
        onStatus(f);
        break;
      case "token":
        applyToken(f.reply_to, f.offset, f.text);
        break;
      case "done":
        if (f.message && typeof f.message.id === "number") finishReply(f.reply_to, f.message);
        break;
      case "message":
        renderMessage(f.message);
        if (f.message && f.message.role === "agent") showPeerTyping(false);
        break;
      case "handoff":
        onHandoff(f);
        break;
      case "conversation":
        onConversation(f);
        break;
      case "typing":
        if (f.role === "agent") showPeerTyping(f.active !== false);
        break;
      case "cancelled":
        dropReply(f.reply_to);
        break;
      case "restarted":
        restartReply(f.reply_to, f.text);
        break;
      case "left_message":
        onLeftMessage(f);
        break;
      case "transcript_email":
        onTranscriptEmail(f);
        break;
      case "team":
        showTeam(f.team);
        break;
      case "rated":
        var hadFocus = root.activeElement;
        if (ratingRow) ratingRow.querySelector(".bubble").textContent = T.rateThanks;
        if (ratingRow && ratingRow.querySelector("form")) ratingRow.removeChild(ratingRow.querySelector("form"));
        refocus(hadFocus);
        // Stays where it was said, above what is written after it.
        if (ratingRow && ratingRow.parentNode === log) place(ratingRow, newestKey() + 0.01);
        break;
      case "error":
        onError(f);
        break;
      default:
        break; // newer server frames this widget does not know yet
    }
  }

  function onHello(f) {
    if (limitedNotice && limitedNotice.parentNode) limitedNotice.parentNode.removeChild(limitedNotice);
    limitedNotice = null;
    if (typeof f.conversation === "string" && f.conversation !== store.conversation) {
      if (store.conversation) {
        clearLog(); // a different conversation than the one shown
        leftShown = false;
        noticesShown = false;
      }
      store.conversation = f.conversation;
    }
    if (typeof f.token === "string") store.token = f.token;
    saveStore();
    connected = true;
    everConnected = true;
    clearTimeout(stableTimer);
    stableTimer = setTimeout(function () {
      attempts = 0;
    }, STABLE_MS);
    setConn("");
    setConversationStatus(f.status, typeof f.agent === "string" ? f.agent : "");
    showTeam(f.team);
    showPast(f.identified ? f.conversations : null);
    showLeftMessages(f.left_messages);
    showPastNotices(f.notices);
    // after 0 on a fresh page: the whole history; after a reconnect: only what we have not shown.
    sendFrame({ type: "resume", after: maxRenderedId() });
  }

  // A verified visitor's other conversations (hello's `conversations`, from any device), at the
  // top of the log; each opens by its id alone on their socket.
  var pastRow = null;
  function showPast(list) {
    if (pastRow && pastRow.parentNode) pastRow.parentNode.removeChild(pastRow);
    pastRow = null;
    var others = (Array.isArray(list) ? list : [])
      .filter(function (c) {
        return c && typeof c.conversation === "string" && c.conversation !== store.conversation;
      })
      .slice(0, 5);
    if (!others.length) return;
    var row = makeRow("notice");
    row.classList.add("past");
    row.querySelector(".bubble").textContent = T.pastConversations;
    others.forEach(function (c) {
      var when = new Date(c.updated);
      var label = (typeof c.preview === "string" && c.preview ? c.preview : T.noMessages) +
        (isNaN(when.getTime()) ? "" : " · " + when.toLocaleDateString(locale === "zh-hans" ? "zh-CN" : undefined));
      var b = button("link-btn", null, label);
      b.addEventListener("click", function () {
        startOver(c.conversation);
      });
      row.appendChild(b);
    });
    place(row, 0);
    pastRow = row;
  }

  // The subtitle says when a person would reply: in how long while the team is in, when it is
  // back, or that nobody is online now; the assistant answers at once either way.
  function showTeam(t) {
    if (!t || typeof t !== "object") return;
    team = t;
    teamAsked = Date.now();
    showSubtitle();
  }

  // Under the title: who the visitor is talking to once a person has the conversation (a reply
  // time there read as if nobody had come yet; a zh walk), else the team's hours and wait.
  function showSubtitle() {
    var t = team;
    if (convStatus === "agent") {
      sub.textContent = convAgent ? fmt(T.withAgentNamed, { name: convAgent }) : T.withAgent;
      return;
    }
    if (!t) return;
    var when = t.opens_at ? new Date(t.opens_at) : null;
    // Agents online outside the hours are answering: "back on Tuesday" above "you're number 2,
    // less than a minute" read as two answers (a walk); the queue follows who is online.
    var online = t.agents_online > 0;
    if (!t.open && !online && when && !isNaN(when.getTime())) {
      sub.textContent = fmt(T.subtitleAway, { when: backAt(when) });
    } else if (online && typeof t.reply_wait_s === "number") {
      // Queued, the header gives the visitor's own wait, as the queue notice does: the team's
      // usual reply time beside it read as two answers (约 2 分钟 above, 约 3 分钟 below; a zh walk).
      var wait = convStatus === "queued" && queueWaitS !== null ? queueWaitS : t.reply_wait_s;
      sub.textContent = fmt(T.subtitleTeam, { wait: waitText(wait) });
    } else if (t.agents_online === 0) {
      sub.textContent = T.subtitleNobody;
    } else {
      sub.textContent = T.subtitle;
    }
  }

  // When the team is back, in the visitor's own clock: the time alone today, with the weekday
  // within the week, with the date beyond it or on this weekday next week. "2-digit" hours read
  // "Mon 01:00 AM", and "Mon" said on a Monday meant next week's (a walk).
  function backAt(when) {
    var now = new Date();
    var options = { hour: "numeric", minute: "2-digit" };
    if (when.toDateString() !== now.toDateString()) {
      options.weekday = "short";
      if (when - now > 6 * 86400000 || when.getDay() === now.getDay()) {
        options.month = "short";
        options.day = "numeric";
      }
    }
    return when.toLocaleString(locale === "zh-hans" ? "zh-CN" : undefined, options);
  }

  // "No one is online" should not stay up for a visitor who keeps the panel open while an
  // agent signs in: an open panel on a visible page asks again now and then.
  function refreshTeam() {
    if (!connected || !isOpen || document.hidden || Date.now() - teamAsked < TEAM_REFRESH_MS) return;
    teamAsked = Date.now();
    sendFrame({ type: "team" });
  }

  function onResumed() {
    ready = true;
    if (missedWhileAway && !isOpen) markUnread();
    missedWhileAway = false;
    reportRead();
    // Questions with no answer since a person last wrote are being answered (or their answer
    // was lost with its server, and is being answered again): show the bot thinking on each;
    // the slow-answer notice offers a retry on any that still gets nothing.
    if (convStatus === "bot") {
      visitorById.forEach(function (clientId, id) {
        var r = replies.get(id);
        if (id > personLineId && !(r && r.done) && !fileIds.has(id)) startThinking(id);
      });
    }
    if (handoffWanted) {
      sendFrame(handoffWanted);
      handoffWanted = null;
    }
    // Re-send what the server never acknowledged, with the same client_id (it dedupes).
    store.pending.slice().forEach(function (p) {
      var v = visitorRows.get(p.client_id);
      if (v && v.state === "failed") return;
      if (!v) renderVisitor(p.client_id, p.text, "pending");
      sendFrame({ type: "message", client_id: p.client_id, text: p.text });
    });
  }

  function onAck(f) {
    if (typeof f.client_id !== "string" || typeof f.message_id !== "number") return;
    var v = visitorRows.get(f.client_id);
    var text = v ? v.text : "";
    v = visitorStored(f.client_id, f.message_id, text);
    setTime(v.row, f.created);
    var r = replies.get(f.message_id);
    // A message to a closed conversation reopens it (to the bot unless it asks for a person).
    var botMayAnswer = convStatus === "bot" || convStatus === "closed";
    if (!(r && r.done) && botMayAnswer) startThinking(f.message_id);
  }

  function onStatus(f) {
    if (typeof f.reply_to !== "number") return;
    var r = getReply(f.reply_to);
    if (r.done) return;
    // A stage's own word ("trying another way") goes out at once, its plain "Thinking…" after
    // a delay: the plain one must not cover the word the same stage said first.
    if (!f.detail && r.statusDetailStage === f.stage) return;
    if (f.detail) r.statusDetailStage = f.stage;
    if (typeof f.text === "string" && f.text) r.statusText = f.text;
    if (!r.row) startThinking(f.reply_to);
    showStatus(r);
  }

  function onError(f) {
    var text = typeof f.text === "string" && f.text ? f.text : T.failed;
    if (f.code === "forbidden") {
      // The server closes with 4403 next; onclose starts over. Start over now in case it doesn't.
      startOver();
      return;
    }
    if (typeof f.client_id === "string" && visitorRows.has(f.client_id)) {
      var v = visitorRows.get(f.client_id);
      removePending(f.client_id);
      setVisitorState(v, "failed", text);
      if (f.code === "rate_limited" && typeof f.retry_after === "number") {
        var btn = v.meta.querySelector(".retry");
        if (btn) {
          btn.disabled = true;
          setTimeout(function () {
            btn.disabled = false;
          }, Math.min(f.retry_after, 120) * 1000);
        }
      }
      return;
    }
    if (typeof f.reply_to === "number") {
      var r = getReply(f.reply_to);
      if (!r.done) replyError(r, text);
      return;
    }
    // A rate-limited "Back to the assistant" can be clicked again once the wait is over.
    if (f.code === "rate_limited") {
      var wait = typeof f.retry_after === "number" ? Math.min(f.retry_after, 120) * 1000 : 0;
      root.querySelectorAll(".leave-queue:disabled").forEach(function (b) {
        setTimeout(function () {
          b.disabled = false;
        }, wait);
      });
    }
    if (f.code === "too_many_requests") {
      // Too many sockets or handoffs from this network: one notice, and no reconnect before
      // the server's retry_after (the socket is closed with 4429 next).
      if (typeof f.retry_after === "number") limitedWaitMs = Math.min(f.retry_after, 120) * 1000;
      if (limitedNotice && limitedNotice.parentNode) {
        limitedNotice.querySelector(".bubble").textContent = text;
        return;
      }
      limitedNotice = showNotice(text);
      return;
    }
    if (FORM_ERRORS.indexOf(f.code) >= 0 && lastForm && lastForm.isConnected) {
      formError(lastForm, text);
      return;
    }
    // Where it happened: pinned last, it stayed under every later message for the rest of the
    // session (a walk).
    showNotice(text, null, true);
  }

  // A form's own errors show in the form, tied to its email field, and go with the form once
  // it is sent (a walk saw "enter a valid email" stay on screen under "sent").
  var FORM_ERRORS = ["invalid_email", "transcript_limit", "transcript_empty", "left_message_limit"];
  var lastForm = null; // the form whose frame went out last: the error is its answer

  function formError(form, text) {
    var note = form.querySelector(".form-error");
    if (!note) {
      note = el("p", "form-error");
      note.id = form.querySelector("input").id + "-error";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    note.textContent = text;
    var email = form.querySelector("input");
    email.setAttribute("aria-invalid", "true");
    email.setAttribute("aria-describedby", note.id);
    email.focus();
  }

  // A form sent again says nothing of its earlier error until the server answers (a mail walk
  // saw "enter a valid email" stay under a valid address).
  function clearFormError(form) {
    var note = form.querySelector(".form-error");
    if (note) note.parentNode.removeChild(note);
    var email = form.querySelector("input");
    email.removeAttribute("aria-invalid");
    email.removeAttribute("aria-describedby");
  }

  // The control that had the keyboard focus was hidden or taken away (the handoff button, a
  // sent form, the rating): the text box takes it, so a keyboard user is not sent back to the
  // top of the page, where Esc no longer closes the panel (a keyboard walk).
  function refocus(had) {
    if (!had || !isOpen) return;
    if (!had.isConnected || had.disabled || had.closest(".hide")) input.focus();
  }

  // `live`: the change happened just now (a `conversation` frame), so its notice stays where it
  // happened; from `hello` it is the state the history that follows already led to.
  function setConversationStatus(status, agentName, live, moved) {
    // Same status, unless another agent took the conversation over (a transfer): the server
    // says so (`moved`), since agents without a name (or with the same one) cannot be told apart.
    var transferred =
      status === "agent" && (moved || (agentName && convAgent && agentName !== convAgent));
    if (status === convStatus && !transferred) return;
    var had = root.activeElement;
    var previous = convStatus;
    convStatus = status;
    convAgent = status === "agent" ? agentName || convAgent : "";
    handoffBar.classList.toggle("hide", status !== "bot");
    if (status !== "bot") stopBotThinking();
    if (status !== "bot") dropLatestOffers();
    if (status !== "agent") showPeerTyping(false);
    // A notice of what happened ("ann has joined", "with the assistant again") stays where it
    // happened when the status moves on: it went, and ann's whole chat sat under nothing (a
    // walk). The state's notices (the queue, the close, and "with ann" after a reload) go.
    if (statusNotice && statusNotice.parentNode && sortKeyOf(statusNotice) === Infinity)
      statusNotice.parentNode.removeChild(statusNotice);
    statusNotice = null;
    leaveForm = null;
    if (previous === "closed" && ratingRow) {
      // Reopened: an unanswered rating offer goes (the server takes ratings of closed ones).
      var unrated = ratingRow.querySelector("form") && ratingRow.parentNode;
      if (unrated) ratingRow.parentNode.removeChild(ratingRow);
      ratingRow = null;
    }
    if (status === "queued") statusNotice = showNotice(T.queued, leaveQueueButton());
    else if (status === "agent")
      statusNotice = showNotice(
        agentName
          ? fmt(live ? T.agentJoined : T.withAgentNamed, { name: agentName })
          : transferred
            ? T.agentChanged
            : T.withAgent,
        null,
        live
      );
    else if (status === "bot" && (previous === "queued" || previous === "agent"))
      statusNotice = showNotice(T.backToBot, null, live);
    else if (status === "closed") {
      var again = button("link-btn", null, T.newConversation);
      again.addEventListener("click", function () {
        startOver();
        input.focus();
      });
      statusNotice = showNotice(T.closed, again);
    }
    showSubtitle();
    refocus(had);
  }

  // --- a person takes over (docs/protocol.md, handoff) --------------------------------------
  var handoffWanted = null; // the handoff frame to send once connected
  var leaveForm = null; // the leave-a-message form while it is shown
  var leftMessage = false;
  var ratingRow = null;
  var peerTypingRow = null;
  var peerTypingTimer = null;
  var typingSentAt = 0;

  function requestHandoff(reason) {
    var frame = { type: "handoff" };
    if (reason) frame.reason = reason;
    if (ready) {
      followPage(); // agents see the page the visitor asks from (a single-page app's, too)
      sendFrame(frame);
    } else {
      handoffWanted = frame;
      ensureConnected();
    }
  }

  function leaveQueueButton() {
    var back = button("link-btn leave-queue", null, T.leaveQueue);
    back.addEventListener("click", function () {
      back.disabled = true;
      sendFrame({ type: "handoff_cancel" });
    });
    return back;
  }

  function stopBotThinking() {
    // The bot will not answer now: drop "thinking" rows of answers that never started.
    replies.forEach(function (r, replyTo) {
      if (!r.done && !r.gotToken) dropReply(replyTo);
    });
  }

  function dropReply(replyTo) {
    var r = replies.get(replyTo);
    if (!r || r.done) return;
    clearReplyTimers(r);
    if (r.row && r.row.parentNode) r.row.parentNode.removeChild(r.row);
    replies.delete(replyTo);
  }

  function waitText(seconds) {
    if (typeof seconds !== "number" || seconds < 60) return T.waitUnderMinute;
    return fmt(T.waitMinutes, { n: Math.round(seconds / 60) });
  }

  function onHandoff(f) {
    if (f.status !== "queued") return;
    queueWaitS = typeof f.estimated_wait_s === "number" ? f.estimated_wait_s : null;
    // The subtitle follows who is online now, not at connect time.
    if (team && typeof f.agents_online === "number") showTeam(Object.assign({}, team, { agents_online: f.agents_online }));
    setConversationStatus("queued");
    showSubtitle();
    if (!statusNotice) return;
    // Nobody online: no "connecting you" and no wait estimate; the leave-a-message offer says
    // what happens next.
    // Queued by the server after answers it could not give (every model down, or several
    // fallbacks in a row): the reason is said, or "connecting you with a member of our team"
    // under "ask to talk to a person" read as if the visitor had asked (a walk).
    var byServer = f.reason === "models_down" || f.reason === "bot_unsure";
    var text = f.agents_online === 0 ? T.queuedNobodyOnline : byServer ? T.queuedForYou : T.queued;
    if (typeof f.position === "number" && f.agents_online !== 0)
      text += " " + fmt(T.queuePlace, { position: f.position, wait: waitText(f.estimated_wait_s) });
    statusNotice.querySelector(".bubble").textContent = text;
    if (f.agents_online === 0 && !leftMessage) showLeaveForm();
    else if (leaveForm && leaveForm.parentNode) {
      leaveForm.parentNode.removeChild(leaveForm);
      leaveForm = null;
    }
  }

  function field(labelText, control, id) {
    control.id = id;
    var label = el("label", null, labelText);
    label.setAttribute("for", id);
    return [label, control];
  }

  function showLeaveForm() {
    // An offer first; the form opens on request.
    if (leaveForm || !statusNotice) return;
    var offer = el("div", "leave-offer");
    offer.appendChild(el("p", null, team && !team.open && team.away ? team.away : T.noAgents));
    var open = button("link-btn", null, T.leaveOpen);
    open.addEventListener("click", function () {
      offer.replaceChild(leaveFormFields(), open);
    });
    offer.appendChild(open);
    statusNotice.appendChild(offer);
    leaveForm = offer;
  }

  function leaveFormFields() {
    var form = el("form", "leave");
    form.setAttribute("novalidate", "");
    var email = el("input");
    email.type = "email";
    email.autocomplete = "email";
    email.required = true;
    var text = el("textarea");
    text.rows = 3;
    text.required = true;
    // The server takes as much as a chat message; longer got "could not be read" (a mail walk).
    text.maxLength = MAX_CHARS;
    field(T.emailLabel, email, "cbw-leave-email").forEach(function (n) {
      form.appendChild(n);
    });
    field(T.leaveLabel, text, "cbw-leave-text").forEach(function (n) {
      form.appendChild(n);
    });
    var submitBtn = button("link-btn", null, T.leaveSend);
    submitBtn.type = "submit";
    form.appendChild(submitBtn);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var value = text.value.trim();
      if (!email.value.trim() || !value) return;
      clearFormError(form);
      lastForm = form;
      followPage();
      sendFrame({ type: "leave_message", email: email.value.trim(), text: value });
    });
    setTimeout(function () {
      email.focus();
    }, 0);
    return form;
  }

  // The thanks stays where it happened, with the visitor's own words: it sat in the queue
  // notice and went with it, so an agent's answer later came under no question at all (a walk).
  var leftShown = false; // this page shows the messages left (hello's come once per page)
  function leftNotice(email, text, key) {
    var row = showNotice(fmt(T.leftThanks, { email: String(email || "") }), null, true);
    if (typeof text === "string" && text) {
      var words = el("p", "left-text", text);
      markLanguage(words, text);
      row.appendChild(words);
    }
    if (typeof key === "number") place(row, key);
    return row;
  }

  function onLeftMessage(f) {
    leftMessage = true;
    leftShown = true;
    if (!leaveForm) return;
    var had = root.activeElement;
    leaveForm.parentNode.removeChild(leaveForm);
    leaveForm = null;
    leftNotice(f.email, f.text);
    refocus(had);
  }

  // After a reload: each where it was left, and no form offered again while one waits.
  function showLeftMessages(list) {
    if (leftShown || !Array.isArray(list)) return;
    leftShown = true;
    list.forEach(function (m) {
      if (!m || typeof m.after_id !== "number") return;
      leftNotice(m.email, m.text, m.after_id + 0.02);
      if (!m.answered) leftMessage = true;
    });
  }

  // After a reload: "Ana has joined the chat" and "with our assistant again" where they were
  // said (the page showed them live; hello's come once per page and conversation). Not read out
  // to a screen reader: they are history, as the messages around them are.
  var noticesShown = false;
  function showPastNotices(list) {
    if (noticesShown) return;
    noticesShown = true;
    (Array.isArray(list) ? list : []).forEach(function (n, i) {
      if (!n || typeof n.after_id !== "number") return;
      var name = typeof n.name === "string" ? n.name : "";
      var text = n.kind === "joined" ? (name ? fmt(T.agentJoined, { name: name }) : T.withAgent) : n.kind === "bot" ? T.backToBot : "";
      if (!text) return;
      var row = makeRow("notice");
      row.querySelector(".bubble").textContent = text;
      place(row, n.after_id + 0.01 + i * 0.0001);
    });
  }

  // Email transcript: the visitor types an address; the server sends the conversation so far.
  var transcriptRow = null; // the notice holding the form while it is shown

  function showTranscriptForm() {
    if (transcriptRow && transcriptRow.parentNode) {
      transcriptRow.querySelector("input").focus();
      return;
    }
    var form = el("form", "transcript");
    form.setAttribute("novalidate", "");
    var email = el("input");
    email.type = "email";
    email.autocomplete = "email";
    email.required = true;
    field(T.emailLabel, email, "cbw-transcript-email").forEach(function (n) {
      form.appendChild(n);
    });
    var submitBtn = button("link-btn", null, T.transcriptSend);
    submitBtn.type = "submit";
    form.appendChild(submitBtn);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!email.value.trim()) return;
      clearFormError(form);
      lastForm = form;
      sendFrame({ type: "transcript_email", email: email.value.trim() });
    });
    transcriptRow = showNotice(T.transcriptAsk, form);
    setTimeout(function () {
      email.focus();
    }, 0);
  }

  function onTranscriptEmail(f) {
    // An address that is not the verified visitor's own gets a link first (its owner asks).
    var text = fmt(f.confirm ? T.transcriptConfirm : T.transcriptSent, { email: String(f.email || "") });
    if (!transcriptRow || !transcriptRow.parentNode) {
      showNotice(text);
      return;
    }
    var had = root.activeElement;
    var form = transcriptRow.querySelector("form");
    if (form) transcriptRow.removeChild(form);
    transcriptRow.querySelector(".bubble").textContent = text;
    transcriptRow = null;
    refocus(had);
  }

  function onConversation(f) {
    setConversationStatus(f.status, typeof f.agent === "string" ? f.agent : "", true, f.moved === true);
    if (f.status === "closed" && f.ask_rating) showRating();
  }

  function showRating() {
    if (ratingRow) return;
    var stick = nearBottom();
    ratingRow = showNotice(T.rateTitle);
    var form = el("form", "rating");
    var stars = el("div", "stars");
    var score = 0;
    for (var n = 1; n <= 5; n++) {
      (function (value) {
        var b = button(null, fmt(T.rateStar, { n: value }), "★");
        b.setAttribute("aria-pressed", "false");
        b.addEventListener("click", function () {
          score = value;
          stars.querySelectorAll("button").forEach(function (o, i) {
            o.setAttribute("aria-pressed", i < value ? "true" : "false");
          });
          sendRating.disabled = false;
        });
        stars.appendChild(b);
      })(n);
    }
    form.appendChild(stars);
    var comment = el("textarea");
    comment.rows = 2;
    field(T.rateComment, comment, "cbw-rate-comment").forEach(function (node) {
      form.appendChild(node);
    });
    var sendRating = button("link-btn", null, T.rateSend);
    sendRating.type = "submit";
    sendRating.disabled = true;
    form.appendChild(sendRating);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (score) sendFrame({ type: "rating", score: score, comment: comment.value.trim() });
    });
    ratingRow.appendChild(form);
    if (stick) scrollToBottom(); // the stars, not only the title, in view
  }

  function showPeerTyping(on) {
    clearTimeout(peerTypingTimer);
    if (!on) {
      if (peerTypingRow && peerTypingRow.parentNode) peerTypingRow.parentNode.removeChild(peerTypingRow);
      peerTypingRow = null;
      return;
    }
    if (!peerTypingRow) {
      peerTypingRow = el("div", "row peer-typing");
      peerTypingRow.appendChild(el("div", "who", T.agent));
      var b = el("div", "bubble");
      b.setAttribute("role", "img");
      b.setAttribute("aria-label", T.agentTyping);
      for (var i = 0; i < 3; i++) b.appendChild(el("span", "dot"));
      peerTypingRow.appendChild(b);
      place(peerTypingRow, Infinity);
    }
    peerTypingTimer = setTimeout(function () {
      showPeerTyping(false);
    }, 8000);
  }

  function sendTyping(active) {
    // Only a person reads typing; the bot does not need it.
    if (convStatus !== "queued" && convStatus !== "agent") return;
    var now = Date.now();
    if (active && now - typingSentAt < 2500) return;
    typingSentAt = active ? now : 0;
    sendFrame({ type: "typing", active: active });
  }

  handoffBtn.addEventListener("click", function () {
    requestHandoff();
  });

