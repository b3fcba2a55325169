/*
 * The console's sign-in form: a link to one conversation (/console/#<id>, as the team's email
 * about a left message has) keeps its #<id> through the sign-in. The browser never sends a
 * fragment to the server, so the form adds it to `next` (a mail walk landed on the empty
 * console instead).
 */
(function () {
  "use strict";
  var next = document.querySelector('input[name="next"]');
  var hash = window.location.hash;
  if (!next || hash.length < 2) return;
  var path = next.value.split("#")[0];
  if (path.indexOf("/console/") === 0) next.value = path + hash;
})();
