import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { defineConfig } from "prisma/config";
import { sqlitePath } from "./src/store/database-url.ts";

// Every Prisma CLI command needs a url (even `prisma generate`): without one the 6.19 CLI silently falls back to
// downloading a native engine, which fails offline. Same default as the server (src/config.ts); an empty value
// counts as unset, as it does there.
process.env.DATABASE_URL ||= "file:./data/pulse.db";

export default defineConfig({
  experimental: { adapter: true },
  // The WASM engines: nothing is downloaded, every command works offline.
  engine: "js",
  schema: "prisma/schema.prisma",
  adapter: () => {
    const path = sqlitePath(process.env.DATABASE_URL!);
    // Even `migrate diff --from-empty` opens the database: a missing folder fails with "External error id#0".
    mkdirSync(dirname(path), { recursive: true });
    return Promise.resolve(new PrismaBetterSQLite3({ url: path }));
  },
});
