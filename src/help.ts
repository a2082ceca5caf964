import { defaultText, SETTINGS } from "./config.ts";
import { TRUST_SETTINGS } from "./limits/settings.ts";

/** The text of `npm start -- --help`: every setting of the SETTINGS table with its default and meaning. */
export function renderHelp(): string {
  const rows = [
    ...SETTINGS.map((setting) => ({ env: setting.env, defaultText: defaultText(setting), meaning: setting.meaning })),
    ...TRUST_SETTINGS,
  ];
  const width = Math.max(...rows.map((row) => row.env.length));
  const lines = [
    "Pulse: a self-hosted realtime analytics API (GraphQL over HTTP, WebSocket and SSE).",
    "",
    "Usage: npm start [-- --help]",
    "       node --import tsx src/main.ts [--help]",
    "",
    "Settings are read from the environment; unset or blank means the default.",
    "",
    ...rows.map((row) => `  ${row.env.padEnd(width)}  default: ${row.defaultText}\n  ${" ".repeat(width)}  ${row.meaning}`),
    "",
    "Logs are JSON lines on stdout, pretty-printed when stdout is a terminal and NODE_ENV is not production.",
    "Endpoints: /graphql (HTTP, WebSocket, GraphiQL), /graphql/stream (SSE), /healthz, /readyz, /metrics.",
    "",
  ];
  return lines.join("\n");
}
