  // ---------------------------------------------------------------------------------------
  // Boot
  // ---------------------------------------------------------------------------------------
  function attach() {
    if (host.isConnected || !document.body) return;
    if (bodyHoldsFixed()) document.documentElement.appendChild(host);
    else if (tabOrderEnd) document.body.appendChild(host);
    else document.body.insertBefore(host, document.body.firstChild);
  }

  // A transform, filter, perspective, will-change or paint containment on <body> makes it the
  // box position:fixed is measured from: inside it the launcher sat at the foot of a long page,
  // off screen. Such a page gets the widget beside <body> instead (last in the tab order).
  function bodyHoldsFixed() {
    var s;
    try {
      s = getComputedStyle(document.body);
    } catch (e) {
      return false;
    }
    var contain = s.contain || "";
    return (
      (s.transform && s.transform !== "none") ||
      (s.filter && s.filter !== "none") ||
      (s.perspective && s.perspective !== "none") ||
      (s.backdropFilter && s.backdropFilter !== "none") ||
      /transform|filter|perspective/.test(s.willChange || "") ||
      /paint|layout|strict|content/.test(contain)
    );
  }

  function boot() {
    attach();
    pickOnAccent();
    showWelcome();
    store.pending.forEach(function (p) {
      renderVisitor(p.client_id, p.text, "pending");
    });
    // A conversation already exists: connect now so its history and agent replies show.
    if (store.conversation || store.pending.length) connect();
    else fetchGreeting();
    // As this tab left it on its last page; not on a phone, where the open panel covers the page
    // the visitor just went to.
    var view = loadView();
    if (view.open && store.conversation && !coversPage.matches) setOpen(true, true);
    else if (view.unread && store.conversation) markUnread();
  }

  window.__chatbotWidget = {
    root: root,
    attach: attach,
    state: function () {
      return {
        conversation: store.conversation,
        lastSeenId: store.lastSeenId,
        connected: connected,
        ready: ready,
        open: isOpen,
        locale: locale,
        server: serverOrigin,
        pending: store.pending.length,
        greeting: greeting, // the page's greeting rule once fetched, else null
        attributes: JSON.parse(JSON.stringify(siteAttributes)),
      };
    },
    open: function () {
      setOpen(true);
    },
    close: function () {
      setOpen(false);
    },
  };

  // The embedding site's API (README, "Embedding the widget"; docs/widget.md, "The page's
  // JavaScript API"). Calls a page made before this deferred script ran wait in
  // `ChatbotWidget.q` as [name, argument] pairs and run below, in order.
  var earlyCalls = (window.ChatbotWidget && window.ChatbotWidget.q) || [];
  window.ChatbotWidget = window.ChatbotWidget || {};
  window.ChatbotWidget.open = window.__chatbotWidget.open;
  window.ChatbotWidget.close = window.__chatbotWidget.close;
  window.ChatbotWidget.setAttributes = function (obj) {
    mergeAttributes(obj);
    if (sendFrame({ type: "context", attributes: siteAttributes, page: location.href.slice(0, 1000) })) {
      pageSent = location.href.slice(0, 1000);
    }
  };
  // The site's user logged in ({id, hash, name, email}) or out (null): the widget reconnects as
  // them, picking up their conversation from any device; after a logout it starts afresh, as a
  // verified user's conversation no longer opens for this browser.
  window.ChatbotWidget.identify = function (obj) {
    var was = identity && identity.user_id;
    setIdentity(obj);
    if (was && (!identity || identity.user_id !== was)) {
      startOver();
      return;
    }
    if (ws) {
      dropSocket();
      connect();
    } else if (identity) {
      connect(); // their conversation from another device, and its unread replies, at once
    }
  };

  function runEarlyCalls() {
    window.ChatbotWidget.q = {
      push: function (call) {
        var method = call && window.ChatbotWidget[call[0]];
        if (typeof method === "function") method(call[1]);
      },
    };
    for (var i = 0; i < earlyCalls.length; i++) window.ChatbotWidget.q.push(earlyCalls[i]);
    window.dispatchEvent(new CustomEvent("chatbotwidget:ready"));
  }

  function start() {
    boot();
    runEarlyCalls();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
