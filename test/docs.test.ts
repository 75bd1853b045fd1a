// The Markdown a reader navigates: README.md (the landing page) and docs/*.md.
// Every relative link must reach its file and, with a #anchor, a heading there
// (GitHub's slugs); the landing page's code must be what docs/ shows.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.join(__dirname, '..')
const markdownFiles = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => `docs/${file}`),
]
const read = (file: string) => readFileSync(path.join(root, file), 'utf8')

/** The lines outside fenced code blocks, with their line numbers. */
function prose(text: string): Array<{ line: string; number: number }> {
  const out: Array<{ line: string; number: number }> = []
  let fence: string | null = null
  text.split('\n').forEach((line, index) => {
    const marker = /^ *(```+|~~~+)/.exec(line)?.[1]
    if (marker && (fence === null || marker.startsWith(fence))) fence = fence === null ? marker : null
    else if (fence === null) out.push({ line, number: index + 1 })
  })
  return out
}

/** GitHub's anchor for a heading's text: lowercase, punctuation dropped (but - and _), spaces to -. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
    .replace(/`/g, '')
    .replace(/\*\*|__/g, '')
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors a file's headings get, duplicates numbered -1, -2, ... as GitHub does. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const { line } of prose(text)) {
    const heading = /^#{1,6} +(.+?) *#* *$/.exec(line)?.[1]
    if (heading === undefined) continue
    const base = slug(heading)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    out.add(count === 0 ? base : `${base}-${count}`)
  }
  return out
}

/** The relative links of a file (inline code and fenced blocks left out): `target` as written. */
function links(text: string): Array<{ target: string; number: number }> {
  const out: Array<{ target: string; number: number }> = []
  for (const { line, number } of prose(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, '``')
    for (const match of withoutCode.matchAll(/\]\(([^)\s]+)(?: +"[^"]*")?\)/g)) {
      if (!/^[a-z][a-z\d+.-]*:/i.test(match[1])) out.push({ target: match[1], number })
    }
  }
  return out
}

/** What is wrong with each relative link of `file`, as `file:line target: problem`. */
function brokenLinks(file: string, text = read(file)): string[] {
  const problems: string[] = []
  for (const { target, number } of links(text)) {
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined]
    const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), pathPart))
    const where = `${file}:${number} ${target}`
    if (resolved !== file && (resolved.startsWith('..') || !existsSync(path.join(root, resolved)))) {
      problems.push(`${where}: no file ${resolved}`)
    } else if (anchor !== undefined) {
      if (!resolved.endsWith('.md')) problems.push(`${where}: an anchor into ${resolved}, which is not Markdown`)
      else if (!anchors(resolved === file ? text : read(resolved)).has(anchor)) {
        problems.push(`${where}: no heading in ${resolved} has the anchor #${anchor}`)
      }
    }
  }
  return problems
}

describe('docs', () => {
  it('makes anchors as GitHub does', () => {
    expect(slug("Fallback: Node's own `setKeepAlive`")).toBe('fallback-nodes-own-setkeepalive')
    expect(slug('`tcp-keepalive inspect <pid> | --all`')).toBe('tcp-keepalive-inspect-pid----all')
    expect(slug('TCP keepalive or an application heartbeat?')).toBe('tcp-keepalive-or-an-application-heartbeat')
    expect(slug('The preload: `tcp-keepalive/register`')).toBe('the-preload-tcp-keepaliveregister')
    expect(slug('keep_under score, [a link](x.md) and **bold**')).toBe('keep_under-score-a-link-and-bold')
    expect([...anchors('# A\n## A\n```\n# A (code, not a heading)\n```\n### A\n')]).toEqual(['a', 'a-1', 'a-2'])
  })

  it('finds a link that leads nowhere', () => {
    const text = '# Top\n[ok](#top) [no heading](#nowhere) [no file](missing.md) [no anchor](api.md#nowhere) `[code](#x)`\n'
    expect(brokenLinks('docs/example.md', text)).toEqual([
      'docs/example.md:2 #nowhere: no heading in docs/example.md has the anchor #nowhere',
      'docs/example.md:2 missing.md: no file docs/missing.md',
      'docs/example.md:2 api.md#nowhere: no heading in docs/api.md has the anchor #nowhere',
    ])
  })

  it('has every relative link of README.md and docs/ resolve, #anchors included', () => {
    expect(markdownFiles.length).toBeGreaterThan(1)
    expect(markdownFiles.flatMap((file) => brokenLinks(file))).toEqual([])
  })

  it('links every page of docs/ from the landing page', () => {
    const linked = new Set(links(read('README.md')).map(({ target }) => target.split('#')[0]))
    expect(markdownFiles.filter((file) => file !== 'README.md' && !linked.has(file))).toEqual([])
  })

  it("repeats docs/ or a whole file of examples/ verbatim in the landing page's code (Quick start aside, which is its own)", () => {
    const docs = markdownFiles.filter((file) => file !== 'README.md').map((file) => ({ file, text: `\n${read(file)}` }))
    // The complete snippets: type-checked files (npm run typecheck), each shown whole.
    const examples = new Map(readdirSync(path.join(root, 'examples')).map((file) => [read(`examples/${file}`), `examples/${file}`]))
    const blocks = [...read('README.md').matchAll(/^## (.+)$|^```\w*\n([\s\S]*?)^```$/gm)]
    let section = ''
    const copies: string[] = []
    for (const [, heading, code] of blocks) {
      if (heading !== undefined) section = heading
      else if (section !== 'Quick start') copies.push(code)
    }
    expect(copies.length).toBeGreaterThan(0)
    const shown = copies.map((code) => examples.get(code)).filter((file) => file !== undefined)
    expect(shown.sort(), 'every file of examples/ is a snippet of README.md').toEqual([...examples.values()].sort())
    for (const code of copies.filter((code) => !examples.has(code))) {
      expect(
        docs.filter(({ text }) => text.includes(`\n${code}`)).map(({ file }) => file),
        `README.md shows this code, which no file of docs/ (${docs.map(({ file }) => file).join(', ')}) has:\n${code}`,
      ).not.toEqual([])
    }
  })
})
