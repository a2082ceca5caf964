import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../src/config.ts";
import { README_PATH, settingsTable, withSettingsTables } from "../scripts/settings-docs.ts";

describe("the README's settings tables", () => {
  it("are what the settings table says (else: npm run docs:settings)", () => {
    const readme = readFileSync(README_PATH, "utf8");
    const stale = "README.md's settings tables are stale: run `npm run docs:settings` and commit README.md";
    expect(readme, stale).toBe(withSettingsTables(readme));
  });

  it("list every setting once, with its option and meaning", () => {
    const readme = readFileSync(README_PATH, "utf8");
    for (const setting of SETTINGS) {
      const rows = readme.split("\n").filter((line) => line.startsWith(`| \`${setting.env}\` | \`${setting.path}\` |`));
      expect(rows, setting.env).toHaveLength(1);
      expect(rows[0]).toContain(setting.meaning);
    }
    expect(settingsTable("limits").split("\n")[0]).toBe("| variable | option | default | range | meaning | refusal |");
  });

  it("are rewritten between their markers only, and a section without a table is an error naming it", () => {
    const stale = ["# Title", '<!-- settings:start section="core" -->', "| STALE | ROW |", "<!-- settings:end -->", "prose stays"].join(
      "\n",
    );
    expect(() => withSettingsTables(stale)).toThrow(/no table for the settings section\(s\) keys, limits/);
    const every = ["core", "keys", "limits", "operations", "persistence", "fleet"]
      .map((section) => `<!-- settings:start section="${section}" -->\nSTALE ROW\n<!-- settings:end -->\nprose ${section}`)
      .join("\n");
    const written = withSettingsTables(every);
    expect(written).not.toContain("STALE ROW");
    expect(written).toContain("prose fleet");
    expect(written).toContain(settingsTable("persistence"));
    expect(() => withSettingsTables(`${every}\n<!-- settings:start section="nope" -->\n<!-- settings:end -->`)).toThrow(
      /unknown settings section "nope"/,
    );
  });
});
