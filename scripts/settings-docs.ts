// Writes the documentation's settings tables from the settings table (SETTINGS in src/config.ts):
// `npm run docs:settings`. Each table sits between `<!-- settings:start section="<section>" -->` and
// `<!-- settings:end -->` in one of the documentation files (README.md, CONTRIBUTING.md, docs/*.md); the prose around
// them is the page's own. Each section's table lives on the page about its subject: core in docs/configuration.md,
// keys and limits in docs/security.md, operations in docs/operations.md, persistence in docs/persistence.md, fleet in
// docs/scaling.md; docs/configuration.md links to all of them. Moving a table means moving its markers: every
// section must have its markers exactly once across the files. test/settings-docs.test.ts fails while a file differs
// from what this would write.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { boundsText, defaultText, SETTING_SECTIONS, SETTINGS, type Setting, type SettingSection } from "../src/config.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The documentation's Markdown files, relative to the repository's root: README.md, CONTRIBUTING.md, docs/*.md. */
export function documentationFiles(): string[] {
  const pages = readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", "CONTRIBUTING.md", ...pages];
}

/** Every documentation file's text, by its path relative to the repository's root. */
export function readDocumentation(): Record<string, string> {
  return Object.fromEntries(documentationFiles().map((path) => [path, readFileSync(join(ROOT, path), "utf8")]));
}

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

/**
 * The files (path → text) with every settings table rewritten. Throws, naming the file, for an unknown section or one
 * whose markers appear twice, and names the sections that have no table anywhere.
 */
export function withSettingsTables(files: Readonly<Record<string, string>>): Record<string, string> {
  const writtenIn = new Map<string, string>();
  const updated = Object.entries(files).map(([path, text]) => {
    const rewritten = text.replace(BLOCK, (_block, start: string, section: string, end: string) => {
      if (!(section in SETTING_SECTIONS)) throw new Error(`${path} names an unknown settings section "${section}"`);
      const earlier = writtenIn.get(section);
      if (earlier !== undefined) {
        throw new Error(`the settings section "${section}" has a table in ${earlier} and again in ${path}: keep one`);
      }
      writtenIn.set(section, path);
      return `${start}${settingsTable(section as SettingSection)}${end}`;
    });
    return [path, rewritten] as const;
  });
  const missing = Object.keys(SETTING_SECTIONS).filter((section) => !writtenIn.has(section));
  if (missing.length > 0) {
    throw new Error(
      `no table for the settings section(s) ${missing.join(", ")} in ${Object.keys(files).join(", ")}: put ` +
        `<!-- settings:start section="${missing[0]}" --> and <!-- settings:end --> where it belongs`,
    );
  }
  return Object.fromEntries(updated);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = readDocumentation();
  const updated = withSettingsTables(files);
  const rewritten = Object.keys(files).filter((path) => updated[path] !== files[path]);
  for (const path of rewritten) writeFileSync(join(ROOT, path), updated[path]!);
  console.log(rewritten.length === 0 ? "settings tables up to date" : `settings tables rewritten in ${rewritten.join(", ")}`);
}
