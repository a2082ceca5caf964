import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  describeConfig,
  loadConfig,
  resolveConfig,
  settingAt,
  SETTINGS,
  valueOf,
  type PulseConfigInput,
  type Setting,
} from "../src/config.ts";
import { startServer } from "./support/server.ts";
import { problems } from "./support/settings.ts";

/** An option for one setting, at its place in the programmatic options (`{ trust: { ... } }` for a trust row). */
function option(setting: Setting, value: unknown): PulseConfigInput {
  return setting.group ? { [setting.group]: { [setting.key]: value } } : { [setting.key]: value };
}

const integerSettings = SETTINGS.filter((setting) => setting.min !== undefined);

describe("the settings table", () => {
  it("fills every config field, each from its own row and variable", () => {
    const defaults = resolveConfig();
    const fields = [...Object.keys(defaults).filter((key) => key !== "trust"), ...Object.keys(defaults.trust).map((key) => `trust.${key}`)];
    expect(fields.sort()).toEqual(SETTINGS.map((s) => s.path).sort());
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    // The one setting whose default differs by origin: npm start persists, createPulseServer stays memory-only.
    expect(loadConfig({})).toEqual({ ...defaults, databaseUrl: "file:./data/pulse.db" });
    expect(defaults.databaseUrl).toBeNull();
  });

  it("holds defaults its own checks accept", () => {
    const defaults = resolveConfig();
    for (const setting of SETTINGS) {
      expect(setting.schema.safeParse(valueOf(defaults, setting)).success || valueOf(defaults, setting) == null, setting.env).toBe(true);
      if (setting.environmentDefault !== undefined)
        expect(setting.schema.safeParse(setting.environmentDefault).success, setting.env).toBe(true);
    }
  });

  it("derives PULSE_SUBSCRIBER_QUEUE from PULSE_MAX_BATCH, from either origin", () => {
    expect(resolveConfig({ maxBatch: 10 }).subscriberQueue).toBe(20);
    expect(loadConfig({ PULSE_MAX_BATCH: "10" }).subscriberQueue).toBe(20);
    expect(resolveConfig({ maxBatch: 10, subscriberQueue: 5 }).subscriberQueue).toBe(5);
  });

  it("reads LOG_LEVEL in any case, NODE_ENV and PULSE_METRICS_KEY as given; blank means the default", () => {
    const config = loadConfig({ LOG_LEVEL: "DEBUG", PULSE_METRICS_KEY: "k-123", PULSE_MAX_BATCH: "10", PULSE_SUBSCRIBER_QUEUE: " " });
    expect(config).toMatchObject({ logLevel: "debug", metricsKey: "k-123", maxBatch: 10, subscriberQueue: 20 });
    expect(loadConfig({ LOG_LEVEL: "" }).logLevel).toBe("info");
    expect(loadConfig({}).metricsKey).toBeUndefined();
    expect(loadConfig({ NODE_ENV: "production" }).trust.hideFieldSuggestions).toBe(true);
    expect(loadConfig({ NODE_ENV: "development" }).trust.hideFieldSuggestions).toBe(false);
  });
});

describe("values from the environment", () => {
  it("are reported together when bad, naming the variable, the bound and the value", () => {
    expect(problems(() => loadConfig({ LOG_LEVEL: "verbose", PULSE_BUFFER_SIZE: "-5", PORT: "70000" }))).toEqual([
      'PORT must be an integer from 0 to 65535, got "70000"',
      'PULSE_BUFFER_SIZE must be a positive integer, got "-5"',
      'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
    ]);
  });

  it("never quote a secret", () => {
    expect(problems(() => loadConfig({ REDIS_URL: "not a url with s3cret" }))).toEqual(["REDIS_URL must be a URL (redis://host:port)"]);
  });

  it("are integers within each integer setting's bounds, and nothing else", () => {
    for (const setting of integerSettings) {
      // From the environment, a row's stricter environmentMin applies (see SettingSpec.environmentMin).
      const min = setting.environmentMin ?? setting.min!;
      const max = setting.max ?? Number.MAX_SAFE_INTEGER;
      fc.assert(
        fc.property(fc.integer({ min, max }), (n) => valueOf(loadConfig({ [setting.env]: String(n) }), setting) === n),
        { numRuns: 20 },
      );
      for (const raw of [String(min - 1), `${min}.5`, "lots", ...(setting.max === undefined ? [] : [String(max + 1)])]) {
        expect(problems(() => loadConfig({ [setting.env]: raw }))[0], `${setting.env}=${raw}`).toMatch(
          new RegExp(`^${setting.env} must be (a positive integer|an integer (of at least ${min}|from ${min} to ${max})), got "${raw}"$`),
        );
      }
    }
  });
});

describe("programmatic options (resolveConfig, createPulseServer)", () => {
  it("are checked against the same bounds, each problem naming the option, the bound and the value", () => {
    expect(
      problems(() =>
        resolveConfig({
          port: 70_000,
          bufferSize: "100" as unknown as number,
          logLevel: "loud" as "info",
          trust: { maxBodyBytes: 10, keepAliveMs: -1, hideFieldSuggestions: "yes" as unknown as boolean },
        }),
      ),
    ).toEqual([
      "port must be an integer from 0 to 65535, got 70000",
      'bufferSize must be a positive integer, got "100"',
      'logLevel must be one of trace, debug, info, warn, error, fatal, silent, got "loud"',
      "trust.maxBodyBytes must be an integer of at least 1024, got 10",
      'trust.hideFieldSuggestions must be true or false, got "yes"',
      "trust.keepAliveMs must be an integer of at least 0, got -1",
    ]);
  });

  it("are integers within each integer setting's bounds, and nothing else", () => {
    for (const setting of integerSettings) {
      const min = setting.min!;
      const max = setting.max ?? Number.MAX_SAFE_INTEGER;
      fc.assert(
        fc.property(fc.integer({ min, max }), (n) => valueOf(resolveConfig(option(setting, n)), setting) === n),
        { numRuns: 20 },
      );
      for (const bad of [min - 1, min + 0.5, Number.NaN, String(min), null, ...(setting.max === undefined ? [] : [max + 1])]) {
        const [problem] = problems(() => resolveConfig(option(setting, bad)));
        expect(problem, `${setting.path}=${String(bad)}`).toMatch(new RegExp(`^${setting.path.replace(".", "\\.")} must be .*integer`));
      }
    }
  });

  it("check keys as the environment does, naming the entry's position and never the key", () => {
    const key = "read-key-0123456789abcdef";
    expect(problems(() => resolveConfig({ trust: { readKeys: ["short-secret"], captureKeys: `${key}` as unknown as string[] } }))).toEqual([
      "trust.captureKeys must be a list of key[:environment] entries",
      "trust.readKeys: entry 1 must be a key of 16 to 512 characters from A-Z a-z 0-9 . _ ~ + / = -",
    ]);
    expect(problems(() => resolveConfig({ trust: { readKeys: [key], captureKeys: [`${key}:staging`] } }))).toEqual([
      "trust.readKeys / trust.captureKeys: a key is listed twice (a key has one role and one scope)",
    ]);
    expect(problems(() => resolveConfig({ trust: "strict" as unknown as PulseConfigInput["trust"] }))).toEqual([
      "trust must be an object of keys and limits",
    ]);
  });

  it("check DATABASE_URL and the snapshot interval under their option names", () => {
    expect(problems(() => resolveConfig({ databaseUrl: "pulse.db", snapshotIntervalMs: 0 }))).toEqual([
      'databaseUrl must be a SQLite file (file:path) or a PostgreSQL URL (postgresql://user@host:5432/db), got "pulse.db"',
      "snapshotIntervalMs must be a positive integer, got 0",
    ]);
    expect(resolveConfig({ databaseUrl: null }).databaseUrl).toBeNull();
  });

  it("make createPulseServer reject before it listens", async () => {
    const starting = startServer({ trust: { maxWsPayloadBytes: 0 } });
    await expect(starting).rejects.toThrow(ConfigError);
    await expect(starting).rejects.toThrow("trust.maxWsPayloadBytes must be an integer of at least 1024, got 0");
  });
});

describe("the start-up settings log (describeConfig)", () => {
  it("names every setting by its variable, and says whether a secret is set without revealing it", () => {
    const described = describeConfig(loadConfig({ PULSE_METRICS_KEY: "k-secret-9", PORT: "0" }));
    expect(Object.keys(described)).toEqual(SETTINGS.map((s) => s.env));
    expect(described).toMatchObject({ PORT: 0, PULSE_METRICS_KEY: "set", LOG_LEVEL: "info" });
    expect(JSON.stringify(described)).not.toContain("k-secret-9");
    expect(describeConfig(loadConfig({})).PULSE_METRICS_KEY).toBe("unset");
    const keyed = describeConfig(loadConfig({ PULSE_READ_KEYS: "read-key-0123456789abcdef" }));
    expect(keyed["PULSE_READ_KEYS"]).toBe("1 configured");
    expect(JSON.stringify(keyed)).not.toContain("read-key-0123456789abcdef");
  });

  it('says REDIS_URL is "unset" when it is (null), and "set" without the URL when it is', () => {
    expect(describeConfig(loadConfig({})).REDIS_URL).toBe("unset");
    expect(describeConfig(resolveConfig()).REDIS_URL).toBe("unset");
    const withRedis = describeConfig(loadConfig({ REDIS_URL: "redis://:hunter2@127.0.0.1:6379" }));
    expect(withRedis.REDIS_URL).toBe("set");
    expect(JSON.stringify(withRedis)).not.toContain("hunter2");
  });

  it("shows every non-secret setting as in force", () => {
    const config = loadConfig({});
    const described = describeConfig(config);
    for (const setting of SETTINGS.filter((s) => !s.secret && !s.show))
      expect(described[setting.env], setting.env).toEqual(valueOf(config, setting));
    expect(described[settingAt("trust", "hideFieldSuggestions").env]).toBe("not production (suggestions shown)");
  });
});
