import { readFileSync } from "node:fs";

/**
 * `node --import tsx bench/tools/heap-diff.ts before.heapsnapshot after.heapsnapshot [count] [top]`: self size and
 * count by node type and constructor (or closure name) in each V8 heap snapshot, and the difference, per
 * `count` (e.g. per subscription), largest first. A quick text view of DevTools' "Comparison".
 */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function summarise(file: string): Map<string, { size: number; count: number }> {
  const data = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf("type"), fields.indexOf("name"), fields.indexOf("self_size")];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < data.nodes.length; i += fields.length) {
    const type = types[data.nodes[i + typeAt]!]!;
    let name = data.strings[data.nodes[i + nameAt]!]!;
    if (type === "string" || type === "concatenated string" || type === "sliced string") name = "";
    if (type === "code" || type === "hidden" || type === "array") name = name.slice(0, 40);
    const key = `${type}:${name.slice(0, 80)}`;
    const entry = out.get(key) ?? { size: 0, count: 0 };
    entry.size += data.nodes[i + sizeAt]!;
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

const [beforeFile, afterFile, countArg, topArg] = process.argv.slice(2);
const count = Number(countArg ?? 1);
const before = summarise(beforeFile!);
const after = summarise(afterFile!);
const rows = [...after].map(([key, a]) => {
  const b = before.get(key) ?? { size: 0, count: 0 };
  return { key, bytes: (a.size - b.size) / count, objects: (a.count - b.count) / count };
});
rows.sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((sum, r) => sum + r.bytes, 0);
console.log(`total self size difference per unit: ${total.toFixed(0)} bytes`);
for (const r of rows.slice(0, Number(topArg ?? 60)))
  console.log(`${r.bytes.toFixed(0).padStart(7)} B ${r.objects.toFixed(2).padStart(7)} obj  ${r.key}`);
