"""Caption metrics: agreement with pycocoevalcap, hand computations, input checks, no-Java path."""

from __future__ import annotations

import json
import math
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

from aac_subsampling.evaluation import (
    METRIC_NAMES,
    ClipIdMismatchError,
    EvaluationResult,
    JavaNotFoundError,
    MeteorScorer,
    MetricUnavailableWarning,
    evaluate_captions,
    fallback_tokenize,
    find_java,
    meteor_from_stats,
    ptb_tokenize,
)
from aac_subsampling.evaluation import evaluate as evaluate_module
from aac_subsampling.evaluation.meteor import close_coco_meteor

JAVA = find_java()
java = pytest.mark.skipif(JAVA is None, reason="needs a Java runtime")

# Hand-written clips: one prediction, five references each (punctuation, case,
# contractions and brackets included on purpose).
REFERENCES = {
    "clip_01.wav": [
        "A dog barks loudly while cars pass by.",
        "A dog is barking and traffic goes past.",
        "Cars drive by as a dog barks repeatedly.",
        "A loud dog barks near a busy road.",
        "Traffic passes while a dog keeps barking.",
    ],
    "clip_02.wav": [
        "Rain falls steadily on a tin roof.",
        "Heavy rain is hitting a metal roof.",
        "Rain drops patter on the roof of a shed.",
        "A steady rain falls onto a roof.",
        "Water from the rain drums on a roof.",
    ],
    "clip_03.wav": [
        "Birds chirp in the trees early in the morning.",
        "Several birds are singing outside.",
        "Many birds tweet and chirp in a forest.",
        "Birds are chirping while the wind blows softly.",
        "A group of birds sing in the trees.",
    ],
    "clip_04.wav": [
        "A man speaks while people talk in the background.",
        "A man is talking and a crowd murmurs.",
        "People chat as a man gives a speech.",
        "Someone's talking over a crowd's chatter.",
        "A man talks; other people are speaking quietly.",
    ],
    "clip_05.wav": [
        "Water flows quickly down a stream.",
        "A stream of water runs over rocks.",
        "Water is running in a small creek.",
        "A river flows steadily past some stones.",
        "Running water splashes over rocks in a stream.",
    ],
    "clip_06.wav": [
        "A door creaks open and then slams shut.",
        "Someone opens a creaky door and closes it.",
        "A wooden door squeaks, then bangs closed.",
        "The door creaks (slowly) and shuts hard.",
        "A squeaky door is opened and slammed.",
    ],
    "clip_07.wav": [
        "Footsteps walk across a wooden floor.",
        "A person walks on a creaky wooden floor.",
        "Someone is walking slowly on wood.",
        "Steps can be heard on a hard floor.",
        "A person's footsteps echo in a hallway.",
    ],
    "clip_08.wav": [
        "An engine idles and then revs up.",
        "A car engine is running and revving.",
        "A motor hums, then accelerates loudly.",
        "The engine of a vehicle starts and idles.",
        "A vehicle's engine runs, then speeds up.",
    ],
    "clip_09.wav": [
        "Wind blows hard through the trees.",
        "Strong wind is blowing and leaves rustle.",
        "The wind howls while branches sway.",
        "Gusts of wind blow past a microphone.",
        "Wind rushes by and leaves are rustling.",
    ],
    "clip_10.wav": [
        "A bell rings several times in a church.",
        "Church bells are ringing in the distance.",
        "A large bell tolls over and over.",
        "Bells ring out from a tower nearby.",
        "Someone rings a bell, it echoes loudly.",
    ],
    "clip_11.wav": [
        "Children laugh and play in a park.",
        "Kids are shouting and laughing outside.",
        "A group of children play and scream happily.",
        "Young kids giggle while they're playing.",
        "Children are playing and yelling in a yard.",
    ],
    "clip_12.wav": [
        "Dishes clink as someone washes them in a sink.",
        "Plates and cups clatter in a kitchen sink.",
        "Someone is washing dishes with running water.",
        "Cutlery and plates clank while water runs.",
        "A person cleans dishes; the tap is running.",
    ],
}
PREDICTIONS = {
    "clip_01.wav": "a dog barks while cars pass by",
    "clip_02.wav": "rain falls on a roof",
    "clip_03.wav": "birds are chirping in the trees",
    "clip_04.wav": "a man is talking while people talk",
    "clip_05.wav": "water is running over rocks",
    "clip_06.wav": "a door opens and closes",
    "clip_07.wav": "a person is walking on a wooden floor",
    "clip_08.wav": "a car engine is running",
    "clip_09.wav": "wind is blowing",
    "clip_10.wav": "a bell is ringing",
    "clip_11.wav": "children are playing and laughing",
    "clip_12.wav": "someone is washing dishes in a sink",
}
OFFLINE = ("BLEU1", "BLEU2", "BLEU3", "BLEU4", "ROUGE_L", "CIDEr")


# --------------------------------------------------------------------------
# Fixtures: one METEOR JVM and one evaluation for the whole module
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meteor():
    if JAVA is None:
        pytest.skip("needs a Java runtime")
    scorer = MeteorScorer(JAVA)
    yield scorer
    scorer.close()


@pytest.fixture(scope="module")
def result(meteor) -> EvaluationResult:
    return evaluate_captions(PREDICTIONS, REFERENCES, spice="auto", meteor=meteor)


@pytest.fixture(scope="module")
def coco_reference():
    """Scores from direct calls of pycocoevalcap's tokenizer and scorers (COCOEvalCap's way)."""
    if JAVA is None:
        pytest.skip("needs a Java runtime")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in REFERENCES.items()})
    res = tokenizer.tokenize({k: [{"caption": c}] for k, v in PREDICTIONS.items() for c in [v]})
    scores: dict[str, tuple[float, list[float]]] = {}
    bleu, bleu_clip = Bleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        scores[f"BLEU{k + 1}"] = (bleu[k], list(bleu_clip[k]))
    for name, scorer in (("ROUGE_L", Rouge()), ("CIDEr", Cider())):
        corpus, per_clip = scorer.compute_score(gts, res)
        scores[name] = (corpus, list(per_clip))
    coco_meteor = Meteor()
    try:
        scores["METEOR"] = coco_meteor.compute_score(gts, res)
    finally:
        close_coco_meteor(coco_meteor)
    ids = list(gts)  # dict order of the tokenizer's output
    return ids, scores, gts, res


# --------------------------------------------------------------------------
# Agreement with pycocoevalcap
# --------------------------------------------------------------------------


@java
@pytest.mark.java
@pytest.mark.parametrize("metric", [*OFFLINE, "METEOR"])
def test_matches_pycocoevalcap(result, coco_reference, metric):
    ids, scores, _, _ = coco_reference
    corpus, per_clip = scores[metric]
    assert result.corpus[metric] == pytest.approx(corpus, abs=1e-9, rel=0)
    ours = result.per_clip.loc[ids, metric].to_numpy()
    np.testing.assert_allclose(ours, np.asarray(per_clip, dtype=float), atol=1e-9, rtol=0)


@java
@pytest.mark.java
def test_result_shape_and_names(result):
    assert METRIC_NAMES == (
        "BLEU1",
        "BLEU2",
        "BLEU3",
        "BLEU4",
        "ROUGE_L",
        "METEOR",
        "CIDEr",
        "SPICE",
        "SPIDEr",
    )
    assert list(result.corpus) == list(METRIC_NAMES)
    assert list(result.per_clip.columns) == list(METRIC_NAMES)
    assert list(result.per_clip.index) == sorted(PREDICTIONS)
    assert result.per_clip.index.name == "clip_id"
    assert result.tokenizer == "ptb"
    for metric in (*OFFLINE, "ROUGE_L", "METEOR", "CIDEr"):
        assert isinstance(result.corpus[metric], float)
    # Mean-type metrics: corpus == mean of per-clip scores.
    for metric in ("ROUGE_L", "CIDEr"):
        assert result.corpus[metric] == pytest.approx(result.per_clip[metric].mean(), abs=1e-12)


@java
@pytest.mark.java
def test_spice_absent_gives_none_with_reason(result):
    from aac_subsampling.evaluation import spice_status

    available, reason = spice_status(JAVA)
    if available:
        pytest.skip("SPICE can run on this machine")
    assert result.corpus["SPICE"] is None and result.corpus["SPIDEr"] is None
    assert result.unavailable["SPICE"] == reason
    assert reason in result.unavailable["SPIDEr"]
    assert "\n" not in reason
    assert result.per_clip["SPICE"].isna().all() and result.per_clip["SPIDEr"].isna().all()
    assert set(result.unavailable) == {"SPICE", "SPIDEr"}


@java
@pytest.mark.java
def test_meteor_formula_matches_jar(result):
    """The Python METEOR formula (used by the bootstrap) reproduces the jar's numbers."""
    stats = result.stats.loc[:, [c for c in result.stats.columns if c.startswith("meteor_")]]
    assert stats.shape == (len(PREDICTIONS), 23)
    counts = stats.to_numpy()
    np.testing.assert_allclose(meteor_from_stats(counts), result.per_clip["METEOR"], atol=1e-9)
    assert float(meteor_from_stats(counts.sum(0))) == pytest.approx(result.corpus["METEOR"], abs=1e-9)


@java
@pytest.mark.java
def test_bootstrap_estimate_equals_corpus(result):
    ci = result.bootstrap(n_resamples=200, seed=1).set_index("metric")
    for metric in (*OFFLINE, "METEOR"):
        assert ci.loc[metric, "estimate"] == pytest.approx(result.corpus[metric], abs=1e-9)
        assert ci.loc[metric, "low"] <= result.corpus[metric] <= ci.loc[metric, "high"]
    assert ci.loc["BLEU4", "method"].startswith("corpus BLEU")
    assert ci.loc["METEOR", "method"].startswith("corpus METEOR")


@java
@pytest.mark.java
def test_write_outputs_side_by_side(result, tmp_path):
    files = result.write(tmp_path / "out", stem="eval")
    assert files.per_clip.parent == files.corpus.parent == files.stats.parent
    per_clip = pd.read_csv(files.per_clip, index_col="clip_id")
    assert list(per_clip.columns) == list(METRIC_NAMES)
    np.testing.assert_allclose(per_clip["CIDEr"], result.per_clip["CIDEr"], rtol=0, atol=1e-15)
    payload = json.loads(files.corpus.read_text())
    assert payload["metrics"]["CIDEr"] == pytest.approx(result.corpus["CIDEr"], abs=1e-15)
    assert payload["n_clips"] == len(PREDICTIONS)
    assert payload["per_clip_file"] == files.per_clip.name
    for metric, reason in result.unavailable.items():
        assert payload["metrics"][metric] is None and payload["unavailable"][metric] == reason


# --------------------------------------------------------------------------
# Hand computations (two clips)
# --------------------------------------------------------------------------

HAND_REFS = {
    "a": ["the cat sat on the mat", "a cat is on the mat"],
    "b": ["a dog barks loudly", "the dog barks at a man outside"],
}
HAND_PREDS = {"a": "the cat the cat on the mat", "b": "dog barks"}


def _lcs(x: list[str], y: list[str]) -> int:
    table = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
    for i, xi in enumerate(x):
        for j, yj in enumerate(y):
            table[i + 1][j + 1] = table[i][j] + 1 if xi == yj else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def _hand_bleu1_and_rouge():
    # Clip a: hyp has 7 tokens; clipped unigram matches: the 2 (max ref count 2 of 3),
    # cat 1 (of 2), on 1, mat 1 -> 5. Reference lengths 6 and 6 -> closest 6.
    # Clip b: hyp 2 tokens, both match; reference lengths 4 and 7 -> closest 4.
    correct, guess, hyp_len, ref_len = 5 + 2, 7 + 2, 7 + 2, 6 + 4
    bleu1 = (correct / guess) * math.exp(1 - ref_len / hyp_len)  # hyp shorter -> brevity penalty
    beta = 1.2
    rouge = []
    for clip in ("a", "b"):
        hyp = HAND_PREDS[clip].split()
        precisions = [_lcs(r.split(), hyp) / len(hyp) for r in HAND_REFS[clip]]
        recalls = [_lcs(r.split(), hyp) / len(r.split()) for r in HAND_REFS[clip]]
        p, r = max(precisions), max(recalls)
        rouge.append((1 + beta**2) * p * r / (r + beta**2 * p))
    return bleu1, rouge


def test_hand_computed_bleu1_and_rouge_l():
    """Two clips with no punctuation: fallback and PTB tokenisation agree, so no Java needed."""
    bleu1, rouge = _hand_bleu1_and_rouge()
    # Check the hand numbers themselves: clip a: LCS with ref 1 = 5 ("the cat on the mat").
    assert _lcs("the cat sat on the mat".split(), HAND_PREDS["a"].split()) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUnavailableWarning)
        res = evaluate_captions(HAND_PREDS, HAND_REFS, java="/nonexistent/java")
    assert res.corpus["BLEU1"] == pytest.approx(bleu1, abs=1e-9)
    assert res.per_clip.loc["a", "ROUGE_L"] == pytest.approx(rouge[0], abs=1e-12)
    assert res.per_clip.loc["b", "ROUGE_L"] == pytest.approx(rouge[1], abs=1e-12)
    assert res.corpus["ROUGE_L"] == pytest.approx(sum(rouge) / 2, abs=1e-12)
    # Per-clip BLEU-1 of clip b: precision 1, brevity penalty exp(1 - 4/2).
    assert res.per_clip.loc["b", "BLEU1"] == pytest.approx(math.exp(1 - 4 / 2), abs=1e-6)


# --------------------------------------------------------------------------
# Input checks, empty predictions, process hygiene
# --------------------------------------------------------------------------


def test_mismatched_ids_are_named():
    preds = {"x1": "a", "x2": "b", "only_pred": "c"}
    refs = {"x1": ["a"], "x2": ["b"], "only_ref_1": ["c"], "only_ref_2": ["d"]}
    with pytest.raises(ClipIdMismatchError) as info:
        evaluate_captions(preds, refs, java="/nonexistent/java")
    message = str(info.value)
    assert "only_pred" in message and "only_ref_1" in message and "only_ref_2" in message
    assert "2 clip(s) without a prediction" in message
    assert "1 predicted clip(s) without references" in message


def test_mismatch_message_is_bounded():
    refs = {f"clip{i:03d}": ["x"] for i in range(50)}
    with pytest.raises(ClipIdMismatchError, match=r"50 clip\(s\) without a prediction: .*\.\.\.") as info:
        evaluate_captions({}, refs)
    assert "clip049" not in str(info.value)


@pytest.mark.parametrize(
    "refs",
    [{"a": []}, {"a": "a string, not a list"}, {"a": ["ok", None]}],
)
def test_references_must_be_non_empty_lists(refs):
    with pytest.raises(ValueError, match="non-empty lists"):
        evaluate_captions({"a": "x"}, refs, java="/nonexistent/java")


def test_prediction_must_be_string():
    with pytest.raises(TypeError):
        evaluate_captions({"a": None}, {"a": ["x"]}, java="/nonexistent/java")


@java
@pytest.mark.java
def test_empty_prediction_scored_and_meteor_closed(monkeypatch):
    started: list[MeteorScorer] = []

    class RecordingMeteor(MeteorScorer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(evaluate_module, "MeteorScorer", RecordingMeteor)
    preds = dict(PREDICTIONS)
    preds["clip_02.wav"] = ""
    preds["clip_12.wav"] = "..."  # only punctuation: empty after tokenisation
    res = evaluate_captions(preds, REFERENCES, spice=False)
    assert len(res.per_clip) == len(PREDICTIONS)
    for clip in ("clip_02.wav", "clip_12.wav"):
        row = res.per_clip.loc[clip]
        for metric in ("BLEU1", "BLEU4", "ROUGE_L", "METEOR", "CIDEr"):
            assert row[metric] == 0.0
    assert all(np.isfinite(res.per_clip.loc["clip_01.wav", list(OFFLINE) + ["METEOR"]]))
    assert res.unavailable["SPICE"] == "disabled (spice=False)"
    assert len(started) == 1 and started[0].closed


@java
@pytest.mark.java
def test_concurrent_evaluations_use_separate_dirs(meteor, tmp_path):
    """Two evaluations at once: private run dirs under work_dir, both cleaned up."""
    outputs: dict[int, EvaluationResult] = {}

    def run(k: int) -> None:
        outputs[k] = evaluate_captions(PREDICTIONS, REFERENCES, spice=False, work_dir=tmp_path, meteor=meteor)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pd.testing.assert_frame_equal(outputs[0].per_clip, outputs[1].per_clip)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# No Java
# --------------------------------------------------------------------------


def test_missing_java_reports_none_for_java_metrics(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.warns(MetricUnavailableWarning, match="METEOR, SPICE and SPIDEr need Java"):
        res = evaluate_captions(PREDICTIONS, REFERENCES)
    for metric in ("METEOR", "SPICE", "SPIDEr"):
        assert res.corpus[metric] is None
        assert res.unavailable[metric].startswith("no Java runtime found (METEOR, SPICE need Java 8+")
        assert "fallback" in res.unavailable[metric]
        assert res.per_clip[metric].isna().all()
    for metric in OFFLINE:
        assert isinstance(res.corpus[metric], float) and res.corpus[metric] > 0
    assert res.tokenizer == "fallback"


def test_missing_java_can_raise():
    with pytest.raises(JavaNotFoundError, match="METEOR, SPICE and SPIDEr"):
        evaluate_captions(PREDICTIONS, REFERENCES, java="/nonexistent/java", require_java=True)


@java
@pytest.mark.java
def test_no_java_offline_metrics_match_java_run(result):
    """On this caption set the fallback tokeniser changes nothing: same offline scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricUnavailableWarning)
        res = evaluate_captions(PREDICTIONS, REFERENCES, java="/nonexistent/java")
    for metric in OFFLINE:
        assert res.corpus[metric] == pytest.approx(result.corpus[metric], abs=1e-12)


# --------------------------------------------------------------------------
# Tokenisation
# --------------------------------------------------------------------------

TRICKY = [
    "A dog barks, loudly!",
    "It's the man's car -- (really) don't \"quote\" me; ok? 3.5 e-mail U.S. can't",
    "Birds chirp [outside] {here} & there / path*star 100% $5 #tag @home",
    '"Hello," she said.  Then... silence',
    "'tis cold and the kids' toys rattle",
    "People are talking.The rain falls",
    "I'm here, you're there, we've been, they'll go, he'd say",
    "a car drives by at 5:30 p.m. and stops",
    "i cannot go, gonna wanna gotta ain't won't y'all o'clock rock'n'roll",
    "someone's footsteps, a door's hinge. Mr. Smith vs. Dr. Who at St. Paul etc.",
    "and/or 1,000 2.5x 3rd 10-15 -5 re- -ing x-ray a.m. e.g. i.e. a. ok.",
    "the end..  two.. dots! wow?! what?",
    "\u201cquoted\u201d don\u2019t 5\u201310 wait\u2026 at&t x*y 1/2 $5.00 50% no. 1",
    "",
    "...",
    "caf\u00e9 noise  with   spaces\ttab",
    # One-letter abbreviations: PTB splits the period only before some capitalised
    # words, looking into the next line too.
    "birds sing near a.",
    "The wind blows by a.",
    "In the rain x. The dog barks, y. on a road",
    "x. Y. z.",
    "A.",
    "water drips on a.",
    "",
    "The dog barks",
    "a bell rings b.",
    "The",
    "a dog barks at a.",
    "The, dog",
    "a cat b.",
    "In",
]


@java
@pytest.mark.java
def test_fallback_tokenizer_matches_ptb(tmp_path):
    sentences = [c for refs in REFERENCES.values() for c in refs] + list(PREDICTIONS.values())
    sentences += TRICKY
    assert fallback_tokenize(sentences) == ptb_tokenize(sentences, java=JAVA, run_dir=tmp_path)


@java
@pytest.mark.java
def test_ptb_tokenize_matches_pycocoevalcap(tmp_path):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    captions = {i: [{"caption": s}] for i, s in enumerate(TRICKY)}
    expected = PTBTokenizer().tokenize(captions)
    ours = ptb_tokenize(TRICKY, java=JAVA, run_dir=tmp_path)
    assert ours == [expected[i][0] for i in range(len(TRICKY))]


@java
@pytest.mark.java
def test_line_breaks_inside_a_caption_do_not_shift_others(tmp_path):
    ours = ptb_tokenize(["one\rtwo", "three\nfour", "five"], java=JAVA, run_dir=tmp_path)
    assert ours == ["one two", "three four", "five"]


def test_fallback_tokenizer_basics():
    assert fallback_tokenize(["A Dog (big) doesn't bark."]) == ["a dog -lrb- big -rrb- does n't bark"]
    assert fallback_tokenize(["", "?!", "..."]) == ["", "?!", ""]


@java
@pytest.mark.java
def test_meteor_failure_is_reported(tmp_path):
    """A METEOR JVM that cannot start (absurd heap flag) gives a clear error, not a hang."""
    scorer = MeteorScorer(JAVA, xmx="1Q", stderr_path=tmp_path / "err.txt")
    try:
        with pytest.raises(RuntimeError, match="METEOR process ended unexpectedly"):
            scorer.score([["a b"]], ["a b"])
    finally:
        scorer.close()
    assert scorer.closed


@java
@pytest.mark.java
def test_fallback_tokenizer_matches_ptb_on_random_tricky_captions(tmp_path):
    """Seeded random word salad built from tricky tokens (contractions, abbreviations,
    numbers, brackets, quotes, unicode punctuation, capitalised sentence starters)."""
    vocabulary = (
        "A The In a the dog's don't can't it's they're (loud) [x] {b} \"quiet\" 'soft' 3.5 10 "
        "5:30 e-mail well-known etc. u.s. a. i. b. no. 7 Mr. Dr. Mrs. St. ... -- - , ; : ! ? ?! "
        "100% $5 & / o'clock cannot gonna won't y'all bird birds' x-ray 1,000 -5 2.5x 3rd "
        "#tag @home x*y at&t and/or end.. wow!!! The, In. A. He She Then something.Else word. "
        "\u201cq\u201d don\u2019t 5\u201310 wait\u2026"
    ).split()
    rng = np.random.default_rng(2020)
    sentences = [" ".join(rng.choice(vocabulary, size=rng.integers(1, 12))) for _ in range(2000)]
    assert fallback_tokenize(sentences) == ptb_tokenize(sentences, java=JAVA, run_dir=tmp_path)
