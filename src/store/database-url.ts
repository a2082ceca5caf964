import { fileURLToPath } from "node:url";

/** The engines a `DATABASE_URL` can name: `file:` is SQLite (embedded), `postgres(ql)://` PostgreSQL (a fleet). */
export type DatabaseEngine = "sqlite" | "postgresql";

const POSTGRES_SCHEME = /^postgres(ql)?:\/\//;

/** The engine of a `DATABASE_URL`; throws a `TypeError` naming the value when it is not a usable one. */
export function databaseEngine(url: string): DatabaseEngine {
  if (POSTGRES_SCHEME.test(url)) {
    postgresTarget(url);
    return "postgresql";
  }
  if (url.startsWith("file:")) {
    sqlitePath(url);
    return "sqlite";
  }
  throw new TypeError(
    `DATABASE_URL must be a SQLite file (file:path) or a PostgreSQL URL (postgresql://user@host:5432/db), got "${redactDatabaseUrl(url)}"`,
  );
}

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

/** Where a PostgreSQL `DATABASE_URL` points. */
export interface PostgresTarget {
  /** The URL for the `pg` driver: the given one less Prisma's `schema` parameter. */
  readonly connectionString: string;
  /** Prisma's `?schema=` parameter, default "public": the tables live there (several fleets can share a database). */
  readonly schema: string;
  /** For logs and errors: host, port, database and schema, never the password. */
  readonly description: string;
}

/**
 * Reads a PostgreSQL `DATABASE_URL` (`postgresql://user:password@host:5432/database?schema=name`, the form Prisma
 * documents; the other query parameters go to the `pg` driver as they are, e.g. `sslmode`). Throws a `TypeError`
 * naming the (password-masked) value when it cannot be parsed.
 */
export function postgresTarget(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`DATABASE_URL is not a valid PostgreSQL URL, got "${redactDatabaseUrl(url)}"`);
  }
  const database = decodeURIComponent(parsed.pathname.slice(1));
  if (parsed.hostname === "" || database === "") {
    throw new TypeError(`DATABASE_URL must name a host and a database (postgresql://user@host:5432/db), got "${redactDatabaseUrl(url)}"`);
  }
  const schema = parsed.searchParams.get("schema") ?? "public";
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) {
    throw new TypeError(`DATABASE_URL's schema must be a plain identifier (letters, digits, _), got "${schema}"`);
  }
  parsed.searchParams.delete("schema");
  return {
    connectionString: parsed.toString(),
    schema,
    description: `PostgreSQL ${parsed.hostname}:${parsed.port || 5432}/${database} (schema ${schema})`,
  };
}

/** The URL with its password replaced by `***`, for logs, errors and the settings printed at start. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}
