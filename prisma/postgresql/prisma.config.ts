import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { defineConfig } from "prisma/config";
import { postgresTarget } from "../../src/store/database-url.ts";

// The Prisma CLI for the PostgreSQL store: `npx prisma <command> --config prisma/postgresql/prisma.config.ts`.
// Every command needs a url (see ../../prisma.config.ts); a SQLite DATABASE_URL (the default) does not name a
// PostgreSQL database, so the CLI falls back to a local one.
if (!/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? "")) process.env.DATABASE_URL = "postgresql://127.0.0.1:5432/pulse";

// @prisma/adapter-pg 6.x cannot deserialize the catalog types `"char"` (oid 18), `name` (19) and their arrays (1002,
// 1003) that the migration engine reads (prisma/prisma#27403): `Column type 'name' could not be deserialized`. Read
// them as text / text[] instead. Only the CLI needs this; Pulse's own queries never select those types.
const CATALOG_TYPES: Record<number, number> = { 18: 25, 19: 25, 1002: 1009, 1003: 1009 };
// `addFields` is internal to pg (not in its types): it receives each result's column descriptions.
const result = pg.Result.prototype as unknown as { addFields: (this: unknown, fields: pg.FieldDef[]) => void };
const addFields = result.addFields;
result.addFields = function (this: unknown, fields: pg.FieldDef[]) {
  for (const field of fields) field.dataTypeID = CATALOG_TYPES[field.dataTypeID] ?? field.dataTypeID;
  return addFields.call(this, fields);
};

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "schema.prisma",
  adapter: () => {
    // `?schema=` as Pulse reads it (src/store/database-url.ts): the CLI must look at the same tables.
    const { connectionString, schema } = postgresTarget(process.env.DATABASE_URL!);
    return Promise.resolve(new PrismaPg({ connectionString, options: `-c search_path="${schema}"` }, { schema }));
  },
});
