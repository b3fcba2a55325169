  // ---------------------------------------------------------------------------------------
  // Open / close
  // ---------------------------------------------------------------------------------------
  function setOpen(open) {
    isOpen = open;
    wrap.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.setAttribute("aria-label", launcherLabel(open));
    if (open) {
      dropTeaser();
      wrap.classList.remove("unread");
      showWelcome();
      ensureConnected();
      scrollToBottom();
      setTimeout(function () {
        input.focus();
      }, 0);
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
  });

  window.addEventListener("online", function () {
    if (!ws && (everConnected || isOpen)) {
      attempts = 0;
      connect();
    }
  });
  window.addEventListener("offline", function () {
    if (!connected) setConn(T.offline);
  });

