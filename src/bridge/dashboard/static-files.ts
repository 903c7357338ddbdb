/**
 * The dashboard's built files (web/dist, shipped in the package): `/` is the
 * page, `/assets/*` its scripts and styles (content-hashed names, cached for
 * good). Only files under the folder are served; anything else is not found.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import type http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";
import { parseRequestTarget } from "../http-routes.ts";

/**
 * Where the built dashboard lives in the package: beside its package.json, found by the
 * package's own name, so the same line works from src/ and from the compiled dist/src/.
 */
export const WEB_DIST = path.join(path.dirname(createRequire(import.meta.url).resolve("tubular/package.json")), "web", "dist") + path.sep;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/** The page runs only its own scripts and talks only to its own server. */
const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

export class StaticFiles {
  constructor(private readonly root: string = WEB_DIST) {}

  /** Whether the built page is there (a checkout whose build is missing says so instead of a blank page). */
  get present(): boolean {
    return existsSync(path.join(this.root, "index.html"));
  }

  /** Serves GET/HEAD of `/`, `/index.html` and `/assets/*`; returns false for any other request, which is not ours. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const pathname = parseRequestTarget(req.url)?.pathname;
    if (pathname === undefined) return false;
    let rel: string;
    if (pathname === "/" || pathname === "/index.html") rel = "index.html";
    else if (pathname.startsWith("/assets/") || pathname === "/favicon.svg") rel = decodeURIComponent(pathname.slice(1));
    else return false;
    const file = path.resolve(this.root, rel);
    if (!file.startsWith(this.root) || !existsSync(file) || !statSync(file).isFile()) {
      if (rel === "index.html") {
        const body = "the dashboard is not built: run `npm run build:web` in the package";
        res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8", ...SECURITY_HEADERS }).end(body);
        return true;
      }
      res.writeHead(404, { "Content-Type": "application/json", ...SECURITY_HEADERS }).end(JSON.stringify({ error: "not found" }));
      return true;
    }
    const type = TYPES[path.extname(file)] ?? "application/octet-stream";
    const cache = rel === "index.html" ? "no-cache" : "public, max-age=31536000, immutable";
    res.writeHead(200, { "Content-Type": type, "Content-Length": statSync(file).size, "Cache-Control": cache, ...SECURITY_HEADERS });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
    return true;
  }
}
