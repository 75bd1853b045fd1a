import { defineConfig } from 'vitest/config'

// The matrices (test/matrix/): the packed tarball installed by each package manager and bundled by each bundler.
// Run once, with the prebuilds built (npm run prebuilds): npm run test:matrix.
export default defineConfig({
  test: {
    include: ['test/matrix/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    server: { deps: { external: [/\/dist\//] } },
  },
})
