// The page's entry point: log in and out, and switch between the Files, Launch and
// Jobs views (the URL's #fragment names the view, so Back and bookmarks work).
import * as api from "./api.js";
import { $, fill } from "./dom.js";
import { clearError, clearMessages, clearOnNextAction, notify, showError } from "./notices.js";
import * as files from "./files.js";
import * as launch from "./launch.js";
import * as jobs from "./jobs.js";
import * as viewer from "./viewer.js";

const VIEWS = { files, launch, jobs };
let current = null;
let active = false; // the logged-in part of the page is showing

function showView(name, rest = "") {
  const loggedIn = Boolean(api.session.get());
  if (!loggedIn) name = "login";
  else if (!(name in VIEWS)) name = "files";
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("#nav").hidden = !loggedIn;
  $("#account").hidden = !loggedIn;
  if (loggedIn) fill($("#account-name"), api.session.get().user || "");
  const title = { login: "Log in", files: "Files", launch: "Launch", jobs: "Jobs" }[name];
  document.title = `${title} · labcloud`;
  if (name !== current) {
    const first = current === null;
    if (current && VIEWS[current]?.hide) VIEWS[current].hide();
    current = name;
    if (VIEWS[name]) VIEWS[name].show();
    if (name === "login") $("#login-user").focus();
    else if (!first) {
      // tell keyboard and screen-reader users where they are now
      const heading = $(`#view-${name} h1`);
      heading.tabIndex = -1;
      heading.focus();
    }
  }
  if (VIEWS[name]?.route) VIEWS[name].route(rest);
}

function route() {
  const [name, ...rest] = location.hash.slice(1).split("/");
  showView(name, rest.join("/"));
}

/** Go to a view (and optionally a sub-path, e.g. go("jobs", 12)). */
export function go(view, detail) {
  const hash = detail !== undefined ? `#${view}/${detail}` : `#${view}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function loggedIn() {
  active = true;
  clearError();
  jobs.start();
  current = null;
  route();
  $("#main").focus();
}

function logout(message) {
  active = false;
  api.session.clear();
  clearMessages();
  jobs.stop();
  current = null;
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  showView("login");
  if (message) showError(new Error(message));
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.target;
  const username = $("#login-user").value.trim();
  const password = $("#login-password").value;
  if (!username || !password) {
    showError(new Error("Enter your email (or user name) and your password."));
    return;
  }
  form.querySelector("button[type=submit]").disabled = true;
  try {
    await api.login(username, password);
    $("#login-password").value = "";
    loggedIn();
  } catch (error) {
    showError(error, "Log in failed");
  } finally {
    form.querySelector("button[type=submit]").disabled = false;
  }
}

async function onRegister() {
  const username = $("#login-user").value.trim();
  const password = $("#login-password").value;
  if (!username || !password) {
    showError(new Error("To create an account, enter an email and a password first."));
    return;
  }
  try {
    await api.register(username, password);
    await api.login(username, password);
    $("#login-password").value = "";
    loggedIn();
    notify(`Account ${username} created; welcome!`);
  } catch (error) {
    showError(error, "Creating the account failed");
  }
}

async function onToken(event) {
  event.preventDefault();
  const token = $("#login-token").value.trim();
  if (!token) return;
  api.session.set(token, "", null);
  try {
    const me = await api.request("GET", "user");
    api.session.set(token, me.email || "token user", null);
    $("#login-token").value = "";
    loggedIn();
  } catch (error) {
    api.session.clear();
    showError(error, "This token was refused");
  }
}

async function discoverLogin() {
  // Local accounts (AUTH=1) publish a `local` block; otherwise only a token works.
  try {
    const info = await api.request("GET", "access_info", { auth: false });
    if (!info.local) {
      $("#login-form").hidden = true;
      $("#token-login").open = true;
      fill($("#login-hint"), "This server has no local accounts: log in with an ID token.");
    }
  } catch {
    // keep the password form; an error shows when it is used
  }
}

function init() {
  $("#login-form").addEventListener("submit", onLogin);
  $("#register").addEventListener("click", onRegister);
  $("#token-form").addEventListener("submit", onToken);
  $("#logout").addEventListener("click", () => logout());
  $("#error-close").addEventListener("click", clearError);
  clearOnNextAction(document.body); // a message is about the last action, not the next
  viewer.init();
  api.onUnauthorized(() => {
    if (active) logout("Your session has expired or was refused: please log in again.");
  });
  files.init();
  launch.init({ go });
  jobs.init({ go });
  window.addEventListener("hashchange", route);
  discoverLogin();
  if (api.session.get()) {
    active = true;
    jobs.start();
  }
  route();
}

init();
