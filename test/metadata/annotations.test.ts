import { describe, expect, it } from "@effect/vitest"
import {
  aggregateAnnotations,
  type AnnotationChain,
  type DroppedAnnotation,
  parseRuntimeRisks
} from "../../src/metadata/annotations.ts"
import type { RuntimeRisk } from "../../src/record/DeploymentRecord.ts"

// Keys are spelled out rather than built from the module's constants, so a
// wrong constant fails here instead of agreeing with itself.
const RISKS = "metadata.github.com/runtime-risks"
const REPO = "metadata.github.com/github-repository"
const tag = (name: string): string => `metadata.github.com/${name}`

/** A character outside the BMP: two UTF-16 units, one code point. */
const EMOJI = "\u{1F680}"

describe("runtime risks", () => {
  const cases: ReadonlyArray<
    readonly [label: string, chain: AnnotationChain, risks: ReadonlyArray<RuntimeRisk>, dropped: ReadonlyArray<string>]
  > = [
    ["one value", [{ [RISKS]: "critical-resource" }], ["critical-resource"], []],
    [
      "case-insensitive",
      [{ [RISKS]: "Critical-Resource,INTERNET-EXPOSED,lateral-MOVEMENT" }],
      ["critical-resource", "internet-exposed", "lateral-movement"],
      []
    ],
    [
      "items trimmed (spaces, tabs, newlines)",
      [{ [RISKS]: "  sensitive-data ,\tinternet-exposed\n" }],
      ["internet-exposed", "sensitive-data"],
      []
    ],
    [
      "unknown values dropped and reported, valid ones kept",
      [{ [RISKS]: "critical-resource, Not-A-Risk ,critical_resource" }],
      ["critical-resource"],
      ['unknown runtime risk "Not-A-Risk"', 'unknown runtime risk "critical_resource"']
    ],
    ["only unknown values", [{ [RISKS]: "public" }], [], ['unknown runtime risk "public"']],
    ["empty items are not errors", [{ [RISKS]: ",critical-resource,, ," }], ["critical-resource"], []],
    ["an empty annotation is not an error", [{ [RISKS]: "" }], [], []],
    ["duplicates within one value collapse", [{ [RISKS]: "internet-exposed,Internet-Exposed" }], ["internet-exposed"], []],
    [
      "sorted whatever the written order",
      [{ [RISKS]: "sensitive-data,lateral-movement,internet-exposed,critical-resource" }],
      ["critical-resource", "internet-exposed", "lateral-movement", "sensitive-data"],
      []
    ],
    [
      "union over the chain, unique and sorted",
      [
        { [RISKS]: "sensitive-data" },
        undefined,
        { [RISKS]: "sensitive-data, critical-resource" },
        { [RISKS]: "internet-exposed" }
      ],
      ["critical-resource", "internet-exposed", "sensitive-data"],
      []
    ],
    [
      "unknown values reported from every object in the chain",
      [{ [RISKS]: "bogus" }, { [RISKS]: "lateral-movement,other" }],
      ["lateral-movement"],
      ['unknown runtime risk "bogus"', 'unknown runtime risk "other"']
    ],
    ["a differently spelled key is not the risks annotation", [{ "metadata.github.com/Runtime-Risks": "x" }], [], []]
  ]

  for (const [label, chain, risks, dropped] of cases) {
    it(label, () => {
      const result = aggregateAnnotations(chain)
      expect(result.runtimeRisks).toEqual(risks)
      expect(result.dropped).toEqual(dropped.map((reason) => ({ key: RISKS, reason })))
    })
  }

  it("the risks annotation is not a tag", () => {
    expect(aggregateAnnotations([{ [RISKS]: "critical-resource" }]).tags).toEqual({})
  })

  it("parseRuntimeRisks returns unknown items trimmed but as written", () => {
    expect(parseRuntimeRisks(" Sensitive-Data , Foo ,")).toEqual({ risks: ["sensitive-data"], unknown: ["Foo"] })
  })
})

describe("tags", () => {
  const cases: ReadonlyArray<
    readonly [
      label: string,
      chain: AnnotationChain,
      tags: Readonly<Record<string, string>>,
      dropped: ReadonlyArray<DroppedAnnotation>
    ]
  > = [
    [
      "the prefix is stripped; other annotations are ignored",
      [{ [tag("team")]: "platform", [tag("env")]: "prod", "app.kubernetes.io/name": "web" }],
      { team: "platform", env: "prod" },
      []
    ],
    [
      "runtime-risks and github-repository are not tags",
      [{ [RISKS]: "critical-resource", [REPO]: "web", [tag("team")]: "platform" }],
      { team: "platform" },
      []
    ],
    ["an empty value is a value", [{ [tag("team")]: "" }], { team: "" }, []],
    [
      "at most 5, the first keys in sorted order kept whatever the written order",
      [
        {
          [tag("tag6")]: "6",
          [tag("tag5")]: "5",
          [tag("tag4")]: "4",
          [tag("tag3")]: "3",
          [tag("tag2")]: "2",
          [tag("tag1")]: "1"
        }
      ],
      { tag1: "1", tag2: "2", tag3: "3", tag4: "4", tag5: "5" },
      [{ key: tag("tag6"), reason: "tag limit of 5 reached" }]
    ],
    [
      // The original's order: a closer object's tags take the slots first,
      // even when a farther object's keys sort before them.
      "past 5, closer objects' tags are kept before farther ones'",
      [
        { [tag("z1")]: "pod", [tag("z3")]: "pod", [tag("z2")]: "pod" },
        { [tag("a3")]: "deploy", [tag("a1")]: "deploy", [tag("a2")]: "deploy" }
      ],
      { z1: "pod", z2: "pod", z3: "pod", a1: "deploy", a2: "deploy" },
      [{ key: tag("a3"), reason: "tag limit of 5 reached" }]
    ],
    [
      "the value closest to the pod wins",
      [{ [tag("team")]: "pod" }, { [tag("team")]: "replicaset" }, { [tag("team")]: "deployment" }],
      { team: "pod" },
      []
    ],
    [
      "closest wins past undefined maps",
      [undefined, { [tag("team")]: "replicaset" }, undefined, { [tag("team")]: "deployment" }],
      { team: "replicaset" },
      []
    ],
    [
      "a farther value of a key already set takes no slot and is not reported",
      [
        { [tag("a")]: "1", [tag("b")]: "2", [tag("c")]: "3", [tag("d")]: "4", [tag("e")]: "5" },
        { [tag("a")]: "other" }
      ],
      { a: "1", b: "2", c: "3", d: "4", e: "5" },
      []
    ],
    [
      "an invalid tag takes no slot",
      [
        {
          [tag("a")]: "v".repeat(101),
          [tag("b")]: "2",
          [tag("c")]: "3",
          [tag("d")]: "4",
          [tag("e")]: "5",
          [tag("f")]: "6"
        }
      ],
      { b: "2", c: "3", d: "4", e: "5", f: "6" },
      [{ key: tag("a"), reason: "tag value is 101 characters, more than 100" }]
    ],
    [
      "an invalid closer value does not hide a valid farther one",
      [{ [tag("team")]: "v".repeat(101) }, { [tag("team")]: "deployment" }],
      { team: "deployment" },
      [{ key: tag("team"), reason: "tag value is 101 characters, more than 100" }]
    ],
    [
      "a key of 100 characters is kept",
      [{ [tag("k".repeat(100))]: "v" }],
      { ["k".repeat(100)]: "v" },
      []
    ],
    [
      "a key of 101 characters is dropped and reported",
      [{ [tag("k".repeat(101))]: "v" }],
      {},
      [{ key: tag("k".repeat(101)), reason: "tag key is 101 characters, more than 100" }]
    ],
    ["a value of 100 characters is kept", [{ [tag("team")]: "v".repeat(100) }], { team: "v".repeat(100) }, []],
    [
      "a value of 101 characters is dropped and reported",
      [{ [tag("team")]: "v".repeat(101) }],
      {},
      [{ key: tag("team"), reason: "tag value is 101 characters, more than 100" }]
    ],
    [
      "lengths count code points: 100 emoji (200 UTF-16 units) are kept",
      [{ [tag("team")]: EMOJI.repeat(100) }],
      { team: EMOJI.repeat(100) },
      []
    ],
    [
      "lengths count code points: 101 emoji are dropped",
      [{ [tag("team")]: EMOJI.repeat(101) }],
      {},
      [{ key: tag("team"), reason: "tag value is 101 characters, more than 100" }]
    ],
    [
      "the prefix alone (an empty key) is dropped and reported",
      [{ "metadata.github.com/": "value", [tag("team")]: "platform" }],
      { team: "platform" },
      [{ key: "metadata.github.com/", reason: "empty tag key" }]
    ],
    [
      "keys that are Object.prototype names are ordinary tags",
      [{ [tag("constructor")]: "a", [tag("toString")]: "b" }, { [tag("constructor")]: "farther" }],
      { constructor: "a", toString: "b" },
      []
    ]
  ]

  for (const [label, chain, tags, dropped] of cases) {
    it(label, () => {
      const result = aggregateAnnotations(chain)
      expect(result.tags).toEqual(tags)
      // toEqual does not count keys the way the API's maxProperties does.
      expect(Object.keys(result.tags).sort()).toEqual(Object.keys(tags).sort())
      expect(result.dropped).toEqual(dropped)
    })
  }
})

describe("github repository", () => {
  const values: ReadonlyArray<readonly [value: string, repository: string | undefined, reason: string | undefined]> = [
    ["web", "web", undefined],
    ["My.Repo-name_2", "My.Repo-name_2", undefined],
    ["a", "a", undefined],
    ["r".repeat(100), "r".repeat(100), undefined],
    // Trimmed first: a YAML block scalar leaves a trailing newline.
    ["web\n", "web", undefined],
    ["  web  ", "web", undefined],
    ["r".repeat(101), undefined, "github repository must be at most 100 characters, got 101"],
    ["", undefined, "github repository must not be empty"],
    ["   ", undefined, "github repository must not be empty"],
    [
      "acme/web",
      undefined,
      `github repository must contain only letters, digits, '.', '-' and '_' (the repository name only, without the owner), got "acme/web"`
    ],
    ["my repo", undefined, `github repository must contain only letters, digits, '.', '-' and '_', got "my repo"`],
    ["wéb", undefined, `github repository must contain only letters, digits, '.', '-' and '_', got "wéb"`],
    ["web!", undefined, `github repository must contain only letters, digits, '.', '-' and '_', got "web!"`]
  ]

  for (const [value, repository, reason] of values) {
    it(`${JSON.stringify(value)} -> ${reason === undefined ? JSON.stringify(repository) : "dropped"}`, () => {
      const result = aggregateAnnotations([{ [REPO]: value }])
      expect(result.githubRepository).toBe(repository)
      expect(result.dropped).toEqual(reason === undefined ? [] : [{ key: REPO, reason }])
      expect(result.tags).toEqual({})
    })
  }

  const chains: ReadonlyArray<
    readonly [label: string, chain: AnnotationChain, repository: string | undefined, dropped: number]
  > = [
    ["the value closest to the pod wins", [{ [REPO]: "pod-repo" }, { [REPO]: "deploy-repo" }], "pod-repo", 0],
    ["found past undefined maps", [undefined, undefined, { [REPO]: "deploy-repo" }], "deploy-repo", 0],
    [
      "an invalid closer value is reported and the next valid one used",
      [{ [REPO]: "acme/web" }, { [REPO]: "web" }],
      "web",
      1
    ],
    [
      "an invalid farther value is still reported",
      [{ [REPO]: "web" }, { [REPO]: "bad repo" }],
      "web",
      1
    ],
    ["none anywhere", [{ [tag("team")]: "x" }, undefined], undefined, 0]
  ]

  for (const [label, chain, repository, dropped] of chains) {
    it(label, () => {
      const result = aggregateAnnotations(chain)
      expect(result.githubRepository).toBe(repository)
      expect(result.dropped.filter((entry) => entry.key === REPO)).toHaveLength(dropped)
    })
  }
})

describe("the chain", () => {
  const EMPTY = { runtimeRisks: [], tags: {}, githubRepository: undefined, dropped: [] }

  it("an empty chain gives nothing", () => {
    expect(aggregateAnnotations([])).toEqual(EMPTY)
  })

  it("a chain of undefined maps gives nothing", () => {
    expect(aggregateAnnotations([undefined, undefined, undefined])).toEqual(EMPTY)
  })

  it("pod, ReplicaSet (no annotations) and Deployment combine", () => {
    const result = aggregateAnnotations([
      { [RISKS]: "Internet-Exposed", [tag("team")]: "payments", [REPO]: "web" },
      undefined,
      {
        [RISKS]: "critical-resource, made-up",
        [tag("team")]: "platform",
        [tag("tier")]: "frontend",
        [REPO]: "other",
        "deployment.kubernetes.io/revision": "3"
      }
    ])
    expect(result).toEqual({
      runtimeRisks: ["critical-resource", "internet-exposed"],
      tags: { team: "payments", tier: "frontend" },
      githubRepository: "web",
      dropped: [{ key: RISKS, reason: 'unknown runtime risk "made-up"' }]
    })
  })
})
