// A jest transformer that removes TypeScript types with Node's built-in stripTypeScriptTypes,
// keeping line and column positions (so stack traces point at the .ts source).
const { stripTypeScriptTypes } = require('node:module');

module.exports = {
  process(source) {
    return { code: stripTypeScriptTypes(source, { mode: 'strip' }) };
  },
};
