  // ---------------------------------------------------------------------------------------
  // Configuration from the script tag
  // ---------------------------------------------------------------------------------------
  var script =
    document.currentScript ||
    document.querySelector('script[src*="chatbot/widget.js"]') ||
    document.createElement("script");

  function attr(name) {
    var v = script.getAttribute(name);
    return v && v.trim() ? v.trim() : "";
  }

  var serverOrigin;
  try {
    serverOrigin = new URL(attr("data-server") || script.src || location.href, location.href).origin;
  } catch (e) {
    serverOrigin = location.origin;
  }
  var locale = normaliseLocale(attr("data-locale") || navigator.language || "en");
  var T = STRINGS[locale];
  // A title per locale first: a site serving both languages from one page (the demo store
  // without ?locale) showed its English title above a Chinese widget.
  var title = attr("data-title-" + locale) || attr("data-title") || T.title;
  // The owner's look (README, "Embedding the widget"; the admin's Widget appearance page writes
  // the tag): launcher side and text, welcome per locale, a logo in the header.
  var onLeft = attr("data-position") === "left";
  // Keyboard users reach the launcher without tabbing through the whole page: the widget goes
  // first in the page's Tab order unless the owner asks for the end (docs/widget.md).
  var tabOrderEnd = attr("data-tab-order") === "end";
  var launcherText = attr("data-launcher-text").slice(0, 40);
  var welcomeText = attr("data-welcome-" + locale).slice(0, 500) || T.welcome;
  var logoUrl = attr("data-logo");
  if (!/^https:\/\/[^\s"']+$/i.test(logoUrl) && !/^\/(?!\/)[^\s"']*$/.test(logoUrl)) logoUrl = "";
  var accent = attr("data-color") || "#4f46e5";
  if (!(window.CSS && CSS.supports && CSS.supports("color", accent))) accent = "#4f46e5";

  // Chinese meets a Latin name or a number with a space between (客服 ann 已加入) and a Chinese
  // name without (客服李娜已加入; it read "客服 李娜 已加入", a walk): templates are written
  // without spaces around a value, and get them where the value needs them.
  var CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
  function fmt(s, values) {
    return s.replace(/\{(\w+)\}/g, function (placeholder, k, at) {
      var v = values[k] != null ? String(values[k]) : "";
      if (!v) return v;
      var before = s.charAt(at - 1);
      var after = s.charAt(at + placeholder.length);
      if (before && CJK.test(before) && !CJK.test(v.charAt(0))) v = " " + v;
      if (after && CJK.test(after) && !CJK.test(v.charAt(v.length - 1))) v += " ";
      return v;
    });
  }

  function charCount(s) {
    return Array.from(s).length; // code points, as the server counts them
  }

  function newClientId() {
    try {
      if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    } catch (e) {
      /* insecure context: fall through */
    }
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      })
      .join("");
  }

