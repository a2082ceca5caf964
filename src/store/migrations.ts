import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StoreUnusableError } from "./snapshot-store.ts";

/**
 * Pulse applies its committed migrations itself, at start, instead of running `prisma migrate deploy` as a child
 * process: that CLI loads the WASM schema engine and takes ~1.6 s of CPU on this kind of 2-core machine even when
 * there is nothing to apply, on every start (and tests start many servers). Applying the same `migration.sql` files
 * in-process takes a few milliseconds. Each one is recorded in Prisma's `_prisma_migrations` table exactly as
 * `migrate deploy` records it (same checksum: the sha256 of the file), so `prisma migrate status` and later
 * `prisma migrate deploy` runs agree with what Pulse did.
 *
 * This module is engine-neutral (reading and planning); each store runs the plan on its own connection.
 */

/** One committed migration: `prisma/migrations/<name>/migration.sql`. */
export interface Migration {
  readonly name: string;
  readonly sql: string;
  /** sha256 of the file, hex: what Prisma stores in `_prisma_migrations.checksum`. */
  readonly checksum: string;
}

/** A row of `_prisma_migrations` (rolled-back rows left out by the caller or not). */
export interface AppliedMigration {
  readonly name: string;
  readonly checksum: string;
  readonly finishedAt: string | null;
  readonly rolledBackAt: string | null;
}

/** The committed migrations in `dir`, oldest first (folder names start with a timestamp). */
export function readMigrations(dir: string | URL): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(pathOf(dir), entry.name, "migration.sql")))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(pathOf(dir), name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export interface MigrationPlan {
  /** Migrations to apply, oldest first. */
  readonly pending: Migration[];
  /** Not fatal: applied migrations whose file changed since. */
  readonly warnings: string[];
}

/**
 * Compares the database's history with the committed migrations. Throws `StoreUnusableError` for a database this
 * version must not touch: one that has a migration this version does not know (it was migrated by a newer Pulse:
 * running on it could misread or destroy data), or one with a migration that failed half-way.
 */
export function planMigrations(local: readonly Migration[], applied: readonly AppliedMigration[], where: string): MigrationPlan {
  const known = new Map(local.map((m) => [m.name, m]));
  const done = new Set<string>();
  const warnings: string[] = [];
  for (const row of applied) {
    if (row.rolledBackAt !== null) continue;
    if (row.finishedAt === null) {
      throw new StoreUnusableError(
        `The database ${where} has a failed migration "${row.name}" (started, never finished). ` +
          `Repair it with \`prisma migrate resolve\` before starting Pulse.`,
      );
    }
    const mine = known.get(row.name);
    if (!mine) {
      throw new StoreUnusableError(
        `The database ${where} was migrated by a newer version of Pulse: it has migration "${row.name}", which this ` +
          `version does not know. Start the Pulse version that created it, or set DATABASE_URL to another database.`,
      );
    }
    if (mine.checksum !== row.checksum) {
      warnings.push(`migration "${row.name}" was changed after it was applied to ${where} (checksum differs)`);
    }
    done.add(row.name);
  }
  return { pending: local.filter((m) => !done.has(m.name)), warnings };
}

/** Prisma's timestamp format for `_prisma_migrations` (what `migrate deploy` writes through the SQLite adapter). */
export function migrationTimestamp(at: Date = new Date()): string {
  return at.toISOString().replace("Z", "+00:00");
}

function pathOf(dir: string | URL): string {
  return typeof dir === "string" ? dir : fileURLToPath(dir);
}
