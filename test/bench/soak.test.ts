import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import type { SoakReport } from "../../bench/scenarios/soak.ts";
import { ownChild, ROOT } from "../support/process.ts";

/**
 * The soak's harness runs and counts, never how fast or how flat: `npm run bench -- --soak=3s --smoke --json` (20
 * subscribers, churn included) completes, and its subscribers, resumed with `after` again and again, lost nothing.
 * Memory flatness is not asserted (three seconds say nothing about a leak).
 */
it("runs a short soak with churn and loses nothing", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "--soak=3s", "--smoke", "--json"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const { code } = await ownChild(child);
  expect(code, stderr).toBe(0);

  const { soak } = JSON.parse(stdout.trim().split("\n").at(-1)!) as { soak: SoakReport };
  expect(soak.samples.length).toBeGreaterThan(2);
  expect(soak.counts["captured"]).toBeGreaterThan(0);
  expect(soak.counts["deliveries"]).toBeGreaterThan(0);
  expect(soak.counts["resubscribes"]! + soak.counts["reconnects"]!).toBeGreaterThan(0);
  expect({ ...soak.counts, captured: 0, deliveries: 0, resubscribes: 0, reconnects: 0, replaced: 0, subscribers: 0, gapMarked: 0 }).toEqual(
    {
      captured: 0,
      deliveries: 0,
      resubscribes: 0,
      reconnects: 0,
      replaced: 0,
      subscribers: 0,
      gapMarked: 0,
      gaps: 0,
      duplicates: 0,
      lagged: 0,
      tailMissing: 0,
      errors: 0,
    },
  );
  expect(soak.nothingLost).toBe(true);
}, 240_000);
