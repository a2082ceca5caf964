import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { tempDatabaseUrl } from "../support/database.ts";
import { KEYED, KEYS, onCleanup, startPulse, waitFor } from "../support/trust-harness.ts";

/** Starts `npm start`'s command as a child on a free port; resolves with its output once it listens, then stops it. */
async function startMain(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATABASE_URL: tempDatabaseUrl(onCleanup), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  onCleanup(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  await waitFor(() => stdout.includes("Pulse is ready at"), 20_000, "the server to listen");
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  return { stdout, stderr };
}

describe("start-up", () => {
  it("warns loudly when no keys are configured", async () => {
    const { stdout } = await startMain({ PULSE_CAPTURE_KEYS: "", PULSE_READ_KEYS: "" });
    const warning = stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: string; msg: string })
      .find((line) => line.msg.includes("WARNING: no API keys configured"));
    expect(warning?.level).toBe("warn");
  });

  it("does not warn, and never prints a key, when keys are configured", async () => {
    const { stdout, stderr } = await startMain({ PULSE_READ_KEYS: KEYS.read, PULSE_CAPTURE_KEYS: KEYS.capture });
    expect(stderr).not.toContain("WARNING");
    expect(stdout + stderr).not.toContain(KEYS.read);
  });
});

describe("GraphiQL with keys configured", () => {
  it("still serves the page (the key is entered in GraphiQL's headers), while the API needs a key", async () => {
    const server = await startPulse({ trust: KEYED });
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    await page.arrayBuffer();
    const api = await fetch(`${server.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"query":"{ __typename }"}' });
    expect(api.status).toBe(401);
  });
});
