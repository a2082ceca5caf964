import type { GraphiQLOptions } from "graphql-yoga";

/**
 * What GraphiQL (`GET /graphql` in a browser) opens on: a live query to run as it is, and a subscription to try,
 * with how to give them a key. A user's own tabs, kept in the browser, win over it.
 */
export const GRAPHIQL_DEFAULT_QUERY = `# Pulse: what is happening now.
# Run it with ▶ (Ctrl-Enter).
#
# With API keys configured, open Headers below,
# enter a read key, then re-fetch the schema (↻):
#   { "Authorization": "Bearer <read key>" }
# The headers go with every request, subscriptions
# (over Server-Sent Events) included.

query LiveNow {
  liveDashboard {
    liveUsers
    eventsPerMinute { event count }
    topPages { path count }
    recentEvents(limit: 5) {
      event distinctId timestamp
    }
  }
}

# Events as they are captured: uncomment, then
# pick LiveEvents from ▶'s menu.
# subscription LiveEvents {
#   events {
#     event
#     distinctId
#     timestamp
#     properties
#   }
# }
`;

/**
 * GraphiQL's options. Subscriptions go over Server-Sent Events (`POST /graphql`, `accept: text/event-stream`), each
 * request with the headers from the Headers pane: GraphiQL's WebSocket client sends no headers in its
 * `connection_init`, so with keys configured every subscription there ended with close code 4401, shown as
 * `{"isTrusted":true}`. Over SSE a missing or wrong key comes back as a GraphQL error with its message.
 */
export const GRAPHIQL_OPTIONS: GraphiQLOptions = {
  title: "Pulse",
  subscriptionsProtocol: "SSE",
  // Subscriptions as POSTs with a JSON body, like every other operation: GraphiQL would send them as GETs, which
  // CSRF prevention refuses without an extra header (docs/security.md).
  method: "POST",
  defaultQuery: GRAPHIQL_DEFAULT_QUERY,
};
