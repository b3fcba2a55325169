  // ---------------------------------------------------------------------------------------
  // Boot
  // ---------------------------------------------------------------------------------------
  function attach() {
    if (host.isConnected || !document.body) return;
    if (tabOrderEnd) document.body.appendChild(host);
    else document.body.insertBefore(host, document.body.firstChild);
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
      };
    },
    open: function () {
      setOpen(true);
    },
    close: function () {
      setOpen(false);
    },
  };

  // The embedding site's API (README, "Embedding the widget").
  window.ChatbotWidget = window.ChatbotWidget || {};
  window.ChatbotWidget.setAttributes = function (obj) {
    mergeAttributes(obj);
    sendFrame({ type: "context", attributes: siteAttributes, page: location.href.slice(0, 1000) });
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
      var old = ws;
      ws = null; // its onclose sees it is not the current socket and stays quiet
      connected = ready = false;
      try {
        old.close();
      } catch (e) {
        /* already closed */
      }
      connect();
    }
  };

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
