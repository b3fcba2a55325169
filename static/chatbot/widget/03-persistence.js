  // ---------------------------------------------------------------------------------------
  // Persistence: {conversation, token, lastSeenId, pending: [{client_id, text}]}
  // ---------------------------------------------------------------------------------------
  var STORAGE_KEY = "chatbot:v1:" + serverOrigin;
  var memoryStore = null; // when localStorage is unavailable (privacy mode, sandboxed iframe)

  function loadStore() {
    var raw = null;
    try {
      raw = localStorage.getItem(STORAGE_KEY);
    } catch (e) {
      raw = memoryStore;
    }
    var data = {};
    try {
      data = raw ? JSON.parse(raw) : {};
    } catch (e) {
      data = {};
    }
    if (!data || typeof data !== "object") data = {};
    return {
      // This browser's random id, kept across "Start a new conversation": the console lists
      // the other conversations of the same visitor (docs/protocol.md, "Visitor context").
      visitor: typeof data.visitor === "string" && /^[\w-]{16,64}$/.test(data.visitor) ? data.visitor : newClientId(),
      conversation: typeof data.conversation === "string" ? data.conversation : "",
      token: typeof data.token === "string" ? data.token : "",
      lastSeenId: typeof data.lastSeenId === "number" ? data.lastSeenId : 0,
      pending: Array.isArray(data.pending)
        ? data.pending.filter(function (p) {
            return p && typeof p.client_id === "string" && typeof p.text === "string";
          })
        : [],
    };
  }

  var store = loadStore();
  saveStore(); // keeps a new visitor id

  // What the embedding site says about its visitor (plan, order id): the tag's
  // data-attributes JSON, then window.ChatbotWidget.setAttributes({...}). Only strings,
  // numbers and booleans under keys of letters, digits and _ . - (40 at most), at most 20 keys;
  // the server keeps them as text, values cut to 200 characters (chatbot.inbox.visitor). What
  // it would drop is named in the console: a developer saw an attribute missing from the
  // console's visitor panel and nothing saying why.
  var ATTRIBUTE_KEY = /^[A-Za-z0-9_.-]{1,40}$/;
  var ATTRIBUTES_MAX_KEYS = 20;
  var siteAttributes = {};
  function warnAttributes(problem, keys) {
    if (keys.length && window.console && console.warn) {
      console.warn("Chat widget: attributes " + problem + ": " + keys.join(", "));
    }
  }
  function mergeAttributes(obj) {
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) {
      if (obj != null) warnAttributes("must be an object, not", [JSON.stringify(obj)]);
      return;
    }
    var badKeys = [];
    var badValues = [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      if (v === null || v === undefined) delete siteAttributes[k];
      else if (!ATTRIBUTE_KEY.test(k)) badKeys.push(k);
      else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        siteAttributes[k] = v;
      } else badValues.push(k);
    });
    warnAttributes("dropped, keys are 1-40 letters, digits and _ . -", badKeys);
    warnAttributes("dropped, values are strings, numbers or booleans", badValues);
    var over = Object.keys(siteAttributes).slice(ATTRIBUTES_MAX_KEYS);
    over.forEach(function (k) {
      delete siteAttributes[k];
    });
    warnAttributes("dropped, at most " + ATTRIBUTES_MAX_KEYS + " are kept", over);
  }
  try {
    mergeAttributes(JSON.parse(attr("data-attributes") || "{}"));
  } catch (e) {
    warnAttributes("ignored, data-attributes is not JSON", [attr("data-attributes")]);
  }

  // A logged-in visitor, as the embedding site signed them (docs/widget.md, "Logged-in
  // visitors"): data-user-id / -hash / -name / -email on the tag, or
  // window.ChatbotWidget.identify({...}). The server ignores a claim whose hash does not match.
  var identity = null;
  function setIdentity(obj) {
    identity = null;
    if (!obj || typeof obj !== "object") return;
    var id = obj.user_id != null ? obj.user_id : obj.id;
    var hash = obj.user_hash != null ? obj.user_hash : obj.hash;
    if ((typeof id !== "string" && typeof id !== "number") || typeof hash !== "string") return;
    identity = {
      user_id: String(id),
      user_hash: hash,
      user_name: typeof obj.name === "string" ? obj.name : "",
      user_email: typeof obj.email === "string" ? obj.email : "",
    };
  }
  setIdentity({
    id: attr("data-user-id") || null,
    hash: attr("data-user-hash") || null,
    name: attr("data-user-name"),
    email: attr("data-user-email"),
  });

  function saveStore() {
    var raw = JSON.stringify(store);
    try {
      localStorage.setItem(STORAGE_KEY, raw);
    } catch (e) {
      memoryStore = raw;
    }
  }

  // This tab's view of the widget (panel open, an answer not read yet), kept across its page
  // loads: a visitor browsing the shop mid-chat finds it as they left it. Per tab, so another
  // tab of the site does not open the panel by itself.
  var VIEW_KEY = STORAGE_KEY + ":view";
  function loadView() {
    try {
      var view = JSON.parse(sessionStorage.getItem(VIEW_KEY) || "{}");
      return view && typeof view === "object" ? view : {};
    } catch (e) {
      return {};
    }
  }

  function saveView(patch) {
    var view = loadView();
    Object.keys(patch).forEach(function (k) {
      view[k] = patch[k];
    });
    try {
      sessionStorage.setItem(VIEW_KEY, JSON.stringify(view));
    } catch (e) {
      /* no storage: the view lasts as long as the page */
    }
  }

  function clearConversation() {
    store.conversation = "";
    store.token = "";
    store.lastSeenId = 0;
    saveStore();
  }

