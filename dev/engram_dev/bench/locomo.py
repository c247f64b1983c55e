"""Reading LOCOMO conversations (Maharana et al., 2024) from a folder of JSON files, one per conversation.

A file holds ``speaker_a``, ``speaker_b``, ``session_N`` (turns ``{speaker, dia_id, text, blip_caption?}``),
``session_N_date_time`` and ``qa`` (``question``, ``answer``, ``evidence``: the ``dia_id`` of the
turns that hold the answer, ``category`` 1-5). The data is never copied into this repository: pass
its folder (e.g. ``../shared/eval/locomo``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: Answerable categories (5 is adversarial and excluded, as is usual).
CATEGORIES = (1, 2, 3, 4)
#: The conversations retrieval settings may be tuned on (BM25's b, the hybrid weights and depth:
#: ``engram.models.ranking``); every other conversation is held out, to check that a setting carries.
#: Of ``../shared/eval/locomo``: 26 and 30 (231 questions) are dev, 41 (152 questions) is held out.
DEV_CONVERSATIONS = frozenset({"26", "30"})
SPLITS = ("dev", "held-out")
_SESSION = re.compile(r"session_(\d+)")
_EVIDENCE_SPLIT = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    session: int
    date: str

    @property
    def memory_text(self) -> str:
        """How a raw turn is stored as a memory: ``"<speaker>: <text>"``, plus ``[image: <caption>]``
        when the turn shared a picture (LOCOMO's BLIP caption)."""
        return f"{self.speaker}: {self.text}"


@dataclass(frozen=True)
class Question:
    question: str
    evidence: frozenset[str]
    category: int


@dataclass(frozen=True)
class Conversation:
    name: str
    speakers: tuple[str, str]
    turns: list[Turn]
    questions: list[Question]
    skipped_questions: int  # answerable questions without any evidence id (cannot be scored)

    @property
    def split(self) -> str:
        """``dev`` (settings may be tuned on it: ``DEV_CONVERSATIONS``) or ``held-out``."""
        return "dev" if self.name in DEV_CONVERSATIONS else "held-out"

    def sessions(self) -> list[list[Turn]]:
        """The turns grouped by session, in order."""
        grouped: dict[int, list[Turn]] = {}
        for turn in self.turns:
            grouped.setdefault(turn.session, []).append(turn)
        return [grouped[n] for n in sorted(grouped)]


def load_conversation(path: Path) -> Conversation:
    data = json.loads(path.read_text(encoding="utf-8"))
    turns: list[Turn] = []
    numbers = sorted(int(m[1]) for key in data if (m := _SESSION.fullmatch(key)))
    for number in numbers:
        date = str(data.get(f"session_{number}_date_time", ""))
        for raw in data[f"session_{number}"]:
            text = raw["text"]
            if raw.get("blip_caption"):
                text = f"{text} [image: {raw['blip_caption']}]"
            turns.append(Turn(dia_id=raw["dia_id"], speaker=raw["speaker"], text=text, session=number, date=date))
    questions, skipped = [], 0
    for qa in data.get("qa", []):
        if qa.get("category") not in CATEGORIES:
            continue
        evidence = frozenset(e for item in qa.get("evidence", []) for e in _EVIDENCE_SPLIT.split(item) if e)
        if not evidence:
            skipped += 1
            continue
        questions.append(Question(question=qa["question"], evidence=evidence, category=int(qa["category"])))
    return Conversation(
        name=path.stem,
        speakers=(data.get("speaker_a", "A"), data.get("speaker_b", "B")),
        turns=turns,
        questions=questions,
        skipped_questions=skipped,
    )


def load_dataset(folder: str | Path, limit: int | None = None) -> list[Conversation]:
    """Every ``*.json`` conversation in ``folder``, by file name (the first ``limit`` when given).

    Raises ``FileNotFoundError`` when the folder holds none, saying where the data comes from."""
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise FileNotFoundError(
            f"no LOCOMO conversation (*.json) in {folder}. LOCOMO is not part of Engram (its licence is CC BY-NC "
            "4.0): it is read from a folder of JSON files, one conversation each (see engram_dev.bench.locomo), "
            "such as ../shared/eval/locomo beside the checkout: pass that folder with --data. The dataset "
            "is published by snap-research (github.com/snap-research/locomo)."
        )
    return [load_conversation(p) for p in paths[:limit]]
