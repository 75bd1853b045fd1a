import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // The built package (imported as 'tcp-keepalive/...') is loaded by Node itself, as users get it.
    server: { deps: { external: [/\/dist\//] } },
  },
})
