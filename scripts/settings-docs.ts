// Writes the README's settings tables from the settings table (SETTINGS in src/config.ts): `npm run docs:settings`.
// Each table sits between `<!-- settings:start section="<section>" -->` and `<!-- settings:end -->`; the prose around
// them is the README's own. test/settings-docs.test.ts fails while README.md differs from what this would write.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { boundsText, defaultText, SETTING_SECTIONS, SETTINGS, type Setting, type SettingSection } from "../src/config.ts";

export const README_PATH = fileURLToPath(new URL("../README.md", import.meta.url));

const BLOCK = /(<!-- settings:start section="([^"]*)" -->\n)[\s\S]*?(<!-- settings:end -->)/g;

const cell = (markdown: string) => markdown.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** One section's table, in table order. The limits section adds what a request over the limit gets. */
export function settingsTable(section: SettingSection): string {
  const rows = SETTINGS.filter((setting) => setting.section === section);
  const refusals = section === "limits";
  const columns = ["variable", "option", "default", "range", "meaning", ...(refusals ? ["refusal"] : [])];
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |\n`;
  const row = (setting: Setting) => [
    `\`${setting.env}\``,
    `\`${setting.path}\``,
    cell(defaultText(setting)),
    boundsText(setting),
    cell(setting.details ? `${setting.meaning} ${setting.details}` : setting.meaning),
    ...(refusals ? [cell(setting.refusal ?? "")] : []),
  ];
  return line(columns) + `|${columns.map(() => "---").join("|")}|\n` + rows.map((setting) => line(row(setting))).join("");
}

/** The README with every settings table rewritten; throws for an unknown section or one without a table. */
export function withSettingsTables(readme: string): string {
  const written = new Set<string>();
  const updated = readme.replace(BLOCK, (_block, start: string, section: string, end: string) => {
    if (!(section in SETTING_SECTIONS)) throw new Error(`README.md names an unknown settings section "${section}"`);
    written.add(section);
    return `${start}${settingsTable(section as SettingSection)}${end}`;
  });
  const missing = Object.keys(SETTING_SECTIONS).filter((section) => !written.has(section));
  if (missing.length > 0) {
    throw new Error(
      `README.md has no table for the settings section(s) ${missing.join(", ")}: put ` +
        `<!-- settings:start section="${missing[0]}" --> and <!-- settings:end --> where it belongs`,
    );
  }
  return updated;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README_PATH, "utf8");
  const updated = withSettingsTables(readme);
  if (updated === readme) console.log("README.md: settings tables up to date");
  else {
    writeFileSync(README_PATH, updated);
    console.log("README.md: settings tables rewritten");
  }
}
