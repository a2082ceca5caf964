import { describe, expect, it } from "vitest";
import { KEYED, KEYS } from "../support/keys.ts";
import { spawnPulse } from "../support/process.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

/** Starts `npm start`'s command as a child on a free port; resolves with its output once it listens, then stops it. */
async function startMain(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const pulse = spawnPulse(env);
  await waitFor(() => pulse.stdout().includes("Pulse is ready at"), { timeoutMs: 20_000, what: "the server to listen" });
  pulse.child.kill("SIGTERM");
  expect((await pulse.exited).code).toBe(0);
  return { stdout: pulse.stdout(), stderr: pulse.stderr() };
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
    const server = await startServer({ trust: KEYED });
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    await page.arrayBuffer();
    const api = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"query":"{ __typename }"}',
    });
    expect(api.status).toBe(401);
  });
});
