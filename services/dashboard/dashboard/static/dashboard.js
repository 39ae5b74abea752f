// The programme dashboard: signs the reader in, asks /api/summary every `refresh_s`
// seconds with her access token and draws it. Every figure is written with textContent (never as HTML), and each
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
  let minuteur = null;

  // --- signing in ----------------------------------------------------------------------
  // /sign-in.json says how. "oidc": the page signs in at the identity provider —
  // authorization code with PKCE (S256), the code back in the fragment — and keeps the
  // tokens in the tab's session storage, renewing the access token before it expires.
  // "static" (development, tests): a token typed in the form. Never a token in an address.
  const SESSION = "cites-session";
  const PKCE = "cites-pkce";
  let config = null;
  let fournisseur = null;
  let session = null;
  let justeConnecte = false;

  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const hasard = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
  const ici = () => window.location.origin + window.location.pathname;

  async function decouvrir() {
    if (!fournisseur) {
      const r = await fetch(`${config.issuer}/.well-known/openid-configuration`);
      if (!r.ok) throw new Error(`fournisseur d'identité : HTTP ${r.status}`);
      fournisseur = await r.json();
    }
    return fournisseur;
  }

  async function seConnecter() {
    const f = await decouvrir();
    const verifier = hasard(32);
    const state = hasard(16);
    const challenge = b64url(await crypto.subtle.digest("SHA-256",
                                                        new TextEncoder().encode(verifier)));
    sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
    const q = new URLSearchParams({
      client_id: config.client_id, response_type: "code", response_mode: "fragment",
      scope: "openid", redirect_uri: ici(), state, code_challenge: challenge,
      code_challenge_method: "S256" });
    window.location.assign(`${f.authorization_endpoint}?${q}`);
  }

  function garder(reponse) {
    session = { access: reponse.access_token, refresh: reponse.refresh_token || null,
                id: reponse.id_token || null,
                expire: Date.now() + (reponse.expires_in || 60) * 1000 };
    sessionStorage.setItem(SESSION, JSON.stringify(session));
  }

  function oublier() {
    session = null;
    sessionStorage.removeItem(SESSION);
  }

  async function jetonDuFournisseur(params) {
    const f = await decouvrir();
    const r = await fetch(f.token_endpoint, { method: "POST",
      body: new URLSearchParams({ client_id: config.client_id, ...params }) });
    if (!r.ok) return false;
    garder(await r.json());
    return true;
  }

  // Back from the provider: the code (or its refusal) in the fragment, checked against
  // the state this tab sent, then exchanged with the verifier only this tab holds.
  async function retourDuFournisseur() {
    const h = new URLSearchParams(window.location.hash.slice(1));
    if (!h.has("code") && !h.has("error")) return;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    const attendu = JSON.parse(sessionStorage.getItem(PKCE) || "null");
    sessionStorage.removeItem(PKCE);
    if (h.has("error") || !attendu || h.get("state") !== attendu.state) {
      throw new Error(h.get("error_description") || h.get("error") || "réponse inattendue");
    }
    const ok = await jetonDuFournisseur({ grant_type: "authorization_code", code: h.get("code"),
                                          redirect_uri: ici(), code_verifier: attendu.verifier });
    if (!ok) throw new Error("le code n'a pas été échangé");
    justeConnecte = true;
  }

  async function jetonValide() {
    if (!session) session = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    if (!session) return null;
    if (config.mode === "oidc" && session.expire - Date.now() < 30000) {
      const renouvele = session.refresh && await jetonDuFournisseur({
        grant_type: "refresh_token", refresh_token: session.refresh });
      if (!renouvele) { oublier(); return null; }
    }
    return session.access;
  }

  async function seDeconnecter() {
    const id = session && session.id;
    oublier();
    const f = await decouvrir();
    if (!f.end_session_endpoint) { window.location.reload(); return; }
    const q = new URLSearchParams({ client_id: config.client_id,
                                    post_logout_redirect_uri: ici() });
    if (id) q.set("id_token_hint", id);
    window.location.assign(`${f.end_session_endpoint}?${q}`);
  }

  function demanderJeton(message) {
    const form = document.getElementById("jeton");
    form.hidden = false;
    etat("error", message);
    form.onsubmit = (e) => {
      e.preventDefault();
      session = { access: document.getElementById("jeton-valeur").value.trim(), refresh: null,
                  id: null, expire: Number.MAX_SAFE_INTEGER };
      sessionStorage.setItem(SESSION, JSON.stringify(session));
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
    figure("reviews-overdue", s.reviews.years.reduce((a, y) => a + y.overdue, 0));

    // waves
    // a wave by its title (its id when its events carried none); a test wave says so
    const nomVague = (w) => (w.title || w.wave_id) + (w.test ? " (test)" : "");
    const vagues = s.waves.map(nomVague);
    graphe("g-vagues", { type: "bar", options: options("Cités par vague et statut", true),
      data: { labels: vagues, datasets: Object.entries(STATUTS).map(([k, nom]) => ({
        label: nom, backgroundColor: COULEURS[k],
        data: s.waves.map((w) => w.cites[k] || 0) })) } });
    remplir("tab-vagues", s.waves.map((w) => {
      const n = (o, k) => ({ t: nombre.format(o[k] || 0),
                             a: { wave: w.wave_id, measure: k, value: o[k] || 0 } });
      const cites = Object.values(w.cites).reduce((a, b) => a + b, 0);
      return [{ t: nomVague(w) }, n(w.cites, "labelled"), n(w.cites, "suspended"),
              n(w.cites, "withdrawn"), n(w.cites, "expired"),
              { t: nombre.format(cites), a: { wave: w.wave_id, measure: "cites", value: cites } },
              n(w.candidatures, "submitted"), n(w.candidatures, "under_review"),
              n(w.candidatures, "labelled"), n(w.candidatures, "rejected"), n(w.candidatures, "withdrawn")];
    }));

    // money
    const montant = (line, k) => ({ t: enEuros(line[k]),
      a: { programme: line.programme, year: line.year, measure: k, cents: line[k] } });
    const colonnes = (line) => [montant(line, "allocated"), montant(line, "fonds"),
      montant(line, "fonds_used"), montant(line, "committed"), montant(line, "paid"), montant(line, "frozen"),
      montant(line, "released"), montant(line, "ordered_back"), montant(line, "recovered"),
      { t: nombre.format(line.refused) }];
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
    const credit = (c, k) => ({ t: enEuros(c[k]),
      a: { programme: c.programme, year: c.year, credit: k, cents: c[k] } });
    remplir("tab-credits", s.credits.map((c) => [{ t: c.programme }, { t: String(c.year) },
      ...["ae", "cp", "delegated_ae", "delegated_cp", "engaged", "spent", "lapsed_ae",
          "lapsed_cp", "restes_a_payer"].map((k) => credit(c, k)),
      { t: c.closed ? "oui" : "non",
        a: { programme: c.programme, year: c.year, credit: "closed", value: c.closed } }]));

    // années, régions, académies
    remplir("tab-annees", s.years.map((y) => [
      { t: String(y.year) },
      { t: nombre.format(y.cites_labelled), a: { year: y.year, value: y.cites_labelled } },
      { t: enEuros(y.allocated) }, { t: enEuros(y.committed) }, { t: enEuros(y.paid) },
      { t: enEuros(y.cofinancing_planned) }, { t: enEuros(y.cofinancing_given) }]));
    for (const [id, zones] of [["tab-regions", s.regions], ["tab-academies", s.academies]]) {
      remplir(id, zones.map((z) => [
        { t: z.name }, { t: nombre.format(z.cites), a: { area: z.name, value: z.cites } },
        { t: nombre.format(z.active) }, { t: nombre.format(z.alliance_members) },
        { t: enEuros(z.allocated) }, { t: enEuros(z.committed) }, { t: enEuros(z.paid) }]));
    }

    // départements
    remplir("tab-dep", s.departements.map((d) => [
      { t: `${d.code} — ${d.name}` },
      { t: nombre.format(d.cites), a: { departement: d.code, measure: "cites", value: d.cites } },
      { t: nombre.format(d.active) }, { t: nombre.format(d.alliance_members) },
      { t: enEuros(d.allocated) }, { t: enEuros(d.committed) }, { t: enEuros(d.paid) }]));

    // revues de projet: per year, then those late or not submitted (a bounded list)
    const jour = (iso) => iso.split("-").reverse().join("/");
    remplir("tab-revues", s.reviews.years.map((y) => [{ t: String(y.year) },
      ...["due", "submitted_on_time", "submitted_late", "overdue", "pending"].map((k) => (
        { t: nombre.format(y[k]), a: { year: y.year, measure: k, value: y[k] } }))]));
    remplir("tab-revues-retard", s.reviews.late_or_missing.map((r) => [
      { t: r.cite_name || r.cite_id }, { t: `${r.departement} — ${r.departement_name}` },
      { t: String(r.year) }, { t: jour(r.due_on) },
      { t: r.submitted_on ? jour(r.submitted_on) : "non déposée",
        a: { cite: r.cite_id, year: r.year, review: r.submitted_on ? "late" : "overdue" } }]));
    const tronque = document.getElementById("revues-tronque");
    tronque.hidden = s.reviews.late_or_missing.length >= s.reviews.late_or_missing_total;
    tronque.textContent = `Les ${nombre.format(s.reviews.late_or_missing.length)} premières `
      + `sur ${nombre.format(s.reviews.late_or_missing_total)}, l'année la plus récente d'abord.`;

    const somme = (y, k) => ({ t: enEuros(y[k]), a: { year: y.year, synthesis: k, cents: y[k] } });
    remplir("tab-synthese", s.reviews.syntheses.map((y) => [{ t: String(y.year) },
      { t: nombre.format(y.submitted), a: { year: y.year, synthesis: "submitted", value: y.submitted } },
      ...["allocated", "fonds", "committed", "paid", "ordered_back", "cofinancing",
          "commune_contribution"].map((k) => somme(y, k)),
      { t: nombre.format(y.actions), a: { year: y.year, synthesis: "actions", value: y.actions } },
      somme(y, "actions_cost")]));
    remplir("tab-indicateurs", s.reviews.indicators.map((i) => [{ t: String(i.year) },
      { t: i.label + (i.unit ? ` (${i.unit})` : "") }, { t: nombre.format(i.cites) },
      { t: nombre.format(Number(i.mean)), a: { year: i.year, indicator: i.code, value: i.mean } }]));

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
    let attente = 10;
    try {
      const jeton = await jetonValide();
      if (!jeton) {
        if (config.mode === "oidc") {
          etat("waiting", "Connexion au fournisseur d'identité…");
          await seConnecter();
        } else {
          demanderJeton("Un jeton de lecture est nécessaire.");
        }
        return;
      }
      const r = await fetch("/api/summary", { headers: { Authorization: `Bearer ${jeton}` },
                                              cache: "no-store" });
      if (config.mode !== "oidc" && (r.status === 401 || r.status === 403)) {
        oublier();
        demanderJeton("Ce jeton n'est pas accepté.");
        return;
      }
      if (r.status === 401 && !justeConnecte) {  // expired or revoked: sign in again
        oublier();
        await seConnecter();
        return;
      }
      if (r.status === 401 || r.status === 403) {
        etat("error", r.status === 403 ? "Ce compte n'a pas accès au tableau de bord."
                                       : "La connexion n'est pas acceptée.");
        return;
      }
      justeConnecte = false;
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

  async function demarrer() {
    try {
      config = await (await fetch("/sign-in.json", { cache: "no-store" })).json();
      if (config.mode === "oidc") {
        await retourDuFournisseur();
        const bouton = document.getElementById("deconnexion");
        bouton.hidden = false;
        bouton.onclick = seDeconnecter;
      }
    } catch (e) {
      etat("error", `Connexion impossible (${e.message}).`);
      return;
    }
    rafraichir();
  }

  document.addEventListener("DOMContentLoaded", demarrer);
})();
