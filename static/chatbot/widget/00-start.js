/*
 * Customer-service chat widget. Plain JS, no dependencies. Built from static/chatbot/widget/
 * (its numbered parts and widget.css) by `make widget`: edit those, not widget.js.
 *
 * Embed with one tag:
 *   <script src="https://HOST/static/chatbot/widget.js" data-server="https://HOST"
 *           data-title="Help" data-color="#4f46e5" data-locale="en" defer></script>
 *
 * Speaks websocket protocol v1 (docs/protocol.md). Everything renders inside an open Shadow DOM
 * so the host page's CSS cannot reach it, and server text is only ever set with textContent.
 */
(function () {
  "use strict";

  if (window.__chatbotWidget) {
    // Embedded twice: keep the first one. A page that replaced its whole body (Turbo and the
    // like run the tag again) took it out of the page: put it back as it was.
    if (typeof window.__chatbotWidget.attach === "function") window.__chatbotWidget.attach();
    return;
  }

  var PROTOCOL_VERSION = 1;
  var MAX_CHARS = 4000;
  var STATUS_DELAY_MS = 600;
  var SLOW_ANSWER_MS = 45000;
  // An open panel asks again whether anyone from the team is in, at most this often.
  var TEAM_REFRESH_MS = 60000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  // A socket can die without closing (docs/protocol.md, `ping`): one that sends nothing back
  // this long after a frame that asks for an answer (or after opening) is given up ...
  var LIVENESS_MS = 12000;
  // ... and one quiet this long is asked, while the panel is open or a person is involved.
  var PING_IDLE_MS = 25000;
  // A connection counts as working (the reconnect backoff starts over) once it lasts this long:
  // a network that drops every second reconnected at full speed into the server's
  // per-network limit, and a visitor read "too many chats from your network" (a network walk).
  var STABLE_MS = 5000;
  var FORBIDDEN_CLOSE_CODE = 4403;

