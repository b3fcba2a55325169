/*
 * Agent console. Plain JS, no dependencies, no build step. Speaks the console protocol
 * (docs/console.md) over /ws/console/; the session cookie says who the agent is. Server text
 * is only ever set with textContent.
 */
(function () {
  "use strict";

  var HEARTBEAT_MS = 15000;
  // A socket can die without closing (a laptop asleep, a VPN dropping): a `send` or `ping` with
  // nothing back this long drops it for a new one (as the widget does, docs/protocol.md).
  var LIVENESS_MS = 12000;
  var TYPING_IDLE_MS = 3000;

  var $ = function (id) {
    return document.getElementById(id);
  };
  var CT = JSON.parse($("console-text").textContent); // the console's other words, translated
  var REASONS = {
    visitor_request: CT.reason_visitor_request,
    visitor_words: CT.reason_visitor_words,
    bot_unsure: CT.reason_bot_unsure,
    negative_feedback: CT.reason_negative_feedback,
    models_down: CT.reason_models_down,
  };

  function statusLabel(status) {
    return CT["status_" + status] || status;
  }
  var body = document.body;
  var LT = JSON.parse($("left-message-text").textContent); // left-message words, translated
  var AT = JSON.parse($("assignment-text").textContent); // assignment and notification words
  var csrf = body.getAttribute("data-csrf");
  var faqDraftUrl = body.getAttribute("data-faq-draft-url");
  var attachmentUrl = body.getAttribute("data-attachment-url"); // CONVERSATION is replaced

  var state = {
    me: null,
    view: "queue",
    items: [], // the queue's first page and every conversation with an agent
    counts: { queued: 0, agent: 0 }, // the true totals (the queue is paged)
    pageSize: 50,
    queueOffset: 0, // the queue page shown; past the first, its items are queuePage
    queuePage: null,
    searchItems: [],
    sla: { wait_s: 120, first_reply_s: 180, visitor_waiting_s: 60 },
    clockSkewMs: 0,
    current: null, // the transcript being viewed
    left: [], // the left-messages inbox: waiting ones oldest first, then recently answered
    roster: { agents: [], teams: [] }, // every agent and team, for "Assign to"
    prefs: { sound: true, desktop: false, title: true }, // the agent's notification preferences
    alerts: [], // what the agent was alerted to (title, text, conversation), newest last
  };
  var hooks = {}; // set by inbox.js: item(button, item), transcript(t)
  var ws = null;
  var attempts = 0;
  var pendingOpen = null;
  var typingTimer = null;
  var typingSent = false;
  var visitorTypingTimer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return "a-" + crypto.randomUUID();
    return "a-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] != null ? values[key] : all;
    });
  }

  function ago(iso) {
    if (!iso) return null;
    return Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  }

  // In the agent's language ("1分32秒", not "1m 32s" in a Chinese console: a walk).
  function fmtDuration(s) {
    if (s == null) return "—";
    s = Math.round(s);
    if (s < 60) return fmt(CT.durationS, { s: s });
    var m = Math.floor(s / 60);
    if (m < 60) return fmt(CT.durationMS, { m: m, s: s % 60 });
    return fmt(CT.durationHM, { h: Math.floor(m / 60), m: m % 60 });
  }

  // A conversation's language by its own name, not its code ("zh-hans" read as a code).
  var LANGUAGE_NAMES = { en: "English", "zh-hans": "简体中文" };
  function languageName(code) {
    return LANGUAGE_NAMES[code] || code || "";
  }

  // ---------------------------------------------------------------------------------------
  // Socket
  // ---------------------------------------------------------------------------------------
  // Replies sent and not acked yet, by client id: sent again on the next socket (the server
  // keeps one per client id). A reply sent on a socket that had died without closing was lost
  // with nothing said, its box already emptied (a network walk of the widget found the same).
  // Kept in the tab's session storage too, so a reload before the ack does not lose them.
  var UNACKED_KEY = "chatbot-console-unacked";
  var unacked = new Map();
  try {
    (JSON.parse(sessionStorage.getItem(UNACKED_KEY)) || []).forEach(function (frame) {
      if (frame && frame.type === "send" && frame.client_id) unacked.set(frame.client_id, frame);
    });
  } catch (e) {
    /* storage blocked or garbled: nothing kept */
  }

  function forgetUnacked(clientId) {
    unacked.delete(clientId);
    keepUnacked();
  }

  function keepUnacked() {
    try {
      if (unacked.size) sessionStorage.setItem(UNACKED_KEY, JSON.stringify(Array.from(unacked.values())));
      else sessionStorage.removeItem(UNACKED_KEY);
    } catch (e) {
      /* storage blocked or full: kept in memory only */
    }
  }
  var livenessTimer = null;
  // A claim, close, hand-back, transfer or note sent and not answered yet by any frame: if the
  // socket goes first, the agent is told to check (they were lost without a word; a walk).
  var unanswered = null;
  var unconfirmed = null; // such an action whose socket went: said once the next one is up
  var ACTIONS = ["claim", "close", "return_to_bot", "assign", "note"];

  function expectAnswer() {
    if (!livenessTimer) livenessTimer = setTimeout(socketWentQuiet, LIVENESS_MS);
  }

  function stopWatching() {
    clearTimeout(livenessTimer);
    livenessTimer = null;
  }

  function socketLost() {
    if (unanswered) unconfirmed = unanswered;
    unanswered = null;
  }

  // The current socket given up: its onclose sees it is not the current one and schedules
  // nothing, and an action it carried unanswered is said on the next one.
  function dropSocket() {
    var old = ws;
    ws = null;
    stopWatching();
    socketLost();
    if (!old) return;
    try {
      old.close();
    } catch (e) {
      /* closed already */
    }
  }

  function socketWentQuiet() {
    livenessTimer = null;
    if (!ws) return;
    dropSocket();
    retryLater();
  }

  function retryLater() {
    setConn(attempts > 3 ? CT.disconnected : CT.reconnecting);
    var delay = Math.min(10000, 500 * Math.pow(2, attempts++));
    setTimeout(connect, delay);
  }

  function connect() {
    var u = new URL("/ws/console/", location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    var sock = new WebSocket(u.toString());
    ws = sock;
    expectAnswer(); // its hello
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      stopWatching();
      unanswered = null;
      var f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      handle(f);
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null;
      stopWatching();
      socketLost();
      if (ev.code === 4403) {
        // Signed out (here or in another tab) or no longer an agent: the page says which.
        location.reload();
        return;
      }
      retryLater();
    };
  }

  function send(frame) {
    if (navigator.onLine === false) {
      setConn(CT.offline);
      return false;
    }
    if (!ws || ws.readyState !== 1) return false;
    frame.v = 1;
    ws.send(JSON.stringify(frame));
    if (frame.type === "send") {
      unacked.set(frame.client_id, frame);
      keepUnacked();
    }
    if (ACTIONS.indexOf(frame.type) >= 0) unanswered = frame;
    // `ack`, `presence`; each action is answered too (`claimed`, `conversation`, `note`, …)
    if (frame.type === "send" || frame.type === "ping" || unanswered === frame) expectAnswer();
    return true;
  }

  // The browser knows the network went before the socket does (it can look open for minutes):
  // replies typed meanwhile stayed in nobody's hands, the box emptied and nothing said so (a
  // support-shift walk). Offline, nothing is sent and the box keeps its text; back online, a
  // fresh socket (its hello brings the conversation up to date).
  window.addEventListener("offline", function () {
    setConn(CT.offline);
  });
  window.addEventListener("online", function () {
    dropSocket();
    attempts = 0;
    setConn(CT.reconnecting);
    connect();
  });

  // Said to a screen reader (#announce): what changed without the agent typing it. Emptied
  // first, so the same words twice are heard twice.
  function announce(text) {
    var region = $("announce");
    region.textContent = "";
    setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  // The widget's rule (static/console/rich-text.js, built from its part).
  function markLanguage(node, text) {
    var chinesePage = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
    var lang = window.chatOtherLanguage && window.chatOtherLanguage(String(text || ""), chinesePage);
    if (lang) node.lang = lang;
  }

  function setConn(text) {
    $("conn").textContent = text;
    $("conn").classList.toggle("bad", !!text);
  }

  function handle(f) {
    switch (f.type) {
      case "hello":
        // The backoff starts over only here: a proxy that opened sockets and closed them at
        // once had the console reconnecting twice a second for as long as it lasted.
        attempts = 0;
        state.me = f.agent;
        state.sla = f.sla || state.sla;
        $("presence").value = f.presence;
        setOnline(f.agents_online);
        state.pageSize = f.page_size || state.pageSize;
        setItems(f.conversations, f.counts);
        setLeft(f.left_messages);
        assignmentHello(f);
        setConn("");
        if (state.current) send({ type: "open", conversation: state.current.conversation });
        else if (location.hash.length > 1) openConversation(decodeURIComponent(location.hash.slice(1)));
        unacked.forEach(send);
        if ($("notice").textContent === CT.notConnected) notice("");
        if (unconfirmed) {
          if (unconfirmed.type === "note" && !$("note").value) $("note").value = unconfirmed.text;
          notice(CT.actionUnconfirmed);
          announce(CT.actionUnconfirmed);
          unconfirmed = null;
        }
        break;
      case "left_messages":
        setLeft(f.items);
        break;
      case "left_replied":
        leftStatus(f.left_message, LT.replied);
        break;
      case "conversations":
        alertNewQueued(f.items);
        setItems(f.items, f.counts);
        if (typeof f.agents_online === "number") setOnline(f.agents_online);
        break;
      case "queue_page":
        if (f.offset === state.queueOffset) {
          state.queuePage = f.items;
          if (f.counts) state.counts = f.counts;
          renderList();
        }
        break;
      case "presence":
        $("presence").value = f.status;
        setOnline(f.agents_online);
        break;
      case "transcript":
        showTranscript(f);
        break;
      case "history":
        if (isCurrent(f)) addOlder(f.messages, f.has_more);
        break;
      case "message":
      case "done":
        if (f.type === "done" && f.message) f.message.trace = f.trace; // the summary, live
        if (isCurrent(f) && f.message) addMessage(f.message);
        // The SLA timers read these; the list's broadcast brought them for the first reply only,
        // and "Visitor waiting" went on counting, then red, after every later one.
        if (isCurrent(f) && f.message && f.message.role === "agent") state.current.last_agent_message_at = f.message.created;
        if (isCurrent(f) && f.message && f.message.role === "visitor") {
          state.current.last_visitor_message_at = f.message.created;
          showVisitorTyping(false);
          if (f.type === "message") announce(fmt(CT.visitorSaid, { text: f.message.text || "" }));
        }
        break;
      case "typing":
        if (isCurrent(f) && f.role === "visitor") showVisitorTyping(f.active !== false);
        if (isCurrent(f) && f.role === "agent") showAgentTyping(f.active !== false);
        break;
      case "conversation":
        if (isCurrent(f)) {
          state.current.status = f.status;
          renderHead();
          if (f.status === "closed" && state.closing === f.conversation) closed();
        }
        break;
      case "note":
        if (isCurrent(f)) addNote(f.note);
        break;
      case "read":
        if (isCurrent(f)) {
          state.current.visitor_read_up_to = f.up_to;
          markRead();
        }
        break;
      case "viewers":
        if (isCurrent(f)) {
          state.current.viewers = f.viewers;
          renderHead();
        }
        break;
      case "claimed":
        notice("");
        announce(CT.youOwn);
        if (state.current && state.current.status === "agent") renderHead();
        break;
      case "ack":
        forgetUnacked(f.client_id);
        break;
      case "search_results":
        showSearchResults(f.items);
        break;
      case "canned_results":
        renderCanned(f.items, f.articles || []);
        break;
      case "faq_linked":
        notice(f.paraphrase ? CT.faqLinked : CT.faqNotLinked);
        break;
      case "error":
        onError(f);
        break;
      default:
        handleAssignment(f);
        break;
    }
  }

  function isCurrent(f) {
    return state.current && f.conversation === state.current.conversation;
  }

  function onError(f) {
    var refused = f.client_id && unacked.get(f.client_id);
    if (refused) forgetUnacked(f.client_id); // sending it again would not help
    var text = {
      // No owner: nobody claimed it, it left the queue (the visitor went back to the bot, or it
      // was closed); "claimed by another agent" was not true.
      already_claimed: f.owner ? fmt(CT.alreadyClaimed, { owner: f.owner }) : AT.changed,
      not_owner: f.owner ? fmt(CT.onlyOwner, { owner: f.owner }) : CT.claimFirst,
      away: CT.away,
      not_found: CT.notFound,
      already_answered: fmt(LT.alreadyAnswered, { name: f.by }),
      not_an_agent: AT.notAnAgent,
      already_owner: AT.alreadyOwner,
      changed: AT.changed,
    }[f.code] || fmt(CT.failed, { code: f.code });
    // A refused reply's box was emptied when it went: its words come back, into the box while
    // the conversation is still the agent's, else in the notice (as on a take-over).
    if (refused && state.mineId === refused.conversation && !$("reply").value) $("reply").value = refused.text;
    else if (refused) text += " " + fmt(CT.draftKept, { text: refused.text });
    notice(text);
    if (state.current) renderLeftSection(); // a refused email reply can be sent again
  }

  function showSearchResults(items) {
    state.searchItems = items;
    renderList();
    var n = items.length;
    announce(n === 1 ? CT.resultFound : n ? fmt(CT.resultsFound, { n: n }) : CT.noResults);
  }

  // The conversation this agent closed is closed: said, and focus, gone with the hidden
  // button, goes back to the list's tab.
  function closed() {
    state.closing = null;
    announce(CT.closedAnnounce);
    var active = document.activeElement;
    if (!active || active === document.body || active.closest("[hidden]")) {
      var tab = document.querySelector('.tabs [aria-selected="true"]');
      if (tab) tab.focus();
    }
  }

  function notice(text) {
    var n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  // Another agent came online or went: the transfer list's "(offline)" beside them went stale
  // until it was opened again (a walk), so an open conversation asks for the roster again.
  var onlineCount = null;
  function setOnline(n) {
    $("online").textContent = fmt(n === 1 ? CT.agentOnline : CT.agentsOnline, { n: n });
    if (onlineCount !== null && n !== onlineCount && state.current) send({ type: "roster" });
    onlineCount = n;
  }

  // ---------------------------------------------------------------------------------------
  // Lists: queue (oldest first), mine, all open, search
  // ---------------------------------------------------------------------------------------
  function setItems(items, counts) {
    state.items = items || [];
    if (counts) state.counts = counts;
    // The queue moved: a later page is read again (the first comes with the list).
    if (state.queueOffset > 0) {
      if (state.queueOffset >= state.counts.queued) state.queueOffset = Math.max(0, state.counts.queued - state.pageSize);
      requestQueuePage();
    }
    if (state.current) {
      var mine = state.items.filter(function (i) {
        return i.conversation === state.current.conversation;
      })[0];
      if (mine) {
        ["status", "owner", "team", "queued_at", "claimed_at", "first_agent_reply_at", "last_visitor_message_at", "last_agent_message_at", "reason"].forEach(function (k) {
          state.current[k] = mine[k];
        });
        renderHead();
      }
    }
    renderList();
  }

  function requestQueuePage() {
    if (state.queueOffset === 0) state.queuePage = null;
    else send({ type: "queue_page", offset: state.queueOffset });
  }

  function showQueuePage(offset) {
    state.queueOffset = Math.max(0, offset);
    state.queuePage = null;
    requestQueuePage();
    renderList();
  }

  function viewItems(view) {
    var me = state.me ? state.me.id : null;
    if (view === "queue" && state.queueOffset > 0) return state.queuePage || [];
    if (view === "queue")
      return state.items.filter(function (i) {
        return i.status === "queued";
      });
    if (view === "mine")
      return state.items.filter(function (i) {
        return i.status === "agent" && i.owner && i.owner.id === me;
      });
    if (view === "search") return state.searchItems;
    return state.items;
  }

  function renderList() {
    $("count-queue").textContent = state.counts.queued;
    $("count-open").textContent = state.counts.queued + state.counts.agent;
    $("count-mine").textContent = viewItems("mine").length;
    $("count-left").textContent = state.left.filter(function (m) {
      return !m.answered_at;
    }).length;
    var list = $("list");
    // The list is drawn again on every change to the queue: a keyboard user's place in it
    // (the focused conversation) is kept, not dropped to the page (a keyboard walk).
    var focused = list.contains(document.activeElement) ? document.activeElement.closest("[data-conversation]") : null;
    var keepFocusOn = focused ? focused.getAttribute("data-conversation") : null;
    while (list.firstChild) list.removeChild(list.firstChild);
    if (state.view === "left") return renderLeftList(list);
    var items = viewItems(state.view);
    if (state.view === "queue") renderPager(list);
    if (!items.length) {
      list.appendChild(el("li", "none", state.view === "search" ? CT.noResults : state.view === "queue" && state.queueOffset > 0 && !state.queuePage ? CT.loading : CT.nothing));
      return;
    }
    items.forEach(function (i) {
      var li = el("li", "item status-" + i.status);
      li.setAttribute("data-conversation", i.conversation);
      if (state.current && state.current.conversation === i.conversation) li.classList.add("active");
      var b = el("button", "open");
      b.type = "button";
      var top = el("span", "item-top");
      top.appendChild(el("span", "badge " + i.status, statusLabel(i.status)));
      top.appendChild(el("span", "locale", languageName(i.locale)));
      var wait = el("span", "wait");
      // Only a conversation waiting for people is timed: one back with the bot or closed has
      // no SLA running (it showed a red, ever-growing wait).
      if (i.status === "queued" || i.status === "agent") wait.setAttribute("data-since", i.queued_at || i.created || "");
      top.appendChild(wait);
      b.appendChild(top);
      b.appendChild(el("span", "preview", i.preview || CT.noMessage));
      var meta = [reasonLabel(i)];
      if (i.owner) meta.push(fmt(CT.withAgent, { name: i.owner.name }));
      if (i.team) meta.push(fmt(AT.team, { team: i.team.name }));
      if (i.email) meta.push(i.email);
      b.appendChild(el("span", "item-meta", meta.filter(Boolean).join(" · ")));
      if (hooks.item) hooks.item(b, i); // the inbox's labels and matched text (inbox.js)
      b.addEventListener("click", function () {
        openConversation(i.conversation);
      });
      li.appendChild(b);
      list.appendChild(li);
      if (i.conversation === keepFocusOn) b.focus();
    });
    tick();
  }

  // Oldest handoff first, a page at a time: a flood of handoffs must not hide who came after.
  function renderPager(list) {
    var total = state.counts.queued;
    if (total <= state.pageSize && state.queueOffset === 0) return;
    var li = el("li", "pager");
    var prev = el("button", "prev", CT.older);
    prev.type = "button";
    prev.disabled = state.queueOffset === 0;
    prev.addEventListener("click", function () {
      showQueuePage(state.queueOffset - state.pageSize);
    });
    var next = el("button", "next", CT.newer);
    next.type = "button";
    next.disabled = state.queueOffset + state.pageSize >= total;
    next.addEventListener("click", function () {
      showQueuePage(state.queueOffset + state.pageSize);
    });
    var last = Math.min(total, state.queueOffset + state.pageSize);
    li.appendChild(prev);
    li.appendChild(el("span", "range", fmt(CT.range, { first: state.queueOffset + 1, last: last, total: total })));
    li.appendChild(next);
    list.appendChild(li);
  }

  // Left messages: what visitors left while nobody was online. Opening one opens its
  // conversation, where the agent answers it by email (the reply joins the conversation too).
  function setLeft(items) {
    state.left = items || [];
    if (state.current) {
      state.left.forEach(function (m) {
        state.current.left_messages.forEach(function (c, i) {
          if (c.id === m.id) state.current.left_messages[i] = m;
        });
      });
      renderLeftSection();
    }
    renderList();
  }

  function renderLeftList(list) {
    if (!state.left.length) {
      list.appendChild(el("li", "none", LT.empty));
      return;
    }
    state.left.forEach(function (m) {
      var li = el("li", "item left-item " + (m.answered_at ? "answered" : "waiting"));
      li.setAttribute("data-left-message", m.id);
      if (state.current && state.current.conversation === m.conversation) li.classList.add("active");
      var b = el("button", "open");
      b.type = "button";
      var top = el("span", "item-top");
      if (m.undeliverable_at) top.appendChild(el("span", "badge undeliverable", LT.undeliverable));
      else top.appendChild(el("span", "badge " + (m.answered_at ? "agent" : "queued"), m.answered_at ? LT.answered : LT.waiting));
      top.appendChild(el("span", "locale", languageName(m.locale)));
      var wait = el("span", "wait");
      if (!m.answered_at) wait.setAttribute("data-since", m.created);
      else wait.textContent = new Date(m.created).toLocaleString();
      top.appendChild(wait);
      b.appendChild(top);
      b.appendChild(el("span", "preview", m.text));
      var meta = [m.email];
      if (m.answered_at) meta.push(fmt(LT.answeredBy, { name: m.answered_by || "?", time: new Date(m.answered_at).toLocaleString() }));
      else if (m.replied_live) meta.push(fmt(LT.repliedLive, liveReply(m)));
      b.appendChild(el("span", "item-meta", meta.join(" · ")));
      b.addEventListener("click", function () {
        openConversation(m.conversation);
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    tick();
  }

  // Who replied in the chat since the visitor left the message, and when (left_messages).
  function liveReply(m) {
    return { name: m.replied_live.by || LT.someAgent, time: new Date(m.replied_live.at).toLocaleString() };
  }

  function renderLeftSection() {
    var box = $("left");
    var drafts = {};
    box.querySelectorAll("textarea[data-left-message]").forEach(function (t) {
      drafts[t.getAttribute("data-left-message")] = t.value; // an inbox update keeps what is typed
    });
    box.textContent = "";
    var items = state.current ? state.current.left_messages : [];
    if (!items.length) box.appendChild(el("li", "none", LT.none));
    items.forEach(function (m) {
      var li = el("li", "left-message");
      li.setAttribute("data-left-message", m.id);
      li.appendChild(el("b", null, m.email));
      li.appendChild(el("time", null, " " + new Date(m.created).toLocaleString()));
      li.appendChild(el("div", "text", m.text));
      li.appendChild(el("div", "left-meta", m.acknowledged_at ? LT.acknowledged : LT.notAcknowledged));
      // Given up (refused for good, or after every retry): the visitor will not get it.
      if (m.undeliverable_at) li.appendChild(el("div", "left-meta left-failed", fmt(LT.undeliverableHint, { error: m.undeliverable_error || "?" })));
      if (m.answered_at) {
        li.appendChild(el("div", "left-answer", fmt(LT.answeredBy, { name: m.answered_by || "?", time: new Date(m.answered_at).toLocaleString() })));
        if (m.reply) li.appendChild(el("div", "text left-reply", m.reply));
        if (!m.undeliverable_at) li.appendChild(el("div", "left-meta", m.reply_emailed_at ? LT.emailed : LT.notEmailed));
        // Another agent answered while this one was writing: their draft stays, said unsent (it
        // vanished without a word: a mail walk).
        var draft = (drafts[m.id] || "").trim();
        if (draft && draft !== (m.reply || "").trim()) {
          li.appendChild(el("div", "left-meta left-failed", fmt(LT.draftNotSent, { name: m.answered_by || LT.someAgent })));
          var kept = el("textarea");
          kept.rows = 3;
          kept.readOnly = true;
          kept.value = drafts[m.id];
          kept.setAttribute("data-left-message", m.id);
          kept.setAttribute("aria-label", LT.yourDraft);
          li.appendChild(kept);
        }
      } else {
        if (m.replied_live) li.appendChild(el("div", "left-meta left-live", fmt(LT.repliedLiveHint, liveReply(m))));
        var form = el("form", "left-reply-form");
        var label = el("label", null, fmt(LT.replyLabel, { email: m.email }));
        var text = el("textarea");
        text.rows = 3;
        text.setAttribute("data-left-message", m.id);
        text.value = drafts[m.id] || "";
        label.appendChild(text);
        form.appendChild(label);
        var go = el("button", "primary", LT.send);
        go.type = "submit";
        form.appendChild(go);
        form.appendChild(el("span", "left-status"));
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var value = text.value.trim();
          if (value && send({ type: "left_reply", left_message: m.id, client_id: newId(), text: value })) go.disabled = true;
        });
        li.appendChild(form);
      }
      box.appendChild(li);
    });
  }

  function leftStatus(id, text) {
    var status = $("left").querySelector('[data-left-message="' + id + '"] .left-status');
    if (status) status.textContent = text;
  }

  var tabs = Array.prototype.slice.call(document.querySelectorAll(".tabs button"));
  tabs.forEach(function (b) {
    b.addEventListener("click", function () {
      state.view = b.getAttribute("data-view");
      tabs.forEach(function (o) {
        o.setAttribute("aria-selected", o === b ? "true" : "false");
        o.tabIndex = o === b ? 0 : -1; // one Tab stop for the tabs; arrows move between them
      });
      $("search-form").hidden = state.view !== "search";
      if (state.view === "search") $("search").focus();
      renderList();
    });
    // The tabs pattern: Left / Right (and Home / End) pick the neighbouring tab.
    b.addEventListener("keydown", function (e) {
      var i = tabs.indexOf(b);
      var to = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      var next = tabs[(to + tabs.length) % tabs.length];
      next.click();
      next.focus(); // the Search tab's click puts it in the search box
    });
  });

  // ---------------------------------------------------------------------------------------
  // One conversation
  // ---------------------------------------------------------------------------------------
  function openConversation(id) {
    notice("");
    send({ type: "open", conversation: id });
  }

  function showTranscript(t) {
    stopTyping();
    t.viewers = t.viewers || [];
    state.current = t;
    $("empty").hidden = true;
    $("conversation").hidden = false;
    $("transcript").textContent = "";
    $("notes").textContent = "";
    $("left").textContent = "";
    $("canned-results").textContent = "";
    showVisitorTyping(false);
    t.messages.forEach(addMessage);
    showEarlierButton(t.has_more);
    (t.events || []).forEach(addEvent);
    markRead();
    t.notes.forEach(addNote);
    send({ type: "roster" });
    renderLeftSection();
    renderHead();
    renderList();
    if (hooks.transcript) hooks.transcript(t); // labels, transcript link (inbox.js)
  }

  // Why the conversation was handed to people; once it is back with the bot that is history
  // (an agent read "asked for a person" after Return to bot as still waiting).
  function reasonLabel(c) {
    if (!c.reason) return "";
    var reason = REASONS[c.reason] || c.reason;
    return c.status === "bot" ? fmt(CT.reasonEarlier, { reason: reason }) : reason;
  }

  function renderHead() {
    var c = state.current;
    if (!c) return;
    $("conv-title").textContent = fmt(CT.conversation, { id: c.conversation });
    var meta = [statusLabel(c.status), languageName(c.locale)];
    if (c.reason) meta.push(reasonLabel(c));
    if (c.team && (c.status === "queued" || c.status === "agent")) meta.push(fmt(AT.team, { team: c.team.name }));
    if (c.status === "closed" && c.close_reason) meta.push(fmt(CT.closedReason, { reason: CT.closeReasons[c.close_reason] || c.close_reason }));
    // A conversation has one rating, the visitor's latest: shown while it is closed, so a
    // reopened one does not read as rated already.
    if (c.rating && c.status === "closed") meta.push(fmt(CT.rated, { rating: c.rating }) + (c.rating_comment ? " — " + c.rating_comment : ""));
    $("conv-meta").textContent = meta.join(" · ");
    var owner = c.owner && c.status === "agent" ? c.owner : null;
    var mine = owner && state.me && owner.id === state.me.id;
    if (state.mineId === c.conversation && !mine && owner) {
      // Taken over or moved by a lead: the reply box went without a word, a draft with it (a
      // console walk). Said, and the draft shown to copy.
      var draft = $("reply").value.trim();
      var told = fmt(CT.noLongerYours, { name: owner.name });
      notice(draft ? told + " " + fmt(CT.draftKept, { text: draft }) : told);
      announce(told);
      $("reply").value = "";
    }
    state.mineId = mine ? c.conversation : null;
    $("conv-owner").textContent = owner ? (mine ? CT.youOwn : fmt(CT.ownedBy, { name: owner.name })) : c.status === "queued" ? CT.waitingForAgent : "";
    var others = (c.viewers || []).filter(function (n) {
      return !state.me || n !== state.me.name;
    });
    $("conv-viewers").textContent = others.length ? fmt(CT.alsoViewing, { names: others.join(", ") }) : "";
    $("claim").hidden = c.status !== "queued";
    $("return").hidden = !mine;
    $("close-form").hidden = !(mine || c.status === "queued");
    renderAssignForm(c, mine);
    $("composer").hidden = !mine;
    $("canned-form").hidden = !mine;
    if (mine && state.replyOnceMine) {
      // Claimed with the button: it is gone, and focus with it; the reply box is next. (The
      // "c" shortcut leaves focus where it was, for "r".)
      state.replyOnceMine = false;
      $("reply").focus();
    }
    tick();
  }

  // An agent's message by its author's name: after a transfer, whose words were whose could not
  // be told apart when every one said "Agent".
  function roleLabel(m) {
    if (m.role === "bot") return CT.roleBot;
    if (m.role === "agent") {
      return m.author && typeof m.author.name === "string" && m.author.name ? m.author.name : CT.roleAgent;
    }
    if (m.role === "visitor") return CT.roleVisitor;
    return CT.roleSystem;
  }

  // As the widget shows it to the visitor: a 34-byte file was "1 KB" here and "34 B" there.
  function sizeText(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " B";
  }

  // A file in the transcript: its thumbnail linking to it for images, a download link else.
  // Only this server's signed attachment paths are used.
  function attachmentNode(a) {
    var ok = function (u) {
      return typeof u === "string" && /^\/attachments\/[A-Za-z0-9_:.\-]+\/$/.test(u);
    };
    var wrap = el("div", "text");
    var name = String(a.name || "");
    if (!ok(a.url)) {
      wrap.textContent = name;
      return wrap;
    }
    var link = el("a", a.image && ok(a.thumbnail_url) ? "file-thumb" : "file-link");
    link.href = a.url;
    link.target = "_blank";
    link.rel = "noopener";
    if (a.image && ok(a.thumbnail_url)) {
      var img = el("img");
      img.src = a.thumbnail_url;
      img.alt = name;
      link.appendChild(img);
    } else {
      link.setAttribute("download", name);
      link.textContent = fmt(CT.fileLink, { name: name, size: sizeText(a.size || 0) });
    }
    wrap.appendChild(link);
    return wrap;
  }

  function uploadAttachment(file) {
    if (!state.current || !file) return;
    var status = $("attach-status");
    status.textContent = fmt(CT.uploading, { name: file.name });
    var form = new FormData();
    form.append("client_id", newId());
    form.append("file", file, file.name);
    var url = attachmentUrl.replace("CONVERSATION", encodeURIComponent(state.current.conversation));
    fetch(url, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" })
      .then(function (r) {
        // Not always our JSON: a proxy's 413 is a page (a re-walk read "Unexpected token").
        return r.text().then(function (raw) {
          var data = {};
          try {
            data = JSON.parse(raw);
          } catch (e) {
            data = { text: r.status === 413 ? CT.fileTooLarge : r.status + " " + r.statusText };
          }
          return { ok: r.ok, data: data };
        });
      })
      .then(function (res) {
        if (!res.ok) throw new Error(res.data.text || res.data.error || "error");
        status.textContent = "";
        if (state.current && res.data.message) addMessage(res.data.message);
      })
      .catch(function (err) {
        status.textContent = fmt(CT.uploadFailed, { error: err.message });
      });
  }

  // Bot and agent messages formatted as the widget shows them (static/console/rich-text.js,
  // built from the widget's own part); a visitor's and the system's words as written.
  function messageText(m) {
    var text = el("div", "text");
    if ((m.role === "bot" || m.role === "agent") && window.chatRichText) {
      window.chatRichText(text, String(m.text || ""));
    } else text.textContent = m.text;
    return text;
  }

  function addMessage(m) {
    var list = $("transcript");
    if (list.querySelector('[data-id="' + m.id + '"]')) return;
    var li = el("li", "msg " + m.role);
    li.setAttribute("data-id", m.id);
    markLanguage(li, m.text);
    var head = el("div", "msg-head");
    head.appendChild(el("span", "who", roleLabel(m)));
    head.appendChild(el("time", null, new Date(m.created).toLocaleTimeString()));
    li.appendChild(head);
    if (m.attachment) li.appendChild(attachmentNode(m.attachment));
    else li.appendChild(messageText(m));
    if (m.role === "bot" && m.trace) {
      var t = m.trace;
      var source = t.source || m.source;
      var parts = [fmt(CT.traceSource, { source: CT.sourceNames[source] || source })];
      if (t.decision) {
        parts.push(fmt(CT.traceDecision, { decision: CT.faqDecisionNames[t.decision] || t.decision }));
      }
      if (t.score != null) parts.push(fmt(CT.traceScore, { score: Number(t.score).toFixed(2) }));
      if (t.model) parts.push(fmt(CT.traceModel, { model: t.model }));
      if (t.prompt_tokens != null || t.completion_tokens != null) {
        parts.push(fmt(CT.traceTokens, { prompt: t.prompt_tokens || 0, completion: t.completion_tokens || 0 }));
      }
      if (t.cost != null) parts.push(fmt(CT.traceCost, { cost: Number(t.cost).toFixed(5) }));
      if (t.total_ms != null) parts.push(fmt(CT.traceLatency, { ms: Math.round(t.total_ms) }));
      if (t.grounded === false) parts.push(CT.traceUngrounded);
      li.appendChild(el("div", "trace", parts.join(" · ")));
    }
    if (m.role === "bot" && Array.isArray(m.citations) && m.citations.length) {
      var cites = el("div", "cites");
      // A reply of suggested articles cites nothing: say so, or the agent reads them as the
      // model's sources (an agent's walk).
      if (m.citations.some(function (c) { return c.suggested; })) {
        cites.appendChild(el("span", "suggested-label", CT.suggestedShown));
      }
      m.citations.forEach(function (c) {
        var label = "[" + c.number + "] " + c.title + (c.heading ? " — " + c.heading : "");
        var url = String(c.url || "");
        if (/^https?:\/\//i.test(url) || /^\/(?!\/)/.test(url)) {
          var a = el("a", null, label);
          a.href = url;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          cites.appendChild(a);
        } else {
          cites.appendChild(el("span", null, label));
        }
      });
      li.appendChild(cites);
    }
    if (m.role === "bot" && Array.isArray(m.related) && m.related.length) {
      var questions = m.related.map(function (r) { return r.question; }).join(" · ");
      li.appendChild(el("div", "offers", fmt(CT.offered, { questions: questions })));
    }
    if (m.feedback) li.appendChild(el("div", "feedback " + m.feedback.value, (m.feedback.value === "up" ? CT.helpful : CT.notHelpful) + (m.feedback.comment ? " — " + m.feedback.comment : "")));
    if (m.role === "agent" && !m.attachment) {
      var save = el("button", "faq", CT.saveFaq);
      save.type = "button";
      save.addEventListener("click", function () {
        saveFaqDraft(m.id, save);
      });
      li.appendChild(save);
    }
    var after = null;
    for (var i = list.children.length - 1; i >= 0; i--) {
      if (Number(list.children[i].getAttribute("data-id")) < m.id) break;
      after = list.children[i];
    }
    list.insertBefore(li, after);
    list.scrollTop = list.scrollHeight;
  }

  // A long conversation opens with its newest messages; older ones come a page at a time
  // ("history" frames), added above without moving what the agent is reading.
  function showEarlierButton(hasMore) {
    var list = $("transcript");
    var old = list.querySelector("li.earlier");
    if (old) list.removeChild(old);
    if (!hasMore) return;
    var li = el("li", "earlier");
    var b = el("button", null, CT.earlier);
    b.type = "button";
    b.addEventListener("click", function () {
      var first = list.querySelector("li.msg[data-id]");
      if (!first || !state.current) return;
      b.disabled = true;
      send({ type: "history", conversation: state.current.conversation, before: Number(first.getAttribute("data-id")) });
    });
    li.appendChild(b);
    list.insertBefore(li, list.firstChild);
  }

  function addOlder(messages, hasMore) {
    var list = $("transcript");
    var fromBottom = list.scrollHeight - list.scrollTop;
    (messages || []).forEach(addMessage);
    showEarlierButton(hasMore);
    markRead();
    list.scrollTop = list.scrollHeight - fromBottom;
  }

  // "Seen" on the agent messages the visitor has had on screen (the widget's read receipts).
  function markRead() {
    var upTo = state.current && state.current.visitor_read_up_to;
    if (!upTo) return;
    $("transcript").querySelectorAll(".msg.agent").forEach(function (li) {
      if (Number(li.getAttribute("data-id")) > upTo || li.querySelector(".read")) return;
      li.querySelector(".msg-head").appendChild(el("span", "read", CT.seen));
    });
  }

  function addNote(n) {
    var list = $("notes");
    if (list.querySelector('[data-id="' + n.id + '"]')) return;
    var li = el("li", "note");
    li.setAttribute("data-id", n.id);
    li.appendChild(el("b", null, n.author + ": "));
    li.appendChild(el("span", null, n.text));
    list.appendChild(li);
  }

  function showVisitorTyping(on) {
    clearTimeout(visitorTypingTimer);
    $("typing").textContent = CT.visitorTyping;
    $("typing").hidden = !on;
    if (on)
      visitorTypingTimer = setTimeout(function () {
        $("typing").hidden = true;
      }, 6000);
  }

  function showAgentTyping(on) {
    clearTimeout(visitorTypingTimer);
    $("typing").textContent = CT.agentTyping;
    $("typing").hidden = !on;
  }

  // "Save as FAQ draft": the server proposes the question and answer without greetings, the
  // visitor's name or personal details; the agent edits them here, then saves (docs/console.md).
  function faqDraftJson(messageId, init) {
    init.headers = Object.assign({ "X-CSRFToken": csrf }, init.headers || {});
    init.credentials = "same-origin";
    return fetch(faqDraftUrl.replace("/0/", "/" + messageId + "/"), init).then(function (r) {
      return r.json().then(function (data) {
        return { ok: r.ok, data: data };
      });
    });
  }

  function saveFaqDraft(messageId, button) {
    button.disabled = true;
    faqDraftJson(messageId, { method: "GET" })
      .then(function (res) {
        if (!res.ok) {
          button.textContent = fmt(CT.couldNotSave, { error: res.data.error });
          return;
        }
        button.hidden = true;
        button.parentNode.appendChild(faqDraftForm(messageId, res.data, button));
      })
      .catch(function () {
        button.disabled = false;
        button.textContent = CT.couldNotSaveRetry;
      });
  }

  function faqKinds(kinds) {
    var words = [];
    kinds.forEach(function (k) {
      var word = CT["faqKind_" + k] || CT.faqKind_other;
      if (words.indexOf(word) < 0) words.push(word);
    });
    return words.join(", ");
  }

  function faqDraftForm(messageId, draft, button) {
    var form = el("form", "faq-draft");
    var q = el("textarea");
    q.rows = 2;
    q.value = draft.question;
    q.setAttribute("aria-label", CT.faqQuestion);
    var a = el("textarea");
    a.rows = 4;
    a.value = draft.answer;
    a.setAttribute("aria-label", CT.faqAnswer);
    var ql = el("label", null, CT.faqQuestion);
    ql.appendChild(q);
    var al = el("label", null, CT.faqAnswer);
    al.appendChild(a);
    form.appendChild(ql);
    form.appendChild(al);
    if (draft.removed.length) form.appendChild(el("p", "hint", fmt(CT.faqTakenOut, { kinds: faqKinds(draft.removed) })));
    var status = el("p", "status");
    status.setAttribute("role", "status");
    var save = el("button", "primary", CT.faqSaveDraft);
    save.type = "submit";
    var cancel = el("button", null, CT.faqCancel);
    cancel.type = "button";
    cancel.addEventListener("click", function () {
      form.remove();
      button.hidden = false;
      button.disabled = false;
    });
    form.appendChild(save);
    form.appendChild(cancel);
    form.appendChild(status);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      save.disabled = true;
      faqDraftJson(messageId, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: q.value, answer: a.value }),
      })
        .then(function (res) {
          save.disabled = false;
          if (res.ok) {
            form.remove();
            button.hidden = false;
            button.textContent = CT.savedFaq;
          } else if (res.data.error === "personal") {
            status.textContent = fmt(CT.faqPersonal, { kinds: faqKinds(res.data.kinds) });
          } else status.textContent = fmt(CT.couldNotSave, { error: res.data.error });
        })
        .catch(function () {
          save.disabled = false;
          status.textContent = CT.couldNotSaveRetry;
        });
    });
    return form;
  }

  $("claim").addEventListener("click", function () {
    state.replyOnceMine = document.activeElement === $("claim");
    send({ type: "claim", conversation: state.current.conversation });
  });
  $("return").addEventListener("click", function () {
    send({ type: "return_to_bot", conversation: state.current.conversation });
  });
  $("close-form").addEventListener("submit", function (e) {
    e.preventDefault();
    state.closing = state.current.conversation;
    send({ type: "close", conversation: state.current.conversation, reason: $("close-reason").value });
  });

  function submitReply() {
    var text = $("reply").value.trim();
    if (!text || !state.current) return;
    if (send({ type: "send", conversation: state.current.conversation, client_id: newId(), text: text })) {
      $("reply").value = "";
      stopTyping();
    } else if (navigator.onLine !== false) notice(CT.notConnected); // Enter did nothing, unsaid
  }

  $("attach").addEventListener("change", function () {
    var file = this.files && this.files[0];
    this.value = "";
    uploadAttachment(file);
  });

  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    submitReply();
  });
  $("reply").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitReply();
    }
  });
  $("reply").addEventListener("input", function () {
    if (!state.current) return;
    if (!typingSent) {
      typingSent = send({ type: "typing", conversation: state.current.conversation, active: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && state.current) send({ type: "typing", conversation: state.current.conversation, active: false });
    typingSent = false;
  }

  $("note-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("note").value.trim();
    if (text && send({ type: "note", conversation: state.current.conversation, text: text })) $("note").value = "";
  });

  var cannedTimer = null;
  $("canned").addEventListener("input", function () {
    clearTimeout(cannedTimer);
    cannedTimer = setTimeout(function () {
      var q = $("canned").value.trim();
      if (q) send({ type: "canned", query: q, locale: state.current ? state.current.locale : "" });
      else renderCanned([], []);
    }, 200);
  });
  $("canned-form").addEventListener("submit", function (e) {
    e.preventDefault();
  });

  function renderCanned(items, articles) {
    var list = $("canned-results");
    list.textContent = "";
    items.forEach(function (i) {
      var li = el("li");
      var b = el("button", "canned-item");
      b.type = "button";
      b.appendChild(el("b", null, i.question));
      b.appendChild(el("span", null, i.text));
      // Named by its question: the whole answer was each button's name.
      b.setAttribute("aria-label", fmt(CT.useAnswer, { question: i.question }));
      b.addEventListener("click", function () {
        $("reply").value = i.text;
        $("reply").focus();
        list.textContent = "";
      });
      li.appendChild(b);
      // Sending the answer as it is saves the visitor's question as a draft phrasing too.
      var link = el("button", "canned-link", CT.askedThisFaq);
      link.type = "button";
      link.title = CT.askedThisFaqTitle;
      link.setAttribute("aria-label", fmt(CT.askedThisFaqNamed, { question: i.question }));
      link.addEventListener("click", function () {
        if (state.current) send({ type: "link_faq", conversation: state.current.conversation, faq: i.faq });
      });
      li.appendChild(link);
      list.appendChild(li);
    });
    if (articles.length) list.appendChild(el("li", "canned-heading", CT.articlesFound));
    articles.forEach(function (a) {
      // The help centre, agents-only articles included: read it, or give the visitor the link
      // of a public one (an agent had no way from the console to any article).
      var li = el("li", "canned-article");
      var href = /^\//.test(a.url) ? location.origin + a.url : a.url;
      var open = el("a", null, a.heading ? a.title + " — " + a.heading : a.title);
      open.href = href;
      open.target = "_blank";
      open.rel = "noopener noreferrer";
      li.appendChild(open);
      if (a.agents_only) li.appendChild(el("span", "agents-only", CT.agentsOnly));
      if (a.excerpt) li.appendChild(el("span", "excerpt", a.excerpt));
      if (!a.agents_only) {
        var insert = el("button", "canned-link", CT.insertLink);
        insert.type = "button";
        insert.setAttribute("aria-label", fmt(CT.insertLinkNamed, { title: a.title }));
        insert.addEventListener("click", function () {
          var reply = $("reply");
          reply.value = (reply.value ? reply.value.replace(/\s*$/, " ") : "") + href;
          reply.focus();
        });
        li.appendChild(insert);
      }
      list.appendChild(li);
    });
  }

  $("presence").addEventListener("change", function () {
    send({ type: "presence", status: $("presence").value });
  });

  // ---------------------------------------------------------------------------------------
  // Assignment: assign or transfer to an agent or a team, the audit lines in the transcript
  // ---------------------------------------------------------------------------------------
  function assignmentHello(f) {
    if (f.roster) state.roster = f.roster;
    if (f.preferences) setPreferences(f.preferences);
    // What is queued now is not news: only what is queued from here on alerts.
    knownQueued = queuedIds(f.conversations);
  }

  function handleAssignment(f) {
    switch (f.type) {
      case "roster":
        state.roster = { agents: f.agents, teams: f.teams };
        if (state.current) renderHead();
        break;
      case "assignment":
        if (isCurrent(f)) addEvent(f.event);
        // Closed while open here: the header gives the reason now, not after a reopen.
        if (isCurrent(f) && f.event && f.event.kind === "close") {
          state.current.close_reason = f.event.reason || "";
          renderHead();
        }
        break;
      case "rated":
        if (isCurrent(f)) {
          state.current.rating = f.rating;
          state.current.rating_comment = f.comment || "";
          renderHead();
        }
        break;
      case "assign_done":
        notice("");
        break;
      case "assigned":
        alertAgent(AT.assignedToYou, eventText(f.event), f.conversation);
        break;
      case "visitor_wrote":
        alertAgent(AT.visitorWrote, f.preview, f.conversation);
        break;
      case "preferences":
        setPreferences(f);
        break;
      default:
        break;
    }
  }

  function eventText(e) {
    var values = { actor: e.actor || "?", agent: e.to || e.from || "?", team: e.team || "?", owner: e.from || "?" };
    if (e.kind === "claim") return fmt(AT.claimed, values);
    if (e.kind === "return_to_bot") return fmt(AT.returnedToBot, values);
    if (e.kind === "close") {
      var reason = e.reason ? CT.closeReasons[e.reason] || e.reason : "";
      return reason ? fmt(AT.closedWhy, { actor: values.actor, reason: reason }) : fmt(AT.closed, values);
    }
    if (e.kind === "auto") return fmt(AT.auto, values);
    if (e.kind === "expired") return fmt(AT.expired, values);
    if (e.kind === "offline") return fmt(AT.ownerOffline, values);
    if (e.kind === "agent" && e.from && e.actor !== e.from) {
      // A lead moved what another agent owned (chatbot.handoff.assignment.may_take_over).
      return fmt(e.actor === e.to ? AT.tookOver : AT.movedFrom, values);
    }
    if (e.kind === "team") return fmt(e.from ? AT.transferredTeam : AT.assignedTeam, values);
    return fmt(e.from ? AT.transferred : AT.assigned, values);
  }

  function addEvent(e) {
    var list = $("transcript");
    if (list.querySelector('[data-event="' + e.id + '"]')) return;
    var li = el("li", "msg event");
    li.setAttribute("data-event", e.id);
    var head = el("div", "msg-head");
    head.appendChild(el("time", null, new Date(e.created).toLocaleTimeString()));
    li.appendChild(head);
    li.appendChild(el("div", "text", eventText(e)));
    // Between the messages it came between (messages are in id order, events in time order).
    var at = Date.parse(e.created);
    var created = {};
    ((state.current && state.current.messages) || []).forEach(function (m) {
      created[m.id] = Date.parse(m.created);
    });
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      var id = list.children[i].getAttribute("data-id");
      if (id && created[id] > at) {
        before = list.children[i];
        break;
      }
    }
    list.insertBefore(li, before);
    if (!before) list.scrollTop = list.scrollHeight;
  }

  function myTeams() {
    var me = state.me ? state.me.id : null;
    return (state.roster.teams || []).filter(function (t) {
      return t.members.indexOf(me) >= 0;
    });
  }

  function renderAssignForm(c, mine) {
    var form = $("assign-form");
    // A lead may move what another agent owns, to themselves too (a take-over).
    var leading = c.status === "agent" && !!(state.me && state.me.may_take_over);
    form.hidden = !(mine || c.status === "queued" || leading);
    if (form.hidden) return;
    var select = $("assign-to");
    var chosen = select.value;
    select.textContent = "";
    var owner = c.owner && c.status === "agent" ? c.owner.id : null;
    var agents = el("optgroup");
    agents.label = AT.agents;
    // Online agents first, each side in the server's order (by name): the first choice was an
    // offline agent, who would not see the conversation until they came back.
    var online = (state.roster.agents || []).filter(function (a) { return a.online; });
    var away = (state.roster.agents || []).filter(function (a) { return !a.online; });
    online.concat(away).forEach(function (a) {
      if (a.id === owner) return;
      var label = fmt(AT.agentChoice, {
        name: a.name,
        status: a.online ? AT.online : AT.offline,
        load: fmt(AT.load, { open: a.open, capacity: a.capacity })
      });
      var o = el("option", null, label);
      o.value = "agent:" + a.id;
      agents.appendChild(o);
    });
    var teams = el("optgroup");
    teams.label = AT.teams;
    (state.roster.teams || []).forEach(function (t) {
      var o = el("option", null, t.name);
      o.value = "team:" + t.id;
      teams.appendChild(o);
    });
    if (agents.children.length) select.appendChild(agents);
    if (teams.children.length) select.appendChild(teams);
    // Nobody else to hand it to (a one-agent team): no empty list beside a dead button.
    form.hidden = !select.options.length;
    if (chosen && select.querySelector('option[value="' + chosen + '"]')) select.value = chosen;
    $("assign").textContent = mine ? AT.transfer : AT.assign;
    $("assign").disabled = !select.options.length;
  }

  // Each agent's open count as of now, when the list is opened: it went stale after
  // assignments elsewhere (a walk picked by a count a take-over had changed).
  $("assign-to").addEventListener("focus", function () {
    send({ type: "roster" });
  });

  $("assign-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var target = $("assign-to").value.split(":");
    if (!state.current || target.length !== 2) return;
    var frame = { type: "assign", conversation: state.current.conversation };
    frame[target[0]] = Number(target[1]);
    send(frame);
  });

  // ---------------------------------------------------------------------------------------
  // Notifications: a sound, a desktop notification and a count in the tab's title when a
  // conversation is queued, assigned to me, or my visitor writes; each an agent's preference
  // stored on the server. Socket frames arrive in a background tab too, so they work there.
  // ---------------------------------------------------------------------------------------
  var knownQueued = null;
  var unread = 0;
  var baseTitle = document.title;
  var audio = null;

  function queuedIds(items) {
    var ids = {};
    (items || []).forEach(function (i) {
      if (i.status === "queued") ids[i.conversation] = i;
    });
    return ids;
  }

  function alertNewQueued(items) {
    var now = queuedIds(items);
    if (knownQueued && $("presence").value !== "away") {
      // An away agent is not called to the queue (what is assigned to them still alerts).
      var teams = myTeams().map(function (t) {
        return t.id;
      });
      Object.keys(now).forEach(function (id) {
        var i = now[id];
        if (knownQueued[id] || (i.team && teams.indexOf(i.team.id) < 0)) return; // another team's
        alertAgent(AT.newQueued, i.preview || "", id);
      });
    }
    knownQueued = now;
  }

  function inBackground() {
    return document.visibilityState !== "visible" || !document.hasFocus();
  }

  function alertAgent(title, text, conversation) {
    var prefs = state.prefs;
    state.alerts.push({ title: title, text: text, conversation: conversation });
    if (state.alerts.length > 50) state.alerts.shift();
    if (prefs.sound) beep();
    if (!inBackground()) return;
    if (prefs.title) {
      unread += 1;
      document.title = "(" + unread + ") " + baseTitle;
    }
    if (prefs.desktop && window.Notification && Notification.permission === "granted") {
      var n = new Notification(title, { body: text, tag: "console-" + conversation });
      n.onclick = function () {
        window.focus();
        openConversation(conversation);
        n.close();
      };
    }
  }

  function seen() {
    if (inBackground() || !unread) return;
    unread = 0;
    document.title = baseTitle;
  }
  document.addEventListener("visibilitychange", seen);
  window.addEventListener("focus", seen);

  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      audio = audio || new Ctx();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.3);
    } catch (e) {
      /* no sound device: the other notifications still work */
    }
  }
  // Browsers keep audio suspended until the page gets a click: resume it on the first one.
  document.addEventListener("click", function () {
    if (audio && audio.state === "suspended") audio.resume();
  });

  // The boxes stay disabled until the agent's stored choices arrive: a click before that would
  // save the page's defaults over them.
  function setPreferences(p) {
    state.prefs = { sound: !!p.sound, desktop: !!p.desktop, title: !!p.title };
    ["sound", "desktop", "title"].forEach(function (name) {
      var box = $("notify-" + name);
      box.checked = state.prefs[name];
      box.disabled = false;
    });
  }

  function savePreferences() {
    send({ type: "preferences", sound: $("notify-sound").checked, desktop: $("notify-desktop").checked, title: $("notify-title").checked });
  }

  $("notify-sound").addEventListener("change", function () {
    if ($("notify-sound").checked) {
      audio = audio || (window.AudioContext ? new AudioContext() : null); // made in the click
    }
    savePreferences();
  });
  $("notify-title").addEventListener("change", savePreferences);
  $("notify-desktop").addEventListener("change", function () {
    var box = $("notify-desktop");
    if (!box.checked || !window.Notification || Notification.permission === "granted") {
      savePreferences();
      return;
    }
    // Asked from the click, as browsers require.
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        box.checked = false;
        notice(AT.permissionDenied);
      }
      savePreferences();
    });
  });

  // ---------------------------------------------------------------------------------------
  // Keyboard: j / k next / previous conversation, c claim, r reply, n note, Ctrl+Enter sends
  // or adds the note, Esc leaves a text box, ? shows the list. Single keys only act outside
  // text boxes, so typing is never taken for a shortcut.
  // ---------------------------------------------------------------------------------------
  function typingInField(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function stepConversation(delta) {
    var items = state.view === "left" ? [] : viewItems(state.view);
    if (!items.length) return;
    var at = -1;
    items.forEach(function (i, n) {
      if (state.current && i.conversation === state.current.conversation) at = n;
    });
    var next = at < 0 ? (delta > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + delta));
    if (next !== at) openConversation(items[next].conversation);
  }

  function focusIfShown(id) {
    var field = $(id);
    if (!state.current || field.closest("[hidden]")) return;
    field.focus();
  }

  document.addEventListener("keydown", function (e) {
    if (e.isComposing || e.defaultPrevented) return;
    var target = e.target;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      if (target === $("reply")) {
        e.preventDefault();
        submitReply();
      } else if (target === $("note")) {
        e.preventDefault();
        $("note-form").requestSubmit();
      }
      return;
    }
    if (e.key === "Escape" && typingInField(target)) {
      target.blur();
      return;
    }
    if (typingInField(target) || e.ctrlKey || e.metaKey || e.altKey) return;
    var action = {
      j: function () {
        stepConversation(1);
      },
      k: function () {
        stepConversation(-1);
      },
      c: function () {
        if (state.current && !$("claim").hidden) $("claim").click();
      },
      r: function () {
        focusIfShown("reply");
      },
      n: function () {
        focusIfShown("note");
      },
      "?": function () {
        $("shortcuts").open = !$("shortcuts").open;
      },
    }[e.key];
    if (!action) return;
    e.preventDefault(); // the key is not typed into the box it focuses
    action();
  });

  // ---------------------------------------------------------------------------------------
  // SLA timers, once a second
  // ---------------------------------------------------------------------------------------
  function setTimer(name, seconds, target) {
    var t = document.querySelector('[data-timer="' + name + '"]');
    t.querySelector("b").textContent = fmtDuration(seconds);
    t.hidden = seconds == null;
    t.classList.toggle("over", seconds != null && seconds > target);
  }

  function tick() {
    document.querySelectorAll(".list .wait").forEach(function (w) {
      var s = ago(w.getAttribute("data-since"));
      w.textContent = s == null ? "" : fmtDuration(s);
      w.classList.toggle("over", s != null && s > state.sla.wait_s);
    });
    var c = state.current;
    if (!c) return;
    var open = c.status === "queued" || c.status === "agent";
    setTimer("wait", open && c.status === "queued" ? ago(c.queued_at) : null, state.sla.wait_s);
    var firstReply = null;
    if (open && c.queued_at && c.first_agent_reply_at) firstReply = (Date.parse(c.first_agent_reply_at) - Date.parse(c.queued_at)) / 1000;
    else if (open && c.queued_at) firstReply = ago(c.queued_at);
    setTimer("first_reply", firstReply, state.sla.first_reply_s);
    var waiting = null;
    var lastVisitor = c.last_visitor_message_at;
    if (open && lastVisitor && (!c.last_agent_message_at || Date.parse(c.last_agent_message_at) < Date.parse(lastVisitor))) waiting = ago(lastVisitor);
    setTimer("visitor_waiting", waiting, state.sla.visitor_waiting_s);
  }

  setInterval(tick, 1000);
  setInterval(function () {
    send({ type: "ping" });
  }, HEARTBEAT_MS);

  window.__console = {
    hooks: hooks,
    notice: notice,
    open: openConversation,
    searchResults: showSearchResults,
    announce: announce,
    state: function () {
      return { me: state.me, view: state.view, items: state.items, counts: state.counts, queueOffset: state.queueOffset, current: state.current, connected: !!ws && ws.readyState === 1, alerts: state.alerts, prefs: state.prefs };
    },
  };

  connect();
})();
