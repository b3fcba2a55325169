  // ---------------------------------------------------------------------------------------
  // Open / close
  // ---------------------------------------------------------------------------------------
  // `restoring`: opened again on a new page load of this tab, where taking the focus from the
  // page (and, on a phone, raising the keyboard) was not the visitor's doing.
  function setOpen(open, restoring) {
    isOpen = open;
    wrap.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.setAttribute("aria-label", launcherLabel(open));
    saveView(open ? { open: true, unread: false } : { open: false });
    if (open) {
      dropTeaser();
      wrap.classList.remove("unread");
      showWelcome();
      ensureConnected();
      scrollToBottom();
      if (!restoring) {
        setTimeout(function () {
          input.focus();
        }, 0);
      }
      reportRead();
      refreshTeam();
    }
  }

  document.addEventListener("visibilitychange", function () {
    reportRead();
    refreshTeam();
  });
  setInterval(refreshTeam, TEAM_REFRESH_MS / 4);

  launcher.addEventListener("click", function () {
    setOpen(!isOpen);
  });
  transcriptBtn.addEventListener("click", showTranscriptForm);
  closeBtn.addEventListener("click", function () {
    setOpen(false);
    launcher.focus();
  });
  wrap.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && isOpen) {
      e.stopPropagation();
      setOpen(false);
      launcher.focus();
    }
    if (e.key === "Tab" && isOpen && coversPage.matches) keepTabInPanel(e);
  });

  // On a phone the panel covers the whole page (widget.css, max-width 480px): it is a modal
  // dialog then, and Tab goes round inside it instead of onto the links under it, where the
  // focus could not be seen (a keyboard walk at 390x844).
  var coversPage = window.matchMedia("(max-width: 480px)");
  function modalWhenCovering() {
    panel.setAttribute("aria-modal", coversPage.matches ? "true" : "false");
  }
  modalWhenCovering();
  if (coversPage.addEventListener) coversPage.addEventListener("change", modalWhenCovering);

  function keepTabInPanel(e) {
    var focusable = Array.prototype.filter.call(
      panel.querySelectorAll("button, input, textarea, select, a[href], [tabindex]:not([tabindex='-1'])"),
      function (node) {
        return !node.disabled && node.getClientRects().length > 0;
      }
    );
    if (!focusable.length) return;
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    var current = root.activeElement;
    if (e.shiftKey && (current === first || !panel.contains(current))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (current === last || !panel.contains(current))) {
      e.preventDefault();
      first.focus();
    }
  }

  // The browser says when the network went; a socket can stay open for a long while after it
  // (nothing is sent on it until TCP gives up), so the notice does not wait for the socket, and
  // back online the widget opens a fresh one: the old may be dead, and resume fills any gap.
  window.addEventListener("online", function () {
    dropSocket();
    if (everConnected || isOpen) {
      attempts = 0;
      setConn(T.reconnecting);
      connect();
    } else setConn("");
  });
  window.addEventListener("offline", function () {
    setConn(T.offline);
  });

