// Talking to the user API: the session token, JSON requests, uploads with progress,
// downloads and Server-Sent Events. Every error becomes an ApiError whose message is
// the server's `detail`.

// The page is served at <api>/ui/, so the API's root is one level up (this also
// works when the API sits behind a path prefix).
const API_ROOT = new URL("../", document.baseURI);
const SESSION_KEY = "labcloud.session";

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\/+/, ""), API_ROOT);
  for (const [key, value] of Object.entries(query || {})) url.searchParams.set(key, String(value));
  return url.toString();
}

/** Each segment URL-encoded, the slashes kept. */
export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

// --- session ------------------------------------------------------------------

export const session = {
  /** {token, user, expires} or null once missing or expired. */
  get() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (saved && saved.expires && Date.now() >= saved.expires) {
        sessionStorage.removeItem(SESSION_KEY);
        return null;
      }
      return saved;
    } catch {
      return null;
    }
  },
  set(token, user, expiresIn) {
    const expires = expiresIn ? Date.now() + expiresIn * 1000 : null;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token, user, expires }));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

let unauthorized = () => {};
/** Called when the server answers 401 (an expired or revoked token). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function authHeaders() {
  const saved = session.get();
  return saved ? { Authorization: `Bearer ${saved.token}` } : {};
}

// --- errors -------------------------------------------------------------------

/** A readable message from FastAPI's `detail`: a string, or 422's list of {loc, msg}. */
export function formatDetail(detail) {
  if (!detail) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(" → ");
        return where ? `${where}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  return JSON.stringify(detail);
}

function errorFrom(status, statusText, bodyText) {
  let detail = "";
  try {
    detail = formatDetail(JSON.parse(bodyText).detail);
  } catch {
    detail = "";
  }
  if (status === 401 && !detail) detail = "Please log in again.";
  return new ApiError(detail || `The server answered ${status} ${statusText || ""}`.trim(), status);
}

async function failed(response) {
  if (response.status === 401) unauthorized();
  return errorFrom(response.status, response.statusText, await response.text().catch(() => ""));
}

async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(`Cannot reach the server (${err.message}).`, 0);
  }
}

// --- requests -----------------------------------------------------------------

/**
 * One API call. Options: json (a body sent as JSON), form (fields sent URL-encoded),
 * query, signal, auth (default true). Resolves to the parsed JSON (null for 204).
 */
export async function request(method, path, { json, form, query, signal, auth = true } = {}) {
  if (auth && !session.get()) {
    unauthorized(); // the token has expired
    throw new ApiError("Your session has expired: please log in again.", 401);
  }
  const headers = auth ? authHeaders() : {};
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = new URLSearchParams(form);
  }
  const response = await send(apiUrl(path, query), { method, headers, body, signal });
  if (!response.ok) throw await failed(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Log in with the OAuth2 password form; keeps the token in sessionStorage. */
export async function login(username, password) {
  const answer = await request("POST", "token", { form: { username, password }, auth: false });
  session.set(answer.id_token, username, answer.expires_in);
  return answer;
}

export async function register(username, password) {
  return request("POST", "user", { form: { username, password }, auth: false });
}

// --- files --------------------------------------------------------------------

/** The entries of a folder ("" is the root), or every file below it when recursive. */
export function listFiles(folder, { recursive = false, showDirs = true } = {}) {
  const path = folder ? `files/${encodePath(folder.replace(/\/*$/, "/"))}` : "files/";
  return request("GET", path, { query: { recursive, show_dirs: showDirs } });
}

/**
 * Upload one file into `folder` (e.g. "data/exp1") with XMLHttpRequest, which reports
 * progress: onProgress(loadedBytes, totalBytes). Aborts when `signal` fires.
 */
export function uploadFile(folder, file, { onProgress = () => {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl(`files/${encodePath(folder.replace(/\/+$/, ""))}/upload`));
    const auth = authHeaders().Authorization;
    if (auth) xhr.setRequestHeader("Authorization", auth);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve(JSON.parse(xhr.responseText));
      } else {
        if (xhr.status === 401) unauthorized();
        reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError("Upload failed: cannot reach the server.", 0)));
    xhr.addEventListener("abort", () => reject(new ApiError("Upload cancelled.", 0)));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    const body = new FormData();
    body.append("file", file, file.name);
    xhr.send(body);
  });
}

export function makeFolder(folder) {
  return request("POST", `files/${encodePath(folder.replace(/\/*$/, "/"))}`);
}

export function deleteFile(path) {
  return request("DELETE", `files/${encodePath(path.replace(/\/+$/, ""))}`);
}

function filenameFrom(disposition, fallback) {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition || "");
  if (encoded) return decodeURIComponent(encoded[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition || "");
  return plain ? plain[1] : fallback;
}

function saveAs(url, filename) {
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
}

/**
 * Download a file, or a folder as a zip. A file on S3 comes straight from its
 * presigned URL; otherwise the bytes are fetched with the token and saved from a Blob.
 */
export async function download(path, { isDir = false } = {}) {
  const clean = path.replace(/\/+$/, "");
  const name = clean.split("/").pop() + (isDir ? ".zip" : "");
  if (!isDir) {
    const how = await request("GET", `files/${encodePath(clean)}/url`);
    if (!how.headers || Object.keys(how.headers).length === 0) {
      // presigned: the browser fetches it itself (a new tab if the store sends it inline)
      const link = document.createElement("a");
      link.href = how.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.click();
      return name;
    }
  }
  const response = await send(apiUrl(`files/${encodePath(clean)}/download`), { headers: authHeaders() });
  if (!response.ok) throw await failed(response);
  const filename = filenameFrom(response.headers.get("content-disposition"), name);
  const url = URL.createObjectURL(await response.blob());
  saveAs(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return filename;
}

/** The answer of GET /files/{path}/download, its body not read yet (for the viewer). */
export async function openFile(path, { signal } = {}) {
  const url = apiUrl(`files/${encodePath(path.replace(/\/+$/, ""))}/download`);
  const response = await send(url, { headers: authHeaders(), signal });
  if (!response.ok) throw await failed(response);
  return response;
}

/**
 * At most `cap` bytes of a response's body; the rest is never read (the transfer is
 * cancelled), so a 2 GB file costs the page `cap` bytes. Resolves to {bytes, total
 * (Content-Length, or null), truncated}.
 */
export async function readCapped(response, cap) {
  const header = response.headers.get("content-length");
  const total = header === null ? null : Number(header);
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  while (size <= cap) { // one byte past the cap tells a cut file from one of exactly `cap`
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  const truncated = size > cap;
  if (truncated) await reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(size, cap));
  let at = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - at);
    bytes.set(part, at);
    at += part.length;
    if (at >= bytes.length) break;
  }
  return { bytes, total, truncated };
}

// --- Server-Sent Events -------------------------------------------------------

/**
 * Read an SSE stream with fetch (EventSource cannot send the Authorization header).
 * Calls onEvent(name, data, lastEventId) per event; resolves when the stream ends.
 */
export async function streamEvents(path, onEvent, signal) {
  const headers = { ...authHeaders(), Accept: "text/event-stream" };
  const response = await send(apiUrl(path), { headers, signal, cache: "no-store" });
  if (!response.ok) throw await failed(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  let data = [];
  let id = "";
  const dispatch = () => {
    if (data.length || name) onEvent(name || "message", data.join("\n"), id);
    name = "";
    data = [];
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split(/\r\n|\r(?!$)|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") dispatch();
      else if (line.startsWith(":")) continue; // a comment (keep-alive)
      else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
        else if (field === "id") id = text;
      }
    }
  }
  if (buffer === "" && (data.length || name)) dispatch();
}
