import { spawn } from "node:child_process";
import { expect } from "vitest";
import { ownChild, ROOT } from "../support/process.ts";

/**
 * Runs `npm run bench -- <args> --json` as CI would, expects it to exit 0 (its stderr as the message otherwise), and
 * returns the JSON object on its last line of output.
 */
export async function runBench<T>(args: readonly string[]): Promise<T> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", ...args, "--json"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const { code } = await ownChild(child);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}
