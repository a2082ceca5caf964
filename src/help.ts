import { boundsText, defaultText, SETTING_SECTIONS, SETTINGS, type SettingSection } from "./config.ts";

/** Markdown as a terminal shows it: the table's text without code and bold marks. */
export function plainText(markdown: string): string {
  return markdown.replace(/\*\*|`/g, "");
}

/** Help lines stay within this many columns where words allow. */
const LINE_WIDTH = 120;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/**
 * The text of `node dist/main.js --help` (`npm start -- --help`): every row of the settings table, by section, with its
 * default and bounds.
 */
export function renderHelp(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.env.length));
  const indent = " ".repeat(width + 4);
  const sections = (Object.keys(SETTING_SECTIONS) as SettingSection[]).flatMap((section) => {
    const rows = SETTINGS.filter((setting) => setting.section === section);
    return [
      `${SETTING_SECTIONS[section]}:`,
      ...rows.map((setting) => {
        const bounds = boundsText(setting);
        const facts = `default: ${plainText(defaultText(setting))}${bounds ? `; ${bounds}` : ""}`;
        return [
          `  ${setting.env.padEnd(width)}  ${facts}`,
          ...wrap(plainText(setting.meaning), LINE_WIDTH - indent.length).map((line) => indent + line),
        ].join("\n");
      }),
      "",
    ];
  });
  const lines = [
    "Pulse: a self-hosted realtime analytics API (GraphQL over HTTP, WebSocket and SSE).",
    "",
    "Usage: node dist/main.js [--help]      (after npm install, which builds dist/)",
    "       node --import tsx src/main.ts [--help]      (from the sources, while developing)",
    "",
    "Settings are read from the environment; unset or blank means the default. A bad value stops the start (exit 2).",
    "",
    ...sections,
    "Endpoints: /graphql (HTTP, WebSocket, GraphiQL), /graphql/stream (SSE), /healthz, /readyz, /metrics.",
    "",
  ];
  return lines.join("\n");
}
