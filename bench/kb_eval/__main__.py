"""Retrieval evaluation: `python -m bench.kb_eval [--dims 256,512,1024] [--json]`.

Ingests bench/kb_eval/corpus/ (English and Thai) into a fresh organisation through the
service's own pipeline, on real Postgres + pgvector (DATABASE_URL, else an embedded
pgserver it starts itself), asks questions.jsonl, and reports recall@1, recall@5 and MRR
per language for each channel (vector, lexical, fused) and for the final reranked list,
plus how the answer threshold splits in-scope from out-of-scope questions. With
OPENAI_API_KEY (and COHERE_API_KEY) set, the online providers are measured as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from server.kb.service import KnowledgeBase, Upload
from server.llm.embeddings import Embedder, HashingEmbedder, OpenAIEmbedder
from server.llm.rerank import CohereReranker, OfflineReranker, Reranker
from server.settings import Settings
from server.storage import kb as store
from server.storage.db import Database
from server.storage.migrate import apply_migrations

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
QUESTIONS = HERE / "questions.jsonl"
K = 10


@dataclass
class Ranks:
    """1-based rank of the expected document per question (None: not in the top K)."""

    ranks: list[int | None] = field(default_factory=list)

    def recall(self, at: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= at) / max(len(self.ranks), 1)

    def mrr(self) -> float:
        return sum(1.0 / r for r in self.ranks if r) / max(len(self.ranks), 1)


def doc_rank(doc_ids: Sequence[UUID], expected: UUID) -> int | None:
    seen: list[UUID] = []
    for d in doc_ids:
        if d not in seen:
            seen.append(d)
        if d == expected:
            return len(seen) if len(seen) <= K else None
    return None


async def run_variant(
    db: Database, label: str, embedder: Embedder, reranker: Reranker, threshold: float,
    questions: list[dict], verbose: bool,
) -> dict:
    settings = Settings(kb_answer_threshold=threshold)
    kb = KnowledgeBase(db, settings, embedder, reranker)
    await kb.start()
    org = uuid.uuid4()
    async with db.unscoped() as conn:
        await conn.execute("INSERT INTO orgs (id, name, site_key) VALUES ($1, $2, $3)",
                           org, f"eval {label}", f"eval-{org}")
    docs: dict[str, UUID] = {}
    started = time.perf_counter()
    chunks = 0
    for path in sorted(CORPUS.iterdir()):
        out = await kb.add(org, Upload(path.read_bytes(), filename=path.name))
        docs[path.name] = out.document_id
        chunks += out.chunks
    ingest_s = time.perf_counter() - started
    async with db.unit_of_work(org) as conn:
        chunk_doc = await store.chunk_documents(conn, org)
    channels: dict[str, dict[str, Ranks]] = {}
    answered: dict[str, list[bool]] = {}
    top_scores: dict[str, list[float]] = {}
    outcomes: dict[str, list[tuple[float, bool]]] = {}
    latencies: list[float] = []
    for item in questions:
        lang, expected = item["lang"], item["doc"]
        t0 = time.perf_counter()
        result = await kb.retrieve(org, item["q"], K)
        latencies.append(time.perf_counter() - t0)
        best = result.passages[0].score if result.passages else 0.0
        if expected is None:
            key = f"{lang}-none"
            answered.setdefault(key, []).append(best >= threshold)
            outcomes.setdefault(key, []).append((best, True))
            top_scores.setdefault(key, []).append(best)
            continue
        want = docs[expected]
        tr = result.trace
        lists = {
            "vector": [chunk_doc[c] for c in tr.vector_ids],
            "lexical": [chunk_doc[c] for c in tr.lexical_ids],
            "fused": [chunk_doc[c] for c in tr.fused_ids],
            "final": [p.document_id for p in result.passages],
        }
        for name, ids in lists.items():
            channels.setdefault(lang, {}).setdefault(name, Ranks()).ranks.append(
                doc_rank(ids, want))
        rank = channels[lang]["final"].ranks[-1]
        answered.setdefault(lang, []).append(best >= threshold and rank == 1)
        outcomes.setdefault(lang, []).append((best, rank == 1))
        top_scores.setdefault(lang, []).append(best)
        if verbose and rank != 1:
            got = result.passages[0].title if result.passages else "-"
            print(f"  [{label}] miss ({rank}) {item['q']!r} -> {got} ({best:.2f})")
    await kb.close()
    lat = sorted(latencies)
    return {
        "variant": label, "embedder": embedder.name, "dim": embedder.dim,
        "reranker": reranker.name, "documents": len(docs), "chunks": chunks,
        "ingest_s": round(ingest_s, 2),
        "latency_ms": {"p50": round(1000 * lat[len(lat) // 2], 1),
                       "p95": round(1000 * lat[int(len(lat) * 0.95)], 1)},
        "threshold": threshold,
        "metrics": {
            lang: {name: {"n": len(r.ranks), "recall@1": round(r.recall(1), 3),
                          "recall@5": round(r.recall(5), 3), "mrr": round(r.mrr(), 3)}
                   for name, r in by.items()}
            for lang, by in channels.items()
        },
        "threshold_sweep": {
            f"{t:.2f}": {key: round(sum(1 for s, ok in v if ok and s >= t) / len(v), 3)
                         for key, v in outcomes.items()}
            for t in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
        },
        "threshold_split": {
            key: {"n": len(v), "above_threshold": round(sum(v) / len(v), 3),
                  "median_top_score": round(statistics.median(top_scores[key]), 3)}
            for key, v in answered.items()
        },
    }


def print_report(result: dict) -> None:
    print(f"\n== {result['variant']}: embedder {result['embedder']} (dim {result['dim']}), "
          f"reranker {result['reranker']}; {result['documents']} documents, "
          f"{result['chunks']} chunks, ingest {result['ingest_s']} s, query p50 "
          f"{result['latency_ms']['p50']} ms p95 {result['latency_ms']['p95']} ms")
    print(f"{'lang':<5}{'channel':<9}{'n':>4}{'R@1':>8}{'R@5':>8}{'MRR':>8}")
    for lang, by in result["metrics"].items():
        for name, m in by.items():
            print(f"{lang:<5}{name:<9}{m['n']:>4}{m['recall@1']:>8.3f}{m['recall@5']:>8.3f}"
                  f"{m['mrr']:>8.3f}")
    print(f"threshold {result['threshold']}: share of questions answered (in scope: with "
          "the right document first; -none: out of scope, lower is better)")
    for key, m in result["threshold_split"].items():
        print(f"  {key:<8} n={m['n']:<3} answered {m['above_threshold']:.3f}  "
              f"median top score {m['median_top_score']:.3f}")
    sweep = result["threshold_sweep"]
    keys = list(next(iter(sweep.values())))
    print("threshold sweep (same shares): " + "  ".join(f"{k:>8}" for k in keys))
    for t, row in sweep.items():
        print(f"  {t:<28}" + "  ".join(f"{row[k]:>8.3f}" for k in keys))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kb_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="512",
                        help="offline embedder dimensions to compare, e.g. 256,512,1024")
    parser.add_argument("--threshold", type=float, default=Settings().kb_answer_threshold)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--verbose", action="store_true", help="list the misses")
    args = parser.parse_args(argv)
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    url = os.environ.get("DATABASE_URL")
    pg = None
    if not url:
        from server.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="clienta-kb-eval-")))
        url = pg.start()
    try:
        await apply_migrations(url)
        db = await Database.connect(url, min_size=1, max_size=4)
        results = []
        try:
            for dim in (int(d) for d in args.dims.split(",") if d.strip()):
                results.append(await run_variant(
                    db, f"offline-{dim}", HashingEmbedder(dim), OfflineReranker(),
                    args.threshold, questions, args.verbose))
            key = os.environ.get("OPENAI_API_KEY")
            if key:
                emb = OpenAIEmbedder(key, base_url=os.environ.get("OPENAI_BASE_URL") or None,
                                     model=os.environ.get("CLIENTA_EMBED_MODEL",
                                                          "text-embedding-3-small"))
                results.append(await run_variant(db, "openai", emb, OfflineReranker(),
                                                 args.threshold, questions, args.verbose))
                if os.environ.get("COHERE_API_KEY"):
                    emb = OpenAIEmbedder(key, base_url=os.environ.get("OPENAI_BASE_URL") or None)
                    rr = CohereReranker(os.environ["COHERE_API_KEY"],
                                        base_url=os.environ.get("COHERE_BASE_URL") or None)
                    results.append(await run_variant(db, "openai+cohere", emb, rr,
                                                     args.threshold, questions, args.verbose))
        finally:
            await db.close()
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print_report(r)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
