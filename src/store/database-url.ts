import { fileURLToPath } from "node:url";

/** The default `DATABASE_URL` of `npm start`: a SQLite file under ./data, relative to the working directory. */
export const DEFAULT_DATABASE_URL = "file:./data/pulse.db";

/**
 * The file path of a SQLite `DATABASE_URL`: `file:relative/or/absolute/path` (Prisma's form; relative to the working
 * directory) or a standard `file:///absolute/path` URL. Throws a `TypeError` naming the value for anything else
 * (other schemes, query parameters, an empty path).
 */
export function sqlitePath(url: string): string {
  if (!url.startsWith("file:")) throw new TypeError(`DATABASE_URL must start with "file:" (a SQLite file), got "${url}"`);
  if (url.includes("?")) throw new TypeError(`DATABASE_URL must not carry query parameters, got "${url}"`);
  const path = url.startsWith("file://") ? fileURLToPath(url) : url.slice("file:".length);
  if (path === "") throw new TypeError(`DATABASE_URL has no file path, got "${url}"`);
  return path;
}
