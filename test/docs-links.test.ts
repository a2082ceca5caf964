import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { readDocumentation, ROOT } from "../scripts/settings-docs.ts";

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens (as github-slugger does). */
function slug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, "$1")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\*\*|__/g, "");
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Markdown lines outside fenced code blocks. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** The anchors GitHub gives a file's headings, a repeated heading numbered `-1`, `-2`, … */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Every link and image target in a file's prose: `[text](target)`, its text over several lines too; code spans left out. */
function linkTargets(markdown: string): string[] {
  const paragraphs = prose(markdown)
    .join("\n")
    .split(/\n\s*\n/);
  return paragraphs.flatMap((paragraph) =>
    [...paragraph.replace(/`[^`]*`/g, "").matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!),
  );
}

/**
 * The relative links of `files` (path from the repository's root → text) that are broken: the file does not exist,
 * or the anchor names no heading of the Markdown file it points into. Web links are not followed.
 */
function brokenLinks(files: Readonly<Record<string, string>>): { checked: number; broken: string[] } {
  const broken: string[] = [];
  let checked = 0;
  for (const [path, text] of Object.entries(files)) {
    for (const target of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      checked++;
      const [file = "", anchor] = target.split("#", 2);
      const resolved = file === "" ? path : normalize(join(dirname(path), decodeURIComponent(file)));
      const absolute = join(ROOT, resolved);
      const own = files[resolved];
      if (own === undefined && !existsSync(absolute)) {
        broken.push(`${path}: ${target} (no file ${resolved})`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith(".md")) continue;
      const headings = anchors(own ?? readFileSync(absolute, "utf8"));
      if (!headings.has(anchor)) broken.push(`${path}: ${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  return { checked, broken };
}

describe("links in README.md, CONTRIBUTING.md and docs/*.md", () => {
  it("all lead to a file that exists and, with an anchor, to one of its headings", () => {
    const { checked, broken } = brokenLinks(readDocumentation());
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it("are found broken when a file or a heading is missing", () => {
    const page = [
      "# A page",
      "[ok](api.md#capture) [ok](#a-page) [ok](../README.md) ![ok](dashboard.png) [web](https://example.com/x.md#nope)",
      "[gone](nope.md) [no heading](api.md#no-such-heading) [here](#nowhere) `[code](nope.md)` [two",
      "lines](api.md#nope)",
      "```md",
      "[fenced](nope.md)",
      "```",
    ].join("\n");
    expect(brokenLinks({ "docs/page.md": page })).toEqual({
      checked: 8,
      broken: [
        "docs/page.md: nope.md (no file docs/nope.md)",
        "docs/page.md: api.md#no-such-heading (no heading #no-such-heading in docs/api.md)",
        "docs/page.md: #nowhere (no heading #nowhere in docs/page.md)",
        "docs/page.md: api.md#nope (no heading #nope in docs/api.md)",
      ],
    });
  });

  it("use GitHub's anchors for headings with code, punctuation and repeats", () => {
    expect(slug("Pulse's own client: `@pulse-analytics/client`")).toBe("pulses-own-client-pulse-analyticsclient");
    expect(slug("`LiveDashboard.timeline(minutes: Int = 30): [TimelinePoint!]!`")).toBe(
      "livedashboardtimelineminutes-int--30-timelinepoint",
    );
    expect(slug("Deploys, crashes and startup: what a client sees")).toBe("deploys-crashes-and-startup-what-a-client-sees");
    expect([...anchors("## Settings\n### Settings\n```\n# not a heading\n```\n## Settings")]).toEqual([
      "settings",
      "settings-1",
      "settings-2",
    ]);
  });
});
