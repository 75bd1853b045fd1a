import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The bundler and package-manager matrices run once per CI run, not on every Node: npm run test:matrix.
    exclude: ['test/matrix/**', '**/node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The built package (imported as 'tcp-keepalive/...') is loaded by Node itself, as users get it.
    server: { deps: { external: [/\/dist\//] } },
  },
})
