// node-gyp-build ships no types.
declare module 'node-gyp-build' {
  function load(root: string): unknown
  namespace load {
    function resolve(root: string): string
  }
  export = load
}
