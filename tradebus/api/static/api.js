// The read API: GET api/v1/..., with the bearer token kept for this tab.

const TOKEN_KEY = "tradebus.token";

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives as long as the page
  }
}

/** A failed call: kind is "network" (no answer), "auth" (401) or "http" (any other status). */
export class ApiError extends Error {
  constructor(kind, status, message) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

/** GET api/v1/<path>?<params> and its JSON, or throw an ApiError. */
export async function getJson(path, params = {}) {
  const url = new URL(`api/v1/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { headers, cache: "no-store" });
  } catch {
    throw new ApiError("network", 0, "the API cannot be reached");
  }
  if (!response.ok) {
    let detail = "";
    try {
      const body = await response.json();
      detail = body.detail || body.error || "";
    } catch {
      // not JSON: the status says enough
    }
    const kind = response.status === 401 ? "auth" : "http";
    throw new ApiError(kind, response.status, `${response.status} ${detail || response.statusText}`.trim());
  }
  return response.json();
}

/** The list inside a list response ({items: [...]}), or the response itself if it is one. */
export function itemsOf(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.items)) return body.items;
  return [];
}
