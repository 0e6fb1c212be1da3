/*
 * credit-ledger merchant dashboard.
 *
 * Talks only to the API that served it (same origin): EIP-4361 sign-in
 * (GET /auth/nonce, POST /auth/login), GET /merchant/me, GET /merchant/history,
 * GET /merchant/growth (when the server offers it) and POST /verify, once per
 * round, whose per-check answer colours that round's badge. Nothing in the
 * history response is trusted as "verified": only the checks /verify ran
 * against the chain are.
 *
 * Libraries (served by the API from node_modules, never a CDN): ethers v6
 * (global `ethers`) and ECharts (global `echarts`).
 *
 * Test hook: `window.__dashboard` is the page's state (read-only by convention).
 */
(function () {
  "use strict";

  // -- constants ------------------------------------------------------------------

  /** The well-known development mnemonic of anvil / hardhat: its keys are PUBLIC. */
  var DEV_MNEMONIC = "test test test test test test test test test test test junk";
  /** Demo merchants are bound to development accounts 10..14 (ledger.accounts.FIRST_DEV_MERCHANT_INDEX). */
  var FIRST_DEMO_ACCOUNT = 10;
  var DEMO_MERCHANTS = 5;
  var DEMO_PARENT_PATH = "m/44'/60'/0'/0";
  /** The demo-key flow exists only on these development chains. */
  var DEV_CHAIN_IDS = [31337, 1337];
  var SIWE_STATEMENT = "Sign in to credit-ledger";
  var MESSAGE_TTL_MS = 5 * 60 * 1000;
  var VERIFY_CONCURRENCY = 3;
  var SESSION_KEY = "credit-ledger.dashboard.session";
  var LANG_KEY = "credit-ledger.dashboard.lang";
  var COLORS = { ok: "#15803d", fail: "#b91c1c", pending: "#94a3b8", score: "#1d4ed8", limit: "rgba(14, 165, 233, 0.38)" };

  // -- texts ----------------------------------------------------------------------

  var TEXTS = {
    zh: {
      "doc.title": "信用账本 · 商户看板",
      "app.brand": "信用账本",
      "app.title": "商户看板",
      "skip": "跳到主要内容",
      "colon": "：",
      "lang.button": "EN",
      "lang.aria": "Switch to English",
      "signout": "退出登录",
      "nav.label": "页面导航",
      "nav.overview": "概览",
      "nav.trajectory": "信用轨迹",
      "nav.analysis": "经营分析",
      "signin.title": "商户登录",
      "signin.intro": "用绑定到您商户身份的钱包签名登录（以太坊登录，EIP-4361）。签名不会发起交易，也不花费任何费用。",
      "wallet.title": "浏览器钱包",
      "wallet.found": "已检测到浏览器钱包。点击后请在钱包中确认签名。",
      "wallet.missing": "未检测到浏览器钱包（window.ethereum）。可安装钱包扩展后刷新本页；在开发链上也可使用演示密钥登录。",
      "wallet.button": "用浏览器钱包登录",
      "demo.title": "演示密钥",
      "demo.explain": "这 5 个演示商户绑定在本地开发链（链 ID {chain}）的开发账户 #10–#14 上。它们的私钥来自公开的 anvil 开发助记词，任何人都知道。本页用 ethers 在浏览器内派生密钥并签名，私钥不会发送到服务器。",
      "demo.label": "演示商户",
      "demo.option": "演示商户 {n}",
      "demo.button": "以演示商户登录",
      "demo.banner": "您正在使用演示密钥登录（演示密钥 / demo key — never use for real funds）。",
      "status.nonce": "正在获取一次性登录随机数…",
      "status.derive": "正在派生演示密钥…",
      "status.connect": "正在连接浏览器钱包…",
      "status.sign": "请在钱包中确认签名…",
      "status.login": "正在登录…",
      "status.loading": "正在读取您的信用记录…",
      "err.chain": "区块链节点无响应，暂时无法登录。",
      "err.notMerchant": "该账户（{address}）没有绑定商户身份，无法查看商户看板。",
      "err.expired": "会话已过期，请重新登录。",
      "err.libs": "页面依赖的本地库未能加载：{names}。请在仓库根目录运行 npm ci（或 make install）后刷新本页。",
      "err.noEthers": "签名库 ethers 未加载，无法登录。",
      "err.demoChain": "链 {chain} 不是开发链，演示密钥不可用。",
      "err.rejected": "您在钱包中取消了签名。",
      "err.generic": "出错了：{message}",
      "err.network": "无法连接到服务器。",
      "overview.title": "概览",
      "stat.score": "最新信用分",
      "stat.limit": "当前额度",
      "stat.verified": "链上验证通过",
      "stat.verifiedValue": "{ok} / {total} 轮",
      "stat.verifiedPending": "验证中…",
      "stat.products": "匹配产品",
      "stat.round": "第 {round} 轮",
      "stat.none": "—",
      "field.merchantKey": "商户密钥（假名）",
      "field.account": "绑定账户",
      "field.kind": "类型",
      "field.status": "状态",
      "field.signin": "登录方式",
      "signin.demo": "演示密钥",
      "signin.wallet": "浏览器钱包",
      "kind.merchant": "商户",
      "kind.farmer": "农户",
      "kind.virtual": "虚拟",
      "mstatus.active": "正常",
      "mstatus.suspended": "已暂停",
      "mstatus.unregistered": "未注册",
      "traj.title": "信用轨迹",
      "traj.hint": "每轮一个点：信用分（折线，满分 900）和额度（柱）。每轮的徽章由本页自己计算：把该轮的证明包发送到 POST /verify，逐项读取链上检查结果——全部通过为绿色，任一项失败为红色。",
      "traj.empty": "暂无信用决策记录。",
      "traj.rounds": "各轮明细（最新在前）",
      "traj.chartLabel": "信用轨迹图：{n} 轮的信用分与额度。详细数据见下方各轮列表。",
      "chart.score": "信用分",
      "chart.limit": "额度（元）",
      "chart.round": "第{n}轮",
      "chart.missing": "图表库 ECharts 未加载，下方列表仍显示全部数据。",
      "round.title": "第 {n} 轮",
      "round.score": "信用分",
      "round.limit": "额度",
      "round.first": "首次评估",
      "round.added": "新增原因",
      "round.removed": "不再适用",
      "round.unchanged": "原因与上一轮相同",
      "round.reasons": "本轮原因",
      "round.noReasons": "无",
      "round.products": "产品",
      "round.productsAdded": "新增产品",
      "round.productsRemoved": "移除产品",
      "round.noProducts": "无匹配产品",
      "round.model": "模型版本 v{from} → v{to}",
      "round.policy": "策略版本 v{from} → v{to}",
      "round.checks": "验证明细",
      "round.download": "下载证明包（JSON）",
      "round.anchor": "锚定交易 {tx}，区块 {block}",
      "round.offline": "不想信任本服务器？下载证明包后运行 credit-ledger verify bundle.json --rpc <节点地址> 自行核验。",
      "score.none": "未评分",
      "limit.none": "未授信",
      "badge.ok": "链上已验证",
      "badge.fail": "验证失败",
      "badge.pending": "验证中…",
      "badge.error": "无法验证",
      "badge.unanchored": "尚未上链",
      "badge.failedChecks": "未通过：{names}",
      "check.format": "格式",
      "check.leaf_hash": "叶子哈希",
      "check.proof": "默克尔证明",
      "check.round": "轮次",
      "check.chain_id": "链 ID",
      "check.contract_pinned": "合约地址",
      "check.contract_code": "合约代码",
      "check.anchored_root": "链上默克尔根",
      "check.block": "锚定区块",
      "check.versions": "模型/策略版本",
      "check.on_chain_verify": "合约 verifyDecision",
      "check.anchor_tx": "锚定交易",
      "check.matches_display": "与页面显示一致",
      "check.request": "请求 /verify",
      "check.displayDetail": "页面显示的轮次、信用分、额度、产品与证明包中的叶子一致",
      "check.displayMismatch": "页面显示的数值与证明包中的叶子不一致",
      "analysis.title": "经营分析",
      "analysis.loading": "正在加载经营分析…",
      "analysis.na": "经营分析暂不可用",
      "analysis.na404": "此服务器尚未提供经营分析接口（GET /merchant/growth）。",
      "analysis.naError": "经营分析服务出错（HTTP {status}）。信用轨迹和链上验证不受影响，请稍后重试。",
      "analysis.naNetwork": "无法连接经营分析服务。",
      "analysis.retry": "重试",
      "analysis.limit": "当前额度",
      "analysis.products": "匹配产品",
      "analysis.noProducts": "暂无匹配产品",
      "analysis.window": "数据窗口 {from} 至 {to}（{days} 天有效数据，同业同区域 {peers} 家）",
      "analysis.revenue": "近 60 天营收与订单",
      "analysis.revenueLabel": "近 60 天每日营收与订单数图表。",
      "analysis.indicators": "四项经营指标（0–100）",
      "analysis.peer": "同业平均 {avg} · 超过 {pct}% 同业",
      "analysis.diagnosis": "经营诊断",
      "analysis.noDiagnosis": "暂无诊断项。",
      "analysis.numbers": "依据数据",
      "analysis.matched": "匹配产品：{name}",
      "analysis.offered": "已在您当前的授信产品中",
      "analysis.notOffered": "需满足审批条件后提供",
      "analysis.fromDecision": "额度与产品来自您最新一轮（第 {round} 轮）的信用决策。",
      "analysis.category.sku": "商品",
      "analysis.category.restock": "补货",
      "analysis.category.customer": "客群",
      "analysis.category.marketing": "营销",
      "chart.revenue": "营收（元）",
      "chart.orders": "订单数",
      "footer.local": "所有数据来自本机的 API 与区块链节点；本页不向任何第三方发送请求。",
      "footer.offline": "证明包可离线核验：credit-ledger verify bundle.json --rpc <节点地址>。"
    },
    en: {
      "doc.title": "credit-ledger · Merchant dashboard",
      "app.brand": "credit-ledger",
      "app.title": "Merchant dashboard",
      "skip": "Skip to main content",
      "colon": ": ",
      "lang.button": "中文",
      "lang.aria": "切换到中文",
      "signout": "Sign out",
      "nav.label": "Sections",
      "nav.overview": "Overview",
      "nav.trajectory": "Credit trajectory",
      "nav.analysis": "Operating analysis",
      "signin.title": "Merchant sign-in",
      "signin.intro": "Sign in by signing a message with the wallet bound to your merchant identity (Sign-In with Ethereum, EIP-4361). Signing sends no transaction and costs nothing.",
      "wallet.title": "Browser wallet",
      "wallet.found": "A browser wallet was found. Confirm the signature in your wallet.",
      "wallet.missing": "No browser wallet (window.ethereum) found. Install a wallet extension and reload; on a development chain you can also use a demo key.",
      "wallet.button": "Sign in with browser wallet",
      "demo.title": "Demo key",
      "demo.explain": "These five demo merchants are bound to development accounts #10–#14 of the local development chain (chain id {chain}). Their private keys come from the public anvil development mnemonic and are known to everyone. This page derives the key with ethers and signs in your browser; the key is never sent to the server.",
      "demo.label": "Demo merchant",
      "demo.option": "Demo merchant {n}",
      "demo.button": "Sign in as demo merchant",
      "demo.banner": "Signed in with a demo key (演示密钥 / demo key — never use for real funds).",
      "status.nonce": "Fetching a single-use sign-in nonce…",
      "status.derive": "Deriving the demo key…",
      "status.connect": "Connecting to the browser wallet…",
      "status.sign": "Confirm the signature in your wallet…",
      "status.login": "Signing in…",
      "status.loading": "Reading your credit history…",
      "err.chain": "The chain node does not answer; sign-in is unavailable for now.",
      "err.notMerchant": "The account {address} is not bound to a merchant identity.",
      "err.expired": "Your session expired; sign in again.",
      "err.libs": "Local libraries failed to load: {names}. Run npm ci (or make install) at the repository root, then reload.",
      "err.noEthers": "The signing library (ethers) did not load; sign-in is unavailable.",
      "err.demoChain": "Chain {chain} is not a development chain; demo keys are not available.",
      "err.rejected": "You declined the signature in your wallet.",
      "err.generic": "Something went wrong: {message}",
      "err.network": "The server cannot be reached.",
      "overview.title": "Overview",
      "stat.score": "Latest score",
      "stat.limit": "Current limit",
      "stat.verified": "Verified on-chain",
      "stat.verifiedValue": "{ok} / {total} rounds",
      "stat.verifiedPending": "Verifying…",
      "stat.products": "Matched products",
      "stat.round": "round {round}",
      "stat.none": "—",
      "field.merchantKey": "Merchant key (pseudonymous)",
      "field.account": "Bound account",
      "field.kind": "Kind",
      "field.status": "Status",
      "field.signin": "Signed in with",
      "signin.demo": "Demo key",
      "signin.wallet": "Browser wallet",
      "kind.merchant": "Merchant",
      "kind.farmer": "Farmer",
      "kind.virtual": "Virtual",
      "mstatus.active": "Active",
      "mstatus.suspended": "Suspended",
      "mstatus.unregistered": "Unregistered",
      "traj.title": "Credit trajectory",
      "traj.hint": "One point per round: score (line, out of 900) and limit (bars). Each round's badge is computed by this page: it sends the round's proof bundle to POST /verify and reads every on-chain check — green when all pass, red when any fails.",
      "traj.empty": "No credit decisions yet.",
      "traj.rounds": "Round by round, newest first",
      "traj.chartLabel": "Credit trajectory chart: score and limit over {n} rounds. The list below has every value.",
      "chart.score": "Score",
      "chart.limit": "Limit (CNY)",
      "chart.round": "R{n}",
      "chart.missing": "The charting library (ECharts) did not load; the list below still shows every value.",
      "round.title": "Round {n}",
      "round.score": "Score",
      "round.limit": "Limit",
      "round.first": "First assessment",
      "round.added": "New reasons",
      "round.removed": "No longer applies",
      "round.unchanged": "Same reasons as the previous round",
      "round.reasons": "Reasons",
      "round.noReasons": "none",
      "round.products": "Products",
      "round.productsAdded": "Products added",
      "round.productsRemoved": "Products removed",
      "round.noProducts": "No matched products",
      "round.model": "Model v{from} → v{to}",
      "round.policy": "Policy v{from} → v{to}",
      "round.checks": "Verification checks",
      "round.download": "Download proof bundle (JSON)",
      "round.anchor": "Anchor tx {tx}, block {block}",
      "round.offline": "Rather not trust this server? Download the bundle and run credit-ledger verify bundle.json --rpc <node URL>.",
      "score.none": "not scored",
      "limit.none": "declined",
      "badge.ok": "Verified on-chain",
      "badge.fail": "Verification failed",
      "badge.pending": "Verifying…",
      "badge.error": "Could not verify",
      "badge.unanchored": "Not anchored yet",
      "badge.failedChecks": "Failed: {names}",
      "check.format": "Format",
      "check.leaf_hash": "Leaf hash",
      "check.proof": "Merkle proof",
      "check.round": "Round",
      "check.chain_id": "Chain id",
      "check.contract_pinned": "Contract address",
      "check.contract_code": "Contract code",
      "check.anchored_root": "Anchored root",
      "check.block": "Anchor block",
      "check.versions": "Model/policy versions",
      "check.on_chain_verify": "Contract verifyDecision",
      "check.anchor_tx": "Anchor transaction",
      "check.matches_display": "Matches this page",
      "check.request": "POST /verify",
      "check.displayDetail": "The round, score, limit and products shown equal the bundle's leaf",
      "check.displayMismatch": "The values shown differ from the bundle's leaf",
      "analysis.title": "Operating analysis",
      "analysis.loading": "Loading the operating analysis…",
      "analysis.na": "Operating analysis not available",
      "analysis.na404": "This server does not offer the operating analysis (GET /merchant/growth) yet.",
      "analysis.naError": "The operating analysis failed (HTTP {status}). The trajectory and on-chain checks are unaffected; try again later.",
      "analysis.naNetwork": "The operating analysis cannot be reached.",
      "analysis.retry": "Retry",
      "analysis.limit": "Current limit",
      "analysis.products": "Matched products",
      "analysis.noProducts": "No matched products",
      "analysis.window": "Data from {from} to {to} ({days} valid days; {peers} peers in the same industry and region)",
      "analysis.revenue": "Revenue and orders, last 60 days",
      "analysis.revenueLabel": "Chart of daily revenue and orders over the last 60 days.",
      "analysis.indicators": "Four operating indicators (0–100)",
      "analysis.peer": "Peers average {avg} · ahead of {pct}% of peers",
      "analysis.diagnosis": "Diagnosis",
      "analysis.noDiagnosis": "No diagnosis items.",
      "analysis.numbers": "The numbers",
      "analysis.matched": "Matched product: {name}",
      "analysis.offered": "already in your current offer",
      "analysis.notOffered": "offered once approval criteria are met",
      "analysis.fromDecision": "Limit and products are those of your latest decision (round {round}).",
      "analysis.category.sku": "SKUs",
      "analysis.category.restock": "Restocking",
      "analysis.category.customer": "Customers",
      "analysis.category.marketing": "Marketing",
      "chart.revenue": "Revenue (CNY)",
      "chart.orders": "Orders",
      "footer.local": "All data comes from this machine's API and chain node; this page sends no request to any third party.",
      "footer.offline": "Bundles can be checked offline: credit-ledger verify bundle.json --rpc <node URL>."
    }
  };

  // -- state (exposed for tests as window.__dashboard) -------------------------------

  var state = {
    lang: "zh",
    phase: "loading", // loading | signed-out | signed-in
    libs: { ethers: false, echarts: false },
    chainId: null,
    session: null, // {token, expiresAt, address, merchantKey, method}
    me: null,
    decisions: [],
    verification: {}, // round -> {status: pending|ok|fail|error|unanchored, checks: [...]}
    verifyDone: false,
    growth: { status: "idle", httpStatus: null, data: null },
    chart: { rounds: [], scores: [], limits: [], colors: [] },
    errors: []
  };
  window.__dashboard = state;

  var charts = { trajectory: null, revenue: null };
  var demoRoot = null;
  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var loadGeneration = 0;

  // -- small helpers ----------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function t(key, params) {
    var table = TEXTS[state.lang] || TEXTS.zh;
    var text = table[key] !== undefined ? table[key] : (TEXTS.zh[key] !== undefined ? TEXTS.zh[key] : key);
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return params[name] !== undefined && params[name] !== null ? String(params[name]) : m;
      });
    }
    return text;
  }

  /** Build an element: h("p", {class: "x", text: "..."}, child, ...). Text is never parsed as HTML. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k === "dataset") Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else if (k.slice(0, 2) === "on" && typeof v === "function") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.append(child instanceof Node ? child : String(child));
  }

  function locale() { return state.lang === "zh" ? "zh-CN" : "en-US"; }

  function fmtInt(n) { return new Intl.NumberFormat(locale()).format(n); }

  function fmtNum(n, digits) {
    if (n === null || n === undefined || !isFinite(n)) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits === undefined ? 2 : digits }).format(n);
  }

  function fmtCny(n) {
    return new Intl.NumberFormat(locale(), {
      style: "currency", currency: "CNY", currencyDisplay: "narrowSymbol", maximumFractionDigits: 0
    }).format(n);
  }

  function fmtCompact(n) {
    return new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 1 }).format(n);
  }

  function shortHex(s, head, tail) {
    if (!s) return "";
    head = head || 6; tail = tail || 4;
    return s.length > head + tail + 1 ? s.slice(0, head) + "…" + s.slice(-tail) : s;
  }

  function signed(n, formatter) {
    if (n === 0) return "±0";
    return (n > 0 ? "+" : "−") + formatter(Math.abs(n));
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function reasonText(r) { return state.lang === "zh" ? r.zh : r.en; }
  function productList(d) { return (d.products && d.products[state.lang]) || []; }

  // -- API --------------------------------------------------------------------------

  function ApiError(status, code, message) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function UiError(key, params) {
    this.name = "UiError";
    this.key = key;
    this.params = params;
    this.message = key;
  }
  UiError.prototype = Object.create(Error.prototype);

  function api(path, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    var init = { method: options.method || "GET", headers: headers, cache: "no-store", credentials: "same-origin" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (options.auth !== false && state.session) headers.Authorization = "Bearer " + state.session.token;
    return fetch(path, init).then(
      function (res) {
        return res.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!res.ok) {
            var err = data && data.error ? data.error : {};
            throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText || "HTTP " + res.status);
          }
          return data;
        });
      },
      function () { throw new ApiError(0, "network", t("err.network")); }
    );
  }

  function errorText(err) {
    if (err instanceof UiError) return t(err.key, err.params);
    if (err && (err.code === "ACTION_REJECTED" || err.code === 4001 || (err.info && err.info.error && err.info.error.code === 4001))) {
      return t("err.rejected");
    }
    if (err instanceof ApiError && err.status === 0) return t("err.network");
    var message = (err && (err.shortMessage || err.message)) || String(err);
    return t("err.generic", { message: message });
  }

  // -- session ----------------------------------------------------------------------

  function loadSession() {
    try {
      var raw = window.sessionStorage.getItem(SESSION_KEY);
      if (!raw) return null;
      var s = JSON.parse(raw);
      if (!s || !s.token || !s.expiresAt || Date.parse(s.expiresAt) <= Date.now()) {
        window.sessionStorage.removeItem(SESSION_KEY);
        return null;
      }
      return s;
    } catch (e) {
      return null;
    }
  }

  function saveSession(s) {
    state.session = s;
    try { window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(s)); } catch (e) { /* private mode: keep in memory */ }
  }

  function clearSession() {
    state.session = null;
    try { window.sessionStorage.removeItem(SESSION_KEY); } catch (e) { /* ignore */ }
  }

  // -- static texts and language ------------------------------------------------------

  function applyStaticTexts() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("doc.title");
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-aria-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
    });
    var toggle = $("lang-toggle");
    toggle.textContent = t("lang.button");
    toggle.setAttribute("aria-label", t("lang.aria"));
    toggle.setAttribute("lang", state.lang === "zh" ? "en" : "zh-CN");
  }

  function setLanguage(lang) {
    state.lang = lang === "en" ? "en" : "zh";
    try { window.localStorage.setItem(LANG_KEY, state.lang); } catch (e) { /* ignore */ }
    applyStaticTexts();
    renderSignin();
    if (state.phase === "signed-in") {
      renderOverview();
      renderTrajectory();
      if (state.growth.status === "ok" && state.growth.data && state.growth.data.lang && state.growth.data.lang !== state.lang) {
        loadGrowth(); // its texts come in one language per request
      } else {
        renderAnalysis();
      }
    }
  }

  function showAlert(message) {
    var el = $("alert");
    if (!message) { el.hidden = true; el.textContent = ""; return; }
    el.textContent = message;
    el.hidden = false;
  }

  function setStatus(message, isError) {
    var el = $("signin-status");
    el.textContent = message || "";
    el.classList.toggle("is-error", !!isError);
  }

  function setPhase(phase) {
    state.phase = phase;
    document.body.dataset.state = phase;
    var signedIn = phase === "signed-in";
    $("signin").hidden = phase !== "signed-out";
    ["overview", "trajectory", "analysis", "section-nav"].forEach(function (id) { $(id).hidden = !signedIn; });
    $("sign-out").hidden = !signedIn;
  }

  // -- sign-in ------------------------------------------------------------------------

  function isDevChain() { return DEV_CHAIN_IDS.indexOf(state.chainId) >= 0; }

  function renderSignin() {
    var hasWallet = typeof window.ethereum !== "undefined" && window.ethereum !== null;
    $("wallet-note").textContent = hasWallet ? t("wallet.found") : t("wallet.missing");
    $("wallet-signin").disabled = !hasWallet || !state.libs.ethers;
    var demo = isDevChain() && state.libs.ethers;
    $("demo-card").hidden = !demo;
    $("demo-explain").textContent = t("demo.explain", { chain: state.chainId });
    var select = $("demo-merchant");
    var chosen = select.value || "0";
    select.replaceChildren();
    for (var i = 0; i < DEMO_MERCHANTS; i++) {
      var label = t("demo.option", { n: i + 1, index: FIRST_DEMO_ACCOUNT + i });
      if (demoRoot) label += " · " + shortHex(demoWallet(i).address);
      select.append(h("option", { value: String(i), text: label }));
    }
    select.value = chosen;
  }

  function demoWallet(i) {
    if (!demoRoot) demoRoot = ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, DEMO_PARENT_PATH);
    return demoRoot.deriveChild(FIRST_DEMO_ACCOUNT + i);
  }

  function iso(date) { return date.toISOString(); } // 2024-05-01T00:00:00.000Z, as the API's siwe parser re-serialises it

  /** The EIP-4361 message in the canonical form the API's `siwe` check insists on. */
  function siweMessage(f) {
    return (
      f.domain + " wants you to sign in with your Ethereum account:\n" +
      f.address + "\n\n" +
      f.statement + "\n\n" +
      "URI: " + f.uri + "\n" +
      "Version: 1\n" +
      "Chain ID: " + f.chainId + "\n" +
      "Nonce: " + f.nonce + "\n" +
      "Issued At: " + f.issuedAt + "\n" +
      "Expiration Time: " + f.expirationTime
    );
  }

  function setBusy(busy) {
    ["wallet-signin", "demo-signin", "demo-merchant"].forEach(function (id) {
      var el = $(id);
      if (busy) { el.dataset.wasDisabled = el.disabled ? "1" : ""; el.disabled = true; }
      else { el.disabled = el.dataset.wasDisabled === "1"; }
    });
    $("signin").setAttribute("aria-busy", busy ? "true" : "false");
  }

  function signIn(method) {
    if (!state.libs.ethers) { setStatus(t("err.noEthers"), true); return Promise.resolve(); }
    setBusy(true);
    showAlert("");
    var signerPromise;
    if (method === "demo") {
      setStatus(t("status.derive"));
      var index = parseInt($("demo-merchant").value || "0", 10);
      // Let the status paint before the (synchronous) key derivation.
      signerPromise = new Promise(function (resolve) { setTimeout(resolve, 30); }).then(function () {
        var wallet = demoWallet(index);
        return { address: wallet.address, sign: function (m) { return wallet.signMessage(m); } };
      });
    } else {
      setStatus(t("status.connect"));
      var provider = new ethers.BrowserProvider(window.ethereum);
      signerPromise = provider.getSigner().then(function (signer) {
        return signer.getAddress().then(function (address) {
          return { address: address, sign: function (m) { return signer.signMessage(m); } };
        });
      });
    }
    var signer, message;
    return signerPromise
      .then(function (s) {
        signer = s;
        setStatus(t("status.nonce"));
        return api("/auth/nonce", { auth: false });
      })
      .then(function (nonce) {
        if (nonce.chainId === null || nonce.chainId === undefined) throw new UiError("err.chain");
        state.chainId = nonce.chainId;
        if (method === "demo" && !isDevChain()) throw new UiError("err.demoChain", { chain: nonce.chainId });
        var now = new Date();
        message = siweMessage({
          domain: window.location.host, // the API checks this against the Host it was reached at
          address: ethers.getAddress(signer.address),
          statement: SIWE_STATEMENT,
          uri: window.location.origin,
          chainId: nonce.chainId,
          nonce: nonce.nonce,
          issuedAt: iso(now),
          expirationTime: iso(new Date(now.getTime() + MESSAGE_TTL_MS))
        });
        if (method !== "demo") setStatus(t("status.sign"));
        return signer.sign(message);
      })
      .then(function (signature) {
        setStatus(t("status.login"));
        return api("/auth/login", { method: "POST", auth: false, body: { message: message, signature: signature } });
      })
      .then(function (login) {
        if (!login.merchantKey) throw new UiError("err.notMerchant", { address: login.address });
        saveSession({
          token: login.token,
          expiresAt: login.expiresAt,
          address: login.address,
          merchantKey: login.merchantKey,
          method: method
        });
        setStatus("");
        return enterDashboard();
      })
      .catch(function (err) {
        setStatus(errorText(err), true);
      })
      .then(function () { setBusy(false); });
  }

  function signOut(reasonKey) {
    loadGeneration++;
    clearSession();
    state.me = null;
    state.decisions = [];
    state.verification = {};
    state.verifyDone = false;
    state.growth = { status: "idle", httpStatus: null, data: null };
    disposeCharts();
    setPhase("signed-out");
    renderSignin();
    setStatus(reasonKey ? t(reasonKey) : "", !!reasonKey);
  }

  // -- loading the merchant's data --------------------------------------------------------

  function enterDashboard() {
    var generation = ++loadGeneration;
    state.verification = {};
    state.verifyDone = false;
    document.body.dataset.verified = "pending";
    setPhase("signed-in");
    $("overview-stats").replaceChildren(h("p", { class: "muted", text: t("status.loading") }));
    return Promise.all([api("/merchant/me"), api("/merchant/history")])
      .then(function (results) {
        if (generation !== loadGeneration) return;
        state.me = results[0];
        state.decisions = (results[1] && results[1].decisions) || [];
        state.decisions.forEach(function (d) {
          state.verification[d.round] = { status: d.bundle ? "pending" : "unanchored", checks: [] };
        });
        renderOverview();
        renderTrajectory();
        loadGrowth();
        return verifyAll(generation);
      })
      .catch(function (err) {
        if (generation !== loadGeneration) return;
        if (err instanceof ApiError && err.status === 401) { signOut("err.expired"); return; }
        if (err instanceof ApiError && err.status === 403) {
          // e.g. the account was unbound or rotated on-chain since sign-in
          signOut(null);
          setStatus(errorText(err), true);
          return;
        }
        state.errors.push(errorText(err));
        showAlert(errorText(err));
      });
  }

  /** Does the bundle's leaf say what the page shows? (The badge covers what is displayed, not just the bundle.) */
  function displayCheck(d) {
    var leaf = d.bundle.leaf || {};
    var ok =
      leaf.round === d.round &&
      leaf.score === d.score &&
      leaf.limit_cny === d.limitCny &&
      leaf.product_mask === d.productMask &&
      d.bundle.chain && d.bundle.chain.round === d.round &&
      !!state.me && typeof leaf.merchant_key === "string" &&
      leaf.merchant_key.toLowerCase() === String(state.me.merchantKey).toLowerCase();
    return { name: "matches_display", ok: !!ok, detail: ok ? t("check.displayDetail") : t("check.displayMismatch"), local: true };
  }

  function verifyOne(d, generation) {
    return api("/verify", { method: "POST", auth: false, body: d.bundle }).then(
      function (report) {
        if (generation !== loadGeneration) return;
        var checks = (report && Array.isArray(report.checks) ? report.checks : []).slice();
        checks.push(displayCheck(d));
        // Green only when there are checks and every single one passed (and the verdict agrees).
        var allOk = checks.length > 1 && checks.every(function (c) { return c.ok === true; }) && report.ok === true;
        state.verification[d.round] = { status: allOk ? "ok" : "fail", checks: checks };
        updateRound(d.round);
      },
      function (err) {
        if (generation !== loadGeneration) return;
        state.verification[d.round] = {
          status: "error",
          checks: [{ name: "request", ok: false, detail: err.message || String(err) }]
        };
        updateRound(d.round);
      }
    );
  }

  function verifyAll(generation) {
    var queue = state.decisions.filter(function (d) { return !!d.bundle; });
    function worker() {
      if (generation !== loadGeneration || !queue.length) return Promise.resolve();
      return verifyOne(queue.shift(), generation).then(worker);
    }
    var workers = [];
    for (var i = 0; i < VERIFY_CONCURRENCY; i++) workers.push(worker());
    return Promise.all(workers).then(function () {
      if (generation !== loadGeneration) return;
      state.verifyDone = true;
      document.body.dataset.verified = "done";
      renderOverview();
      renderTrajectoryChart();
    });
  }

  // -- overview -------------------------------------------------------------------------

  function stat(label, value, sub, extraClass) {
    return h("div", { class: "stat" + (extraClass ? " " + extraClass : "") },
      h("span", { class: "stat-label", text: label }),
      h("span", { class: "stat-value", text: value }),
      sub ? h("span", { class: "stat-sub", text: sub }) : null);
  }

  function verificationSummary() {
    var total = 0, ok = 0, fail = 0;
    state.decisions.forEach(function (d) {
      var v = state.verification[d.round];
      if (!v || v.status === "unanchored") return;
      total++;
      if (v.status === "ok") ok++;
      if (v.status === "fail" || v.status === "error") fail++;
    });
    return { total: total, ok: ok, fail: fail };
  }

  function renderOverview() {
    if (!state.me) return;
    var latest = state.decisions[state.decisions.length - 1];
    var stats = $("overview-stats");
    stats.replaceChildren();
    var summary = verificationSummary();
    var verifiedStat = stat(
      t("stat.verified"),
      state.verifyDone ? t("stat.verifiedValue", { ok: summary.ok, total: summary.total }) : t("stat.verifiedPending")
    );
    verifiedStat.dataset.verified = state.verifyDone ? (summary.fail ? "fail" : "ok") : "pending";
    if (latest) {
      var roundSub = t("stat.round", { round: latest.round });
      stats.append(
        stat(t("stat.score"), latest.score > 0 ? String(latest.score) : t("score.none"), roundSub),
        stat(t("stat.limit"), latest.limitCny > 0 ? fmtCny(latest.limitCny) : t("limit.none"), roundSub),
        verifiedStat
      );
      var products = productList(latest);
      var productStat = stat(t("stat.products"), "", null, "stat-products");
      productStat.querySelector(".stat-value").replaceWith(
        products.length
          ? h("ul", { class: "chips" }, products.map(function (p) { return h("li", { class: "chip", text: p }); }))
          : h("span", { class: "stat-sub", text: t("round.noProducts") })
      );
      stats.append(productStat);
    } else {
      stats.append(h("p", { class: "muted", text: t("traj.empty") }));
    }

    var me = state.me;
    var dl = $("overview-identity");
    dl.replaceChildren(
      h("dt", { text: t("field.merchantKey") }), h("dd", null, h("code", { text: me.merchantKey })),
      h("dt", { text: t("field.account") }), h("dd", null, h("code", { text: me.account })),
      h("dt", { text: t("field.kind") }), h("dd", { text: t("kind." + me.kind) }),
      h("dt", { text: t("field.status") }), h("dd", { text: t("mstatus." + me.status) }),
      h("dt", { text: t("field.signin") }),
      h("dd", { text: state.session && state.session.method === "demo" ? t("signin.demo") : t("signin.wallet") })
    );
    var banner = $("demo-banner");
    banner.hidden = !(state.session && state.session.method === "demo");
    banner.textContent = t("demo.banner");
  }

  // -- trajectory -------------------------------------------------------------------------

  function verificationOf(round) { return state.verification[round] || { status: "pending", checks: [] }; }

  function badge(round) {
    var v = verificationOf(round);
    var icon = { ok: "✓", fail: "✗", pending: "…", error: "!", unanchored: "○" }[v.status] || "?";
    var el = h("span", { class: "badge badge-" + v.status, dataset: { badge: v.status, round: String(round) } },
      h("span", { class: "badge-icon", "aria-hidden": "true", text: icon }),
      h("span", { text: t("badge." + v.status) }));
    if (v.status === "fail") {
      var failed = v.checks.filter(function (c) { return !c.ok; }).map(function (c) { return t("check." + c.name); });
      el.setAttribute("title", t("badge.failedChecks", { names: failed.join(", ") }));
    }
    return el;
  }

  function deltaEl(n, formatter) {
    var cls = n > 0 ? "delta-up" : n < 0 ? "delta-down" : "delta-flat";
    var arrow = n > 0 ? "▲ " : n < 0 ? "▼ " : "";
    return h("span", { class: "delta " + cls, text: arrow + signed(n, formatter) });
  }

  function changesFor(d, prev) {
    var list = h("ul", { class: "changes" });
    if (!prev) {
      list.append(h("li", null, h("span", { class: "change-label", text: t("round.first") })));
    } else {
      var prevCodes = prev.reasons.map(function (r) { return r.code; });
      var curCodes = d.reasons.map(function (r) { return r.code; });
      var added = d.reasons.filter(function (r) { return prevCodes.indexOf(r.code) < 0; });
      var removed = prev.reasons.filter(function (r) { return curCodes.indexOf(r.code) < 0; });
      if (!added.length && !removed.length) {
        list.append(h("li", { class: "muted", text: t("round.unchanged") }));
      }
      if (added.length) {
        list.append(h("li", { dataset: { change: "added" } }, h("span", { class: "change-label", text: t("round.added") + t("colon") }),
          h("ul", { class: "reason-list" }, added.map(function (r) { return h("li", { text: reasonText(r) }); }))));
      }
      if (removed.length) {
        list.append(h("li", { dataset: { change: "removed" } }, h("span", { class: "change-label", text: t("round.removed") + t("colon") }),
          h("ul", { class: "reason-list" }, removed.map(function (r) { return h("li", { text: reasonText(r) }); }))));
      }
      var prevProducts = productList(prev), curProducts = productList(d);
      var pAdded = curProducts.filter(function (p) { return prevProducts.indexOf(p) < 0; });
      var pRemoved = prevProducts.filter(function (p) { return curProducts.indexOf(p) < 0; });
      if (pAdded.length) {
        list.append(h("li", null, h("span", { class: "change-label", text: t("round.productsAdded") + t("colon") }),
          h("ul", { class: "chips" }, pAdded.map(function (p) { return h("li", { class: "chip chip-add", text: p }); }))));
      }
      if (pRemoved.length) {
        list.append(h("li", null, h("span", { class: "change-label", text: t("round.productsRemoved") + t("colon") }),
          h("ul", { class: "chips" }, pRemoved.map(function (p) { return h("li", { class: "chip chip-del", text: p }); }))));
      }
      if (prev.modelVersion !== d.modelVersion) list.append(h("li", { class: "muted", text: t("round.model", { from: prev.modelVersion, to: d.modelVersion }) }));
      if (prev.policyVersion !== d.policyVersion) list.append(h("li", { class: "muted", text: t("round.policy", { from: prev.policyVersion, to: d.policyVersion }) }));
    }
    return list;
  }

  function checksDetails(d) {
    var v = verificationOf(d.round);
    var details = h("details", { class: "round-checks" },
      h("summary", { text: t("round.checks") }));
    if (v.checks.length) {
      details.append(h("ul", { class: "checks" }, v.checks.map(function (c) {
        return h("li", { dataset: { check: c.name, ok: c.ok ? "true" : "false" } },
          h("span", { class: c.ok ? "ok" : "bad", "aria-label": c.ok ? "ok" : "failed", text: c.ok ? "✓" : "✗" }),
          h("span", null, h("strong", { text: t("check." + c.name) }), h("span", { class: "check-detail", text: c.detail })));
      })));
    }
    if (d.bundle) {
      details.append(
        h("p", { class: "small muted" }, t("round.anchor", { tx: shortHex(d.bundle.chain.anchorTx, 10, 6), block: d.bundle.chain.block })),
        h("p", null, h("button", { class: "btn-link", type: "button", onclick: function () { downloadBundle(d); }, text: t("round.download") })),
        h("p", { class: "small muted", text: t("round.offline") })
      );
    }
    return details;
  }

  function downloadBundle(d) {
    var blob = new Blob([JSON.stringify(d.bundle, null, 2) + "\n"], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var a = h("a", { href: url, download: "bundle-round-" + d.round + ".json" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function roundItem(d, prev) {
    var v = verificationOf(d.round);
    var li = h("li", { class: "round", id: "round-" + d.round, dataset: { round: String(d.round), verified: v.status } });
    li.append(
      h("div", { class: "round-head" }, h("h4", { text: t("round.title", { n: d.round }) }), badge(d.round)),
      h("div", { class: "figures" },
        h("div", { class: "figure" },
          h("span", { class: "figure-label", text: t("round.score") }),
          h("span", { class: "figure-value", text: d.score > 0 ? String(d.score) : t("score.none") }),
          prev ? deltaEl(d.score - prev.score, function (n) { return String(n); }) : null),
        h("div", { class: "figure" },
          h("span", { class: "figure-label", text: t("round.limit") }),
          h("span", { class: "figure-value", text: d.limitCny > 0 ? fmtCny(d.limitCny) : t("limit.none") }),
          prev ? deltaEl(d.limitCny - prev.limitCny, fmtCny) : null)),
      changesFor(d, prev),
      h("div", { class: "small" },
        h("span", { class: "change-label", text: t("round.reasons") + t("colon") }),
        d.reasons.length
          ? h("ul", { class: "reason-list" }, d.reasons.map(function (r) { return h("li", { text: reasonText(r) }); }))
          : h("span", { class: "muted", text: t("round.noReasons") })),
      checksDetails(d)
    );
    return li;
  }

  function renderTrajectory() {
    var list = $("rounds");
    list.replaceChildren();
    var ds = state.decisions;
    if (!ds.length) list.append(h("li", { class: "muted", text: t("traj.empty") }));
    // Newest first: that is what a merchant looks for.
    for (var i = ds.length - 1; i >= 0; i--) list.append(roundItem(ds[i], i > 0 ? ds[i - 1] : null));
    renderTrajectoryChart();
  }

  function updateRound(round) {
    var i = state.decisions.findIndex(function (d) { return d.round === round; });
    if (i < 0) return;
    var old = document.getElementById("round-" + round);
    var fresh = roundItem(state.decisions[i], i > 0 ? state.decisions[i - 1] : null);
    if (old) {
      var open = old.querySelector("details") && old.querySelector("details").open;
      if (open) fresh.querySelector("details").open = true;
      old.replaceWith(fresh);
    }
    renderTrajectoryChart();
    renderOverview();
  }

  function disposeCharts() {
    Object.keys(charts).forEach(function (k) {
      if (charts[k]) { charts[k].dispose(); charts[k] = null; }
    });
  }

  function ensureChart(name, el) {
    if (!state.libs.echarts) {
      if (!el.querySelector(".chart-missing")) el.replaceChildren(h("p", { class: "muted chart-missing", text: t("chart.missing") }));
      return null;
    }
    if (charts[name] && charts[name].getDom() !== el) { charts[name].dispose(); charts[name] = null; }
    if (!charts[name]) charts[name] = echarts.init(el, null, { renderer: "canvas" });
    return charts[name];
  }

  function pointColor(status) {
    return status === "ok" ? COLORS.ok : status === "fail" || status === "error" ? COLORS.fail : COLORS.pending;
  }

  function renderTrajectoryChart() {
    var el = $("trajectory-chart");
    var ds = state.decisions;
    state.chart = {
      rounds: ds.map(function (d) { return d.round; }),
      scores: ds.map(function (d) { return d.score; }),
      limits: ds.map(function (d) { return d.limitCny; }),
      colors: ds.map(function (d) { return pointColor(verificationOf(d.round).status); })
    };
    el.dataset.rounds = String(ds.length);
    el.setAttribute("aria-label", t("traj.chartLabel", { n: ds.length }));
    var chart = ensureChart("trajectory", el);
    if (!chart) return;
    var labels = ds.map(function (d) { return t("chart.round", { n: d.round }); });
    var scoreName = t("chart.score"), limitName = t("chart.limit");
    chart.setOption({
      animation: !reducedMotion,
      aria: { enabled: false }, // the container's own aria-label (in the page's language) and the round list below
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      grid: { left: 8, right: 8, top: 56, bottom: 8, containLabel: true },
      legend: { top: 0, left: "center", data: [scoreName, limitName] },
      tooltip: {
        trigger: "axis",
        confine: true,
        formatter: function (params) {
          var i = params[0].dataIndex, d = ds[i];
          var v = verificationOf(d.round);
          return (
            "<strong>" + escapeHtml(t("round.title", { n: d.round })) + "</strong><br>" +
            escapeHtml(scoreName) + ": " + (d.score > 0 ? d.score : escapeHtml(t("score.none"))) + "<br>" +
            escapeHtml(t("round.limit")) + ": " + escapeHtml(d.limitCny > 0 ? fmtCny(d.limitCny) : t("limit.none")) + "<br>" +
            '<span style="color:' + pointColor(v.status) + '">' + escapeHtml(t("badge." + v.status)) + "</span>"
          );
        }
      },
      xAxis: { type: "category", data: labels, axisTick: { alignWithLabel: true } },
      yAxis: [
        {
          // Scores live in 300..900; zoom to the merchant's band so that a few points of change are visible.
          type: "value", name: scoreName, nameTextStyle: { align: "left" },
          min: function (v) { return Math.max(300, Math.floor((v.min - 40) / 50) * 50); },
          max: function (v) { return Math.min(900, Math.ceil((v.max + 40) / 50) * 50); }
        },
        {
          type: "value", name: limitName, min: 0, splitLine: { show: false }, nameTextStyle: { align: "right" },
          axisLabel: { formatter: function (v) { return fmtCompact(v); } }
        }
      ],
      series: [
        {
          id: "score", name: scoreName, type: "line", yAxisIndex: 0, z: 3,
          symbol: "circle", symbolSize: 14, lineStyle: { width: 3, color: COLORS.score },
          itemStyle: { color: COLORS.score },
          label: { show: true, position: "top", fontWeight: "bold" },
          data: ds.map(function (d) {
            return {
              value: d.score > 0 ? d.score : null,
              itemStyle: { color: pointColor(verificationOf(d.round).status), borderColor: "#fff", borderWidth: 2 }
            };
          })
        },
        {
          id: "limit", name: limitName, type: "bar", yAxisIndex: 1, z: 1, barMaxWidth: 44,
          itemStyle: { color: COLORS.limit, borderRadius: [4, 4, 0, 0] },
          data: ds.map(function (d) { return d.limitCny; })
        }
      ]
    }, { notMerge: true });
  }

  // -- operating analysis -------------------------------------------------------------------

  function loadGrowth() {
    var generation = loadGeneration;
    state.growth = { status: "loading", httpStatus: null, data: null };
    renderAnalysis();
    return growthOffered()
      .then(function (offered) {
        if (!offered) {
          // Not in the OpenAPI document: don't even ask (a 404 would only add noise).
          return { status: "unavailable", httpStatus: 404, data: null };
        }
        return api("/merchant/growth?lang=" + encodeURIComponent(state.lang)).then(
          function (data) { return { status: "ok", httpStatus: 200, data: data }; },
          function (err) {
            if (err instanceof ApiError && err.status === 401) throw err;
            return { status: err.status === 404 ? "unavailable" : "error", httpStatus: err.status, data: null, message: err.message };
          }
        );
      })
      .then(function (growth) {
        if (generation !== loadGeneration) return;
        state.growth = growth;
        renderAnalysis();
      })
      .catch(function (err) {
        if (generation !== loadGeneration) return;
        if (err instanceof ApiError && err.status === 401) { signOut("err.expired"); return; }
        state.growth = { status: "error", httpStatus: err.status || 0, data: null };
        renderAnalysis();
      });
  }

  var growthOfferedPromise = null;
  /** Whether this API offers GET /merchant/growth (read once from its OpenAPI document). */
  function growthOffered() {
    if (!growthOfferedPromise) {
      growthOfferedPromise = api("/openapi.json", { auth: false }).then(
        function (doc) { return !!(doc && doc.paths && doc.paths["/merchant/growth"] && doc.paths["/merchant/growth"].get); },
        function () { return true; } // no OpenAPI document: just try the route
      );
    }
    return growthOfferedPromise;
  }

  function pick(obj, names) {
    for (var i = 0; i < names.length; i++) {
      if (obj && obj[names[i]] !== undefined && obj[names[i]] !== null) return obj[names[i]];
    }
    return undefined;
  }

  function localized(v) {
    if (v && typeof v === "object" && !Array.isArray(v)) return v[state.lang] !== undefined ? v[state.lang] : v.zh;
    return v;
  }

  /** The growth response, tolerant of field names: {limitCny, products[], indicators[], items[], daily[]}. */
  function normalizeGrowth(g) {
    var latest = state.decisions[state.decisions.length - 1];
    var products = localized(pick(g, ["products", "matchedProducts"]));
    if (!Array.isArray(products)) products = latest ? productList(latest) : [];
    var limit = pick(g, ["limitCny", "currentLimitCny", "limit"]);
    if (limit === undefined && latest) limit = latest.limitCny;
    return {
      limitCny: limit,
      products: products.map(function (p) { return typeof p === "string" ? p : localized(pick(p, ["name", "names"])) || String(p.code || ""); }),
      window: { from: pick(g, ["windowStart"]), to: pick(g, ["asOf"]), days: pick(g, ["historyDays"]), peers: pick(g, ["peerCount"]) },
      indicators: (pick(g, ["indicators"]) || []).map(function (i) {
        return {
          key: i.key,
          name: localized(pick(i, ["name", "names", "label"])) || i.key,
          value: Number(pick(i, ["value", "score"])),
          peerAverage: pick(i, ["peerAverage", "peer_average"]),
          percentile: pick(i, ["percentile"])
        };
      }),
      items: (pick(g, ["items", "diagnosis", "diagnoses"]) || []).map(function (it) {
        var product = localized(pick(it, ["product", "productName"]));
        if (product === undefined && Array.isArray(it.products)) product = it.products.map(localized).join("、");
        return {
          code: it.code,
          category: it.category,
          title: localized(pick(it, ["title"])) || it.code,
          text: localized(pick(it, ["text", "description"])) || "",
          numbers: it.numbers || {},
          product: product || null,
          offered: it.offered === true
        };
      }),
      daily: (pick(g, ["daily", "series"]) || []).map(function (p) {
        return { date: p.date, revenue: Number(pick(p, ["revenueCny", "revenue_cny", "revenue"])), orders: Number(p.orders) };
      })
    };
  }

  function renderAnalysis() {
    var body = $("analysis-body");
    var g = state.growth;
    if (charts.revenue) { charts.revenue.dispose(); charts.revenue = null; }
    body.replaceChildren();
    body.dataset.growth = g.status;
    if (g.status === "idle" || g.status === "loading") {
      body.append(h("p", { class: "muted", text: t("analysis.loading") }));
      return;
    }
    if (g.status !== "ok" || !g.data) {
      var reason = g.status === "unavailable" ? t("analysis.na404")
        : g.httpStatus ? t("analysis.naError", { status: g.httpStatus }) : t("analysis.naNetwork");
      body.append(h("div", { class: "unavailable", id: "growth-unavailable" },
        h("h3", { text: t("analysis.na") }),
        h("p", { text: reason }),
        h("button", { class: "btn btn-ghost", type: "button", onclick: function () { growthOfferedPromise = null; loadGrowth(); }, text: t("analysis.retry") })));
      return;
    }
    var n = normalizeGrowth(g.data);

    // Current limit and matched products.
    var stats = h("div", { class: "stats" },
      stat(t("analysis.limit"), n.limitCny > 0 ? fmtCny(n.limitCny) : t("limit.none")));
    var productStat = stat(t("analysis.products"), "", null, "stat-span3");
    productStat.querySelector(".stat-value").replaceWith(n.products.length
      ? h("ul", { class: "chips" }, n.products.map(function (p) { return h("li", { class: "chip", text: p }); }))
      : h("span", { class: "stat-sub", text: t("analysis.noProducts") }));
    stats.append(productStat);
    body.append(stats);
    var latest = state.decisions[state.decisions.length - 1];
    if (latest && g.data.limitCny === undefined) {
      body.append(h("p", { class: "small muted", text: t("analysis.fromDecision", { round: latest.round }) }));
    }
    if (n.window.from && n.window.to) {
      body.append(h("p", { class: "small muted", text: t("analysis.window", {
        from: n.window.from, to: n.window.to, days: n.window.days, peers: n.window.peers
      }) }));
    }

    // Revenue and orders.
    body.append(h("h3", { id: "revenue-title", text: t("analysis.revenue") }));
    var chartEl = h("div", { id: "revenue-chart", class: "chart chart-tall", role: "img",
      "aria-label": t("analysis.revenueLabel"), dataset: { days: String(n.daily.length) } });
    body.append(chartEl);

    // Indicators.
    body.append(h("h3", { text: t("analysis.indicators") }));
    body.append(h("ul", { class: "indicators", id: "indicators" }, n.indicators.map(function (ind) {
      var v = Math.max(0, Math.min(100, ind.value || 0));
      var level = v < 40 ? "lvl-low" : v < 60 ? "lvl-mid" : "lvl-high";
      var meter = h("div", { class: "meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
        "aria-valuenow": String(v), "aria-label": ind.name },
        h("div", { class: "meter-fill " + level, style: null }));
      meter.firstChild.style.width = v + "%";
      if (typeof ind.peerAverage === "number") {
        var peer = h("div", { class: "meter-peer", "aria-hidden": "true" });
        peer.style.left = "calc(" + Math.max(0, Math.min(100, ind.peerAverage)) + "% - 1px)";
        meter.append(peer);
      }
      return h("li", { class: "indicator", dataset: { indicator: ind.key } },
        h("div", { class: "indicator-head" },
          h("span", { class: "indicator-name", text: ind.name }),
          h("span", { class: "indicator-value", text: String(ind.value) })),
        meter,
        typeof ind.peerAverage === "number"
          ? h("span", { class: "indicator-sub", text: t("analysis.peer", { avg: ind.peerAverage, pct: ind.percentile }) })
          : null);
    })));

    // Diagnosis.
    body.append(h("h3", { text: t("analysis.diagnosis") }));
    if (!n.items.length) body.append(h("p", { class: "muted", text: t("analysis.noDiagnosis") }));
    else {
      body.append(h("ul", { class: "diagnosis", id: "diagnosis" }, n.items.map(function (it) {
        return h("li", { class: "diag", dataset: { code: it.code } },
          h("span", { class: "diag-cat", text: it.category ? t("analysis.category." + it.category) : "" }),
          h("h4", { text: it.title }),
          h("p", { text: it.text }),
          it.product ? h("p", { class: "diag-product", dataset: { offered: it.offered ? "true" : "false" } },
            h("span", { class: "chip" + (it.offered ? " chip-add" : ""), text: t("analysis.matched", { name: it.product }) }), " ",
            h("span", { class: "small muted", text: it.offered ? t("analysis.offered") : t("analysis.notOffered") })) : null,
          numbersDetails(it.numbers));
      })));
    }
    renderRevenueChart(chartEl, n.daily);
  }

  function formatNumberValue(v) {
    if (Array.isArray(v)) return v.map(formatNumberValue).join(", ");
    if (typeof v === "number") return fmtNum(v, 4);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (v === null || v === undefined) return "—";
    return String(v);
  }

  function numbersDetails(numbers) {
    var keys = Object.keys(numbers || {}).filter(function (k) {
      var v = numbers[k];
      return !(Array.isArray(v) && v.length > 8); // the 24-hour curve is not worth a row
    });
    if (!keys.length) return null;
    return h("details", null,
      h("summary", { text: t("analysis.numbers") }),
      h("dl", { class: "diag-numbers" }, keys.map(function (k) {
        return [h("dt", { text: k }), h("dd", { text: formatNumberValue(numbers[k]) })];
      })));
  }

  function renderRevenueChart(el, daily) {
    var chart = ensureChart("revenue", el);
    if (!chart) return;
    var revenueName = t("chart.revenue"), ordersName = t("chart.orders");
    chart.setOption({
      animation: !reducedMotion,
      aria: { enabled: false },
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      grid: { left: 8, right: 8, top: 56, bottom: 8, containLabel: true },
      legend: { top: 0, data: [revenueName, ordersName] },
      tooltip: { trigger: "axis", confine: true },
      xAxis: {
        type: "category",
        data: daily.map(function (p) { return p.date; }),
        axisLabel: { formatter: function (v) { return String(v).slice(5); }, hideOverlap: true }
      },
      yAxis: [
        { type: "value", name: revenueName, min: 0, axisLabel: { formatter: function (v) { return fmtCompact(v); } }, nameTextStyle: { align: "left" } },
        { type: "value", name: ordersName, min: 0, splitLine: { show: false }, nameTextStyle: { align: "right" } }
      ],
      series: [
        {
          id: "revenue", name: revenueName, type: "line", yAxisIndex: 0, smooth: true, showSymbol: false,
          lineStyle: { width: 2, color: "#1d4ed8" }, itemStyle: { color: "#1d4ed8" },
          areaStyle: { color: "rgba(29, 78, 216, 0.10)" },
          data: daily.map(function (p) { return p.revenue; })
        },
        {
          id: "orders", name: ordersName, type: "bar", yAxisIndex: 1, barMaxWidth: 10,
          itemStyle: { color: "rgba(234, 88, 12, 0.55)" },
          data: daily.map(function (p) { return p.orders; })
        }
      ]
    }, { notMerge: true });
  }

  // -- start-up -----------------------------------------------------------------------------

  function watchResize() {
    var resize = function () {
      Object.keys(charts).forEach(function (k) { if (charts[k]) charts[k].resize(); });
    };
    if (typeof ResizeObserver !== "undefined") {
      var ro = new ResizeObserver(resize);
      ro.observe(document.querySelector("main"));
    } else {
      window.addEventListener("resize", resize);
    }
  }

  function start() {
    state.libs.ethers = typeof window.ethers !== "undefined" && !!window.ethers.HDNodeWallet;
    state.libs.echarts = typeof window.echarts !== "undefined" && typeof window.echarts.init === "function";
    var stored = null;
    try { stored = window.localStorage.getItem(LANG_KEY); } catch (e) { stored = null; }
    state.lang = stored === "en" ? "en" : "zh";
    applyStaticTexts();

    var missing = [];
    if (!state.libs.ethers) missing.push("ethers (node_modules/ethers/dist/ethers.umd.min.js)");
    if (!state.libs.echarts) missing.push("ECharts (node_modules/echarts/dist/echarts.min.js)");
    if (missing.length) {
      var msg = t("err.libs", { names: missing.join(", ") });
      state.errors.push(msg);
      showAlert(msg);
    }

    $("lang-toggle").addEventListener("click", function () { setLanguage(state.lang === "zh" ? "en" : "zh"); });
    $("sign-out").addEventListener("click", function () { signOut(null); });
    $("wallet-signin").addEventListener("click", function () { signIn("wallet"); });
    $("demo-signin").addEventListener("click", function () { signIn("demo"); });
    watchResize();

    state.session = loadSession();
    if (state.session) {
      // Reload while signed in: the token is still good (the API re-checks it on every call).
      enterDashboard();
    } else {
      setPhase("signed-out");
      renderSignin();
    }
    // The chain id decides whether the demo-key flow is offered at all.
    api("/auth/nonce", { auth: false }).then(
      function (nonce) {
        state.chainId = nonce.chainId;
        if (nonce.chainId === null || nonce.chainId === undefined) setStatus(t("err.chain"), true);
        renderSignin();
        if (isDevChain() && state.libs.ethers && state.phase === "signed-out") {
          // Derive the five public demo addresses after the first paint, to show them in the picker.
          setTimeout(function () {
            try { demoWallet(0); renderSignin(); } catch (e) { state.errors.push(String(e)); }
          }, 50);
        }
      },
      function (err) { setStatus(errorText(err), true); }
    );
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
