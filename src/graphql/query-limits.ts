import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { GraphQLError, type DocumentNode, type ParseOptions, type Source, type ValidationContext } from "graphql";
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
 * Query depth, aliases, tokens and directives (GraphQL Armor), bracket nesting, and hidden suggestions. They hook Yoga's envelop
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
    }),
    maxAliasesPlugin({ n: config.maxQueryAliases, onReject: [tag("PULSE_MAX_QUERY_ALIASES", config.maxQueryAliases)] }),
    maxDirectivesPlugin({
      n: config.maxQueryDirectives,
      onReject: [tag("PULSE_MAX_QUERY_DIRECTIVES", config.maxQueryDirectives)],
    }),
    maxTokensPlugin({ n: config.maxQueryTokens, onReject: [tag("PULSE_MAX_QUERY_TOKENS", config.maxQueryTokens)] }),
    // After the token limit: it wraps the parser that plugin installs.
    useMaxNesting(maxQueryNesting(config.maxQueryDepth)),
    useParseErrorCode(),
  ];
  if (config.hideFieldSuggestions) plugins.push(blockFieldSuggestionsPlugin(), useHideAllSuggestions());
  return plugins;
}

/**
 * Brackets (`{`, `[`, `(`) a document may nest: 3 × PULSE_MAX_QUERY_DEPTH, at least 64 (GraphiQL's introspection
 * query nests about 20, and introspection is exempt from the depth limit) and at most 512.
 */
export function maxQueryNesting(maxQueryDepth: number): number {
  return Math.min(Math.max(3 * maxQueryDepth, 64), 512);
}

/**
 * graphql-js parses recursively, one stack frame or more per bracket, and counts tokens as it goes: a list literal
 * nested ~2,000 deep (`[[[[...]]]]`, 2 bytes a level) overflowed the stack before the token limit was reached
 * (HTTP 500), and with a raised PULSE_MAX_QUERY_TOKENS any deeper one would. So the raw text is scanned first, in
 * one pass and without recursion, and a document nesting deeper than `limit` is refused before it is parsed: a
 * BAD_USER_INPUT naming PULSE_MAX_QUERY_DEPTH, as a syntax error is answered (HTTP 400 for
 * `application/graphql-response+json`, 200 for `application/json`; an `error` message over WebSocket, the socket
 * stays up).
 */
function useMaxNesting(limit: number): Plugin {
  return {
    onParse: ({ parseFn, setParseFn }) => {
      // envelop types the parser `any`; it is graphql-js's `parse`.
      const parse: (source: string | Source, options?: ParseOptions) => DocumentNode = parseFn;
      setParseFn((source: string | Source, options?: ParseOptions) => {
        const text = typeof source === "string" ? source : source.body;
        if (nestingExceeds(text, limit)) {
          throw new GraphQLError(
            `Syntax Error: the document nests brackets deeper than ${limit} levels (3 × PULSE_MAX_QUERY_DEPTH, within 64 and 512)`,
            { extensions: { code: "BAD_USER_INPUT", limit, setting: "PULSE_MAX_QUERY_DEPTH" } },
          );
        }
        return parse(source, options);
      });
    },
  };
}

/**
 * Whether `{ [ (` nest deeper than `limit` in a GraphQL document, outside strings, block strings and comments,
 * read as graphql-js's lexer reads them. Where the lexer would fail (an unterminated string), the parser stops
 * there, so what follows cannot deepen its recursion: counting it anyway only errs towards refusing.
 */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b || c === 0x28) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d || c === 0x29) {
      if (depth > 0) depth--;
    } else if (c === 0x23) {
      // A comment runs to the end of the line.
      while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
      continue;
    } else if (c === 0x22) {
      i = text.startsWith('"""', i) ? afterBlockString(text, i + 3) : afterString(text, i + 1);
      continue;
    }
    i++;
  }
  return false;
}

/** Index after a `"..."` string whose body starts at `i`; it ends at an unescaped quote or at a line end. */
function afterString(text: string, i: number): number {
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") i += 2;
    else if (c === '"') return i + 1;
    else if (c === "\n" || c === "\r") return i;
    else i++;
  }
  return text.length;
}

/** Index after a `"""..."""` block string whose body starts at `i`; `\"""` inside it is an escaped quote. */
function afterBlockString(text: string, i: number): number {
  while (i < text.length) {
    if (text.startsWith('\\"""', i)) i += 4;
    else if (text.startsWith('"""', i)) return i + 3;
    else i++;
  }
  return text.length;
}

/**
 * Yoga codes syntax errors GRAPHQL_PARSE_FAILED only on HTTP (its hook needs a fetch Request); WebSocket operations
 * get the same code here.
 */
function useParseErrorCode(): Plugin {
  return {
    onParse:
      () =>
      ({ result }) => {
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
    onValidate:
      () =>
      ({ valid, result, setResult }) => {
        if (valid) return;
        // envelop types the errors loosely; graphql-js's validate reports GraphQLErrors.
        setResult(
          (result as readonly GraphQLError[]).map((error) => {
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
