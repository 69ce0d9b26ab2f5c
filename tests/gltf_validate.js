// Validate a .glb with the Khronos glTF validator; print its report's issue counts and messages as JSON.
// Usage: node gltf_validate.js FILE.glb  (with NODE_PATH pointing at the node_modules holding gltf-validator)
const validator = require("gltf-validator");
const fs = require("fs");

const data = new Uint8Array(fs.readFileSync(process.argv[2]));
validator.validateBytes(data, { maxIssues: 1000 }).then((report) => {
  const issues = report.issues;
  console.log(JSON.stringify({
    errors: issues.numErrors, warnings: issues.numWarnings, infos: issues.numInfos, hints: issues.numHints,
    messages: issues.messages.map((m) => ({ code: m.code, severity: m.severity, message: m.message, pointer: m.pointer })),
  }));
}, (error) => { console.error(error); process.exit(1); });
