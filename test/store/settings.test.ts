import { describe, expect, it } from "vitest";
import { describeConfig, loadConfig, resolveConfig } from "../../src/config.ts";
import { problems } from "../support/settings.ts";

describe("persistence settings", () => {
  it("default to a SQLite file under ./data and a 2 s interval when read from the environment", () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBe("file:./data/pulse.db");
    expect(config.snapshotIntervalMs).toBe(2000);
    expect(loadConfig({ DATABASE_URL: " ", PULSE_SNAPSHOT_INTERVAL_MS: "" }).databaseUrl).toBe("file:./data/pulse.db");
  });

  it("default to memory only through the programmatic API", () => {
    expect(resolveConfig({}).databaseUrl).toBeNull();
  });

  it("accept relative, absolute and file:/// URLs", () => {
    for (const url of ["file:pulse.db", "file:/var/lib/pulse/pulse.db", "file:///var/lib/pulse/pulse.db"]) {
      expect(loadConfig({ DATABASE_URL: url, PULSE_SNAPSHOT_INTERVAL_MS: "500" })).toMatchObject({
        databaseUrl: url,
        snapshotIntervalMs: 500,
      });
    }
  });

  it("accept PostgreSQL URLs, and never log their password", () => {
    for (const url of [
      "postgresql://pulse:s3cret@db.internal:5432/pulse?schema=fleet_a&sslmode=require",
      "postgres://postgres@127.0.0.1/test",
    ]) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
    const config = loadConfig({ DATABASE_URL: "postgresql://pulse:s3cret@db.internal:5432/pulse?schema=fleet_a" });
    expect(describeConfig(config)["DATABASE_URL"]).toBe("postgresql://pulse:***@db.internal:5432/pulse?schema=fleet_a");
  });

  it("reject an unsupported DATABASE_URL, naming the setting and the value (its password masked)", () => {
    expect(problems(() => loadConfig({ DATABASE_URL: "mysql://localhost/pulse" }))).toEqual([
      'DATABASE_URL must be a SQLite file (file:path) or a PostgreSQL URL (postgresql://user@host:5432/db), got "mysql://localhost/pulse"',
    ]);
    expect(problems(() => loadConfig({ DATABASE_URL: "postgresql://pulse:s3cret@db.internal:5432" }))).toEqual([
      'DATABASE_URL must name a host and a database (postgresql://user@host:5432/db), got "postgresql://pulse:***@db.internal:5432"',
    ]);
    expect(problems(() => loadConfig({ DATABASE_URL: "postgresql://h/db?schema=a;drop" }))).toEqual([
      `DATABASE_URL's schema must be a plain identifier (letters, digits, _), got "a;drop"`,
    ]);
    expect(problems(() => loadConfig({ DATABASE_URL: "file:./pulse.db?mode=ro" }))).toEqual([
      'DATABASE_URL must not carry query parameters, got "file:./pulse.db?mode=ro"',
    ]);
    expect(problems(() => loadConfig({ DATABASE_URL: "file:" }))).toEqual(['DATABASE_URL has no file path, got "file:"']);
    expect(problems(() => resolveConfig({ databaseUrl: "pulse.db" }))).toEqual([
      'databaseUrl must be a SQLite file (file:path) or a PostgreSQL URL (postgresql://user@host:5432/db), got "pulse.db"',
    ]);
  });

  it("reject a snapshot interval that is not a positive integer", () => {
    for (const raw of ["0", "-5", "1.5", "soon"]) {
      expect(problems(() => loadConfig({ PULSE_SNAPSHOT_INTERVAL_MS: raw }))).toEqual([
        `PULSE_SNAPSHOT_INTERVAL_MS must be a positive integer, got "${raw}"`,
      ]);
    }
    expect(problems(() => resolveConfig({ snapshotIntervalMs: 0 }))).toEqual(["snapshotIntervalMs must be a positive integer, got 0"]);
  });
});
