import { defaultText, SETTINGS } from "./config.ts";

/** The text of `npm start -- --help`: every setting of the SETTINGS table with its default and meaning. */
export function renderHelp(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.env.length));
  const lines = [
    "Pulse: a self-hosted realtime analytics API (GraphQL over HTTP, WebSocket and SSE).",
    "",
    "Usage: npm start [-- --help]",
    "       node --import tsx src/main.ts [--help]",
    "",
    "Settings are read from the environment; unset or blank means the default.",
    "",
    ...SETTINGS.map((setting) => `  ${setting.env.padEnd(width)}  default: ${defaultText(setting)}\n  ${" ".repeat(width)}  ${setting.meaning}`),
    "",
    "Logs are JSON lines on stdout, pretty-printed when stdout is a terminal and NODE_ENV is not production.",
    "Endpoints: /graphql (HTTP, WebSocket, GraphiQL), /graphql/stream (SSE), /healthz, /readyz, /metrics.",
    "",
  ];
  return lines.join("\n");
}
