// Validates AsyncAPI documents with the official parser (@asyncapi/parser, pinned in
// package.json): prints every diagnostic and exits 1 on any error or warning.
//   node tools/asyncapi/validate.mjs shared/contracts/asyncapi.yaml other.json ...
import { readFile } from "node:fs/promises";
import { Parser, fromFile } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "info", "hint"];
const parser = new Parser();
let failed = false;
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await fromFile(parser, path).parse();
  const serious = diagnostics.filter((d) => d.severity <= 1);
  for (const d of diagnostics) {
    const where = (d.path || []).join(".");
    console.log(`${path}: ${SEVERITY[d.severity]} ${d.code}: ${d.message} at ${where}`);
  }
  if (!document || serious.length) failed = true;
  const messages = document ? document.allMessages().length : 0;
  console.log(`${path}: ${serious.length ? "INVALID" : "valid"} (${messages} messages, ` +
    `${serious.length} errors or warnings, ${diagnostics.length - serious.length} hints)`);
}
process.exit(failed ? 1 : 0);
