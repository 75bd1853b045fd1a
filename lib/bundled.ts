// Where the binary is when the package's code was bundled into an app
// (esbuild, webpack, rollup, bun build): its code then runs from the bundle's
// folder, not from node_modules/tcp-keepalive, so the binary is looked for
//   1. beside the bundle: prebuilds/ (or build/Release) copied there, the documented copy step;
//   2. in an installed tcp-keepalive of the same version in a node_modules above the bundle
//      (the bundle deployed with the app's node_modules, as in most container images).
// TCP_KEEPALIVE_BINDING, an explicit .node path, is handled by the loader before this.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { VERSION } from './version.js'

/** The folders the bundle runs from: its own (as the bundler kept __dirname), the entry script's, a compiled executable's. */
function bundleFolders(ownFolder: string | undefined): string[] {
  const folders: string[] = []
  // esbuild and webpack keep a real __dirname for CommonJS output; webpack's default mock is "/".
  if (ownFolder !== undefined && ownFolder !== '/' && !isVirtual(ownFolder)) folders.push(ownFolder)
  const entry = process.argv[1]
  if (entry !== undefined && path.isAbsolute(entry) && !isVirtual(entry)) folders.push(path.dirname(entry))
  // bun build --compile: the code lives in the executable's virtual file system; look beside the executable.
  if ((ownFolder !== undefined && isVirtual(ownFolder)) || (entry !== undefined && isVirtual(entry))) {
    folders.push(path.dirname(process.execPath))
  }
  return [...new Set(folders)]
}

/** Bun's virtual file system of a compiled executable (/$bunfs/ on POSIX, B:/~BUN/ on Windows). */
function isVirtual(file: string): boolean {
  return file.startsWith('/$bunfs/') || /^[A-Z]:[\\/]~BUN[\\/]/.test(file)
}

/** Whether `root` is this package's own folder (false: the code was bundled elsewhere). */
export function isPackageRoot(root: string): boolean {
  try {
    return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: unknown }).name === 'tcp-keepalive'
  } catch (error) {
    // Unreadable (the permission model) is not the same as absent: treat it as the package, as before.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

export type Found = { root: string; where: string } | { reason: string }

/**
 * The folder to hand node-gyp-build for a bundled copy of the package, or why
 * there is none. `resolves(root)` says whether node-gyp-build finds a binary
 * for this platform there.
 */
export function findForBundle(ownFolder: string | undefined, resolves: (root: string) => boolean): Found {
  const folders = bundleFolders(ownFolder)
  const mismatched: string[] = []
  for (const folder of folders) {
    if (resolves(folder)) return { root: folder, where: 'beside the bundle' }
  }
  for (const folder of folders) {
    for (let dir = folder; ; dir = path.dirname(dir)) {
      const installed = path.join(dir, 'node_modules', 'tcp-keepalive')
      const version = installedVersion(installed)
      if (version === VERSION && resolves(installed)) return { root: installed, where: 'the installed package' }
      if (version !== null && version !== VERSION) mismatched.push(`${installed} is ${version}`)
      if (path.dirname(dir) === dir) break
    }
  }
  const looked = folders.length > 0 ? folders.join(', ') : 'nowhere (the bundle has no folder on disk)'
  return {
    reason:
      `tcp-keepalive was bundled (its code runs from ${looked}), and no binary for ${process.platform}-${process.arch} was found ` +
      `beside the bundle (prebuilds/) or in an installed tcp-keepalive ${VERSION} above it` +
      `${mismatched.length > 0 ? ` (${mismatched.join('; ')}, not ${VERSION})` : ''}: ` +
      'mark tcp-keepalive external in the bundler and deploy it in node_modules, copy node_modules/tcp-keepalive/prebuilds beside the bundle, ' +
      'or set TCP_KEEPALIVE_BINDING to the .node file (see "Bundlers and serverless" in docs/platforms.md)',
  }
}

function installedVersion(folder: string): string | null {
  try {
    const manifest = JSON.parse(readFileSync(path.join(folder, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
    return manifest.name === 'tcp-keepalive' && typeof manifest.version === 'string' ? manifest.version : null
  } catch {
    return existsSync(folder) ? '(unreadable)' : null
  }
}
