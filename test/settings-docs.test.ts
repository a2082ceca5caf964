import { describe, expect, it } from "vitest";
import { SETTINGS } from "../src/config.ts";
import { documentationFiles, readDocumentation, settingsTable, withSettingsTables } from "../scripts/settings-docs.ts";

const EVERY_SECTION = ["core", "keys", "limits", "operations", "persistence", "fleet", "enrichment"];
const block = (section: string) => `<!-- settings:start section="${section}" -->\nSTALE ROW\n<!-- settings:end -->\nprose ${section}`;

describe("the documentation's settings tables", () => {
  it("are what the settings table says (else: npm run docs:settings)", () => {
    const files = readDocumentation();
    const written = withSettingsTables(files);
    for (const path of Object.keys(files)) {
      expect(files[path], `${path}'s settings tables are stale: run \`npm run docs:settings\` and commit it`).toBe(written[path]);
    }
  });

  it("are read from README.md, CONTRIBUTING.md and every page under docs/", () => {
    const files = documentationFiles();
    expect(files.slice(0, 2)).toEqual(["README.md", "CONTRIBUTING.md"]);
    expect(files).toContain("docs/configuration.md");
    expect(files.slice(2).every((path) => /^docs\/[^/]+\.md$/.test(path))).toBe(true);
  });

  it("list every setting once across the files, with its option and meaning", () => {
    const lines = Object.values(readDocumentation()).flatMap((text) => text.split("\n"));
    for (const setting of SETTINGS) {
      const rows = lines.filter((line) => line.startsWith(`| \`${setting.env}\` | \`${setting.path}\` |`));
      expect(rows, setting.env).toHaveLength(1);
      expect(rows[0]).toContain(setting.meaning);
    }
    expect(settingsTable("limits").split("\n")[0]).toBe("| variable | option | default | range | meaning | refusal |");
  });

  it("are rewritten between their markers only, in whichever file holds them", () => {
    const files = {
      "README.md": `# Title\n${block("core")}`,
      "docs/a.md": EVERY_SECTION.slice(1, 3).map(block).join("\n"),
      "docs/b.md": EVERY_SECTION.slice(3).map(block).join("\n"),
      "docs/none.md": "no tables here",
    };
    const written = withSettingsTables(files);
    for (const text of Object.values(written)) expect(text).not.toContain("STALE ROW");
    expect(written["README.md"]).toBe(
      `# Title\n<!-- settings:start section="core" -->\n${settingsTable("core")}<!-- settings:end -->\nprose core`,
    );
    expect(written["docs/a.md"]).toContain(settingsTable("limits"));
    expect(written["docs/b.md"]).toContain(settingsTable("persistence"));
    expect(written["docs/b.md"]).toContain("prose fleet");
    expect(written["docs/none.md"]).toBe("no tables here");
  });

  it("name a section without a table, a section with two, and an unknown one", () => {
    expect(() => withSettingsTables({ "README.md": block("core"), "docs/a.md": block("operations") })).toThrow(
      /no table for the settings section\(s\) keys, limits, persistence, fleet/,
    );
    const every = EVERY_SECTION.map(block).join("\n");
    expect(() => withSettingsTables({ "README.md": every, "docs/a.md": block("limits") })).toThrow(
      /section "limits" has a table in README.md and again in docs\/a.md/,
    );
    expect(() => withSettingsTables({ "README.md": every, "docs/a.md": block("nope") })).toThrow(
      /docs\/a.md names an unknown settings section "nope"/,
    );
  });
});
