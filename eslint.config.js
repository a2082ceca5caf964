// Lint: typescript-eslint's recommended rules with type information, plus the rules that catch what a review of
// Pulse found (floating promises, misused promises). `npm run lint` runs it with zero warnings allowed; CI runs it.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "**/dist/",
      ".bench-dist/",
      ".test-dist/",
      "src/generated/",
      "src/graphql/generated/",
      "packages/client/src/generated/",
      "test/clients/generated.ts",
      "coverage/",
      "data/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  {
    // vitest's asymmetric matchers (expect.any, expect.stringMatching, expect.objectContaining) are typed `any`:
    // in tests this rule would flag every one of them, and what it guards against is not what tests do.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-unsafe-assignment": "off" },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Plain Node scripts (scripts/prepare.mjs runs where TypeScript may not be installed).
    files: ["scripts/**/*.mjs"],
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
  },
);
