import { expect, it } from "vitest";
import type { SoakReport } from "../../bench/scenarios/soak.ts";
import { runBench } from "./run-bench.ts";

/**
 * The soak's harness runs and counts, never how fast or how flat: `npm run bench -- --soak=3s --smoke --json` (20
 * subscribers, churn included) completes, and its subscribers, resumed with `after` again and again, lost nothing.
 * Memory flatness is not asserted (three seconds say nothing about a leak).
 */
it("runs a short soak with churn and loses nothing", async () => {
  const { soak } = await runBench<{ soak: SoakReport }>(["--soak=3s", "--smoke"]);
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
