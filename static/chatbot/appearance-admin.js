// Widget appearance in the admin: the preview frame follows the form as the owner types, and the
// snippet shown is the one the preview page carries (written on the server from the same values).
(function () {
  "use strict";
  var frame = document.getElementById("widget-preview");
  var snippet = document.getElementById("embed-snippet-text");
  var form = frame && frame.closest("form");
  if (!form) return;
  var FIELDS = frame.getAttribute("data-fields").split(" "); // chatbot.widget_config.appearance.PREVIEW_FIELDS
  var timer = null;

  function query() {
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (input) params.set(name, input.value);
    });
    return params.toString();
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      frame.src = frame.getAttribute("data-base") + "?" + query();
    }, 300);
  }

  frame.addEventListener("load", function () {
    var carried = frame.contentDocument && frame.contentDocument.getElementById("embed-snippet");
    if (carried) snippet.value = carried.textContent;
  });
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
})();
