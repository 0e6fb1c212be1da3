// Cross-check helper for tests/ledger/test_merkle_js.py.
//
// Reads JSON from stdin: {"encoding": [...], "cases": [{"values": [...], "dump": {...}?}, ...]}
// and, for each case, builds StandardMerkleTree.of(values, encoding) with
// @openzeppelin/merkle-tree (default options: sorted leaves) and writes
//   {"root", "proofs": [proof of value i, ...], "dumpText": JSON.stringify(tree.dump()),
//    "loadOk"/"loadError": result of StandardMerkleTree.load(dump) on the Python dump, if given}
// as one JSON document on stdout.
//
// Usage: node tests/js/oz_tree.mjs [REPO_ROOT]
// The library is resolved from REPO_ROOT/node_modules (default: two levels up).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, "..", ".."));
const require = createRequire(path.join(root, "package.json"));
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const input = JSON.parse(await readStdin());
const results = input.cases.map(({ values, dump }) => {
  const tree = StandardMerkleTree.of(values, input.encoding);
  const result = {
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    dumpText: JSON.stringify(tree.dump()),
  };
  if (dump !== undefined) {
    try {
      const loaded = StandardMerkleTree.load(dump);
      // load() validates the tree; also prove every value through the loaded copy
      result.loadOk = values.every((v, i) =>
        StandardMerkleTree.verify(loaded.root, input.encoding, v, loaded.getProof(i)),
      );
    } catch (err) {
      result.loadError = String(err);
    }
  }
  return result;
});
// Set exitCode rather than calling process.exit(): exiting right after a large
// write to a pipe truncates stdout.
process.stdout.write(JSON.stringify(results));
process.exitCode = 0;
