// The annotation UI: login, labeling queue, guidelines, own labels, admin (users, agreement,
// adjudication, export). Talks only to this service's /api; renders pair text with SafeRender.
"use strict";

const App = (() => {
  const { el, markdown } = SafeRender;
  const state = { me: null, csrf: "", item: null, shownAt: 0, busy: false, keyHandler: null, judge: null };
  const app = () => document.getElementById("app");

  async function api(method, path, body) {
    const headers = {};
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
    }
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: method === "GET" ? undefined : JSON.stringify(body || {}),
    });
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = { raw: text }; }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "HTTP " + response.status;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function toast(message, isError) {
    const node = document.getElementById("toast");
    node.textContent = message;
    node.className = isError ? "error show" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { node.className = ""; }, 4000);
  }

  function setKeys(handler) { state.keyHandler = handler; }
  document.addEventListener("keydown", (event) => {
    const tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (state.keyHandler && state.keyHandler(event.key)) event.preventDefault();
  });

  function clear() {
    setKeys(null);
    const root = app();
    while (root.firstChild) root.removeChild(root.firstChild);
    return root;
  }

  // ---- Login
  function showLogin() {
    document.getElementById("nav").hidden = true;
    const root = clear();
    const form = el("form", "card login");
    form.id = "login-form";
    form.appendChild(el("h2", null, "Log in"));
    const name = el("input"); name.id = "login-name"; name.autocomplete = "username"; name.placeholder = "name";
    const password = el("input"); password.id = "login-password"; password.type = "password";
    password.autocomplete = "current-password"; password.placeholder = "password";
    const submit = el("button", "primary", "Log in"); submit.id = "login-submit"; submit.type = "submit";
    form.append(name, password, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const me = await api("POST", "/api/login", { name: name.value, password: password.value });
        await signedIn(me);
      } catch (e) { toast(e.message, true); }
    });
    root.appendChild(form);
    name.focus();
  }

  // A one-time invite link (/#invite=TOKEN): choose a password, the account is created, logged in.
  function showInvite(token) {
    document.getElementById("nav").hidden = true;
    const root = clear();
    const form = el("form", "card login");
    form.id = "invite-form";
    form.appendChild(el("h2", null, "Accept your invitation"));
    const password = el("input"); password.id = "invite-password"; password.type = "password";
    password.autocomplete = "new-password"; password.placeholder = "choose a password (8+)";
    const submit = el("button", "primary", "Create account"); submit.id = "invite-submit"; submit.type = "submit";
    form.append(password, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const me = await api("POST", "/api/invite", { token, password: password.value });
        history.replaceState(null, "", "/");
        await signedIn(me);
      } catch (e) { toast(e.message, true); }
    });
    root.appendChild(form);
    password.focus();
  }

  async function signedIn(me) {
    state.me = me;
    state.csrf = me.csrf;
    document.getElementById("nav").hidden = false;
    document.getElementById("nav-admin").hidden = me.role !== "admin";
    document.getElementById("whoami").textContent = me.user + " (" + me.role + ")";
    try { state.judge = await api("GET", "/api/judge"); } catch (e) { state.judge = null; }
    showLabel();
  }

  // ---- Pair rendering (shared by labeling and adjudication)
  function renderPair(view, container) {
    const conversation = el("section", "conversation");
    conversation.id = "conversation";
    conversation.appendChild(el("h3", null, "Conversation"));
    for (const turn of view.conversation) {
      const box = el("div", "turn role-" + String(turn.role).replace(/[^a-z]/g, ""));
      box.appendChild(el("div", "role", turn.role));
      const body = el("div", "md");
      body.appendChild(markdown(turn.content));
      box.appendChild(body);
      conversation.appendChild(box);
    }
    const attrs = el("aside", "attributes");
    attrs.id = "attributes";
    attrs.appendChild(el("h3", null, "Attributes"));
    const a = view.attributes || {};
    const dl = el("dl");
    for (const [key, label] of [["task_category", "Category"], ["objectivity", "Objectivity"],
                                ["controversiality", "Controversiality"], ["desired_attributes", "Desired attributes"]]) {
      dl.append(el("dt", null, label), el("dd", null, a[key] || "-"));
    }
    attrs.appendChild(dl);
    const guide = el("div", "guideline");
    guide.id = "guideline";
    guide.appendChild(el("h4", null, "Guideline for this pair"));
    const guideBody = el("div", "md");
    guideBody.appendChild(markdown(a.annotation_guideline || "(none: follow the general guidelines)"));
    guide.appendChild(guideBody);
    attrs.appendChild(guide);
    const responses = el("section", "responses");
    for (const [key, title] of [["first", "Response 1"], ["second", "Response 2"]]) {
      const col = el("div", "response");
      col.id = "resp-" + key;
      col.appendChild(el("h3", null, title));
      const body = el("div", "md");
      body.appendChild(markdown(view[key]));
      col.appendChild(body);
      responses.appendChild(col);
    }
    const top = el("div", "pair-top");
    top.append(conversation, attrs);
    container.append(top, responses);
  }

  const CHOICES = [
    ["first", "1", "Response 1 better"], ["second", "2", "Response 2 better"], ["tie", "t", "Tie"],
    ["cannot", "c", "Cannot determine"], ["skip", "s", "Skip"],
  ];

  function choiceBar(onChoose, withSkip) {
    const bar = el("div", "choices");
    for (const [choice, key, text] of CHOICES) {
      if (choice === "skip" && !withSkip) continue;
      const button = el("button", "choice choice-" + choice);
      button.type = "button";
      button.dataset.choice = choice;
      button.append(el("kbd", null, key), document.createTextNode(" " + text));
      button.addEventListener("click", () => onChoose(choice));
      bar.appendChild(button);
    }
    const keys = {};
    for (const [choice, key] of CHOICES) if (choice !== "skip" || withSkip) keys[key] = choice;
    return { bar, keys };
  }

  // ---- Labeling
  async function showLabel() {
    const root = clear();
    let data;
    try { data = await api("GET", "/api/next"); } catch (e) { return handleError(e); }
    state.item = data.item;
    const progress = el("div", "progress");
    progress.id = "progress";
    const p = data.progress || {};
    progress.textContent = "Labeled " + p.labeled + " · skipped " + p.skipped + " · remaining " + p.remaining;
    root.appendChild(progress);
    if (!data.item) {
      const done = el("div", "card done", "Your queue is empty. Thank you!");
      done.id = "done";
      root.appendChild(done);
      return;
    }
    const page = el("div", "label-view");
    page.id = "label-view";
    page.dataset.itemId = String(data.item.item_id);
    renderPair(data.item.view, page);
    const submit = async (choice) => {
      if (state.busy) return;
      state.busy = true;
      try {
        await api("POST", "/api/label", {
          item_id: data.item.item_id, choice, client_ms: Math.max(0, Math.round(performance.now() - state.shownAt)),
          note: note.value,
        });
        toast("Saved: " + choice);
        state.busy = false;
        showLabel();
      } catch (e) {
        state.busy = false;
        handleError(e);
      }
    };
    const { bar, keys } = choiceBar(submit, true);
    const note = el("textarea", "note");
    note.id = "note";
    note.placeholder = "Optional note (why, what you checked)";
    note.maxLength = 2000;
    page.append(bar, note);
    if (state.judge && state.judge.available) page.appendChild(judgePanel(data.item.item_id));
    root.appendChild(page);
    state.shownAt = performance.now();
    setKeys((key) => {
      const choice = keys[key.toLowerCase()];
      if (!choice) return false;
      submit(choice);
      return true;
    });
  }

  // The judge panel is collapsed and only asks when the annotator requests it (logged per label).
  function judgePanel(itemId) {
    const box = el("details", "judge");
    box.id = "judge-panel";
    box.appendChild(el("summary", null, "Ask a judge (optional; use is recorded with your label)"));
    const ask = el("button", null, "Ask " + state.judge.endpoint);
    ask.type = "button";
    const answer = el("div", "md judge-answer");
    ask.addEventListener("click", async () => {
      ask.disabled = true;
      answer.textContent = "Asking...";
      try {
        const reply = await api("POST", "/api/judge", { item_id: itemId });
        answer.textContent = "";
        answer.appendChild(markdown(reply.answer));
      } catch (e) { answer.textContent = "Judge failed: " + e.message; }
      ask.disabled = false;
    });
    box.append(el("p", "hint", "The judge can be wrong. Verify its claims yourself."), ask, answer);
    return box;
  }

  // ---- Guidelines and own labels
  async function showGuidelines() {
    const root = clear();
    try {
      const g = await api("GET", "/api/guidelines");
      const card = el("div", "card md guidelines");
      card.id = "guidelines";
      card.appendChild(markdown(g.markdown));
      root.appendChild(card);
    } catch (e) { handleError(e); }
  }

  function table(headers, rows, id) {
    const t = el("table");
    if (id) t.id = id;
    const head = el("tr");
    for (const h of headers) head.appendChild(el("th", null, h));
    t.appendChild(head);
    for (const row of rows) {
      const tr = el("tr");
      for (const cell of row) tr.appendChild(el("td", null, cell === null || cell === undefined ? "-" : String(cell)));
      t.appendChild(tr);
    }
    return t;
  }

  async function showMine() {
    const root = clear();
    try {
      const data = await api("GET", "/api/labels");
      root.appendChild(el("h2", null, "My labels"));
      root.appendChild(table(["item", "pair", "choice", "seconds", "judge", "time"],
        data.labels.map((l) => [l.item_id, l.pair_id, l.choice, (l.server_ms / 1000).toFixed(1), l.judge_used ? "yes" : "", l.time]),
        "my-labels"));
    } catch (e) { handleError(e); }
  }

  // ---- Admin
  const fmt = (x) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(3));

  async function showAdmin() {
    const root = clear();
    root.appendChild(el("h2", null, "Admin"));
    let stats, disagreements, users;
    try {
      [stats, disagreements, users] = await Promise.all([
        api("GET", "/api/admin/stats"), api("GET", "/api/admin/disagreements"), api("GET", "/api/admin/users")]);
    } catch (e) { return handleError(e); }
    const summary = el("p", "summary", "Items " + stats.items + " · settled " + stats.settled + " · agreed " + stats.agreed +
      " · disagreements " + stats.disagreements + " · adjudicated " + stats.adjudicated + " · discarded " +
      stats.discarded + " · Krippendorff's alpha " + fmt(stats.alpha));
    summary.id = "stats-summary";
    root.appendChild(summary);
    root.appendChild(el("h3", null, "Annotators"));
    root.appendChild(table(["annotator", "labeled", "skipped", "cannot", "remaining", "median s", "judge used", "gold correct", "kappa vs others"],
      stats.annotators.map((a) => [a.user, a.labeled, a.skipped, a.cannot, a.remaining, fmt(a.median_seconds), a.judge_used,
        a.gold_correct + "/" + a.gold_answered, fmt(a.kappa) + " (n=" + a.kappa_pairs + ")"]), "annotator-stats"));
    root.appendChild(el("h3", null, "Categories"));
    root.appendChild(table(["category", "items", "settled", "alpha", "kappa"],
      stats.categories.map((c) => [c.category || "(none)", c.items, c.settled, fmt(c.alpha), fmt(c.kappa)]), "category-stats"));
    root.appendChild(el("h3", null, "Disagreements"));
    const list = el("ul", "disagreements");
    list.id = "adjudicate-list";
    for (const d of disagreements.disagreements) {
      const li = el("li");
      const open = el("button", "adjudicate-item", "Adjudicate item " + d.item_id + " (" + d.pair_id + ")");
      open.type = "button";
      open.addEventListener("click", () => showAdjudicate(d.item_id));
      li.appendChild(open);
      list.appendChild(li);
    }
    if (!disagreements.disagreements.length) list.appendChild(el("li", null, "None"));
    root.appendChild(list);
    root.appendChild(userForm(users.users));
    root.appendChild(exportBox());
  }

  function userForm(users) {
    const box = el("section", "card");
    box.appendChild(el("h3", null, "Accounts"));
    box.appendChild(table(["id", "name", "role"], users.map((u) => [u.id, u.name, u.role]), "users"));
    const form = el("form", "inline");
    const name = el("input"); name.placeholder = "name"; name.id = "new-user-name";
    const password = el("input"); password.type = "password"; password.placeholder = "password (8+)"; password.id = "new-user-password";
    const role = el("select"); role.id = "new-user-role";
    for (const r of ["annotator", "admin"]) { const o = el("option", null, r); o.value = r; role.appendChild(o); }
    const add = el("button", null, "Create account"); add.type = "submit";
    form.append(name, password, role, add);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/api/admin/users", { name: name.value, password: password.value, role: role.value });
        toast("Created " + name.value);
        showAdmin();
      } catch (e) { toast(e.message, true); }
    });
    box.appendChild(form);
    const invite = el("button", null, "Create a one-time invite link instead");
    invite.type = "button";
    invite.id = "invite-button";
    const link = el("code", "invite-link");
    link.id = "invite-link";
    invite.addEventListener("click", async () => {
      try {
        const r = await api("POST", "/api/admin/invites", { name: name.value, role: role.value });
        link.textContent = location.origin + r.link;
      } catch (e) { toast(e.message, true); }
    });
    box.append(el("p", "hint", "Or invite by name and role (the new annotator sets their own password):"), invite,
      document.createTextNode(" "), link);
    return box;
  }

  function exportBox() {
    const box = el("section", "card");
    box.appendChild(el("h3", null, "Export"));
    const button = el("button", "primary", "Export gold set (JSONL + curation database)");
    button.id = "export-button";
    button.type = "button";
    const result = el("pre", "export-result");
    result.id = "export-result";
    button.addEventListener("click", async () => {
      try {
        const r = await api("POST", "/api/admin/export", { to_project: true });
        result.textContent = JSON.stringify(r, null, 2);
      } catch (e) { result.textContent = "Export failed: " + e.message; }
    });
    const link = el("a", null, "Download gold.jsonl");
    link.href = "/api/admin/gold.jsonl";
    box.append(button, document.createTextNode(" "), link, result);
    return box;
  }

  async function showAdjudicate(itemId) {
    const root = clear();
    let data;
    try { data = await api("GET", "/api/admin/item?id=" + encodeURIComponent(itemId)); } catch (e) { return handleError(e); }
    const page = el("div", "label-view adjudicate");
    page.id = "adjudicate-view";
    page.appendChild(el("h2", null, "Adjudicate item " + itemId));
    page.appendChild(table(["annotator", "said", "judge used", "note"],
      data.labels.map((l) => [l.user, l.side, l.judge_used ? "yes" : "", l.note]), "adjudicate-labels"));
    renderPair(data.view, page);
    const note = el("textarea", "note");
    note.placeholder = "Adjudication note";
    const decide = async (choice) => {
      try {
        await api("POST", "/api/admin/adjudicate", { item_id: itemId, choice, note: note.value });
        toast("Adjudicated item " + itemId + ": " + choice);
        showAdmin();
      } catch (e) { handleError(e); }
    };
    const { bar, keys } = choiceBar(decide, false);
    page.append(bar, note);
    root.appendChild(page);
    setKeys((key) => {
      const choice = keys[key.toLowerCase()];
      if (!choice) return false;
      decide(choice);
      return true;
    });
  }

  function handleError(e) {
    if (e.status === 401) return showLogin();
    toast(e.message, true);
  }

  async function logout() {
    try { await api("POST", "/api/logout", {}); } catch (e) { /* the session is gone either way */ }
    state.me = null;
    state.csrf = "";
    showLogin();
  }

  async function start() {
    document.getElementById("nav-label").addEventListener("click", showLabel);
    document.getElementById("nav-guidelines").addEventListener("click", showGuidelines);
    document.getElementById("nav-mine").addEventListener("click", showMine);
    document.getElementById("nav-admin").addEventListener("click", showAdmin);
    document.getElementById("nav-logout").addEventListener("click", logout);
    const invite = /^#invite=([0-9a-f]{64})$/.exec(location.hash);
    if (invite) return showInvite(invite[1]);
    try {
      await signedIn(await api("GET", "/api/me"));
    } catch (e) {
      showLogin();
    }
  }

  return { start };
})();

document.addEventListener("DOMContentLoaded", App.start);
