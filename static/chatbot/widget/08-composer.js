  // ---------------------------------------------------------------------------------------
  // Composer
  // ---------------------------------------------------------------------------------------
  function updateComposer() {
    var value = input.value;
    var n = charCount(value);
    var over = n > MAX_CHARS;
    sendBtn.disabled = !value.trim() || over || siteRefused;
    counter.classList.toggle("show", n > MAX_CHARS - 500);
    counter.classList.toggle("over", over);
    counter.textContent = over
      ? fmt(T.tooLong, { max: MAX_CHARS }) + " " + fmt(T.counter, { n: n, max: MAX_CHARS })
      : n > MAX_CHARS - 500
        ? fmt(T.counter, { n: n, max: MAX_CHARS })
        : "";
    input.setAttribute("aria-invalid", over ? "true" : "false");
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
  }

  function submit() {
    var text = input.value.trim();
    if (!text || charCount(text) > MAX_CHARS) return;
    input.value = "";
    updateComposer();
    if (typingSentAt) sendTyping(false);
    sendVisitor(newClientId(), text);
    scrollToBottom();
  }

  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    submit();
  });
  input.addEventListener("input", function () {
    updateComposer();
    if (input.value.trim()) sendTyping(true);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });

