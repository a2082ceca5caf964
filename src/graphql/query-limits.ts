import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { GraphQLError, type ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { TrustConfig } from "../limits/settings.ts";

type Reject = (context: ValidationContext | null, error: GraphQLError) => void;

/**
 * Tags a GraphQL Armor rejection with Pulse's code and the setting that refused it. Armor reports the same error
 * object right after calling this, so tagging it in place is what reaches the client.
 */
const tag =
  (setting: string, limit: number): Reject =>
  (_context, error) => {
    const extensions = error.extensions as Record<string, unknown>;
    extensions["code"] = "BAD_USER_INPUT";
    extensions["limit"] = limit;
    extensions["setting"] = setting;
  };

/**
 * Query depth, aliases, tokens and directives (GraphQL Armor), and hidden suggestions. They hook Yoga's envelop
 * (parse and validate), which HTTP, WebSocket and SSE all run through, so every transport enforces the same
 * limits. Each refusal is a BAD_USER_INPUT with `extensions.limit` and `extensions.setting`.
 */
export function useQueryLimits(config: TrustConfig): Plugin[] {
  const plugins: Plugin[] = [
    maxDepthPlugin({
      n: config.maxQueryDepth,
      ignoreIntrospection: true,
      flattenFragments: true,
      onReject: [tag("PULSE_MAX_QUERY_DEPTH", config.maxQueryDepth)],
    }) as Plugin,
    maxAliasesPlugin({ n: config.maxQueryAliases, onReject: [tag("PULSE_MAX_QUERY_ALIASES", config.maxQueryAliases)] }) as Plugin,
    maxDirectivesPlugin({
      n: config.maxQueryDirectives,
      onReject: [tag("PULSE_MAX_QUERY_DIRECTIVES", config.maxQueryDirectives)],
    }) as Plugin,
    maxTokensPlugin({ n: config.maxQueryTokens, onReject: [tag("PULSE_MAX_QUERY_TOKENS", config.maxQueryTokens)] }) as Plugin,
    useParseErrorCode(),
  ];
  if (config.hideFieldSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin, useHideAllSuggestions());
  return plugins;
}

/**
 * Yoga codes syntax errors GRAPHQL_PARSE_FAILED only on HTTP (its hook needs a fetch Request); WebSocket operations
 * get the same code here.
 */
function useParseErrorCode(): Plugin {
  return {
    onParse: () => ({ result }) => {
      if (result instanceof GraphQLError) {
        const extensions = result.extensions as Record<string, unknown>;
        extensions["code"] ??= "GRAPHQL_PARSE_FAILED";
      }
    },
  };
}

/** Armor only masks field suggestions; enum values and arguments have their own "Did you mean ..." wording. */
function useHideAllSuggestions(): Plugin {
  return {
    onValidate: () => ({ valid, result, setResult }) => {
      if (valid) return;
      setResult(
        result.map((error) => {
          if (!/Did you mean/.test(error.message)) return error;
          return new GraphQLError(error.message.replace(/\s*Did you mean [^?]*\?/g, "").trim(), {
            nodes: error.nodes,
            source: error.source,
            positions: error.positions,
            path: error.path,
            extensions: error.extensions,
          });
        }),
      );
    },
  };
}
