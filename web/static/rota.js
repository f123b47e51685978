/* The supervisors' rota page: a week's coverage for one skill, and every
 * hotliner's exceptions (added and removed here, audited by the API).
 *
 * Everything shown is put in the page with textContent (never innerHTML).
 */
(function () {
  "use strict";

  const setup = JSON.parse(document.getElementById("rota-setup").textContent);
  const en = setup.lang === "en-US";
  const $ = (id) => document.getElementById(id);
  let monday = setup.from;  // YYYY-MM-DD, the week shown
  let coverage = null;
  let people = [];

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  const api = window.hotlineApi;

  function addDays(day, n) {
    const d = new Date(day + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function dayLabel(day) {
    return new Date(day + "T12:00:00Z").toLocaleDateString(setup.lang,
      { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  }

  // -- coverage --------------------------------------------------------------

  function loadCoverage() {
    $("week").textContent = dayLabel(monday) + " – " + dayLabel(addDays(monday, 6));
    $("coverage-state").textContent = en ? "computing…" : "calcul…";
    api("GET", "/api/rota/coverage?from=" + monday + "&days=7").then(function (r) {
      coverage = r;
      $("coverage-state").textContent = "";
      drawCoverage();
    }).catch(function (e) { $("coverage-state").textContent = e.message; });
  }

  function drawCoverage() {
    if (!coverage) return;
    const skill = $("skill").value;
    const days = [];
    for (let n = 0; n < coverage.days; n++) days.push(addDays(coverage.from, n));
    // "HH:MM" of the local wall clock -> day -> row (the autumn night's
    // repeated half hours show the second one).
    const byTime = {};
    coverage.rows.forEach(function (r) {
      if (r.skill !== skill) return;
      const time = r.start.slice(11, 16);
      (byTime[time] = byTime[time] || {})[r.start.slice(0, 10)] = r;
    });
    const head = $("coverage").tHead;
    head.replaceChildren();
    const top = el("tr");
    top.appendChild(el("th", ""));
    const today = new Date().toLocaleDateString("en-CA");  // YYYY-MM-DD, local
    days.forEach(function (d) { top.appendChild(el("th", dayLabel(d), d === today ? "today" : "")); });
    head.appendChild(top);
    const body = $("coverage").tBodies[0];
    body.replaceChildren();
    Object.keys(byTime).sort().forEach(function (time) {
      const tr = el("tr");
      tr.appendChild(el("th", time, "time"));
      days.forEach(function (d) {
        const r = byTime[time][d];
        const td = el("td");
        if (r && (r.needed > 0 || r.on_shift > 0)) {
          const status = { understaffed: "under", overstaffed: "over", ok: "ok" }[r.status];
          const cell = el("span", fmt(r.on_shift) + " / " + r.needed, "cell " + status);
          cell.title = (en ? "calls expected " : "appels attendus ") + r.calls;
          td.appendChild(cell);
        } else {
          td.appendChild(el("span", "·", "cell none"));
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function fmt(x) {
    return Number.isInteger(x) ? String(x) : x.toFixed(1);
  }

  $("prev-week").addEventListener("click", function () { monday = addDays(monday, -7); loadCoverage(); });
  $("next-week").addEventListener("click", function () { monday = addDays(monday, 7); loadCoverage(); });
  $("skill").addEventListener("change", drawCoverage);

  // -- hotliners and their exceptions ------------------------------------------

  function loadPeople() {
    return api("GET", "/api/rota/exceptions").then(function (r) {
      people = r.hotliners;
      drawPeople();
    });
  }

  function drawPeople() {
    const agents = [$("ex-agent"), $("ex-partner")];
    agents.forEach(function (select) {
      const kept = select.value;
      select.replaceChildren();
      people.forEach(function (p) {
        const option = el("option", p.name);
        option.value = p.id;
        select.appendChild(option);
      });
      if (kept) select.value = kept;
    });
    const body = $("hotliners").tBodies[0];
    body.replaceChildren();
    people.forEach(function (p) {
      const tr = el("tr");
      tr.dataset.agent = p.id;
      const name = el("td", p.name);
      if (p.on_call) name.appendChild(el("span", en ? " on call" : " astreinte", "muted"));
      tr.appendChild(name);
      const weekly = el("td", p.shifts.join(" · ") || "—");
      if (p.configured_shifts) weekly.appendChild(el("span", en ? " (changed here)" : " (modifiés ici)", "muted"));
      const edit = el("button", en ? "Edit" : "Modifier", "edit");
      edit.type = "button";
      edit.addEventListener("click", function () { openShifts(p); });
      weekly.appendChild(edit);
      tr.appendChild(weekly);
      const cell = el("td");
      p.configured.forEach(function (line) { cell.appendChild(el("span", line, "exception")); });
      p.added.forEach(function (line) {
        const tag = el("span", line, "exception added");
        const remove = el("button", "✕");
        remove.type = "button";
        remove.title = en ? "remove" : "retirer";
        remove.setAttribute("aria-label", (en ? "remove " : "retirer ") + line);
        remove.addEventListener("click", function () { change("DELETE", p.id, line); });
        tag.appendChild(remove);
        cell.appendChild(tag);
      });
      if (!p.configured.length && !p.added.length) cell.appendChild(el("span", "—", "muted"));
      tr.appendChild(cell);
      body.appendChild(tr);
    });
  }

  function change(method, agent, line) {
    const result = $("ex-result");
    result.className = "result";
    result.textContent = "";
    return api(method, "/api/rota/exceptions", { agent: agent, exception: line }).then(function () {
      result.textContent = (method === "POST" ? (en ? "added: " : "ajouté : ") : (en ? "removed: " : "retiré : ")) + line;
      return Promise.all([loadPeople(), loadCoverage()]);
    }).catch(function (e) {
      result.className = "result bad";
      result.textContent = e.message;
    });
  }

  // -- a hotliner's weekly shifts (in place of hotliners.yaml's) --------------

  let editing = null;
  function openShifts(p) {
    editing = p;
    $("shifts-title").textContent = p.name;
    $("shifts-text").value = p.shifts.join("\n");
    $("shifts-configured").textContent = p.configured_shifts
      ? (en ? "hotliners.yaml says: " : "hotliners.yaml indique : ") + (p.configured_shifts.join(" · ") || "—")
      : "";
    $("shifts-reset").hidden = !p.configured_shifts;
    $("shifts-result").textContent = "";
    $("shifts-dialog").showModal();
  }
  function saveShifts(method, body) {
    const result = $("shifts-result");
    result.className = "result";
    api(method, "/api/rota/shifts/" + encodeURIComponent(editing.id), body).then(function () {
      $("shifts-dialog").close();
      $("ex-result").className = "result";
      $("ex-result").textContent = (en ? "shifts saved: " : "services enregistrés : ") + editing.name;
      return Promise.all([loadPeople(), loadCoverage()]);
    }).catch(function (e) {
      result.className = "result bad";
      result.textContent = e.message;
    });
  }
  $("shifts-save").addEventListener("click", function () {
    const lines = $("shifts-text").value.split("\n").map(function (x) { return x.trim(); })
      .filter(function (x) { return x; });
    saveShifts("PUT", { shifts: lines });
  });
  $("shifts-reset").addEventListener("click", function () { saveShifts("DELETE"); });
  $("shifts-close").addEventListener("click", function () { $("shifts-dialog").close(); });

  function showFields() {
    const kind = $("ex-kind").value;
    document.querySelectorAll(".for-leave").forEach(function (n) { n.hidden = kind !== "leave"; });
    document.querySelectorAll(".for-extra").forEach(function (n) { n.hidden = kind !== "extra"; });
    document.querySelectorAll(".for-swap").forEach(function (n) { n.hidden = kind !== "swap"; });
  }
  $("ex-kind").addEventListener("change", showFields);

  $("add-exception").addEventListener("submit", function (event) {
    event.preventDefault();
    const kind = $("ex-kind").value;
    const day = $("ex-day").value;
    let line = kind + " " + day;
    if (kind === "leave" && $("ex-to").value) line = "leave " + day + ".." + $("ex-to").value;
    if (kind === "extra") line = "extra " + day + " " + $("ex-start").value + "-" + $("ex-end").value;
    if (kind === "swap") line = "swap " + day + " with " + $("ex-partner").value;
    change("POST", $("ex-agent").value, line);
  });

  showFields();
  loadPeople();
  loadCoverage();
}());
