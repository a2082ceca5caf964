import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { boundsText, defaultText, settingAt, SETTINGS } from "../src/config.ts";
import { plainText } from "../src/help.ts";
import { captureEvent, pageview, recentEvents } from "./support/events.ts";
import { buildDist, childEnv, DIST_MAIN, ownChild, ROOT, spawnPulse, startPulseProcess, tempDatabaseUrl } from "./support/process.ts";
import { waitFor, within } from "./support/wait.ts";

const MAIN = ["--import", "tsx", "src/main.ts"];
const run = promisify(execFile);

/** Every row of the settings table, keys and limits included: its variable, default, bounds and meaning. */
function expectEverySetting(help: string): void {
  const words = (text: string) => text.replace(/\s+/g, " ");
  for (const setting of SETTINGS) {
    const line = help.split("\n").find((l) => l.trimStart().startsWith(`${setting.env} `));
    expect(line, setting.env).toBeDefined();
    expect(line).toContain(`default: ${plainText(defaultText(setting))}`);
    expect(line).toContain(boundsText(setting));
    // Meanings are wrapped to the terminal's width.
    expect(words(help)).toContain(words(plainText(setting.meaning)));
  }
}

describe("--help", () => {
  it("lists every setting with its default and meaning (node --import tsx src/main.ts --help)", async () => {
    const { stdout } = await run(process.execPath, [...MAIN, "--help"], { cwd: ROOT, env: childEnv({}) });
    expectEverySetting(stdout);
    expect(stdout).toContain("/metrics");
  });

  it("an unknown argument exits 2 with the help", async () => {
    const failure = await run(process.execPath, [...MAIN, "--bogus"], { cwd: ROOT, env: childEnv({}) }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain("Unknown argument: --bogus");
    expect((failure as { stderr: string }).stderr).toContain("PULSE_METRICS_KEY");
  });
});

describe("the production start: node dist/main.js, compiled, no TypeScript loader", () => {
  beforeAll(buildDist, 120_000);

  it("serves, writes the final snapshot on SIGTERM and exits 0; the next start restores it", { timeout: 60_000 }, async () => {
    const env = { DATABASE_URL: tempDatabaseUrl() };
    const first = await startPulseProcess(env, { entry: "dist" });
    expect(first.child.spawnargs).toEqual([process.execPath, DIST_MAIN]);
    const captured = await captureEvent(first.url, pageview(1));
    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('"msg":"stopped"');

    const second = await startPulseProcess(env, { entry: "dist" });
    expect((await recentEvents(second.url, 10)).map((event) => event.id)).toEqual([captured.id]);
  });

  it("is what npm start runs, and npm passes --help through", async () => {
    const { stdout } = await run("npm", ["start", "--silent", "--", "--help"], { cwd: ROOT, env: childEnv({}) });
    expectEverySetting(stdout);
    expect((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["start"]).toBe(
      "node dist/main.js",
    );
  });
});

describe("the start from source (node --import tsx src/main.ts)", () => {
  it("a bad setting stops the start with exit code 2, naming the setting and the value", async () => {
    const failure = await run(process.execPath, MAIN, { cwd: ROOT, env: childEnv({ LOG_LEVEL: "loud", PORT: "http" }) }).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: 2 });
    const { stderr } = failure as { stderr: string };
    expect(stderr).toContain('LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"');
    expect(stderr).toContain('PORT must be an integer from 0 to 65535, got "http"');
  });

  it("logs JSON lines and a banner with the URLs of what it serves, then stops on SIGTERM with exit 0", async () => {
    const metricsKey = "metrics-key-in-the-env-31337";
    const { child, exited, stdout, stderr } = spawnPulse({ NODE_ENV: "production", PULSE_METRICS_KEY: metricsKey });
    const lines = () =>
      stdout()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, string>);

    const banner = await waitFor(() => lines().find((line) => line.msg?.startsWith("Pulse is ready")), {
      timeoutMs: 20_000,
      what: () => `the banner (stdout: ${stdout()}, stderr: ${stderr()})`,
    });
    const base = banner.msg!.match(/ready at (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    expect(base).toBeDefined();
    expect(banner).toMatchObject({
      level: "info",
      graphql: `${base}/graphql`,
      metrics: `${base}/metrics`,
      healthz: `${base}/healthz`,
      readyz: `${base}/readyz`,
    });
    // The live dashboard is served at /.
    expect(banner).toHaveProperty("dashboard", `${base}/`);
    expect((await fetch(`${base}/`)).status).toBe(200);
    const scrape = await fetch(banner.metrics!, { headers: { authorization: `Bearer ${metricsKey}` } });
    expect(scrape.status).toBe(200);
    expect((await fetch(banner.readyz!)).status).toBe(200);

    child.kill("SIGTERM");
    expect((await within(exited, "the process to exit after SIGTERM")).code).toBe(0);
    expect(lines().map((line) => line.msg)).toEqual(expect.arrayContaining(["settings", "listening", "stopped"]));
    expect(lines().find((line) => line.msg === "settings")).toMatchObject({
      settings: { PORT: 0, PULSE_METRICS_KEY: "set", REDIS_URL: "unset", NODE_ENV: "production (suggestions hidden)" },
    });
    expect(stdout()).not.toContain(metricsKey);
    expect(stderr()).toBe("");
  });
});

describe("logs on a terminal", () => {
  it("are pretty-printed, as --help says (stdout a terminal, NODE_ENV not production)", async () => {
    const { stdout: help } = await run(process.execPath, [...MAIN, "--help"], { cwd: ROOT, env: childEnv({}) });
    const logLevel = settingAt(undefined, "logLevel");
    expect(plainText(logLevel.meaning)).toContain(
      "JSON lines, or as pretty-printed lines when stdout is a terminal and NODE_ENV is not production",
    );
    expect(help.replace(/\s+/g, " ")).toContain("pretty-printed lines when stdout is a terminal and NODE_ENV is not production");

    // script(1) gives the child a terminal; Ctrl-C typed into it stops Pulse as a person at the terminal would.
    const child = spawn("script", ["-qfec", `exec ${process.execPath} ${MAIN.join(" ")}`, "/dev/null"], {
      cwd: ROOT,
      env: childEnv({ PORT: "0", HOST: "127.0.0.1" }),
    });
    const exited = ownChild(child);
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes("Pulse is ready"), { timeoutMs: 20_000, what: () => `the banner (output: ${output})` });
    child.stdin.write("\x03");
    expect((await within(exited, "Pulse to stop on Ctrl-C")).code).toBe(0);
    const firstLine = output.split("\n")[0]!;
    expect(firstLine).not.toMatch(/^\s*\{/);
    expect(firstLine).toMatch(/INFO.*settings/);
  });
});
