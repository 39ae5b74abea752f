// The programme dashboard: asks /api/summary every `refresh_s` seconds with the reader's
// token and draws it. Every figure is written with textContent (never as HTML), and each
// chart has a table with its figures beside it.
"use strict";

(() => {
  const STATUTS = { labelled: "Actives", suspended: "Suspendues", withdrawn: "Retirées",
                    expired: "Expirées" };
  const COULEURS = { labelled: "#000091", suspended: "#f3a33b", withdrawn: "#c9191e",
                     expired: "#929292", allocated: "#000091", committed: "#6a6af4",
                     paid: "#18753c", frozen: "#71a6d1", sent: "#18753c", failed: "#c9191e" };
  const PROGRAMMES = { P147: "Programme 147 — politique de la ville",
                       P230: "Programme 230 — vie de l'élève" };
  const TYPES = { ecole: "École", college: "Collège", lycee: "Lycée", commune: "Commune",
                  epci: "EPCI", prefecture: "Préfecture", rectorat_dasen: "Rectorat / DASEN",
                  caf: "CAF", association: "Association", entreprise: "Entreprise",
                  departement: "Département", region: "Région" };
  const euros = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR",
                                                 maximumFractionDigits: 0 });
  const nombre = new Intl.NumberFormat("fr-FR");
  const heure = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "medium" });
  const enEuros = (cents) => euros.format(Math.round(cents / 100));
  const charts = {};
  let jeton = null;
  let minuteur = null;

  // --- the token: from the address (#token=…) once, then the tab's session storage ------
  function lireJeton() {
    const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (m) {
      sessionStorage.setItem("cites-jeton", decodeURIComponent(m[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem("cites-jeton");
  }

  function demanderJeton(message) {
    const form = document.getElementById("jeton");
    form.hidden = false;
    etat("error", message);
    form.onsubmit = (e) => {
      e.preventDefault();
      jeton = document.getElementById("jeton-valeur").value.trim();
      sessionStorage.setItem("cites-jeton", jeton);
      form.hidden = true;
      rafraichir();
    };
  }

  function etat(state, texte) {
    const el = document.getElementById("etat-connexion");
    el.dataset.state = state;
    el.textContent = texte;
  }

  // --- small DOM helpers --------------------------------------------------------------
  function cellule(ligne, texte, attrs = {}, entete = false) {
    const c = document.createElement(entete ? "th" : "td");
    if (entete) c.scope = "row";
    c.textContent = texte;
    for (const [k, v] of Object.entries(attrs)) c.dataset[k] = String(v);
    ligne.appendChild(c);
    return c;
  }

  function remplir(id, lignes, section = "tbody") {
    const corps = document.querySelector(`#${id} ${section}`);
    corps.replaceChildren();
    for (const cells of lignes) {
      const tr = document.createElement("tr");
      cells.forEach((c, i) => cellule(tr, c.t, c.a || {}, i === 0));
      corps.appendChild(tr);
    }
    if (!lignes.length && section === "tbody") {
      const tr = document.createElement("tr");
      const td = cellule(tr, "Aucune donnée pour l'instant.");
      td.colSpan = document.querySelectorAll(`#${id} thead th`).length;
      corps.appendChild(tr);
    }
  }

  function figure(nom, valeur) {
    const el = document.querySelector(`[data-figure="${nom}"]`);
    el.textContent = nombre.format(valeur);
    el.dataset.value = String(valeur);
  }

  function graphe(id, config) {
    if (typeof Chart === "undefined") return;  // the tables still say everything
    if (charts[id]) {
      charts[id].data = config.data;
      charts[id].update("none");
    } else {
      charts[id] = new Chart(document.getElementById(id), config);
    }
  }

  const options = (titre, empile, entiers = true) => ({
    responsive: true, maintainAspectRatio: false, animation: false, locale: "fr-FR",
    plugins: { title: { display: true, text: titre }, legend: { position: "bottom" } },
    scales: { x: { stacked: empile },
              y: { stacked: empile, beginAtZero: true,
                   ticks: { precision: 0, ...(entiers ? {} : { callback: (v) => euros.format(v) }) } } },
  });

  // --- drawing the summary ------------------------------------------------------------
  function dessiner(s) {
    const total = Object.values(s.cites).reduce((a, b) => a + b, 0);
    figure("cites-total", total);
    for (const k of Object.keys(STATUTS)) figure(`cites-${k}`, s.cites[k] || 0);
    figure("alliances-open", s.alliances.open);
    figure("alliances-members", s.alliances.members);
    figure("notifications-sent", s.notifications.sent);
    figure("notifications-failed", s.notifications.failed);

    // waves
    const vagues = s.waves.map((w) => w.wave_id);
    graphe("g-vagues", { type: "bar", options: options("Cités par vague et statut", true),
      data: { labels: vagues, datasets: Object.entries(STATUTS).map(([k, nom]) => ({
        label: nom, backgroundColor: COULEURS[k],
        data: s.waves.map((w) => w.cites[k] || 0) })) } });
    remplir("tab-vagues", s.waves.map((w) => {
      const n = (o, k) => ({ t: nombre.format(o[k] || 0),
                             a: { wave: w.wave_id, measure: k, value: o[k] || 0 } });
      const cites = Object.values(w.cites).reduce((a, b) => a + b, 0);
      return [{ t: w.wave_id }, n(w.cites, "labelled"), n(w.cites, "suspended"),
              n(w.cites, "withdrawn"), n(w.cites, "expired"),
              { t: nombre.format(cites), a: { wave: w.wave_id, measure: "cites", value: cites } },
              n(w.candidatures, "submitted"), n(w.candidatures, "under_review"),
              n(w.candidatures, "labelled"), n(w.candidatures, "rejected"), n(w.candidatures, "withdrawn")];
    }));

    // money
    const montant = (line, k) => ({ t: enEuros(line[k]),
      a: { programme: line.programme, year: line.year, measure: k, cents: line[k] } });
    const colonnes = (line) => [montant(line, "allocated"), montant(line, "fonds"),
      montant(line, "committed"), montant(line, "paid"), montant(line, "frozen"),
      montant(line, "released"), { t: nombre.format(line.refused) }];
    remplir("tab-argent", s.money.map((l) => [{ t: l.programme }, { t: String(l.year) },
                                              ...colonnes(l)]));
    remplir("tab-argent", s.money_by_programme.map((l) => [{ t: l.programme },
      { t: "toutes" }, ...colonnes(l)]), "tfoot");
    for (const p of Object.keys(PROGRAMMES)) {
      const lignes = s.money.filter((l) => l.programme === p);
      graphe(`g-${p}`, { type: "bar", options: options(PROGRAMMES[p], false, false),
        data: { labels: lignes.map((l) => String(l.year)),
          datasets: [["allocated", "Alloué"], ["committed", "Engagé"], ["paid", "Payé"],
                     ["frozen", "Gelé"]].map(([k, nom]) => ({
            label: nom, backgroundColor: COULEURS[k],
            data: lignes.map((l) => l[k] / 100) })) } });
    }
    remplir("tab-enveloppes", s.envelopes.map((e) => [{ t: e.name }, { t: e.programme },
      { t: e.budget_years.join(", ") }, { t: e.wave_ids.join(", ") },
      { t: enEuros(e.amount), a: { cents: e.amount } }]));

    // départements
    remplir("tab-dep", s.departements.map((d) => [
      { t: `${d.code} — ${d.name}` },
      { t: nombre.format(d.cites), a: { departement: d.code, measure: "cites", value: d.cites } },
      { t: nombre.format(d.active) }, { t: nombre.format(d.alliance_members) },
      { t: enEuros(d.allocated) }, { t: enEuros(d.committed) }, { t: enEuros(d.paid) }]));

    // alliances
    const tailles = Object.entries(s.alliances.sizes).map(([k, v]) => [Number(k), v]);
    graphe("g-alliances", { type: "bar", options: options("Alliances par nombre de membres", false),
      data: { labels: tailles.map(([k]) => String(k)), datasets: [{ label: "Alliances ouvertes",
        backgroundColor: COULEURS.committed, data: tailles.map(([, v]) => v) }] } });
    remplir("tab-tailles", tailles.map(([k, v]) => [{ t: String(k) },
      { t: nombre.format(v), a: { size: k, value: v } }]));
    remplir("tab-types", Object.entries(s.alliances.by_kind).map(([k, v]) => [
      { t: TYPES[k] || k }, { t: nombre.format(v) }]));

    // notifications
    graphe("g-notif", { type: "doughnut", options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { title: { display: true, text: "Notifications" }, legend: { position: "bottom" } } },
      data: { labels: ["Envoyées", "En échec"], datasets: [{
        backgroundColor: [COULEURS.sent, COULEURS.failed],
        data: [s.notifications.sent, s.notifications.failed] }] } });
    remplir("tab-notif", Object.entries(s.notifications.by_template).map(([k, v]) => [
      { t: k }, { t: nombre.format(v.sent) }, { t: nombre.format(v.failed) }]));

    // health
    const h = s.health;
    if (h) {
      document.getElementById("sante-releve").textContent =
        `Relevé du ${heure.format(new Date(h.taken_at))}.`;
      remplir("tab-services", h.services.map((v) => [{ t: v.name },
        { t: v.ready === true ? "prêt" : v.ready === false ? "indisponible" : "sans réponse",
          a: { service: v.name, health: v.ready === true ? "ok" : "ko" } },
        { t: v.outbox_backlog === null ? "–" : nombre.format(v.outbox_backlog),
          a: { service: v.name, measure: "outbox", value: v.outbox_backlog ?? "" } }]));
      remplir("tab-retard", h.consumers.map((c) => [{ t: c.group },
        { t: c.lag === null ? `inconnu (${c.error})` : nombre.format(c.lag),
          a: { group: c.group, health: c.lag === 0 ? "ok" : "ko", value: c.lag ?? "" } }]));
      remplir("tab-dlq", h.dead_letters.map((d) => [{ t: d.topic },
        { t: d.depth === null ? `inconnu (${d.error})` : nombre.format(d.depth),
          a: { topic: d.topic, health: d.depth === 0 ? "ok" : "ko", value: d.depth ?? "" } }]));
    }
    document.getElementById("maj").textContent =
      ` · mis à jour le ${heure.format(new Date())}`;
    document.body.dataset.loaded = "true";
  }

  async function rafraichir() {
    clearTimeout(minuteur);
    jeton = jeton || lireJeton();
    if (!jeton) { demanderJeton("Un jeton de lecture est nécessaire."); return; }
    let attente = 10;
    try {
      const r = await fetch("/api/summary", { headers: { Authorization: `Bearer ${jeton}` },
                                              cache: "no-store" });
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem("cites-jeton");
        jeton = null;
        demanderJeton("Ce jeton n'est pas accepté.");
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const s = await r.json();
      dessiner(s);
      etat("ok", "En direct");
      attente = s.refresh_s;
    } catch (e) {
      etat("error", `Chiffres indisponibles (${e.message}) : nouvel essai bientôt.`);
    }
    minuteur = setTimeout(rafraichir, attente * 1000);
  }

  document.addEventListener("DOMContentLoaded", rafraichir);
})();
