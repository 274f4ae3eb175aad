import type { Backend } from "../../src/store/backend/backend.js";

/** `backend` without its optional calls: what a backend offering only the six required ones looks like. */
export function withRequiredCallsOnly(backend: Backend): Backend {
  return {
    location: backend.location,
    put: (key, bytes) => backend.put(key, bytes),
    replace: (key, bytes) => backend.replace(key, bytes),
    get: (key, range) => backend.get(key, range),
    list: (prefix) => backend.list(prefix),
    stat: (key) => backend.stat(key),
    delete: (key) => backend.delete(key),
  };
}
