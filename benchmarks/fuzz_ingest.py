"""Fuzz every publisher format with mutated copies of the real source files and print the tally.

    python benchmarks/fuzz_ingest.py [--sources DIR] [--cases 5000] [--workers 2] [--seed 1]

Each case: one real file (shrunk so a case takes well under a second where the format allows, see
lmi.fuzz.prepare_base), 1-3 mutations, written to a scratch folder, detected, read and staged with the
real geography resolver and validated the way the build validates. Outcomes: loaded /
rejected-with-message / not recognised / poor message / invalid load / crashed / timeout. The last four
are failures: the script exits 1 when any occur and prints each one's file, mutations and message.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lmi import fuzz  # noqa: E402
from lmi.paths import default_sources  # noqa: E402

KINDS = sorted(fuzz.MUTATIONS) + ["stacked", "stacked"]
_G: dict = {}


def _alarm(signum, frame):  # noqa: ARG001
    raise fuzz.CaseTimeout()


def _init(sources: str, scratch_root: str) -> None:
    from lmi.geography.spine import load_resolver

    geo = load_resolver(Path(sources))  # inherited from the parent under fork: no reload
    scratch = Path(tempfile.mkdtemp(prefix=f"w{os.getpid()}-", dir=scratch_root))
    _G["cctx"] = fuzz.CaseContext.create(geo, Path(sources), scratch)
    _G["sources"] = Path(sources)
    signal.signal(signal.SIGALRM, _alarm)


def _prepare(path: str):
    try:
        return fuzz.prepare_base(Path(path), _G["sources"], _G["cctx"]), None
    except Exception as exc:  # a base that does not stage unmutated is itself a finding
        return None, f"{path}: {type(exc).__name__}: {exc}"


def make_case(base: fuzz.Base, kind: str, seed: int, cctx: fuzz.CaseContext) -> tuple[fuzz.Doc, list[str]]:
    """The mutated document for (base, kind, seed): deterministic, so any case can be replayed."""
    rng = random.Random(seed)
    stack = rng.choice((2, 3)) if kind == "stacked" else None
    return fuzz.mutate(base.doc, rng, cctx, kind=None if kind == "stacked" else kind, stack=stack)


def _case(task: tuple) -> fuzz.Outcome:
    base, kind, seed, timeout = task
    cctx = _G["cctx"]
    muts: list[str] = []
    signal.alarm(timeout)
    try:
        doc, muts = make_case(base, kind, seed, cctx)
        out = fuzz.run_case(doc, muts, cctx, expect=base.facts)
    except fuzz.CaseTimeout:
        out = fuzz.Outcome("timeout", base.fmt, base.doc.name, muts, message=f"no result within {timeout} s")
    except Exception as exc:  # noqa: BLE001 - a mutation-engine error must not hide other results
        out = fuzz.Outcome("crashed", base.fmt, base.doc.name, muts, message=f"fuzz engine: {exc!r}")
    finally:
        signal.alarm(0)
    out.mutations = [f"[{kind} seed {seed}]"] + out.mutations
    out.fmt = out.fmt or base.fmt
    out.file = base.rel
    return out


def replay(sources: Path, rel: str, kind: str, seed: str, keep: Path) -> int:
    """Re-run one case and leave the mutated file (and its companions) in ``keep`` for a bug report."""
    _init(str(sources), tempfile.mkdtemp(prefix="lmi-fuzz-"))
    cctx = _G["cctx"]
    base = fuzz.prepare_base(sources / rel, sources, cctx)
    doc, muts = make_case(base, kind, int(seed), cctx)
    out = fuzz.run_case(doc, muts, cctx, expect=base.facts)
    path = doc.write(keep)
    print(out.summary())
    if out.detail:
        print(out.detail)
    print(f"mutated file kept at {path} (base shrink: {base.shrink})")
    return 1 if out.status in fuzz.FAILURES else 0


def allocate(bases: list, n: int) -> list[int]:
    """Cases per base: every format gets a share weighted by 1/sqrt(seconds per case), split over its files."""
    by_fmt = defaultdict(list)
    for i, b in enumerate(bases):
        by_fmt[b.fmt].append(i)
    w = {f: 1 / math.sqrt(max(0.05, sum(bases[i].seconds for i in ix) / len(ix))) for f, ix in by_fmt.items()}
    total_w = sum(w.values())
    counts = [0] * len(bases)
    for f, ix in by_fmt.items():
        q = max(len(ix), round(n * w[f] / total_w))
        for k, i in enumerate(ix):
            counts[i] = q // len(ix) + (1 if k < q % len(ix) else 0)
    while sum(counts) < n:
        counts[min(range(len(bases)), key=lambda i: bases[i].seconds)] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default=None, help="official sources folder (default ../shared/lmi-sources)")
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=60, help="seconds allowed per case")
    ap.add_argument("--format", action="append", help="only these format NAMEs (repeatable)")
    ap.add_argument("--kind", action="append", help="only these mutation kinds (repeatable; 'stacked' = 2-3 random)")
    ap.add_argument("--json", help="write every outcome to this JSON file")
    ap.add_argument("--show", type=int, default=20, help="failures to print in full")
    ap.add_argument("--replay", nargs=3, metavar=("FILE", "KIND", "SEED"),
                    help="re-run one case (FILE relative to the sources folder) and keep the mutated file")
    ap.add_argument("--keep", default="fuzz-replay", help="folder for --replay's mutated file")
    args = ap.parse_args(argv)

    sources = Path(args.sources) if args.sources else default_sources()
    if sources is None or not Path(sources).is_dir():
        print("error: no sources folder (pass --sources DIR)", file=sys.stderr)
        return 2
    if args.replay:
        return replay(Path(sources), *args.replay, keep=Path(args.keep))
    t0 = time.perf_counter()
    from lmi.geography.spine import load_resolver

    load_resolver(sources)  # once in the parent; workers inherit it
    scratch_root = tempfile.mkdtemp(prefix="lmi-fuzz-")
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers, initializer=_init, initargs=(str(sources), scratch_root)) as pool:
        files = [str(p) for p in fuzz.source_files(sources)]
        bases, problems = [], []
        for base, err in pool.imap(_prepare, files):
            if err:
                problems.append(err)
            elif base is not None and (not args.format or base.fmt in args.format):
                bases.append(base)
        t_prep = time.perf_counter() - t0
        print(f"prepared {len(bases)} files in {len(set(b.fmt for b in bases))} formats in {t_prep:.0f} s",
              file=sys.stderr)
        for b in bases:
            print(f"  {b.fmt:20s} {b.rel[:70]:70s} shrink: {b.shrink:22s} {b.seconds:5.2f} s/case", file=sys.stderr)
        for p in problems:
            print(f"  BASE DOES NOT STAGE: {p}", file=sys.stderr)
        rng = random.Random(args.seed)
        tasks = []
        for b, n in zip(bases, allocate(bases, args.cases)):
            kinds = args.kind or KINDS
            offset = rng.randrange(len(kinds))
            for k in range(n):
                tasks.append((b, kinds[(offset + k) % len(kinds)], rng.randrange(2 ** 31), args.timeout))
        rng.shuffle(tasks)
        outcomes: list[fuzz.Outcome] = []
        t1 = time.perf_counter()
        for out in pool.imap_unordered(_case, tasks, chunksize=4):
            outcomes.append(out)
            if len(outcomes) % 250 == 0:
                t = fuzz.tally(outcomes)
                print(f"  {len(outcomes)}/{len(tasks)} cases, {time.perf_counter() - t1:.0f} s: "
                      + ", ".join(f"{k} {v}" for k, v in t.items() if v), file=sys.stderr)
    report(outcomes, bases, problems, time.perf_counter() - t0, args.show)
    if args.json:
        Path(args.json).write_text(json.dumps([o.__dict__ for o in outcomes], default=str, indent=1))
    failed = sum(1 for o in outcomes if o.status in fuzz.FAILURES) + len(problems)
    return 1 if failed else 0


def report(outcomes: list, bases: list, problems: list[str], seconds: float, show: int) -> None:
    t = fuzz.tally(outcomes)
    n = len(outcomes)
    rej = [o for o in outcomes if o.status == "rejected"]
    full = sum(1 for o in rej if o.has_row and o.has_column)
    print(f"\nfuzz_ingest: {n} cases over {len(bases)} files / {len(set(b.fmt for b in bases))} formats "
          f"in {seconds:.0f} s")
    print(f"  loaded                 {t['loaded']:6d}")
    print(f"  rejected with message  {t['rejected']:6d}   ({full} name row and column; {len(rej) - full} are "
          "whole-file errors naming the file and the expected form)")
    esc = Counter(o.escaped for o in outcomes if o.escaped)
    if esc:
        print(f"                                  of which {sum(esc.values())} only via the build's safety net "
              "(lmi/pipeline/build.py stage_all): the format module let a non-LmiError escape:")
        for k, c in esc.most_common():
            print(f"                                    {c:5d} x {k}")
    print(f"  not recognised         {t['not_recognised']:6d}   (reported by the build as unrecognised)")
    print(f"  crashed                {t['crashed']:6d}   (a traceback: a non-LmiError escaped the build's staging step)")
    print(f"  other failures         {t['poor_message'] + t['invalid_load'] + t['changed_load'] + t['timeout']:6d}   "
          f"(poor message {t['poor_message']}, invalid load {t['invalid_load']}, "
          f"silent change under a meaning-preserving mutation {t['changed_load']}, timeout {t['timeout']})")
    print("\nby format:")
    by = defaultdict(Counter)
    for o in outcomes:
        by[o.fmt][o.status] += 1
    cols = list(fuzz.OUTCOMES)
    print(f"  {'format':20s}" + "".join(f"{c[:12]:>13s}" for c in cols))
    for f in sorted(by):
        print(f"  {f:20s}" + "".join(f"{by[f][c]:13d}" for c in cols))
    print("\nby mutation:")
    bym = defaultdict(Counter)
    for o in outcomes:
        kind = o.mutations[0].strip("[").split(" ")[0] if o.mutations else "?"
        bym[kind][o.status] += 1
    print(f"  {'mutation':20s}" + "".join(f"{c[:12]:>13s}" for c in cols))
    for k in sorted(bym):
        print(f"  {k:20s}" + "".join(f"{bym[k][c]:13d}" for c in cols))
    secs = sorted(o.seconds for o in outcomes)
    if secs:
        print(f"\nseconds per case: median {secs[len(secs) // 2]:.2f}, p95 {secs[int(len(secs) * .95)]:.2f}, "
              f"max {secs[-1]:.2f}")
    fails = [o for o in outcomes if o.status in fuzz.FAILURES]
    if problems:
        print("\nbases that do not stage unmutated:")
        for p in problems:
            print("  " + p)
    if fails:
        print(f"\nfailures ({len(fails)}; first {show} in full):")
        seen = Counter()
        for o in fails:
            key = (o.fmt, o.status, o.message[:80])
            seen[key] += 1
            if seen[key] == 1 and sum(1 for v in seen.values()) <= show:
                print("  " + o.summary())
                if o.detail:
                    print("    " + o.detail.strip().replace("\n", "\n    ")[-1500:])
        print("\ndistinct failure kinds:")
        for (f, s, m), c in seen.most_common():
            print(f"  {c:5d} x {f} {s}: {m}")
    if esc:
        print("\nexceptions that format modules let escape (first of each kind):")
        shown = set()
        for o in outcomes:
            if o.escaped and o.escaped not in shown:
                shown.add(o.escaped)
                print(f"  {o.escaped}: {o.file} <- {'; '.join(o.mutations)}")
                print("    " + o.detail.strip().replace("\n", "\n    ")[-900:])
    examples = [o for o in rej if o.has_row and o.has_column][:3]
    if examples:
        print("\nexample rejections:")
        for o in examples:
            print("  " + o.message[:240])


if __name__ == "__main__":
    sys.exit(main())
