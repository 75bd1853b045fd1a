// This package's version, as code: a bundle carries no package.json to read it from.
// test/bundlers.test.ts checks it against package.json.
export const VERSION = '0.1.0'
