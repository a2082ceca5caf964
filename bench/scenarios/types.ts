/** How big a run is: `full` for publishing, `quick` under 2 minutes, `smoke` only proves every scenario runs. */
export type Mode = "full" | "quick" | "smoke";

/** One scenario's line of the report (and of the `--json` object). */
export interface ScenarioResult {
  /** Pulse's figure; null when the scenario could not run here (see `pending`). */
  readonly value: number | null;
  readonly unit: string;
  readonly baseline: number | null;
  readonly baselineName: string;
  /** value / baseline. */
  readonly ratio: number | null;
  /** The target, e.g. ">= 0.5". */
  readonly target: string;
  /** Whether the ratio meets the target (null when pending). */
  readonly met: boolean | null;
  /** Why there is no number yet. */
  readonly pending?: string;
  /** Figures for context (the naive server, loss, p50, ...). */
  readonly context?: Record<string, number | string>;
}

export function result(
  value: number,
  unit: string,
  baseline: number,
  baselineName: string,
  target: { atLeast?: number; atMost?: number },
  context?: Record<string, number | string>,
): ScenarioResult {
  const ratio = round(value / baseline, 3);
  const met = target.atLeast !== undefined ? ratio >= target.atLeast : ratio <= target.atMost!;
  const targetText = target.atLeast !== undefined ? `>= ${target.atLeast}` : `<= ${target.atMost}`;
  return { value: precise(value), unit, baseline: precise(baseline), baselineName, ratio, target: targetText, met, context };
}

export function pending(unit: string, baselineName: string, target: string, why: string): ScenarioResult {
  return { value: null, unit, baseline: null, baselineName, ratio: null, target, met: null, pending: why };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Rounded for reading, yet precise enough that value / baseline gives back the ratio. */
function precise(n: number): number {
  return Math.abs(n) >= 100 ? round(n, 1) : round(n, 3);
}
