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

  // ---------------------------------------------------------------------------------------
  // Copy
  // ---------------------------------------------------------------------------------------
  var STRINGS = {
    en: {
      title: "Chat with us",
      subtitle: "We usually answer right away",
      launcherOpen: "Open chat",
      launcherClose: "Close chat",
      close: "Close chat",
      placeholder: "Type your message…",
      inputLabel: "Message",
      send: "Send",
      you: "You",
      assistant: "Assistant",
      agent: "Agent",
      newBelow: "New message ↓",
      system: "System",
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      siteRefused: "Sorry, chat isn't available on this website.",
      offline: "You are offline. We'll reconnect when you're back online.",
      sending: "Sending…",
      notSent: "Not sent.",
      retry: "Retry",
      retryLabel: "Retry sending this message",
      thinking: "Thinking…",
      typing: "The assistant is typing",
      slow: "This is taking longer than usual.",
      failed: "Sorry, something went wrong. Please try again.",
      tooLong: "Messages can be at most {max} characters.",
      counter: "{n} / {max}",
      helpful: "Helpful",
      sources: "Sources",
      suggestedArticles: "Articles that may help",
      didYouMean: "Did you mean",
      colon: ":",
      notHelpful: "Not helpful",
      thanks: "Thanks for your feedback!",
      downAsk: "Want a person, or shall I try again?",
      tryAgain: "Try again",
      welcome: "Hi! How can we help you today?",
      queued: "We're connecting you with a member of our team…",
      queuedForYou: "Our assistant couldn't answer, so we're passing your question to a member of our team…",
      queuedNobodyOnline: "You're in the queue: the first person from our team to come online will see your conversation.",
      withAgent: "You're now chatting with our team.",
      withAgentNamed: "You're chatting with {name} from our team.",
      closed: "This conversation has ended.",
      newConversation: "Start a new conversation",
      pastConversations: "Your other conversations:",
      noMessages: "(no messages yet)",
      messages: "Chat messages",
      unread: "New message",
      talkToPerson: "Talk to a person",
      leaveQueue: "Back to the assistant",
      queuePlace: "You're number {position} in the queue. Estimated wait: {wait}.",
      waitMinutes: "about {n} min",
      waitUnderMinute: "less than a minute",
      noAgents: "No one from our team is online right now. Leave your email and a message, and we'll get back to you.",
      emailLabel: "Your email",
      leaveLabel: "Your message",
      leaveOpen: "Leave a message",
      leaveSend: "Send message",
      leftThanks: "Thanks! We'll reply to {email}.",
      transcriptOpen: "Email me this conversation",
      transcriptAsk: "Where should we send this conversation?",
      transcriptSend: "Send it",
      transcriptSent: "We've sent this conversation to {email}.",
      transcriptConfirm: "We've emailed {email} a link: open it to get this conversation.",
      agentJoined: "{name} from our team has joined the chat.",
      agentChanged: "Another person from our team has taken over the chat.",
      backToBot: "You're chatting with our assistant again.",
      agentTyping: "An agent is typing",
      rateTitle: "How did we do?",
      rateStar: "{n} out of 5",
      rateComment: "Anything to add? (optional)",
      rateSend: "Send rating",
      rateThanks: "Thanks for your rating!",
      fromFaq: "Answer from our FAQ",
      fromHelpCentre: "AI answer from our help centre",
      aiGenerated: "AI-generated answer",
      automatic: "Automatic reply",
      subtitleTeam: "Instant answers · our team replies in {wait}",
      subtitleAway: "Instant answers · our team is back {when}",
      subtitleNobody: "Instant answers · no one from our team is online right now",
      dismiss: "Dismiss",
      suggested: "Suggested questions",
      attach: "Attach a file",
      uploading: "Uploading… {pct}%",
      uploadFailed: "Not sent: the file could not be uploaded.",
      fileTooLarge: "That file is too large to send.",
      attachmentImage: "Image: {name}",
      fileSize: "{size}",
    },
    "zh-hans": {
      title: "在线客服",
      subtitle: "我们通常会立即回复",
      launcherOpen: "打开聊天",
      launcherClose: "关闭聊天",
      close: "关闭聊天",
      placeholder: "请输入您的问题…",
      inputLabel: "消息",
      send: "发送",
      you: "您",
      assistant: "智能助手",
      agent: "客服",
      newBelow: "新消息 ↓",
      system: "系统",
      connecting: "正在连接…",
      reconnecting: "正在重新连接…",
      siteRefused: "抱歉，本网站暂未开通在线客服。",
      offline: "您已离线，恢复网络后将自动重新连接。",
      sending: "发送中…",
      notSent: "未发送。",
      retry: "重试",
      retryLabel: "重新发送这条消息",
      thinking: "正在思考…",
      typing: "智能助手正在输入",
      slow: "处理时间比平时长一些。",
      failed: "抱歉，出了点问题，请重试。",
      tooLong: "每条消息最多 {max} 个字符。",
      counter: "{n} / {max}",
      helpful: "有帮助",
      sources: "来源",
      suggestedArticles: "可能有帮助的文章",
      didYouMean: "您是不是想问",
      colon: "：",
      notHelpful: "没有帮助",
      thanks: "感谢您的反馈！",
      downAsk: "需要转人工客服，还是让我再试一次？",
      tryAgain: "再试一次",
      welcome: "您好！请问有什么可以帮您？",
      queued: "正在为您转接人工客服…",
      queuedForYou: "智能助手暂时无法回答，正在把您的问题转给人工客服…",
      queuedNobodyOnline: "您已进入人工客服排队，客服上线后会第一时间看到您的对话。",
      withAgent: "您正在与人工客服对话。",
      withAgentNamed: "您正在与客服{name}对话。",
      closed: "本次对话已结束。",
      newConversation: "开始新的对话",
      pastConversations: "您的其他对话：",
      noMessages: "（还没有消息）",
      messages: "聊天消息",
      unread: "新消息",
      talkToPerson: "转人工客服",
      leaveQueue: "返回智能助手",
      queuePlace: "您排在第 {position} 位，预计等待{wait}。",
      waitMinutes: "约 {n} 分钟",
      waitUnderMinute: "不到 1 分钟",
      noAgents: "目前没有客服在线。请留下您的邮箱和留言，我们会尽快回复您。",
      emailLabel: "您的邮箱",
      leaveLabel: "留言内容",
      leaveOpen: "留言",
      leaveSend: "提交留言",
      leftThanks: "谢谢！我们会回复到 {email}。",
      transcriptOpen: "通过邮件发送本次对话",
      transcriptAsk: "要把本次对话发送到哪个邮箱？",
      transcriptSend: "发送",
      transcriptSent: "已将本次对话发送至 {email}。",
      transcriptConfirm: "我们已向 {email} 发送了一封邮件，打开其中的链接即可收到本次对话。",
      agentJoined: "客服{name}已加入对话。",
      agentChanged: "已由另一位客服接手对话。",
      backToBot: "您已回到智能助手对话。",
      agentTyping: "客服正在输入",
      rateTitle: "请为本次服务评分",
      rateStar: "{n} 分（满分 5 分）",
      rateComment: "还有什么想说的吗？（可选）",
      rateSend: "提交评分",
      rateThanks: "感谢您的评分！",
      fromFaq: "来自常见问题解答",
      fromHelpCentre: "AI 根据帮助中心回答",
      aiGenerated: "AI 生成的回答",
      automatic: "自动回复",
      subtitleTeam: "智能助手即时回复 · 人工客服预计{wait}回复",
      subtitleAway: "智能助手即时回复 · 人工客服{when}回来",
      subtitleNobody: "智能助手即时回复 · 人工客服暂时不在线",
      dismiss: "关闭",
      suggested: "推荐问题",
      attach: "添加附件",
      uploading: "正在上传… {pct}%",
      uploadFailed: "未发送：文件上传失败。",
      fileTooLarge: "文件太大，无法发送。",
      attachmentImage: "图片：{name}",
      fileSize: "{size}",
    },
  };

  function normaliseLocale(value) {
    value = String(value || "").trim().toLowerCase().replace("_", "-");
    return value.indexOf("zh") === 0 ? "zh-hans" : "en";
  }

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

  // ---------------------------------------------------------------------------------------
  // DOM
  // ---------------------------------------------------------------------------------------
  var CSS_TEXT = ":host{all:initial !important;}\n*,*::before,*::after{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans','PingFang SC','Microsoft YaHei',sans-serif;}\n.wrap{--accent:__ACCENT__;--on-accent:#fff;--bg:#fff;--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bubble:#f3f4f6;--danger:#b91c1c;font-size:15px;line-height:1.45;color:var(--fg);-webkit-font-smoothing:antialiased;}\nbutton{font:inherit;color:inherit;cursor:pointer;margin:0;}\nbutton:focus-visible,textarea:focus-visible{outline:3px solid var(--accent);outline-offset:2px;}\n.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483647;width:60px;height:60px;border-radius:50%;border:0;padding:0;background:var(--accent);color:var(--on-accent);box-shadow:0 6px 24px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;transition:transform .15s ease;}\n.launcher:hover{transform:scale(1.05);}\n.launcher:focus-visible{outline:3px solid #fff;outline-offset:2px;box-shadow:0 0 0 8px var(--accent),0 6px 24px rgba(0,0,0,.25);}\n.launcher svg{width:28px;height:28px;fill:currentColor;}\n.launcher .ic-close{display:none;}\n.wrap.open .launcher .ic-chat{display:none;}\n.wrap.open .launcher .ic-close{display:block;}\n.badge{position:absolute;top:2px;right:2px;width:14px;height:14px;border-radius:50%;background:#ef4444;border:2px solid #fff;display:none;}\n.wrap.unread .badge{display:block;}\n.panel{position:fixed;right:20px;bottom:92px;z-index:2147483647;width:380px;height:min(620px,calc(100vh - 120px));min-height:320px;background:var(--bg);border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.28);display:none;flex-direction:column;overflow:hidden;border:1px solid var(--line);}\n.wrap.open .panel{display:flex;}\n.header{display:flex;align-items:center;gap:10px;padding:14px 14px 14px 18px;background:var(--accent);color:var(--on-accent);flex:none;}\n.header .titles{flex:1;min-width:0;}\n.header h2{margin:0;font-size:16px;font-weight:650;line-height:1.25;color:inherit;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}\n.header .sub{margin:2px 0 0;font-size:12.5px;opacity:.88;}\n.icon-btn{border:0;background:transparent;color:inherit;width:36px;height:36px;border-radius:8px;display:flex;align-items:center;justify-content:center;padding:0;flex:none;}\n.icon-btn:hover{background:rgba(255,255,255,.18);}\n.icon-btn svg{width:20px;height:20px;fill:currentColor;}\n.header .icon-btn:focus-visible{outline-color:var(--on-accent);outline-offset:-3px;}\n.conn{flex:none;font-size:12.5px;padding:6px 14px;background:#fef3c7;color:#78350f;border-bottom:1px solid #fde68a;display:none;}\n.conn.show{display:block;}\n.log{flex:1;overflow-y:auto;padding:16px 14px 8px;display:flex;flex-direction:column;gap:10px;background:#fafafa;overscroll-behavior:contain;}\n.row{display:flex;flex-direction:column;max-width:85%;}\n.row.visitor{align-self:flex-end;align-items:flex-end;}\n.row.bot,.row.agent,.row.typing{align-self:flex-start;align-items:flex-start;}\n.row.system,.row.notice{align-self:center;max-width:92%;text-align:center;}\n.who{font-size:11.5px;color:var(--muted);margin:0 4px 3px;font-weight:600;letter-spacing:.01em;}\n.row.agent .who{color:#047857;}\n.who{display:flex;align-items:center;gap:6px;}\n.avatar{width:20px;height:20px;border-radius:50%;background:#047857;color:#fff;font-size:10.5px;font-weight:700;display:inline-flex;align-items:center;justify-content:center;flex:none;}\n.avatar::before{content:attr(data-initials);}\nimg.avatar{object-fit:cover;background:#e5e7eb;}\n.label{font-weight:500;color:var(--muted);}\n.bubble.rich{white-space:normal;}\n.new-below{position:absolute;left:50%;transform:translateX(-50%);z-index:2;border:0;border-radius:999px;background:var(--accent);color:var(--on-accent);font:inherit;font-size:12.5px;font-weight:600;padding:6px 14px;min-height:32px;box-shadow:0 2px 8px rgba(0,0,0,.2);cursor:pointer;}\n.new-below[hidden]{display:none;}\n.bubble p{margin:0;}\n.bubble p+p,.bubble p+ul,.bubble p+ol,.bubble ul+p,.bubble ol+p{margin-top:8px;}\n.bubble ul,.bubble ol{margin:4px 0 0;padding-left:22px;}\n.bubble li+li{margin-top:2px;}\n.bubble .table-wrap{overflow-x:auto;margin:6px 0;max-width:100%;}\n.bubble .table-wrap+p,.bubble p+.table-wrap{margin-top:8px;}\n.bubble table{border-collapse:collapse;font-size:13px;}\n.bubble th,.bubble td{border:1px solid #d1d5db;padding:3px 6px;text-align:left;vertical-align:top;}\n.bubble th{font-weight:600;background:rgba(0,0,0,.04);}\n.bubble a{color:var(--accent);text-decoration:underline;overflow-wrap:anywhere;}\n.row.agent .bubble a{color:#047857;}\ntime{font-size:11px;color:var(--muted);margin:3px 6px 0;}\n.wrap.left .launcher,.wrap.left .panel,.wrap.left .teaser{right:auto;left:20px;}\n.launcher.with-text{width:auto;padding:0 20px 0 16px;border-radius:30px;gap:8px;}\n.launcher-text{font-size:15px;font-weight:600;white-space:nowrap;}\n.wrap.open .launcher-text{display:none;}\n.wrap.open .launcher.with-text{width:60px;padding:0;}\n.header .logo{width:36px;height:36px;border-radius:50%;object-fit:cover;background:#fff;flex:none;}\n.teaser{position:fixed;right:20px;bottom:92px;z-index:2147483646;max-width:300px;background:#fff;color:var(--fg);border:1px solid var(--line);border-radius:14px;box-shadow:0 8px 28px rgba(0,0,0,.2);padding:12px 36px 12px 14px;font-size:14px;cursor:pointer;}\n.teaser .x{position:absolute;top:6px;right:6px;width:24px;height:24px;border:0;background:transparent;border-radius:6px;color:var(--muted);font-size:16px;line-height:1;padding:0;}\n.wrap.open .teaser{display:none;}\n.suggest{display:flex;flex-wrap:wrap;gap:6px;margin:0;padding:0;list-style:none;align-self:stretch;}\n.suggest button{border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:999px;padding:5px 12px;font-size:13px;text-align:left;}\n.suggest button:hover{background:var(--accent);color:var(--on-accent);}\n.bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere;font-size:15px;}\n.row.visitor .bubble{background:var(--accent);color:var(--on-accent);border-bottom-right-radius:5px;}\n.row.bot .bubble{background:#fff;border:1px solid var(--line);border-bottom-left-radius:5px;}\n.row.agent .bubble{background:#ecfdf5;border:1px solid #a7f3d0;border-bottom-left-radius:5px;}\n.row.system .bubble,.row.notice .bubble{background:transparent;color:var(--muted);font-size:12.5px;padding:2px 8px;}\n.row.notice .bubble{color:var(--fg);}\n.row.past .link-btn{display:block;margin:6px auto 0;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;}\n.row.visitor.pending .bubble{opacity:.7;}\n.bubble.has-file{padding:4px;white-space:normal;}\n.bubble .thumb{display:block;border-radius:12px;overflow:hidden;line-height:0;}\n.bubble .thumb img{display:block;max-width:220px;max-height:220px;width:auto;height:auto;}\n.bubble .file{display:flex;align-items:center;gap:8px;padding:6px 9px;color:inherit;text-decoration:none;min-width:0;}\n.bubble a.file span{text-decoration:underline;}\n.bubble .file span{overflow-wrap:anywhere;min-width:0;}\n.bubble .file svg{width:22px;height:22px;flex:none;fill:currentColor;}\n.bubble .file small{opacity:.8;white-space:nowrap;}\n.attach{border:1px solid #d1d5db;background:#fff;color:var(--muted);border-radius:12px;height:42px;width:42px;padding:0;display:flex;align-items:center;justify-content:center;flex:none;}\n.attach:hover{color:var(--accent);border-color:var(--accent);}\n.attach:disabled{opacity:.45;cursor:not-allowed;}\n.attach svg{width:20px;height:20px;fill:currentColor;}\n.row.visitor.failed .bubble{opacity:.85;box-shadow:0 0 0 2px var(--danger);}\n.meta{font-size:12px;color:var(--muted);margin:4px 4px 0;display:flex;align-items:center;gap:8px;flex-wrap:wrap;}\n.row.failed .meta,.err{color:var(--danger);}\n.err{font-size:13px;margin:6px 4px 0;display:flex;align-items:center;gap:8px;flex-wrap:wrap;}\n.retry{border:1px solid currentColor;background:#fff;color:var(--danger);border-radius:999px;padding:2px 12px;font-size:12.5px;font-weight:600;}\n.retry:hover{background:#fef2f2;}\n.retry:disabled{opacity:.45;cursor:not-allowed;background:#fff;}\n.link-btn{border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:999px;padding:4px 14px;font-size:13px;font-weight:600;margin-top:6px;}\n.typing .bubble{background:#fff;border:1px solid var(--line);border-bottom-left-radius:5px;display:inline-flex;align-items:center;gap:4px;padding:12px 14px;}\n.dot{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:cbw-bounce 1.2s infinite ease-in-out;}\n.dot:nth-child(2){animation-delay:.15s;}.dot:nth-child(3){animation-delay:.3s;}\n@keyframes cbw-bounce{0%,60%,100%{transform:translateY(0);opacity:.5;}30%{transform:translateY(-4px);opacity:1;}}\n@media (prefers-reduced-motion:reduce){.dot{animation:none;opacity:.8;}.launcher{transition:none;}}\n.status-text{font-size:12.5px;color:var(--muted);margin:4px 4px 0;min-height:0;}\n.status-text:empty{display:none;}\n.cites{margin:4px 2px 0;font-size:12px;color:var(--muted);display:flex;flex-wrap:wrap;gap:2px 8px;}\n.cites a{color:var(--accent);text-decoration:underline;overflow-wrap:anywhere;}\n.cites.suggested{flex-direction:column;gap:6px;}\n.related{margin:6px 2px 0;display:flex;flex-direction:column;gap:4px;font-size:12px;color:var(--muted);}\n.cites .suggestion{display:flex;flex-direction:column;gap:1px;padding-left:8px;border-left:2px solid var(--line);}\n.cites .excerpt{color:var(--fg);font-size:12.5px;line-height:1.4;overflow-wrap:anywhere;}\n.fb{display:flex;gap:4px;margin:4px 2px 0;align-items:center;}\n.fb button{border:1px solid transparent;background:transparent;border-radius:6px;width:30px;height:28px;padding:0;display:flex;align-items:center;justify-content:center;color:var(--muted);}\n.fb button:hover{background:#f3f4f6;color:var(--fg);}\n.fb button[aria-pressed=true]{color:var(--accent);border-color:var(--accent);background:#fff;}\n.fb svg{width:16px;height:16px;fill:currentColor;}\n.fb .thanks{font-size:12px;color:var(--muted);margin-left:4px;}\n.fb-ask{margin:4px 2px 0;font-size:12.5px;color:var(--muted);display:flex;flex-wrap:wrap;align-items:center;gap:0 8px;}\n.fb-ask p{margin:0;flex-basis:100%;}\n.composer{flex:none;border-top:1px solid var(--line);padding:10px 12px 12px;background:#fff;}\n.composer .box{display:flex;align-items:flex-end;gap:8px;}\ntextarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:12px;padding:9px 12px;font-size:15px;line-height:1.4;max-height:140px;min-height:42px;color:var(--fg);background:#fff;margin:0;}\ntextarea::placeholder{color:#9ca3af;}\ntextarea:focus{border-color:var(--accent);}\n.send{border:0;background:var(--accent);color:var(--on-accent);border-radius:12px;height:42px;min-width:42px;padding:0 14px;font-weight:600;display:flex;align-items:center;gap:6px;}\n.send svg{width:18px;height:18px;fill:currentColor;}\n.send:disabled{opacity:.45;cursor:not-allowed;}\n.counter{font-size:12px;color:var(--muted);margin:6px 2px 0;display:none;}\n.counter.show{display:block;}\n.counter.over{color:var(--danger);font-weight:600;}\n.handoff-bar{display:flex;justify-content:flex-end;margin:0 0 8px;}\n.handoff-bar.hide{display:none;}\n.handoff-btn{border:1px solid var(--line);background:#fff;color:var(--fg);border-radius:999px;padding:3px 12px;font-size:12.5px;font-weight:600;}\n.handoff-btn:hover{border-color:var(--accent);color:var(--accent);}\n.row.notice .left-text{margin:4px 0 0;padding:6px 10px;border-left:3px solid var(--accent);background:var(--bubble);text-align:left;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px;}\n.row.notice form{display:flex;flex-direction:column;gap:6px;margin-top:8px;text-align:left;}\n.row.notice label{font-size:12.5px;color:var(--muted);}\n.row.notice input,.row.notice textarea{font:inherit;font-size:14px;border:1px solid #d1d5db;border-radius:8px;padding:6px 9px;min-height:0;max-height:none;}\n.stars{display:flex;gap:4px;justify-content:center;}\n.stars button{border:1px solid var(--line);background:#fff;border-radius:8px;width:36px;height:32px;padding:0;font-size:17px;color:#9ca3af;}\n.stars button[aria-pressed=true]{color:#d97706;border-color:#d97706;}\n.row.peer-typing{align-self:flex-start;align-items:flex-start;}\n.row.peer-typing .who{color:#047857;}\n.row.peer-typing .bubble{background:#ecfdf5;border:1px solid #a7f3d0;border-bottom-left-radius:5px;display:inline-flex;align-items:center;gap:4px;padding:12px 14px;}\n.sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0;}\n@media (max-height:480px){\n .panel{top:8px;bottom:8px;height:auto;min-height:0;}\n .wrap.open .launcher{display:none;}\n}\n@media (max-width:480px){\n .panel{right:0;left:0;bottom:0;top:0;width:100%;height:100%;min-height:0;border-radius:0;border:0;}\n .wrap.open .launcher{display:none;}\n .launcher{right:16px;bottom:16px;width:56px;height:56px;}\n .wrap.left .panel{left:0;right:0;}\n .wrap.left .launcher{left:16px;right:auto;}\n .row{max-width:90%;}\n textarea{font-size:16px;}\n}\n.form-error{margin:4px 0 0;color:var(--danger);font-size:13px;}\n@media (pointer:coarse){\n textarea,input,.row.notice input,.row.notice textarea{font-size:16px;}\n .row.notice input{min-height:40px;}\n .icon-btn{width:44px;height:44px;}\n .fb button{width:40px;height:40px;}\n .handoff-btn{min-height:36px;padding:6px 14px;font-size:13.5px;}\n .suggest button,.link-btn{min-height:40px;}\n .stars button{width:44px;height:44px;}\n .teaser .x{width:36px;height:36px;top:2px;right:2px;}\n}".split("__ACCENT__").join(accent); // widget.css, put in by the build (manage.py build_widget)

  var ICONS = {
    chat: '<path d="M12 3C6.5 3 2 6.6 2 11c0 2.2 1.1 4.2 2.9 5.6-.2 1.4-.8 2.8-1.8 3.9-.2.2 0 .6.3.6 2 0 3.8-.8 5-1.7 1.1.3 2.3.5 3.6.5 5.5 0 10-3.6 10-8S17.5 3 12 3z"/>',
    close: '<path d="M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z"/>',
    mail: '<path d="M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 4-8 5-8-5V6l8 5 8-5v2z"/>',
    clip: '<path d="M16.5 6.5v10.6a4.5 4.5 0 0 1-9 0V5.8a3 3 0 0 1 6 0v10.3a1.5 1.5 0 0 1-3 0V6.5H9v9.6a3 3 0 0 0 6 0V5.8a4.5 4.5 0 0 0-9 0v11.3a6 6 0 0 0 12 0V6.5h-1.5z"/>',
    file: '<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8l-6-6zm-1 7V3.5L18.5 9H13z"/>',
    send: '<path d="M3.4 20.4 21 12.9c.8-.4.8-1.5 0-1.8L3.4 3.6c-.7-.3-1.4.4-1.2 1.1L4 11l9 1-9 1-1.8 6.3c-.2.7.5 1.4 1.2 1.1z"/>',
    up: '<path d="M2 21h3V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z"/>',
    down: '<path d="M22 3h-3v12h3V3zM2 14c0 1.1.9 2 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1L17.4 16.4c.4-.4.6-.9.6-1.4V5c0-1.1-.9-2-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z"/>',
  };

  function svg(name) {
    // Static markup from the constants above only; server text never goes through innerHTML.
    var s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    s.innerHTML = ICONS[name];
    return s;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function button(cls, label, text) {
    var b = el("button", cls, text);
    b.type = "button";
    if (label) b.setAttribute("aria-label", label);
    return b;
  }

  // ---------------------------------------------------------------------------------------
  // Rich text: a small Markdown subset (paragraphs, line breaks, "-" and "1." lists, tables,
  // **bold**, [label](https://…), bare links and e-mail addresses), built as DOM nodes whose text is set
  // with textContent. Nothing is parsed as HTML, so nothing a visitor, an agent or a model
  // writes can run script; links go to http(s), mailto or this server's own paths only.
  // ---------------------------------------------------------------------------------------
  var INLINE_RE =
    /\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[A-Za-z0-9\-._~:/?#@!$&*+,;=%]+)|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;
  var BULLET_RE = /^\s*[-*•]\s+(.*)$/;
  var NUMBERED_RE = /^\s*(\d{1,3})[.)、]\s*(.+)$/;

  // A web address or a path on the chat server, as an href; null for anything else.
  function webHref(url) {
    if (/^https?:\/\/[^\s]+$/i.test(url)) return url;
    if (/^\/(?!\/)[^\s]*$/.test(url)) return serverOrigin + url;
    return null;
  }

  function safeHref(url) {
    if (/^mailto:[^\s@]+@[^\s@]+$/i.test(url)) return url;
    return webHref(url);
  }

  function link(href, text) {
    var a = el("a", null, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }

  function appendInline(parent, text) {
    var last = 0;
    var m;
    INLINE_RE.lastIndex = 0;
    while ((m = INLINE_RE.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] != null) {
        parent.appendChild(el("strong", null, m[1]));
      } else if (m[2] != null) {
        var href = safeHref(m[3]);
        parent.appendChild(href ? link(href, m[2]) : document.createTextNode(m[0]));
      } else if (m[4] != null) {
        var url = m[4].replace(/[.,;:!?]+$/, "");
        parent.appendChild(link(url, url));
        if (url.length < m[4].length) parent.appendChild(document.createTextNode(m[4].slice(url.length)));
      } else {
        parent.appendChild(link("mailto:" + m[5], m[5]));
      }
      last = INLINE_RE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // A Markdown table: a header row, a "|---|" line, then rows; help-centre articles have them
  // (opening hours, shipping rates) and answers quoting them read as rows of pipes.
  var TABLE_ROW_RE = /^\s*\|.*\|\s*$/;
  var TABLE_RULE_RE = /^\s*\|(\s*:?-{2,}:?\s*\|)+\s*$/;

  function tableCells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(function (cell) {
      return cell.trim();
    });
  }

  function table(rows) {
    var wrap = el("div", "table-wrap");
    var t = wrap.appendChild(el("table"));
    var head = t.appendChild(el("thead")).appendChild(el("tr"));
    tableCells(rows[0]).forEach(function (cell) {
      appendInline(head.appendChild(el("th")), cell);
    });
    var body = t.appendChild(el("tbody"));
    rows.slice(2).forEach(function (row) {
      var tr = body.appendChild(el("tr"));
      tableCells(row).forEach(function (cell) {
        appendInline(tr.appendChild(el("td")), cell);
      });
    });
    return wrap;
  }

  function renderRich(target, text) {
    while (target.firstChild) target.removeChild(target.firstChild);
    target.classList.add("rich");
    var para = null;
    var list = null;
    var lines = String(text).split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (TABLE_ROW_RE.test(line) && i + 1 < lines.length && TABLE_RULE_RE.test(lines[i + 1])) {
        var end = i + 2;
        while (end < lines.length && TABLE_ROW_RE.test(lines[end])) end++;
        target.appendChild(table(lines.slice(i, end)));
        i = end - 1;
        para = list = null;
        continue;
      }
      var bullet = BULLET_RE.exec(line);
      var numbered = bullet ? null : NUMBERED_RE.exec(line);
      if (bullet || numbered) {
        var kind = bullet ? "ul" : "ol";
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = el(kind);
          if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
          target.appendChild(list);
        }
        var item = el("li");
        appendInline(item, bullet ? bullet[1] : numbered[2]);
        list.appendChild(item);
        para = null;
        continue;
      }
      list = null;
      if (!line.trim()) {
        para = null;
        continue;
      }
      if (para) para.appendChild(el("br"));
      else para = target.appendChild(el("p"));
      appendInline(para, line);
    }
  }

  // A message's language where it differs from the page's ("zh-Hans" or "en"), else null: an
  // English answer in the Chinese widget was read with a Chinese voice, and a Chinese visitor's
  // words in an English console with an English one (an accessibility walk).
  function otherLanguage(text, chinesePage) {
    var chinese = /[\u3400-\u9fff]/.test(text);
    if (chinese && !chinesePage) return "zh-Hans";
    if (!chinese && /[A-Za-z]/.test(text) && chinesePage) return "en";
    return null;
  }

  // Who wrote a message, said the way visitors are owed it: answers are labelled as AI and by
  // where they came from; agents by their name, with their photo (a path on the chat server,
  // set in the admin) or, without one or when the host page's policy blocks it, their initials.
  function initials(name) {
    var words = String(name).trim().split(/\s+/).filter(Boolean);
    if (!words.length) return "?";
    if (/[\u3400-\u9fff]/.test(words[0])) return Array.from(words[0])[0];
    return words
      .slice(0, 2)
      .map(function (w) {
        return Array.from(w)[0].toUpperCase();
      })
      .join("");
  }

  function isSuggestion(citations) {
    return citations.every(function (c) {
      return c && c.suggested === true;
    });
  }

  function sourceLabel(message) {
    if (message.source === "faq") return T.fromFaq;
    if (message.source === "fallback" || message.source === "small_talk") return T.automatic;
    if (message.source === "llm" || message.source === "cache") {
      if (message.automatic === true) return T.automatic; // our own copy, not the model's words
      var cited = Array.isArray(message.citations) && message.citations.length;
      if (cited && isSuggestion(message.citations)) return T.automatic; // no answer was given
      return cited ? T.fromHelpCentre : T.aiGenerated;
    }
    return "";
  }

  function setWho(row, message) {
    var who = row.querySelector(".who");
    if (!who) return;
    while (who.firstChild) who.removeChild(who.firstChild);
    if (message.role === "agent") {
      var name = message.author && typeof message.author.name === "string" && message.author.name;
      var avatar = el("span", "avatar");
      avatar.setAttribute("data-initials", initials(name || T.agent));
      avatar.setAttribute("aria-hidden", "true");
      var photo = message.author && message.author.avatar;
      if (typeof photo === "string" && /^\/(?!\/)\S*$/.test(photo)) {
        var img = el("img", "avatar");
        img.alt = "";
        img.addEventListener("error", function () {
          if (img.parentNode) img.parentNode.replaceChild(avatar, img);
        });
        img.src = serverOrigin + photo;
        who.appendChild(img);
      } else who.appendChild(avatar);
      who.appendChild(document.createTextNode(name || T.agent));
      return;
    }
    who.appendChild(document.createTextNode(roleLabel(message.role)));
    var label = message.role === "bot" ? sourceLabel(message) : "";
    if (label) who.appendChild(el("span", "label", "· " + label));
  }

  function setTime(row, iso) {
    var old = row.querySelector(":scope > time");
    if (old) old.parentNode.removeChild(old);
    var when = iso ? new Date(iso) : null;
    if (!when || isNaN(when.getTime())) return;
    var t = el("time", null, when.toLocaleTimeString(locale === "zh-hans" ? "zh-CN" : undefined, { hour: "2-digit", minute: "2-digit" }));
    t.setAttribute("datetime", when.toISOString());
    t.title = when.toLocaleString(locale === "zh-hans" ? "zh-CN" : undefined);
    var bubble = row.querySelector(":scope > .bubble");
    row.insertBefore(t, bubble ? bubble.nextSibling : null);
  }

  var host = document.createElement("chatbot-widget");
  host.setAttribute("data-chatbot-widget", "");
  var root = host.attachShadow({ mode: "open" });
  // A constructed stylesheet, not a <style> element: a host page whose Content-Security-Policy
  // has no 'unsafe-inline' for styles blocks the element but not the sheet.
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS_TEXT);
    root.adoptedStyleSheets = [sheet];
  } else {
    var styleEl = document.createElement("style");
    styleEl.textContent = CSS_TEXT;
    root.appendChild(styleEl);
  }

  var wrap = el("div", "wrap");
  wrap.setAttribute("lang", locale === "zh-hans" ? "zh-Hans" : "en");
  // Both of the widget's languages run left to right, on a dir="rtl" page too (`all: initial`
  // on the host does not reset direction, which is inherited from the page).
  wrap.setAttribute("dir", "ltr");
  root.appendChild(wrap);

  var panelId = "cbw-panel";
  var panel = el("section", "panel");
  panel.id = panelId;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-modal", "false");
  panel.setAttribute("aria-labelledby", "cbw-title");

  var header = el("div", "header");
  var titles = el("div", "titles");
  var h2 = el("h2", null, title);
  h2.id = "cbw-title";
  var sub = el("p", "sub", T.subtitle);
  titles.appendChild(h2);
  titles.appendChild(sub);
  var closeBtn = button("icon-btn close", T.close);
  closeBtn.appendChild(svg("close"));
  var transcriptBtn = button("icon-btn transcript", T.transcriptOpen);
  transcriptBtn.title = T.transcriptOpen;
  transcriptBtn.appendChild(svg("mail"));
  if (logoUrl) {
    var logo = el("img", "logo");
    logo.alt = "";
    // No broken-image icon where the page's policy (img-src) or a wrong address stops it.
    logo.addEventListener("error", function () {
      if (logo.parentNode) logo.parentNode.removeChild(logo);
    });
    logo.src = /^\//.test(logoUrl) ? serverOrigin + logoUrl : logoUrl;
    header.appendChild(logo);
  }
  header.appendChild(titles);
  header.appendChild(transcriptBtn);
  header.appendChild(closeBtn);

  var conn = el("div", "conn");
  conn.setAttribute("role", "status");
  conn.setAttribute("aria-live", "polite");

  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", T.messages);
  log.tabIndex = 0;

  var composer = el("form", "composer");
  composer.setAttribute("novalidate", "");
  var box = el("div", "box");
  var input = el("textarea");
  input.rows = 1;
  input.placeholder = T.placeholder;
  input.setAttribute("aria-label", T.inputLabel);
  input.setAttribute("enterkeyhint", "send");
  var sendBtn = button("send", T.send);
  sendBtn.type = "submit";
  sendBtn.appendChild(svg("send"));
  sendBtn.disabled = true;
  // Files go over HTTP (docs/widget.md, "Attachments"): the paperclip opens the file picker.
  var attachBtn = button("attach", T.attach);
  attachBtn.title = T.attach;
  attachBtn.appendChild(svg("clip"));
  var fileInput = el("input");
  fileInput.type = "file";
  fileInput.accept = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain";
  fileInput.hidden = true;
  fileInput.tabIndex = -1;
  box.appendChild(attachBtn);
  box.appendChild(fileInput);
  box.appendChild(input);
  box.appendChild(sendBtn);
  var counter = el("div", "counter");
  counter.setAttribute("aria-live", "polite");
  counter.id = "cbw-counter";
  input.setAttribute("aria-describedby", "cbw-counter");
  // Asking for a person works from the very first message on.
  var handoffBar = el("div", "handoff-bar");
  var handoffBtn = button("handoff-btn", null, T.talkToPerson);
  handoffBar.appendChild(handoffBtn);
  composer.appendChild(handoffBar);
  composer.appendChild(box);
  composer.appendChild(counter);

  panel.appendChild(header);
  panel.appendChild(conn);
  panel.appendChild(log);
  panel.appendChild(composer);

  // A launcher with words of its own is named by them (what a voice user says to press it);
  // aria-expanded tells open from closed.
  function launcherLabel(open) {
    return launcherText || (open ? T.launcherClose : T.launcherOpen);
  }
  var launcher = button("launcher", launcherLabel(false));
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", panelId);
  launcher.appendChild(svg("chat"));
  var closeIcon = svg("close");
  closeIcon.classList.add("ic-close");
  launcher.firstChild.classList.add("ic-chat");
  launcher.appendChild(closeIcon);
  var badge = el("span", "badge");
  badge.setAttribute("aria-hidden", "true");
  launcher.appendChild(badge);
  if (launcherText) {
    launcher.classList.add("with-text");
    launcher.insertBefore(el("span", "launcher-text", launcherText), badge);
  }
  if (onLeft) wrap.classList.add("left");

  wrap.appendChild(panel);
  wrap.appendChild(launcher);

  // Readable text on the accent colour.
  function pickOnAccent() {
    var probe = el("span");
    probe.style.color = accent;
    wrap.appendChild(probe);
    var m = getComputedStyle(probe).color.match(/[\d.]+/g);
    wrap.removeChild(probe);
    if (!m || m.length < 3) return;
    var lum = [0, 1, 2].map(function (i) {
      var c = Number(m[i]) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var L = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    if (L > 0.45) wrap.style.setProperty("--on-accent", "#111827");
  }

  // ---------------------------------------------------------------------------------------
  // Message list: rows are kept in order of a sort key (message id; an answer being written
  // sits at its question's id + 0.5; messages not yet acknowledged go last).
  // ---------------------------------------------------------------------------------------
  var rendered = new Set(); // message ids on screen
  var personLineId = 0; // the newest agent or system message on screen
  var visitorRows = new Map(); // client_id -> {row, text, id, state}
  var visitorById = new Map(); // message id -> client_id
  var replies = new Map(); // reply_to -> reply state
  var systemIds = []; // the system lines shown ("open again", "joined"), by message id
  var welcomeShown = false;
  var isOpen = false;

  function markLanguage(node, text) {
    var lang = otherLanguage(text, wrap.getAttribute("lang") === "zh-Hans");
    if (lang) node.setAttribute("lang", lang);
    else node.removeAttribute("lang");
  }

  // A message while the panel is closed: the badge for the eye, and the launcher's name for a
  // screen reader ("Open chat, New message"; the badge itself is aria-hidden).
  function markUnread() {
    wrap.classList.add("unread");
    launcher.setAttribute("aria-label", launcherLabel(false) + ", " + T.unread);
    saveView({ unread: true });
  }
  // Replies newer than anything a tab of this site had shown when this page loaded: sent while
  // no tab was open, they came with the history, and the launcher stayed plain (a walk). The
  // badge lights once the history is in, as for a reply while the panel is closed.
  var seenAtBoot = store.lastSeenId;
  var missedWhileAway = false;

  function arrived(id, kind) {
    if (ready) {
      if (!isOpen) markUnread();
    } else if (kind !== "visitor" && seenAtBoot > 0 && typeof id === "number" && id > seenAtBoot) {
      missedWhileAway = true;
    }
  }

  var team = null; // hello's team: opening hours, agents online, reply time
  var teamAsked = 0; // when the team was last sent or asked for (Date.now())
  var newestAgentId = 0; // the newest agent message shown, for read receipts
  var readSent = 0;

  // Where the reply to question `replyTo` sits: under its question, not below a question asked
  // while it was written, but below a system line stored between the two (a closed
  // conversation's "open again" is stored with the question, before the answer).
  function replyKey(replyTo, messageId) {
    var key = replyTo + 0.5;
    systemIds.forEach(function (id) {
      if (id > replyTo && (typeof messageId !== "number" || id < messageId)) key = Math.max(key, id + 0.5);
    });
    return key;
  }

  function sortKeyOf(row) {
    var k = row.getAttribute("data-key");
    return k == null ? Infinity : Number(k);
  }

  function place(row, key) {
    if (key == null || key === Infinity) row.removeAttribute("data-key");
    else row.setAttribute("data-key", String(key));
    var k = sortKeyOf(row);
    var stick = nearBottom();
    if (row.parentNode === log) log.removeChild(row);
    var children = log.children;
    var before = null;
    for (var i = children.length - 1; i >= 0; i--) {
      var ck = sortKeyOf(children[i]);
      if (ck <= k) break;
      before = children[i];
    }
    log.insertBefore(row, before);
    if (stick) scrollToBottom();
    else if (!before && !row.classList.contains("visitor")) showNewBelow();
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
  }

  // The list shrinks when a phone's keyboard opens (or the window is resized): a reader who was
  // at the newest message stays there, instead of it sliding under the text box.
  var atBottom = true;
  log.addEventListener("scroll", function () {
    atBottom = nearBottom();
    if (atBottom) newBelow.hidden = true;
  });

  // A message that arrives while the reader is up among older ones: a cue to it, not a jump
  // that loses their place (they used to miss the agent's reply below).
  var newBelow = button("new-below", null, T.newBelow);
  newBelow.hidden = true;
  panel.appendChild(newBelow);
  newBelow.addEventListener("click", function () {
    scrollToBottom();
    newBelow.hidden = true;
  });

  function showNewBelow() {
    newBelow.style.bottom = panel.clientHeight - (log.offsetTop + log.offsetHeight) + 10 + "px";
    newBelow.hidden = false;
  }
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(function () {
      if (atBottom) scrollToBottom();
    }).observe(log);
  }

  function markSeen(id) {
    if (typeof id !== "number") return;
    rendered.add(id);
    if (id > store.lastSeenId) {
      store.lastSeenId = id;
      saveStore();
    }
  }

  function maxRenderedId() {
    var max = 0;
    rendered.forEach(function (id) {
      if (id > max) max = id;
    });
    return max;
  }

  function roleLabel(role) {
    if (role === "agent") return T.agent;
    if (role === "bot") return T.assistant;
    if (role === "visitor") return T.you;
    return T.system;
  }

  function makeRow(role) {
    var row = el("div", "row " + role);
    if (role !== "system" && role !== "notice") {
      var who = el("div", "who", roleLabel(role));
      if (role === "visitor") who.className = "sr";
      row.appendChild(who);
    }
    var bubble = el("div", "bubble");
    row.appendChild(bubble);
    return row;
  }

  function showWelcome() {
    if (welcomeShown) return;
    welcomeShown = true;
    var row = makeRow("bot");
    row.classList.add("welcome");
    row.querySelector(".bubble").textContent = welcomeText;
    place(row, 0);
    showSuggestions();
  }

  // --- proactive greeting and suggested questions (the page's rule, docs/widget.md) --------
  var greeting = null;
  var suggestRow = null;
  var teaser = null;

  function fetchGreeting() {
    if (store.conversation || typeof fetch !== "function") return;
    var url = new URL("/widget/greeting", serverOrigin);
    url.searchParams.set("path", location.pathname);
    url.searchParams.set("locale", locale);
    fetch(url.toString(), { credentials: "omit" })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (g) {
        if (!g || typeof g !== "object") return;
        greeting = g;
        showSuggestions();
        if (typeof g.greeting === "string" && g.greeting) {
          setTimeout(showTeaser, Math.max(0, Number(g.delay_s) || 0) * 1000);
        }
      })
      .catch(function () {}); // a page that blocks it (CSP) simply gets no greeting
  }

  function greetedKey() {
    return "chatbot:greeted:" + serverOrigin + location.pathname;
  }

  function showTeaser() {
    if (teaser || isOpen || store.conversation) return;
    try {
      if (sessionStorage.getItem(greetedKey())) return;
      sessionStorage.setItem(greetedKey(), "1");
    } catch (e) {
      /* storage blocked: show it anyway */
    }
    teaser = el("div", "teaser");
    teaser.setAttribute("role", "status");
    teaser.appendChild(el("span", null, greeting.greeting));
    var x = button("x", T.dismiss, "×");
    x.addEventListener("click", function (e) {
      e.stopPropagation();
      dropTeaser();
    });
    teaser.appendChild(x);
    teaser.addEventListener("click", function () {
      dropTeaser();
      setOpen(true);
    });
    wrap.insertBefore(teaser, launcher);
  }

  function dropTeaser() {
    if (teaser && teaser.parentNode) teaser.parentNode.removeChild(teaser);
  }

  function showSuggestions() {
    if (suggestRow || !welcomeShown || store.conversation || visitorRows.size) return;
    var items = greeting && Array.isArray(greeting.suggestions) ? greeting.suggestions : [];
    items = items.filter(function (q) {
      return typeof q === "string" && q.trim();
    });
    if (!items.length) return;
    suggestRow = questionButtons(items, T.suggested);
    suggestRow.classList.add("row");
    place(suggestRow, 0.5);
  }

  // Questions to ask with one click (the greeting's suggestions, "Did you mean" offers).
  function questionButtons(questions, label) {
    var list = el("ul", "suggest");
    list.setAttribute("aria-label", label);
    questions.forEach(function (q) {
      var li = el("li");
      var b = button(null, null, q);
      b.addEventListener("click", function () {
        sendVisitor(newClientId(), q);
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    return list;
  }

  function dropSuggestions() {
    if (suggestRow && suggestRow.parentNode) suggestRow.parentNode.removeChild(suggestRow);
  }

  function clearLog() {
    while (log.firstChild) log.removeChild(log.firstChild);
    rendered.clear();
    personLineId = 0;
    visitorById.clear();
    replies.forEach(function (r) {
      clearReplyTimers(r);
    });
    replies.clear();
    systemIds = [];
    var keep = [];
    visitorRows.forEach(function (v, cid) {
      if (v.state !== "sent") keep.push([cid, v]);
    });
    visitorRows.clear();
    welcomeShown = false;
    showWelcome();
    keep.forEach(function (pair) {
      var v = pair[1];
      v.id = null;
      visitorRows.set(pair[0], v);
      place(v.row, Infinity);
    });
  }

  // --- visitor messages -------------------------------------------------------------------
  function renderVisitor(clientId, text, state) {
    var v = visitorRows.get(clientId);
    if (v) return v;
    var row = makeRow("visitor");
    row.querySelector(".bubble").textContent = text;
    markLanguage(row.querySelector(".bubble"), text);
    var meta = el("div", "meta");
    row.appendChild(meta);
    v = { row: row, text: text, id: null, state: state, meta: meta, clientId: clientId };
    visitorRows.set(clientId, v);
    setVisitorState(v, state);
    place(row, Infinity);
    return v;
  }

  // `final`: the server refused it for what it is (a file type or size it does not take):
  // sending it again cannot help, so no Retry (a walk was offered one for a refused file).
  function setVisitorState(v, state, errorText, final) {
    v.state = state;
    v.row.classList.toggle("pending", state === "pending");
    v.row.classList.toggle("failed", state === "failed");
    var meta = v.meta;
    while (meta.firstChild) meta.removeChild(meta.firstChild);
    if (state === "pending") {
      meta.appendChild(el("span", null, T.sending));
    } else if (state === "failed") {
      // Stays where it was written: not the last row under every later message.
      if (v.row.parentNode === log && sortKeyOf(v.row) === Infinity) place(v.row, newestKey() + 0.01);
      meta.appendChild(el("span", null, errorText || T.notSent));
      if (final) return;
      var r = button("retry", T.retryLabel, T.retry);
      r.addEventListener("click", function () {
        retryVisitor(v.clientId);
      });
      meta.appendChild(r);
    }
  }

  function addPending(clientId, text) {
    for (var i = 0; i < store.pending.length; i++) if (store.pending[i].client_id === clientId) return;
    store.pending.push({ client_id: clientId, text: text });
    saveStore();
  }

  function removePending(clientId) {
    var before = store.pending.length;
    store.pending = store.pending.filter(function (p) {
      return p.client_id !== clientId;
    });
    if (store.pending.length !== before) saveStore();
  }

  function visitorStored(clientId, messageId, text) {
    // The server holds this message (ack, or seen in a replay).
    var v = visitorRows.get(clientId);
    if (!v) v = renderVisitor(clientId, text, "sent");
    v.id = messageId;
    visitorById.set(messageId, clientId);
    setVisitorState(v, "sent");
    removePending(clientId);
    markSeen(messageId);
    place(v.row, messageId);
    return v;
  }

  function sendVisitor(clientId, text) {
    dropSuggestions();
    var v = renderVisitor(clientId, text, "pending");
    if (siteRefused) return setVisitorState(v, "failed", T.siteRefused);
    setVisitorState(v, "pending");
    addPending(clientId, text);
    if (ready) {
      followPage();
      sendFrame({ type: "message", client_id: clientId, text: text });
    } else ensureConnected();
  }

  function retryVisitor(clientId) {
    var v = visitorRows.get(clientId);
    if (!v) return;
    if (uploads.has(clientId)) {
      uploadFile(clientId, uploads.get(clientId));
      return;
    }
    if (v.id != null) {
      var r = replies.get(v.id);
      if (r && r.done) return;
      if (r) clearReplyError(r);
      startThinking(v.id);
      // Stored already: asked again, and still shown as sent (it went back to "Sending…", a
      // network walk). Without a socket, the next one's resume has it answered.
      if (ready) sendFrame({ type: "message", client_id: clientId, text: v.text });
      else ensureConnected();
      return;
    }
    sendVisitor(clientId, v.text);
  }

  // --- answers ----------------------------------------------------------------------------
  function getReply(replyTo) {
    var r = replies.get(replyTo);
    if (!r) {
      r = {
        replyTo: replyTo,
        chars: [], // answer so far, in code points (offsets are in characters)
        held: new Map(), // offset -> text received ahead of a gap
        row: null,
        statusText: "",
        statusEl: null,
        gotToken: false,
        done: false,
        messageId: null,
        statusTimer: null,
        slowTimer: null,
        statusDue: false,
      };
      replies.set(replyTo, r);
    }
    return r;
  }

  function clearReplyTimers(r) {
    clearTimeout(r.statusTimer);
    clearTimeout(r.slowTimer);
    r.statusTimer = r.slowTimer = null;
  }

  function clearReplyError(r) {
    // Back to "thinking" (a retry): drop the error, show the dots again if nothing came yet.
    clearReplyTimers(r);
    if (!r.row) return;
    var err = r.row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    var dots = r.row.classList.contains("typing") && r.row.querySelector(".bubble");
    if (dots) dots.style.display = "";
    if (r.statusEl) r.statusEl.textContent = "";
    r.statusDue = false;
  }

  function ensureTypingRow(r) {
    if (r.row) return r.row;
    var row = el("div", "row typing");
    row.appendChild(el("div", "who", T.assistant));
    var b = el("div", "bubble");
    b.setAttribute("role", "img");
    b.setAttribute("aria-label", T.typing);
    b.appendChild(el("span", "dot"));
    b.appendChild(el("span", "dot"));
    b.appendChild(el("span", "dot"));
    row.appendChild(b);
    r.statusEl = el("div", "status-text");
    row.appendChild(r.statusEl);
    r.row = row;
    place(row, replyKey(r.replyTo, r.messageId));
    return row;
  }

  function startThinking(replyTo) {
    var r = getReply(replyTo);
    if (r.done) return;
    ensureTypingRow(r);
    armSlowTimer(r);
    if (!r.statusTimer && !r.gotToken) {
      r.statusTimer = setTimeout(function () {
        r.statusDue = true;
        showStatus(r);
      }, STATUS_DELAY_MS);
    }
  }

  function armSlowTimer(r) {
    clearTimeout(r.slowTimer);
    r.slowTimer = setTimeout(function () {
      onSlow(r);
    }, SLOW_ANSWER_MS);
  }

  function showStatus(r) {
    if (!r.statusEl || r.gotToken || r.done || !r.statusDue) return;
    r.statusEl.textContent = r.statusText || T.thinking;
  }

  function replyError(r, text) {
    clearReplyTimers(r);
    ensureTypingRow(r);
    var row = r.row;
    var old = row.querySelector(".err");
    if (old) old.parentNode.removeChild(old);
    if (r.statusEl) r.statusEl.textContent = "";
    var err = el("div", "err");
    err.setAttribute("role", "alert");
    err.appendChild(el("span", null, text));
    var clientId = visitorById.get(r.replyTo);
    if (clientId) {
      var btn = button("retry", T.retryLabel, T.retry);
      btn.addEventListener("click", function () {
        retryVisitor(clientId);
      });
      err.appendChild(btn);
    }
    row.appendChild(err);
    if (!r.gotToken) {
      var dots = row.querySelector(".bubble");
      if (dots && row.classList.contains("typing")) dots.style.display = "none";
    }
    if (nearBottom()) scrollToBottom();
  }

  function onSlow(r) {
    if (r.done) return;
    replyError(r, T.slow);
  }

  function becomeBubble(r) {
    // Turns the typing row into the bot's answer bubble.
    var row = r.row;
    if (!row || !row.classList.contains("typing")) {
      if (!row) {
        row = makeRow("bot");
        r.row = row;
        place(row, replyKey(r.replyTo, r.messageId));
      }
      return row;
    }
    var fresh = makeRow("bot");
    row.parentNode.replaceChild(fresh, row);
    fresh.setAttribute("data-key", String(replyKey(r.replyTo, r.messageId)));
    r.row = fresh;
    r.statusEl = null;
    return fresh;
  }

  function applyToken(replyTo, offset, text) {
    if (typeof replyTo !== "number" || typeof offset !== "number" || typeof text !== "string") return;
    var r = getReply(replyTo);
    if (r.done) return;
    var piece = Array.from(text);
    var len = r.chars.length;
    if (offset + piece.length <= len) return;
    if (offset > len) {
      var prev = r.held.get(offset);
      if (!prev || Array.from(prev).length < piece.length) r.held.set(offset, text);
      return;
    }
    appendChars(r, piece.slice(len - offset));
    drainHeld(r);
    var stick = nearBottom();
    r.gotToken = true;
    clearTimeout(r.statusTimer);
    armSlowTimer(r);
    var row = becomeBubble(r);
    var err = row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    row.setAttribute("aria-busy", "true");
    renderRich(row.querySelector(".bubble"), r.chars.join(""));
    if (stick) scrollToBottom();
  }

  function restartReply(replyTo, text) {
    // The server writing this answer stopped and another starts it over: what came of it is
    // dropped, and the visitor is told rather than left with a bubble that never completes.
    if (typeof replyTo !== "number") return;
    var r = getReply(replyTo);
    if (r.done) return;
    r.chars = [];
    r.held.clear();
    r.gotToken = false;
    if (r.row && !r.row.classList.contains("typing")) {
      if (r.row.parentNode) r.row.parentNode.removeChild(r.row);
      r.row = null;
    }
    clearReplyError(r);
    if (typeof text === "string" && text) r.statusText = text;
    startThinking(replyTo);
    r.statusDue = true;
    showStatus(r);
  }

  function appendChars(r, chars) {
    for (var i = 0; i < chars.length; i++) r.chars.push(chars[i]);
  }

  function drainHeld(r) {
    var progressed = true;
    while (progressed && r.held.size) {
      progressed = false;
      r.held.forEach(function (text, offset) {
        if (progressed) return;
        var piece = Array.from(text);
        var len = r.chars.length;
        if (offset + piece.length <= len) {
          r.held.delete(offset);
          progressed = true;
        } else if (offset <= len) {
          appendChars(r, piece.slice(len - offset));
          r.held.delete(offset);
          progressed = true;
        }
      });
    }
  }

  function finishReply(replyTo, message) {
    var r = getReply(replyTo);
    clearReplyTimers(r);
    r.held.clear();
    if (r.done && r.messageId === message.id) return;
    r.done = true;
    r.messageId = message.id;
    // Read before the final text, sources and buttons make the row taller than "near" allows.
    var stick = nearBottom();
    var row = becomeBubble(r);
    var err = row.querySelector(".err");
    if (err) err.parentNode.removeChild(err);
    row.className = "row " + (message.role === "agent" ? "agent" : "bot");
    row.removeAttribute("aria-busy");
    setWho(row, message);
    renderRich(row.querySelector(".bubble"), String(message.text || ""));
    markLanguage(row.querySelector(".bubble"), String(message.text || ""));
    setTime(row, message.created);
    r.chars = Array.from(String(message.text || ""));
    addCitations(row, message.citations);
    addRelated(row, message.related);
    if (message.role === "bot" && message.source !== "small_talk") {
      addFeedback(row, message.id, replyTo);
    }
    if (message.role === "bot") offerUnder(row, message, replyTo);
    markSeen(message.id);
    // Under its question, where it streamed: not below a question asked while it was written.
    place(row, replyKey(replyTo, message.id));
    if (stick) scrollToBottom();
    arrived(message.id, "bot");
  }

  // The help-centre sources an answer cites, as links under it (http(s) and same-site paths only).
  // Suggested articles (the answer was not given) come with the excerpt nearest the question.
  function addCitations(row, citations) {
    var old = row.querySelector(".cites");
    if (old) old.parentNode.removeChild(old);
    if (!Array.isArray(citations) || !citations.length) return;
    var suggested = isSuggestion(citations);
    var box = el("div", suggested ? "cites suggested" : "cites");
    box.appendChild(document.createTextNode((suggested ? T.suggestedArticles : T.sources) + T.colon));
    citations.forEach(function (c) {
      if (!c || typeof c.title !== "string") return;
      var label = "[" + String(c.number) + "] " + c.title + (c.heading ? " — " + c.heading : "");
      var url = typeof c.url === "string" ? c.url : "";
      var href = webHref(url);
      var item = href ? link(href, label) : el("span", null, label);
      if (href) item.rel = "noopener noreferrer"; // a citation is our own source: followable
      if (suggested && typeof c.excerpt === "string" && c.excerpt) {
        var entry = el("div", "suggestion");
        entry.appendChild(item);
        entry.appendChild(el("span", "excerpt", c.excerpt));
        item = entry;
      }
      box.appendChild(item);
    });
    var fb = row.querySelector(".fb");
    row.insertBefore(box, fb || null);
  }

  // FAQs near a question the bot had no answer for ("Did you mean"): a click asks that question,
  // which the FAQ store then answers as written.
  function addRelated(row, related) {
    var old = row.querySelector(".related");
    if (old) old.parentNode.removeChild(old);
    if (!Array.isArray(related)) return;
    var questions = related
      .filter(function (r) {
        return r && typeof r.question === "string" && r.question.trim();
      })
      .map(function (r) {
        return r.question;
      });
    if (!questions.length) return;
    var box = el("div", "related");
    box.appendChild(el("span", "label", T.didYouMean + T.colon));
    box.appendChild(questionButtons(questions, T.didYouMean));
    var fb = row.querySelector(".fb");
    row.insertBefore(box, fb || null);
  }

  // Thumbs on answers; a reply to "hi" or "thanks" is not one (nor counted as one).
  function addFeedback(row, messageId, replyTo) {
    if (row.querySelector(".fb")) return;
    var fb = el("div", "fb");
    var up = button(null, T.helpful);
    up.appendChild(svg("up"));
    up.setAttribute("aria-pressed", "false");
    var down = button(null, T.notHelpful);
    down.appendChild(svg("down"));
    down.setAttribute("aria-pressed", "false");
    var thanks = el("span", "thanks");
    thanks.setAttribute("aria-live", "polite");
    function give(value, btn, other) {
      if (btn.getAttribute("aria-pressed") === "true") return;
      btn.setAttribute("aria-pressed", "true");
      other.setAttribute("aria-pressed", "false");
      sendFrame({ type: "feedback", message_id: messageId, value: value });
      thanks.textContent = T.thanks;
      if (value === "down" && typeof replyTo === "number") {
        askAfterThumbsDown(row, messageId, replyTo);
      } else dropAsk(row);
    }
    up.addEventListener("click", function () {
      give("up", up, down);
    });
    down.addEventListener("click", function () {
      give("down", down, up);
    });
    fb.appendChild(up);
    fb.appendChild(down);
    fb.appendChild(thanks);
    row.appendChild(fb);
  }

  // A thumbs-down asks what the visitor wants instead of queueing them for a person
  // (docs/protocol.md, `retry`).
  function askAfterThumbsDown(row, messageId, replyTo) {
    if (convStatus !== "bot") return;
    var lone = row.querySelector(".fb-ask.latest"); // the whole question replaces it
    if (lone) lone.parentNode.removeChild(lone);
    if (row.querySelector(".fb-ask")) return;
    var ask = el("div", "fb-ask");
    ask.setAttribute("role", "group");
    ask.setAttribute("aria-label", T.downAsk);
    ask.appendChild(el("p", null, T.downAsk));
    var again = button("link-btn", null, T.tryAgain);
    again.addEventListener("click", function () {
      dropAsk(row);
      retryAnswer(messageId, replyTo);
    });
    var person = button("link-btn", null, T.talkToPerson);
    person.addEventListener("click", function () {
      dropAsk(row);
      requestHandoff("negative_feedback");
    });
    ask.appendChild(again);
    ask.appendChild(person);
    row.appendChild(ask);
    // Under the fold on a phone it went unseen (a walk): brought into view, the list otherwise
    // left where the visitor had it.
    if (ask.scrollIntoView) ask.scrollIntoView({ block: "nearest" });
  }

  // An answer that broke off says "please ask again", and one that found nothing asks "Would
  // you like to talk to a person?": one button does it, while it is the newest answer (a later
  // one takes the offer away), instead of retyping or finding the small button above the box.
  function offerUnder(row, message, replyTo) {
    dropLatestOffers();
    if (convStatus !== "bot" || row.querySelector(".fb-ask")) return;
    if (message.cut_off === true && typeof replyTo === "number") {
      offerOne(row, T.tryAgain, function () {
        retryAnswer(message.id, replyTo);
      });
    } else if (message.offers_person === true) {
      offerOne(row, T.talkToPerson, function () {
        requestHandoff();
      });
    }
  }

  function offerOne(row, label, action) {
    var ask = el("div", "fb-ask latest");
    var b = button("link-btn", null, label);
    b.addEventListener("click", function () {
      dropAsk(row);
      action();
    });
    ask.appendChild(b);
    row.appendChild(ask);
  }

  function dropLatestOffers() {
    Array.prototype.forEach.call(log.querySelectorAll(".fb-ask.latest"), function (offer) {
      offer.parentNode.removeChild(offer);
    });
  }

  function dropAsk(row) {
    var ask = row.querySelector(".fb-ask");
    if (ask) ask.parentNode.removeChild(ask);
  }

  function retryAnswer(messageId, replyTo) {
    // The question again as a visitor message of its own; the server answers it past the FAQ
    // and cache answers. Not kept for a resend: a lost retry is one click to repeat.
    if (!ready) return ensureConnected();
    var asked = visitorRows.get(visitorById.get(replyTo));
    var clientId = newClientId();
    renderVisitor(clientId, asked ? asked.text : "", "pending");
    sendFrame({ type: "retry", client_id: clientId, message_id: messageId });
    scrollToBottom();
  }

  // --- attachments (docs/widget.md, "Attachments") ---------------------------------------
  var fileIds = new Set(); // visitor messages that carry a file: the bot never answers them
  var uploads = new Map(); // client id -> the File, for a retry

  function fileUrl(path) {
    // Only this server's signed attachment paths become links or images.
    return typeof path === "string" && /^\/attachments\/[A-Za-z0-9_:.\-]+\/$/.test(path) ? serverOrigin + path : null;
  }

  function sizeText(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " B";
  }

  function renderAttachment(bubble, a) {
    while (bubble.firstChild) bubble.removeChild(bubble.firstChild);
    bubble.classList.add("has-file");
    var name = String(a.name || "");
    var href = fileUrl(a.url);
    var thumb = fileUrl(a.thumbnail_url);
    if (a.image && href && thumb) {
      var pic = link(href, null);
      pic.className = "thumb";
      pic.setAttribute("aria-label", fmt(T.attachmentImage, { name: name }));
      var img = el("img");
      img.src = thumb;
      img.alt = name;
      img.loading = "lazy";
      img.addEventListener("load", function () {
        if (nearBottom()) scrollToBottom();
      });
      pic.appendChild(img);
      bubble.appendChild(pic);
      return;
    }
    var item = href ? link(href, null) : el("span");
    item.className = "file";
    if (href) item.setAttribute("download", name);
    item.appendChild(svg("file"));
    item.appendChild(el("span", null, name));
    if (typeof a.size === "number") item.appendChild(el("small", null, sizeText(a.size)));
    bubble.appendChild(item);
  }

  function showFilePending(v, file) {
    var bubble = v.row.querySelector(".bubble");
    renderAttachment(bubble, { name: file.name, size: file.size });
  }

  function uploadFile(clientId, file) {
    dropSuggestions();
    var v = renderVisitor(clientId, file.name, "pending");
    uploads.set(clientId, file);
    showFilePending(v, file);
    setVisitorState(v, "pending");
    var progress = v.meta.firstChild;
    if (progress) progress.textContent = fmt(T.uploading, { pct: 0 });
    scrollToBottom();
    var form = new FormData();
    form.append("conversation", store.conversation);
    form.append("token", store.token);
    form.append("client_id", clientId);
    if (identity) {
      Object.keys(identity).forEach(function (k) {
        if (identity[k]) form.append(k, identity[k]);
      });
    }
    form.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", serverOrigin + "/chat/attachments/?locale=" + encodeURIComponent(locale));
    xhr.withCredentials = false; // the conversation token is the credential, never cookies
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && v.state === "pending" && progress) {
        progress.textContent = fmt(T.uploading, { pct: Math.floor((100 * e.loaded) / e.total) });
      }
    });
    xhr.onload = function () {
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.message) {
        uploads.delete(clientId);
        renderMessage(body.message);
        return;
      }
      var refused = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 408 && xhr.status !== 429;
      if (refused) uploads.delete(clientId);
      // A proxy's own 413 (nginx's page, not our JSON) still says why.
      var why = xhr.status === 413 ? T.fileTooLarge : T.uploadFailed;
      setVisitorState(v, "failed", (body && typeof body.text === "string" && body.text) || why, refused);
    };
    xhr.onerror = function () {
      setVisitorState(v, "failed", T.uploadFailed);
    };
    xhr.send(form);
  }

  attachBtn.addEventListener("click", function () {
    if (!store.conversation) {
      ensureConnected();
      return;
    }
    fileInput.click();
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) uploadFile(newClientId(), file);
  });

  // --- stored messages (replay, agents, the system, other tabs) ---------------------------
  function renderMessage(m) {
    if (!m || typeof m.id !== "number") return;
    var role = m.role;
    if (role !== "visitor" && role !== "bot") personLineId = Math.max(personLineId, m.id);
    if (role === "visitor") {
      if (rendered.has(m.id)) return;
      var cid = typeof m.client_id === "string" && m.client_id ? m.client_id : "srv-" + m.id;
      var v = visitorStored(cid, m.id, String(m.text || ""));
      if (m.attachment) {
        fileIds.add(m.id);
        renderAttachment(v.row.querySelector(".bubble"), m.attachment);
      } else {
        v.row.querySelector(".bubble").textContent = String(m.text || "");
        markLanguage(v.row.querySelector(".bubble"), String(m.text || ""));
      }
      setTime(v.row, m.created);
      return;
    }
    if ((role === "bot" || role === "agent") && typeof m.reply_to === "number") {
      var r = replies.get(m.reply_to);
      if (r && r.done && r.messageId === m.id) return;
      if (!rendered.has(m.id) || r) {
        finishReply(m.reply_to, m);
        return;
      }
    }
    if (rendered.has(m.id)) return;
    var kind = role === "bot" || role === "agent" ? role : "system";
    var row = makeRow(kind);
    markLanguage(row.querySelector(".bubble"), String(m.text || ""));
    if (kind === "system") {
      row.querySelector(".bubble").textContent = String(m.text || "");
    } else {
      setWho(row, m);
      if (m.attachment) renderAttachment(row.querySelector(".bubble"), m.attachment);
      else renderRich(row.querySelector(".bubble"), String(m.text || ""));
      setTime(row, m.created);
    }
    if (kind === "bot") {
      addCitations(row, m.citations);
      addRelated(row, m.related);
    }
    if (kind === "bot" && m.source !== "small_talk") addFeedback(row, m.id, m.reply_to);
    if (kind === "bot") offerUnder(row, m, m.reply_to);
    markSeen(m.id);
    place(row, m.id);
    if (kind === "system") placeRepliesAfter(m.id);
    arrived(m.id, kind);
    if (kind === "agent") {
      newestAgentId = Math.max(newestAgentId, m.id);
      reportRead();
    }
  }

  // A system line stored before an answer that is already on screen goes above it.
  function placeRepliesAfter(systemId) {
    systemIds.push(systemId);
    replies.forEach(function (r) {
      if (r.row && r.row.parentNode === log && r.replyTo < systemId) {
        place(r.row, replyKey(r.replyTo, r.messageId));
      }
    });
  }

  // Tells the agent their messages were seen: only with the panel open on a visible page.
  function reportRead() {
    if (!ready || !isOpen || document.hidden || newestAgentId <= readSent) return;
    readSent = newestAgentId;
    sendFrame({ type: "read", up_to: newestAgentId });
  }

  // A notice of something that just happened (`happened`: a person joined, the assistant is
  // back) stays where it happened, above what is said after it; any other is the conversation's
  // state (in the queue, closed) and stays last.
  function showNotice(text, action, happened) {
    var row = makeRow("notice");
    row.querySelector(".bubble").textContent = text;
    row.setAttribute("role", "status");
    if (action) row.appendChild(action);
    place(row, happened ? newestKey() + 0.01 : Infinity);
    return row;
  }

  function newestKey() {
    var newest = 0;
    for (var i = 0; i < log.children.length; i++) {
      var k = sortKeyOf(log.children[i]);
      if (k !== Infinity && k > newest) newest = k;
    }
    return newest;
  }

  // ---------------------------------------------------------------------------------------
  // Connection
  // ---------------------------------------------------------------------------------------
  var ws = null;
  var connected = false; // hello received on the current socket
  var ready = false; // resumed received: safe to send messages
  var attempts = 0;
  var reconnectTimer = null;
  var everConnected = false;
  var convStatus = "bot";
  var convAgent = ""; // the agent's name while one has the conversation
  var queueWaitS = null; // this visitor's own wait while queued (the queue notice's figure)
  var statusNotice = null;
  var limitedNotice = null; // "too many chats from your network", shown once
  var limitedWaitMs = 0; // the server's retry_after for the next reconnect
  var originChecked = false; // asked once whether this site may open the socket at all
  var siteRefused = false; // it may not (CHAT_ALLOWED_ORIGINS): no more reconnecting
  var pageSent = ""; // the page the server was last told the visitor is on
  var livenessTimer = null; // runs while a frame that asks for an answer waits for one
  var lastHeard = 0; // when the current socket last sent a frame
  var stableTimer = null; // resets the backoff once a connection has lasted STABLE_MS

  // A single-page app changes the address without loading a page (history.pushState): before a
  // message, the agents are told where the visitor is now.
  function followPage() {
    var page = location.href.slice(0, 1000);
    if (page === pageSent) return;
    if (sendFrame({ type: "context", attributes: siteAttributes, page: page })) pageSent = page;
  }

  function wsUrl() {
    var u = new URL("/ws/chat/", serverOrigin);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (store.conversation) {
      u.searchParams.set("conversation", store.conversation);
      u.searchParams.set("token", store.token);
    }
    u.searchParams.set("locale", locale);
    u.searchParams.set("visitor", store.visitor);
    pageSent = location.href.slice(0, 1000);
    u.searchParams.set("page", pageSent);
    if (document.referrer) u.searchParams.set("referrer", document.referrer.slice(0, 1000));
    try {
      var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (tz) u.searchParams.set("tz", tz);
    } catch (e) {
      /* no Intl: no time zone */
    }
    if (Object.keys(siteAttributes).length) {
      u.searchParams.set("attributes", JSON.stringify(siteAttributes));
    }
    if (identity) {
      Object.keys(identity).forEach(function (k) {
        if (identity[k]) u.searchParams.set(k, identity[k]);
      });
    }
    return u.toString();
  }

  function setConn(text) {
    conn.textContent = text || "";
    conn.classList.toggle("show", !!text);
  }

  function ensureConnected() {
    if (ws || reconnectTimer || siteRefused) return;
    connect();
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (ws) return;
    if (!everConnected) setConn(T.connecting);
    var sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    expectAnswer(); // its hello
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      heard();
      var frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object") handleFrame(frame);
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      var hadHello = connected;
      stopWatching();
      ws = null;
      connected = false;
      ready = false;
      if (ev.code === FORBIDDEN_CLOSE_CODE) {
        startOver();
        return;
      }
      if (!hadHello && !everConnected && !originChecked) {
        checkOrigin();
        return;
      }
      scheduleReconnect();
    };
    sock.onerror = function () {
      /* onclose follows and reconnects */
    };
  }

  // A handshake the server refused for this site's origin is only "connection failed" to a
  // script, the same as a server that is down: ask over HTTP once, and if this site is not
  // allowed, say so (to the visitor, and to the site owner in the console) instead of
  // reconnecting for ever.
  function checkOrigin() {
    originChecked = true;
    // The chat server's own pages are always allowed; a browser sends no Origin header with a
    // same-origin GET, so the page names itself in the query too.
    if (typeof fetch !== "function" || location.origin === serverOrigin) return scheduleReconnect();
    var url = new URL("/widget/origin", serverOrigin);
    url.searchParams.set("origin", location.origin);
    fetch(url.toString(), { credentials: "omit", cache: "no-store" })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (o) {
        if (o && o.allowed === false) refuseSite(String(o.origin || location.origin));
        else scheduleReconnect();
      })
      .catch(function () {
        // The violation event comes after the rejection: wait for it before deciding.
        setTimeout(function () {
          if (checkBlockedByPolicy) tellCheckBlocked();
          else originChecked = false; // the server is down: ask again after the next failure
          scheduleReconnect();
        }, 50);
      });
  }

  // A page whose Content-Security-Policy lets the socket through but not the HTTP check cannot
  // tell a refused site from a server that is down: the widget asked again on every attempt,
  // each blocked, and the developer read nothing of ours in the console (an integrator's walk).
  var checkBlockedByPolicy = false;
  document.addEventListener("securitypolicyviolation", function (e) {
    if (String(e.blockedURI || "").indexOf(serverOrigin) === 0) checkBlockedByPolicy = true;
  });

  function tellCheckBlocked() {
    if (window.console && console.error) {
      console.error(
        "Chat widget: the chat server " + serverOrigin + " refused this page's connection or is " +
          "down, and this page's Content-Security-Policy blocks asking which (connect-src needs " +
          serverOrigin + " as well as its ws(s) address). If the server does not accept this site (" +
          location.origin + "), add it to CHAT_ALLOWED_ORIGINS (README, \"Embedding the widget\")."
      );
    }
  }

  function refuseSite(origin) {
    siteRefused = true;
    setConn(T.siteRefused);
    input.disabled = true;
    attachBtn.disabled = true;
    updateComposer();
    visitorRows.forEach(function (v) {
      if (v.state === "pending") setVisitorState(v, "failed", T.siteRefused);
    });
    if (window.console && console.error) {
      console.error(
        origin === "null"
          ? "Chat widget: this page has no origin of its own (a sandboxed iframe without allow-same-origin, " +
              "or a file: or data: URL), so no chat server can accept it. Load the widget on a page served " +
              "over http(s), or give the iframe allow-same-origin."
          : "Chat widget: the chat server " + serverOrigin + " does not accept this site (" + origin +
              "). Add it to CHAT_ALLOWED_ORIGINS in the server's settings (README, \"Embedding the widget\")."
      );
    }
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    setConn(navigator.onLine === false ? T.offline : T.reconnecting);
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempts));
    var delay = Math.max(base / 2 + Math.random() * (base / 2), limitedWaitMs); // jitter
    limitedWaitMs = 0;
    attempts++;
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function startOver(conversationId) {
    // forbidden: our stored conversation is gone or not ours; start a new one. With an id: a
    // verified visitor opens another of theirs (the server knows them; no token needed).
    clearConversation();
    if (conversationId) {
      store.conversation = conversationId;
      saveStore();
    }
    showAnotherConversation();
  }

  // The log emptied and a socket of its own for the conversation now in `store`.
  function showAnotherConversation() {
    clearLog();
    ratingRow = null;
    leftMessage = false;
    leftShown = false;
    noticesShown = false;
    attempts = 0;
    dropSocket();
    if (!siteRefused) connect();
  }

  // One conversation per browser: when another tab of it opens one (its first message, "Start a
  // new conversation", a past conversation), this tab shows that one too. Before, a tab loaded
  // before the first message started a second conversation on its own first message and wrote
  // it over the first, which the other tab then lost on its next load.
  window.addEventListener("storage", function (ev) {
    if (ev.key !== STORAGE_KEY || !ev.newValue) return;
    var other;
    try {
      other = JSON.parse(ev.newValue);
    } catch (e) {
      return;
    }
    if (!other || typeof other.conversation !== "string" || !other.conversation) return;
    if (other.conversation === store.conversation) return;
    if (typeof other.visitor === "string" && /^[\w-]{16,64}$/.test(other.visitor)) store.visitor = other.visitor;
    followConversation(other.conversation, typeof other.token === "string" ? other.token : "");
  });

  function followConversation(conversationId, token) {
    store.conversation = conversationId;
    store.token = token;
    store.lastSeenId = 0;
    showAnotherConversation();
  }

  // --- a socket that died without closing ---------------------------------------------------
  // The browser learns of it only when TCP gives up, minutes later: a network walk's message sat
  // at "Sending…" for 80 s with nothing said. Any frame from the server shows the socket lives.
  function expectAnswer() {
    if (!livenessTimer) livenessTimer = setTimeout(socketWentQuiet, LIVENESS_MS);
  }

  function heard() {
    lastHeard = Date.now();
    clearTimeout(livenessTimer);
    livenessTimer = null;
  }

  function stopWatching() {
    clearTimeout(livenessTimer);
    livenessTimer = null;
    clearTimeout(stableTimer);
    stableTimer = null;
  }

  // A new socket resumes where this one stopped and sends the unsent messages again (same
  // client ids: never answered twice).
  function socketWentQuiet() {
    livenessTimer = null;
    if (!ws) return;
    dropSocket();
    scheduleReconnect();
  }

  function pingIfQuiet() {
    if (!ready || livenessTimer || document.hidden) return;
    if (!isOpen && convStatus !== "queued" && convStatus !== "agent") return;
    if (Date.now() - lastHeard >= PING_IDLE_MS) sendFrame({ type: "ping" });
  }
  setInterval(pingIfQuiet, 5000);

  // Lets the current socket go without a reconnect from its onclose, which sees that it is no
  // longer the current one.
  function dropSocket() {
    var old = ws;
    stopWatching();
    ws = null;
    connected = ready = false;
    if (!old) return;
    try {
      old.close();
    } catch (e) {
      /* already closed */
    }
  }

  // Frames the server answers at once (`ack`, `resumed`, `pong`); the others may get nothing.
  var ANSWERED_FRAMES = ["message", "resume", "retry", "ping"];

  function sendFrame(frame) {
    if (!ws || ws.readyState !== 1) return false;
    frame.v = PROTOCOL_VERSION;
    try {
      ws.send(JSON.stringify(frame));
      if (ANSWERED_FRAMES.indexOf(frame.type) >= 0) expectAnswer();
      return true;
    } catch (e) {
      return false;
    }
  }

  function handleFrame(f) {
    switch (f.type) {
      case "hello":
        onHello(f);
        break;
      case "resumed":
        onResumed();
        break;
      case "ack":
        onAck(f);
        break;
      case "status":
        onStatus(f);
        break;
      case "token":
        applyToken(f.reply_to, f.offset, f.text);
        break;
      case "done":
        if (f.message && typeof f.message.id === "number") finishReply(f.reply_to, f.message);
        break;
      case "message":
        renderMessage(f.message);
        if (f.message && f.message.role === "agent") showPeerTyping(false);
        break;
      case "handoff":
        onHandoff(f);
        break;
      case "conversation":
        onConversation(f);
        break;
      case "typing":
        if (f.role === "agent") showPeerTyping(f.active !== false);
        break;
      case "cancelled":
        dropReply(f.reply_to);
        break;
      case "restarted":
        restartReply(f.reply_to, f.text);
        break;
      case "left_message":
        onLeftMessage(f);
        break;
      case "transcript_email":
        onTranscriptEmail(f);
        break;
      case "team":
        showTeam(f.team);
        break;
      case "rated":
        var hadFocus = root.activeElement;
        if (ratingRow) ratingRow.querySelector(".bubble").textContent = T.rateThanks;
        if (ratingRow && ratingRow.querySelector("form")) ratingRow.removeChild(ratingRow.querySelector("form"));
        refocus(hadFocus);
        // Stays where it was said, above what is written after it.
        if (ratingRow && ratingRow.parentNode === log) place(ratingRow, newestKey() + 0.01);
        break;
      case "error":
        onError(f);
        break;
      default:
        break; // newer server frames this widget does not know yet
    }
  }

  function onHello(f) {
    if (limitedNotice && limitedNotice.parentNode) limitedNotice.parentNode.removeChild(limitedNotice);
    limitedNotice = null;
    if (typeof f.conversation === "string" && f.conversation !== store.conversation) {
      if (store.conversation) {
        clearLog(); // a different conversation than the one shown
        leftShown = false;
        noticesShown = false;
      }
      store.conversation = f.conversation;
    }
    if (typeof f.token === "string") store.token = f.token;
    saveStore();
    connected = true;
    everConnected = true;
    clearTimeout(stableTimer);
    stableTimer = setTimeout(function () {
      attempts = 0;
    }, STABLE_MS);
    setConn("");
    setConversationStatus(f.status, typeof f.agent === "string" ? f.agent : "");
    showTeam(f.team);
    showPast(f.identified ? f.conversations : null);
    showLeftMessages(f.left_messages);
    showPastNotices(f.notices);
    // after 0 on a fresh page: the whole history; after a reconnect: only what we have not shown.
    sendFrame({ type: "resume", after: maxRenderedId() });
  }

  // A verified visitor's other conversations (hello's `conversations`, from any device), at the
  // top of the log; each opens by its id alone on their socket.
  var pastRow = null;
  function showPast(list) {
    if (pastRow && pastRow.parentNode) pastRow.parentNode.removeChild(pastRow);
    pastRow = null;
    var others = (Array.isArray(list) ? list : [])
      .filter(function (c) {
        return c && typeof c.conversation === "string" && c.conversation !== store.conversation;
      })
      .slice(0, 5);
    if (!others.length) return;
    var row = makeRow("notice");
    row.classList.add("past");
    row.querySelector(".bubble").textContent = T.pastConversations;
    others.forEach(function (c) {
      var when = new Date(c.updated);
      var label = (typeof c.preview === "string" && c.preview ? c.preview : T.noMessages) +
        (isNaN(when.getTime()) ? "" : " · " + when.toLocaleDateString(locale === "zh-hans" ? "zh-CN" : undefined));
      var b = button("link-btn", null, label);
      b.addEventListener("click", function () {
        startOver(c.conversation);
      });
      row.appendChild(b);
    });
    place(row, 0);
    pastRow = row;
  }

  // The subtitle says when a person would reply: in how long while the team is in, when it is
  // back, or that nobody is online now; the assistant answers at once either way.
  function showTeam(t) {
    if (!t || typeof t !== "object") return;
    team = t;
    teamAsked = Date.now();
    showSubtitle();
  }

  // Under the title: who the visitor is talking to once a person has the conversation (a reply
  // time there read as if nobody had come yet; a zh walk), else the team's hours and wait.
  function showSubtitle() {
    var t = team;
    if (convStatus === "agent") {
      sub.textContent = convAgent ? fmt(T.withAgentNamed, { name: convAgent }) : T.withAgent;
      return;
    }
    if (!t) return;
    var when = t.opens_at ? new Date(t.opens_at) : null;
    // Agents online outside the hours are answering: "back on Tuesday" above "you're number 2,
    // less than a minute" read as two answers (a walk); the queue follows who is online.
    var online = t.agents_online > 0;
    if (!t.open && !online && when && !isNaN(when.getTime())) {
      sub.textContent = fmt(T.subtitleAway, { when: backAt(when) });
    } else if (online && typeof t.reply_wait_s === "number") {
      // Queued, the header gives the visitor's own wait, as the queue notice does: the team's
      // usual reply time beside it read as two answers (约 2 分钟 above, 约 3 分钟 below; a zh walk).
      var wait = convStatus === "queued" && queueWaitS !== null ? queueWaitS : t.reply_wait_s;
      sub.textContent = fmt(T.subtitleTeam, { wait: waitText(wait) });
    } else if (t.agents_online === 0) {
      sub.textContent = T.subtitleNobody;
    } else {
      sub.textContent = T.subtitle;
    }
  }

  // When the team is back, in the visitor's own clock: the time alone today, with the weekday
  // within the week, with the date beyond it or on this weekday next week. "2-digit" hours read
  // "Mon 01:00 AM", and "Mon" said on a Monday meant next week's (a walk).
  function backAt(when) {
    var now = new Date();
    var options = { hour: "numeric", minute: "2-digit" };
    if (when.toDateString() !== now.toDateString()) {
      options.weekday = "short";
      if (when - now > 6 * 86400000 || when.getDay() === now.getDay()) {
        options.month = "short";
        options.day = "numeric";
      }
    }
    return when.toLocaleString(locale === "zh-hans" ? "zh-CN" : undefined, options);
  }

  // "No one is online" should not stay up for a visitor who keeps the panel open while an
  // agent signs in: an open panel on a visible page asks again now and then.
  function refreshTeam() {
    if (!connected || !isOpen || document.hidden || Date.now() - teamAsked < TEAM_REFRESH_MS) return;
    teamAsked = Date.now();
    sendFrame({ type: "team" });
  }

  function onResumed() {
    ready = true;
    if (missedWhileAway && !isOpen) markUnread();
    missedWhileAway = false;
    reportRead();
    // Questions with no answer since a person last wrote are being answered (or their answer
    // was lost with its server, and is being answered again): show the bot thinking on each;
    // the slow-answer notice offers a retry on any that still gets nothing.
    if (convStatus === "bot") {
      visitorById.forEach(function (clientId, id) {
        var r = replies.get(id);
        if (id > personLineId && !(r && r.done) && !fileIds.has(id)) startThinking(id);
      });
    }
    if (handoffWanted) {
      sendFrame(handoffWanted);
      handoffWanted = null;
    }
    // Re-send what the server never acknowledged, with the same client_id (it dedupes).
    store.pending.slice().forEach(function (p) {
      var v = visitorRows.get(p.client_id);
      if (v && v.state === "failed") return;
      if (!v) renderVisitor(p.client_id, p.text, "pending");
      sendFrame({ type: "message", client_id: p.client_id, text: p.text });
    });
  }

  function onAck(f) {
    if (typeof f.client_id !== "string" || typeof f.message_id !== "number") return;
    var v = visitorRows.get(f.client_id);
    var text = v ? v.text : "";
    v = visitorStored(f.client_id, f.message_id, text);
    setTime(v.row, f.created);
    var r = replies.get(f.message_id);
    // A message to a closed conversation reopens it (to the bot unless it asks for a person).
    var botMayAnswer = convStatus === "bot" || convStatus === "closed";
    if (!(r && r.done) && botMayAnswer) startThinking(f.message_id);
  }

  function onStatus(f) {
    if (typeof f.reply_to !== "number") return;
    var r = getReply(f.reply_to);
    if (r.done) return;
    // A stage's own word ("trying another way") goes out at once, its plain "Thinking…" after
    // a delay: the plain one must not cover the word the same stage said first.
    if (!f.detail && r.statusDetailStage === f.stage) return;
    if (f.detail) r.statusDetailStage = f.stage;
    if (typeof f.text === "string" && f.text) r.statusText = f.text;
    if (!r.row) startThinking(f.reply_to);
    showStatus(r);
  }

  function onError(f) {
    var text = typeof f.text === "string" && f.text ? f.text : T.failed;
    if (f.code === "forbidden") {
      // The server closes with 4403 next; onclose starts over. Start over now in case it doesn't.
      startOver();
      return;
    }
    if (typeof f.client_id === "string" && visitorRows.has(f.client_id)) {
      var v = visitorRows.get(f.client_id);
      removePending(f.client_id);
      setVisitorState(v, "failed", text);
      if (f.code === "rate_limited" && typeof f.retry_after === "number") {
        var btn = v.meta.querySelector(".retry");
        if (btn) {
          btn.disabled = true;
          setTimeout(function () {
            btn.disabled = false;
          }, Math.min(f.retry_after, 120) * 1000);
        }
      }
      return;
    }
    if (typeof f.reply_to === "number") {
      var r = getReply(f.reply_to);
      if (!r.done) replyError(r, text);
      return;
    }
    // A rate-limited "Back to the assistant" can be clicked again once the wait is over.
    if (f.code === "rate_limited") {
      var wait = typeof f.retry_after === "number" ? Math.min(f.retry_after, 120) * 1000 : 0;
      root.querySelectorAll(".leave-queue:disabled").forEach(function (b) {
        setTimeout(function () {
          b.disabled = false;
        }, wait);
      });
    }
    if (f.code === "too_many_requests") {
      // Too many sockets or handoffs from this network: one notice, and no reconnect before
      // the server's retry_after (the socket is closed with 4429 next).
      if (typeof f.retry_after === "number") limitedWaitMs = Math.min(f.retry_after, 120) * 1000;
      if (limitedNotice && limitedNotice.parentNode) {
        limitedNotice.querySelector(".bubble").textContent = text;
        return;
      }
      limitedNotice = showNotice(text);
      return;
    }
    if (FORM_ERRORS.indexOf(f.code) >= 0 && lastForm && lastForm.isConnected) {
      formError(lastForm, text);
      return;
    }
    // Where it happened: pinned last, it stayed under every later message for the rest of the
    // session (a walk).
    showNotice(text, null, true);
  }

  // A form's own errors show in the form, tied to its email field, and go with the form once
  // it is sent (a walk saw "enter a valid email" stay on screen under "sent").
  var FORM_ERRORS = ["invalid_email", "transcript_limit", "transcript_empty", "left_message_limit"];
  var lastForm = null; // the form whose frame went out last: the error is its answer

  function formError(form, text) {
    var note = form.querySelector(".form-error");
    if (!note) {
      note = el("p", "form-error");
      note.id = form.querySelector("input").id + "-error";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    note.textContent = text;
    var email = form.querySelector("input");
    email.setAttribute("aria-invalid", "true");
    email.setAttribute("aria-describedby", note.id);
    email.focus();
  }

  // A form sent again says nothing of its earlier error until the server answers (a mail walk
  // saw "enter a valid email" stay under a valid address).
  function clearFormError(form) {
    var note = form.querySelector(".form-error");
    if (note) note.parentNode.removeChild(note);
    var email = form.querySelector("input");
    email.removeAttribute("aria-invalid");
    email.removeAttribute("aria-describedby");
  }

  // The control that had the keyboard focus was hidden or taken away (the handoff button, a
  // sent form, the rating): the text box takes it, so a keyboard user is not sent back to the
  // top of the page, where Esc no longer closes the panel (a keyboard walk).
  function refocus(had) {
    if (!had || !isOpen) return;
    if (!had.isConnected || had.disabled || had.closest(".hide")) input.focus();
  }

  // `live`: the change happened just now (a `conversation` frame), so its notice stays where it
  // happened; from `hello` it is the state the history that follows already led to.
  function setConversationStatus(status, agentName, live, moved) {
    // Same status, unless another agent took the conversation over (a transfer): the server
    // says so (`moved`), since agents without a name (or with the same one) cannot be told apart.
    var transferred =
      status === "agent" && (moved || (agentName && convAgent && agentName !== convAgent));
    if (status === convStatus && !transferred) return;
    var had = root.activeElement;
    var previous = convStatus;
    convStatus = status;
    convAgent = status === "agent" ? agentName || convAgent : "";
    handoffBar.classList.toggle("hide", status !== "bot");
    if (status !== "bot") stopBotThinking();
    if (status !== "bot") dropLatestOffers();
    if (status !== "agent") showPeerTyping(false);
    // A notice of what happened ("ann has joined", "with the assistant again") stays where it
    // happened when the status moves on: it went, and ann's whole chat sat under nothing (a
    // walk). The state's notices (the queue, the close, and "with ann" after a reload) go.
    if (statusNotice && statusNotice.parentNode && sortKeyOf(statusNotice) === Infinity)
      statusNotice.parentNode.removeChild(statusNotice);
    statusNotice = null;
    leaveForm = null;
    if (previous === "closed" && ratingRow) {
      // Reopened: an unanswered rating offer goes (the server takes ratings of closed ones).
      var unrated = ratingRow.querySelector("form") && ratingRow.parentNode;
      if (unrated) ratingRow.parentNode.removeChild(ratingRow);
      ratingRow = null;
    }
    if (status === "queued") statusNotice = showNotice(T.queued, leaveQueueButton());
    else if (status === "agent")
      statusNotice = showNotice(
        agentName
          ? fmt(live ? T.agentJoined : T.withAgentNamed, { name: agentName })
          : transferred
            ? T.agentChanged
            : T.withAgent,
        null,
        live
      );
    else if (status === "bot" && (previous === "queued" || previous === "agent"))
      statusNotice = showNotice(T.backToBot, null, live);
    else if (status === "closed") {
      var again = button("link-btn", null, T.newConversation);
      again.addEventListener("click", function () {
        startOver();
        input.focus();
      });
      statusNotice = showNotice(T.closed, again);
    }
    showSubtitle();
    refocus(had);
  }

  // --- a person takes over (docs/protocol.md, handoff) --------------------------------------
  var handoffWanted = null; // the handoff frame to send once connected
  var leaveForm = null; // the leave-a-message form while it is shown
  var leftMessage = false;
  var ratingRow = null;
  var peerTypingRow = null;
  var peerTypingTimer = null;
  var typingSentAt = 0;

  function requestHandoff(reason) {
    var frame = { type: "handoff" };
    if (reason) frame.reason = reason;
    if (ready) {
      followPage(); // agents see the page the visitor asks from (a single-page app's, too)
      sendFrame(frame);
    } else {
      handoffWanted = frame;
      ensureConnected();
    }
  }

  function leaveQueueButton() {
    var back = button("link-btn leave-queue", null, T.leaveQueue);
    back.addEventListener("click", function () {
      back.disabled = true;
      sendFrame({ type: "handoff_cancel" });
    });
    return back;
  }

  function stopBotThinking() {
    // The bot will not answer now: drop "thinking" rows of answers that never started.
    replies.forEach(function (r, replyTo) {
      if (!r.done && !r.gotToken) dropReply(replyTo);
    });
  }

  function dropReply(replyTo) {
    var r = replies.get(replyTo);
    if (!r || r.done) return;
    clearReplyTimers(r);
    if (r.row && r.row.parentNode) r.row.parentNode.removeChild(r.row);
    replies.delete(replyTo);
  }

  function waitText(seconds) {
    if (typeof seconds !== "number" || seconds < 60) return T.waitUnderMinute;
    return fmt(T.waitMinutes, { n: Math.round(seconds / 60) });
  }

  function onHandoff(f) {
    if (f.status !== "queued") return;
    queueWaitS = typeof f.estimated_wait_s === "number" ? f.estimated_wait_s : null;
    // The subtitle follows who is online now, not at connect time.
    if (team && typeof f.agents_online === "number") showTeam(Object.assign({}, team, { agents_online: f.agents_online }));
    setConversationStatus("queued");
    showSubtitle();
    if (!statusNotice) return;
    // Nobody online: no "connecting you" and no wait estimate; the leave-a-message offer says
    // what happens next.
    // Queued by the server after answers it could not give (every model down, or several
    // fallbacks in a row): the reason is said, or "connecting you with a member of our team"
    // under "ask to talk to a person" read as if the visitor had asked (a walk).
    var byServer = f.reason === "models_down" || f.reason === "bot_unsure";
    var text = f.agents_online === 0 ? T.queuedNobodyOnline : byServer ? T.queuedForYou : T.queued;
    if (typeof f.position === "number" && f.agents_online !== 0)
      text += " " + fmt(T.queuePlace, { position: f.position, wait: waitText(f.estimated_wait_s) });
    statusNotice.querySelector(".bubble").textContent = text;
    if (f.agents_online === 0 && !leftMessage) showLeaveForm();
    else if (leaveForm && leaveForm.parentNode) {
      leaveForm.parentNode.removeChild(leaveForm);
      leaveForm = null;
    }
  }

  function field(labelText, control, id) {
    control.id = id;
    var label = el("label", null, labelText);
    label.setAttribute("for", id);
    return [label, control];
  }

  function showLeaveForm() {
    // An offer first; the form opens on request.
    if (leaveForm || !statusNotice) return;
    var offer = el("div", "leave-offer");
    offer.appendChild(el("p", null, team && !team.open && team.away ? team.away : T.noAgents));
    var open = button("link-btn", null, T.leaveOpen);
    open.addEventListener("click", function () {
      offer.replaceChild(leaveFormFields(), open);
    });
    offer.appendChild(open);
    statusNotice.appendChild(offer);
    leaveForm = offer;
  }

  function leaveFormFields() {
    var form = el("form", "leave");
    form.setAttribute("novalidate", "");
    var email = el("input");
    email.type = "email";
    email.autocomplete = "email";
    email.required = true;
    var text = el("textarea");
    text.rows = 3;
    text.required = true;
    // The server takes as much as a chat message; longer got "could not be read" (a mail walk).
    text.maxLength = MAX_CHARS;
    field(T.emailLabel, email, "cbw-leave-email").forEach(function (n) {
      form.appendChild(n);
    });
    field(T.leaveLabel, text, "cbw-leave-text").forEach(function (n) {
      form.appendChild(n);
    });
    var submitBtn = button("link-btn", null, T.leaveSend);
    submitBtn.type = "submit";
    form.appendChild(submitBtn);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var value = text.value.trim();
      if (!email.value.trim() || !value) return;
      clearFormError(form);
      lastForm = form;
      followPage();
      sendFrame({ type: "leave_message", email: email.value.trim(), text: value });
    });
    setTimeout(function () {
      email.focus();
    }, 0);
    return form;
  }

  // The thanks stays where it happened, with the visitor's own words: it sat in the queue
  // notice and went with it, so an agent's answer later came under no question at all (a walk).
  var leftShown = false; // this page shows the messages left (hello's come once per page)
  function leftNotice(email, text, key) {
    var row = showNotice(fmt(T.leftThanks, { email: String(email || "") }), null, true);
    if (typeof text === "string" && text) {
      var words = el("p", "left-text", text);
      markLanguage(words, text);
      row.appendChild(words);
    }
    if (typeof key === "number") place(row, key);
    return row;
  }

  function onLeftMessage(f) {
    leftMessage = true;
    leftShown = true;
    if (!leaveForm) return;
    var had = root.activeElement;
    leaveForm.parentNode.removeChild(leaveForm);
    leaveForm = null;
    leftNotice(f.email, f.text);
    refocus(had);
  }

  // After a reload: each where it was left, and no form offered again while one waits.
  function showLeftMessages(list) {
    if (leftShown || !Array.isArray(list)) return;
    leftShown = true;
    list.forEach(function (m) {
      if (!m || typeof m.after_id !== "number") return;
      leftNotice(m.email, m.text, m.after_id + 0.02);
      if (!m.answered) leftMessage = true;
    });
  }

  // After a reload: "Ana has joined the chat" and "with our assistant again" where they were
  // said (the page showed them live; hello's come once per page and conversation). Not read out
  // to a screen reader: they are history, as the messages around them are.
  var noticesShown = false;
  function showPastNotices(list) {
    if (noticesShown) return;
    noticesShown = true;
    (Array.isArray(list) ? list : []).forEach(function (n, i) {
      if (!n || typeof n.after_id !== "number") return;
      var name = typeof n.name === "string" ? n.name : "";
      var text = n.kind === "joined" ? (name ? fmt(T.agentJoined, { name: name }) : T.withAgent) : n.kind === "bot" ? T.backToBot : "";
      if (!text) return;
      var row = makeRow("notice");
      row.querySelector(".bubble").textContent = text;
      place(row, n.after_id + 0.01 + i * 0.0001);
    });
  }

  // Email transcript: the visitor types an address; the server sends the conversation so far.
  var transcriptRow = null; // the notice holding the form while it is shown

  function showTranscriptForm() {
    if (transcriptRow && transcriptRow.parentNode) {
      transcriptRow.querySelector("input").focus();
      return;
    }
    var form = el("form", "transcript");
    form.setAttribute("novalidate", "");
    var email = el("input");
    email.type = "email";
    email.autocomplete = "email";
    email.required = true;
    field(T.emailLabel, email, "cbw-transcript-email").forEach(function (n) {
      form.appendChild(n);
    });
    var submitBtn = button("link-btn", null, T.transcriptSend);
    submitBtn.type = "submit";
    form.appendChild(submitBtn);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!email.value.trim()) return;
      clearFormError(form);
      lastForm = form;
      sendFrame({ type: "transcript_email", email: email.value.trim() });
    });
    transcriptRow = showNotice(T.transcriptAsk, form);
    setTimeout(function () {
      email.focus();
    }, 0);
  }

  function onTranscriptEmail(f) {
    // An address that is not the verified visitor's own gets a link first (its owner asks).
    var text = fmt(f.confirm ? T.transcriptConfirm : T.transcriptSent, { email: String(f.email || "") });
    if (!transcriptRow || !transcriptRow.parentNode) {
      showNotice(text);
      return;
    }
    var had = root.activeElement;
    var form = transcriptRow.querySelector("form");
    if (form) transcriptRow.removeChild(form);
    transcriptRow.querySelector(".bubble").textContent = text;
    transcriptRow = null;
    refocus(had);
  }

  function onConversation(f) {
    setConversationStatus(f.status, typeof f.agent === "string" ? f.agent : "", true, f.moved === true);
    if (f.status === "closed" && f.ask_rating) showRating();
  }

  function showRating() {
    if (ratingRow) return;
    var stick = nearBottom();
    ratingRow = showNotice(T.rateTitle);
    var form = el("form", "rating");
    var stars = el("div", "stars");
    var score = 0;
    for (var n = 1; n <= 5; n++) {
      (function (value) {
        var b = button(null, fmt(T.rateStar, { n: value }), "★");
        b.setAttribute("aria-pressed", "false");
        b.addEventListener("click", function () {
          score = value;
          stars.querySelectorAll("button").forEach(function (o, i) {
            o.setAttribute("aria-pressed", i < value ? "true" : "false");
          });
          sendRating.disabled = false;
        });
        stars.appendChild(b);
      })(n);
    }
    form.appendChild(stars);
    var comment = el("textarea");
    comment.rows = 2;
    field(T.rateComment, comment, "cbw-rate-comment").forEach(function (node) {
      form.appendChild(node);
    });
    var sendRating = button("link-btn", null, T.rateSend);
    sendRating.type = "submit";
    sendRating.disabled = true;
    form.appendChild(sendRating);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (score) sendFrame({ type: "rating", score: score, comment: comment.value.trim() });
    });
    ratingRow.appendChild(form);
    if (stick) scrollToBottom(); // the stars, not only the title, in view
  }

  function showPeerTyping(on) {
    clearTimeout(peerTypingTimer);
    if (!on) {
      if (peerTypingRow && peerTypingRow.parentNode) peerTypingRow.parentNode.removeChild(peerTypingRow);
      peerTypingRow = null;
      return;
    }
    if (!peerTypingRow) {
      peerTypingRow = el("div", "row peer-typing");
      peerTypingRow.appendChild(el("div", "who", T.agent));
      var b = el("div", "bubble");
      b.setAttribute("role", "img");
      b.setAttribute("aria-label", T.agentTyping);
      for (var i = 0; i < 3; i++) b.appendChild(el("span", "dot"));
      peerTypingRow.appendChild(b);
      place(peerTypingRow, Infinity);
    }
    peerTypingTimer = setTimeout(function () {
      showPeerTyping(false);
    }, 8000);
  }

  function sendTyping(active) {
    // Only a person reads typing; the bot does not need it.
    if (convStatus !== "queued" && convStatus !== "agent") return;
    var now = Date.now();
    if (active && now - typingSentAt < 2500) return;
    typingSentAt = active ? now : 0;
    sendFrame({ type: "typing", active: active });
  }

  handoffBtn.addEventListener("click", function () {
    requestHandoff();
  });

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
